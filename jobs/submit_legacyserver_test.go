package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestAppendToLegacyCampaignFromAnotherServerRefused (second review of
// issue 15 item 4): a campaign stored by an earlier version records no API
// server, and workers of every server work it. An append planned against
// another server (IDs that name other assets there) is accepted onto it
// without recording that server (jobs/submit.go, Store.Submit skips the
// server check when existing.Server is ""), so a worker of the original
// server calls the appended IDs on its own server. The append must be
// refused (or the campaign must record the server and the earlier IDs
// must stay with their own).
func TestAppendToLegacyCampaignFromAnotherServerRefused(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := newDef("legacy-srv")
	// What an earlier version stored: no server.
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	def.Server = "https://staging.example.com"
	res, err := submitIDs(t, store, def, 11, 5, jobs.SubmitOptions{Append: true})
	if errors.Is(err, jobs.ErrInputMismatch) {
		if !strings.Contains(err.Error(), def.Server) || !strings.Contains(err.Error(), "new campaign") {
			t.Errorf("error %q should name the server and say how to proceed", err)
		}
		c, gerr := store.Get(t.Context(), "legacy-srv")
		if gerr != nil {
			t.Fatal(gerr)
		}
		if c.Total != 10 || c.Server != "" {
			t.Errorf("after the refused append: total %d, server %q; want 10 and none", c.Total, c.Server)
		}
		return
	}
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	c, gerr := store.Get(t.Context(), "legacy-srv")
	if gerr != nil {
		t.Fatal(gerr)
	}
	t.Errorf("append of %d IDs planned against %s onto a campaign without a recorded server was accepted; campaign now records server %q (any worker works it)",
		res.Appended, def.Server, c.Server)
}
