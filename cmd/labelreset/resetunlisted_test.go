package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestResetUnlistedWarnsUndoCannotRestore: with --reset-unlisted the plan
// warns that assets the snapshot does not find are reset without a
// recorded label set; after such a run, undo's plan counts them as not
// restorable.
func TestResetUnlistedWarnsUndoCannotRestore(t *testing.T) {
	// Assets 21-23 are not in the inventory, yet answer the reset with 200
	// (as an asset created after the listing would).
	ok := []pdcpfake.Reply{{Status: 200}}
	e := newE2E(t, pdcpfake.Options{Assets: 20, Script: map[int64][]pdcpfake.Reply{21: ok, 22: ok, 23: ok}})
	out, errs, code := e.run("submit", "--campaign", "ru", "--ids", idRange(1, 23), "--reset-unlisted", "--dry-run")
	if code != 0 || !strings.Contains(out, "WITHOUT a recorded label set: undo cannot restore them") {
		t.Errorf("dry run with --reset-unlisted: exit %d, want the warning\n%s\n%s", code, out, errs)
	}
	out, errs, code = e.run("submit", "--campaign", "ru", "--ids", idRange(1, 23), "--reset-unlisted", "--dry-run", "--json")
	var plan struct {
		Snapshot struct {
			Warning string `json:"warning"`
		} `json:"snapshot"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !strings.Contains(plan.Snapshot.Warning, "undo cannot restore them") {
		t.Errorf("dry run --json with --reset-unlisted: exit %d, want snapshot.warning\n%s\n%s", code, out, errs)
	}
	e.startWorker()
	if out, errs, code := e.run("submit", "--campaign", "ru", "--ids", idRange(1, 23), "--reset-unlisted", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	e.waitState("ru", time.Minute, "done")
	out, errs, code = e.run("undo", "ru", "--dry-run")
	if code != 0 || !strings.Contains(out, "not restorable: 3 assets reset without a snapshot of their labels") {
		t.Errorf("undo --dry-run after --reset-unlisted: exit %d, want 3 not restorable\n%s\n%s", code, out, errs)
	}
}
