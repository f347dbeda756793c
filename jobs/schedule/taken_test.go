package schedule_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestPreCreatedCampaignIDIsAnError: an operator who creates the campaign
// ID of a schedule's next fire time beforehand (same IDs or others) makes
// that fire create nothing; it is counted and recorded as an error naming
// the owner, not as skipped_duplicate (review finding 18), and the
// operator's campaign is left alone.
func TestPreCreatedCampaignIDIsAnError(t *testing.T) {
	for _, tc := range []struct{ name, ids string }{
		{"same IDs", "5\n6\n7\n"},
		{"other IDs", "1\n2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.file("ids.csv", "5\n6\n7\n")
			cfg := h.config(`
schedules:
  - name: small
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
`)
			s, reg := h.scheduler(cfg, nil)
			ctx := context.Background()
			id := schedule.CampaignID("small", fireTime)
			squat := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
				BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Owner: "token:mallory"}
			plan, err := jobs.ReadPlan(squat, jobs.IDList("test", strings.Fields(tc.ids)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.Submit(ctx, squat, plan, jobs.SubmitOptions{ConfirmAbove: 1}); err != nil {
				t.Fatal(err)
			}
			camp, err := s.Fire(ctx, "small", fireTime)
			if camp != nil || !errors.Is(err, schedule.ErrCampaignIDTaken) || errors.Is(err, schedule.ErrAlreadyFired) {
				t.Fatalf("Fire = %v, %v; want no campaign and ErrCampaignIDTaken", camp, err)
			}
			if !strings.Contains(err.Error(), "token:mallory") {
				t.Errorf("error %q does not name the campaign's owner", err)
			}
			if n := fires(t, reg, "small", schedule.ResultError); n != 1 {
				t.Errorf(`fires_total{result="error"} = %d, want 1`, n)
			}
			if n := fires(t, reg, "small", schedule.ResultSkippedDuplicate); n != 0 {
				t.Errorf(`fires_total{result="skipped_duplicate"} = %d, want 0`, n)
			}
			list, err := schedule.List(ctx, h.store, cfg, fireTime)
			if err != nil {
				t.Fatal(err)
			}
			if st := list[0]; st.LastResult != schedule.ResultError || !strings.Contains(st.LastError, id) {
				t.Errorf("List: result %q, error %q; want error naming %s", st.LastResult, st.LastError, id)
			}
			if c, err := h.store.Get(ctx, id); err != nil || c.Owner != "token:mallory" || c.Total != plan.Valid {
				t.Errorf("the operator's campaign: %+v, %v; want it untouched", c, err)
			}
			// The next fire time is not held by a campaign the schedule
			// did not create.
			next, err := s.Fire(ctx, "small", fireTime.Add(24*time.Hour))
			if err != nil || next == nil {
				t.Errorf("next fire time: %v, %v; want a campaign", next, err)
			}
		})
	}
}
