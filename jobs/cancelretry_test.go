package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestCancelInterruptingRetryKeepsLastFailure: assets that a retry
// re-queued and a cancel then stopped before any call are recorded
// cancelled, but keep the status, attempts and error of the failure that
// was being retried, so the report still says why they failed; an asset
// that ended reset keeps its outcome.
func TestCancelInterruptingRetryKeepsLastFailure(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	def := newDef("cr")
	def.Policy.MaxFailureRatio = 1
	if _, err := submitIDs(t, store, def, 1, 3, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	failed := func(id int64) jobs.Record {
		return jobs.Record{AssetID: id, Outcome: jobs.OutcomeFailed, Status: 503, Attempts: 8, Error: "HTTP 503: upstream down", FinishedAt: now}
	}
	if _, err := store.Ledger().Record(ctx, "cr", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{
		failed(1), failed(2), {AssetID: 3, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now},
	}}}, now); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Redrive(ctx, "cr", nil); err != nil || n != 2 {
		t.Fatalf("retry: %d, %v; want 2 re-queued", n, err)
	}
	c, err := store.Cancel(ctx, "cr")
	if err != nil {
		t.Fatal(err)
	}
	if c.Counts[jobs.OutcomeCancelled] != 2 || c.Counts[jobs.OutcomeReset] != 1 || c.Counts[jobs.OutcomeFailed] != 0 {
		t.Errorf("counts %v; want cancelled 2, reset 1", c.Counts)
	}
	got := map[int64]jobs.Record{}
	if err := store.Records(ctx, "cr", func(r jobs.Record) error { got[r.AssetID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2} {
		r := got[id]
		if r.Outcome != jobs.OutcomeCancelled || r.Status != 503 || r.Attempts != 8 || r.Error != "HTTP 503: upstream down" {
			t.Errorf("asset %d re-queued by the retry, then cancelled: %+v; want cancelled keeping status 503, 8 attempts and its error", id, r)
		}
	}
	if r := got[3]; r.Outcome != jobs.OutcomeReset || r.Status != 200 {
		t.Errorf("asset 3: %+v; want reset", r)
	}
}
