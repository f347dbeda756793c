package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestMaxBatchSize: a worker runs a campaign of one batch of
// jobs.MaxBatchSize assets, 2% of which always fail; after the fake
// recovers, a retry turns exactly those into reset; a second campaign of
// that size, cancelled while it waits for approval, ends with every asset cancelled and
// no call. On a real Redis (REDIS_ADDR) the retry and the cancel failed
// with "too many results to unpack" before the scripts wrote in slices.
func TestMaxBatchSize(t *testing.T) {
	const n = jobs.MaxBatchSize
	ctx := context.Background()
	h := newHarness(t, pdcpfake.Options{Assets: 2 * n, Seed: 23, FailFraction: 0.02, FailTimes: -1})
	h.startWorker(64, nil)
	def := &jobs.Campaign{ID: "big", BatchSize: jobs.MaxBatchSize, Policy: jobs.Policy{MaxAttempts: 1, BackoffBase: time.Millisecond,
		BackoffCap: 5 * time.Millisecond, MaxFailureRatio: 1, MinSample: 1, Retention: time.Hour}}
	h.submit(def, ids(1, n), jobs.SubmitOptions{})
	c := h.waitState("big", 2*time.Minute, jobs.StateDone)
	failed := c.Counts[jobs.OutcomeFailed]
	if failed < n/100 || c.Batches != 1 {
		t.Fatalf("campaign of %d batches with %d failed assets; the test needs 1 batch and ~2%% failed", c.Batches, failed)
	}
	f := h.fake.Fake()
	failing := map[int64]bool{}
	for id := int64(1); id <= n; id++ {
		failing[id] = f.Kind(id) == pdcpfake.KindFailing
	}
	f.Update(func(o *pdcpfake.Options) { o.FailFraction = 0 })
	got, err := h.store.Redrive(ctx, "big", []string{jobs.OutcomeFailed})
	if err != nil || got != failed {
		t.Fatalf("retry: %d re-enqueued, %v; want %d", got, err, failed)
	}
	c = h.waitState("big", 2*time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != n {
		t.Errorf("after retry: counts %v, want all %d reset", c.Counts, n)
	}
	for id, r := range h.records("big") {
		wantCalls := 1
		if failing[id] {
			wantCalls = 2
		}
		if r.Outcome != jobs.OutcomeReset || len(f.Calls(id)) != wantCalls {
			t.Fatalf("asset %d: %s after %d calls, want reset after %d", id, r.Outcome, len(f.Calls(id)), wantCalls)
		}
	}

	def = &jobs.Campaign{ID: "bigc", BatchSize: jobs.MaxBatchSize}
	h.submit(def, ids(n+1, n), jobs.SubmitOptions{ConfirmAbove: 1}) // pending: waits for approval
	if _, err := h.store.Cancel(ctx, "bigc"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	c = h.waitState("bigc", time.Minute, jobs.StateCancelled)
	if c.Counts[jobs.OutcomeCancelled] != n {
		t.Errorf("cancelled campaign: counts %v, want all %d cancelled", c.Counts, n)
	}
	for id, r := range h.records("bigc") {
		if r.Outcome != jobs.OutcomeCancelled || len(f.Calls(id)) != 0 {
			t.Fatalf("asset %d of the cancelled campaign: %s after %d calls, want cancelled, no call", id, r.Outcome, len(f.Calls(id)))
		}
	}
}
