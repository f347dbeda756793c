package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestStatusShowsRestoreWait: the undo of a campaign that is still
// calling makes a restore that waits for those calls to end; status (text
// and --json) says when it starts.
func TestStatusShowsRestoreWait(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 400})
	e.startWorker("--rate", "20")
	if out, errs, code := e.run("submit", "--campaign", "slow", "--ids", idRange(1, 400), "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if out, _, _ := e.run("status", "slow"); strings.Contains(out, "snapshot:  complete") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the snapshot did not complete within a minute")
		}
	}
	var undone struct {
		ID string `json:"id"`
	}
	out, errs, code := e.run("undo", "slow", "--yes", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &undone) != nil || undone.ID == "" {
		t.Fatalf("undo of a running campaign: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = e.run("status", undone.ID)
	if code != 0 || !strings.Contains(out, "restore starts at ") || !strings.Contains(out, "(waits for the source's in-flight calls)") {
		t.Errorf("status of the waiting restore: exit %d, want when it starts\n%s\n%s", code, out, errs)
	}
	out, errs, code = e.run("status", undone.ID, "--json")
	var st struct {
		NotBefore *time.Time `json:"not_before"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.NotBefore == nil || !st.NotBefore.After(time.Now()) {
		t.Errorf("status --json of the waiting restore: exit %d, want a future not_before\n%s\n%s", code, out, errs)
	}
}
