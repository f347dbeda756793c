package main

import (
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestUndoneCampaignRefused: once a campaign is undone, retry, append,
// resume and approve of it are refused with exit 1 and a message naming
// the restore campaign and what to do instead; nothing is re-driven.
func TestUndoneCampaignRefused(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 20, Script: map[int64][]pdcpfake.Reply{3: {{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}}})
	e.startWorker()
	if out, errs, code := e.run("submit", "--campaign", "src", "--ids", idRange(1, 20), "--yes", "--max-attempts", "2",
		"--backoff-base", "10ms", "--backoff-cap", "20ms"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	e.waitState("src", time.Minute, "done")
	if out, errs, code := e.run("undo", "src", "--yes"); code != 0 {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errs)
	}
	// Undone already without --exact: an undo asking --exact is refused,
	// naming the restore campaign, instead of answering it silently.
	if out, errs, code := e.run("undo", "src", "--exact", "--yes"); code != exitUsage ||
		!strings.Contains(errs, "by restore campaign") || !strings.Contains(errs, "exact=false") {
		t.Errorf("undo --exact of a campaign undone without: exit %d, want %d naming the restore\n%s\n%s", code, exitUsage, out, errs)
	}
	if _, errs, code := e.run("undo", "src", "--yes"); code != 0 {
		t.Errorf("undo again the same way: exit %d, want 0 (idempotent): %s", code, errs)
	}
	// A campaign pending approval, undone (which cancels it): approving
	// it is refused too.
	if out, errs, code := e.run("submit", "--campaign", "staged", "--ids", idRange(1, 20), "--confirm-above", "5"); code != 0 {
		t.Fatalf("submit pending: exit %d\n%s\n%s", code, out, errs)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if out, _, _ := e.run("status", "staged"); strings.Contains(out, "snapshot:  complete") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pending campaign's snapshot did not complete within a minute")
		}
	}
	if out, errs, code := e.run("undo", "staged", "--yes"); code != 0 {
		t.Fatalf("undo of the pending campaign: exit %d\n%s\n%s", code, out, errs)
	}
	for _, args := range [][]string{
		{"retry", "src", "--outcome", "failed"},
		{"submit", "--campaign", "src", "--append", "--ids", "21,22", "--yes"},
		{"resume", "src"},
		{"approve", "staged"},
	} {
		out, errs, code := e.run(args...)
		if args[0] == "approve" {
			// The undo cancelled it: refused as cancelled, before undone.
			if code != exitFailed || !strings.Contains(errs, "cancelled") && !strings.Contains(errs, "undone") {
				t.Errorf("approve of an undone pending campaign: exit %d, want %d\n%s\n%s", code, exitFailed, out, errs)
			}
			continue
		}
		if code != exitFailed || !strings.Contains(errs, "was undone by restore campaign") || !strings.Contains(errs, "create a new campaign") ||
			!strings.Contains(errs, "would remove them again") {
			t.Errorf("%v of an undone campaign: exit %d, want %d naming the restore campaign\n%s\n%s", args, code, exitFailed, out, errs)
		}
	}
}
