package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/worker"
)

// TestUndoOfRunningSourceCallsOnlyCalledAssets: undo of a campaign that was
// still running must plan before the source's unstarted batches record
// how they ended, so its plan covers every asset the source might have
// called. When the restore runs, the assets the source never called are
// recorded unchanged and get no call: no label comes back on an asset
// nobody reset (a label someone had removed from it since would
// reappear), and the restore's report does not call them restored.
func TestUndoOfRunningSourceCallsOnlyCalledAssets(t *testing.T) {
	const total = 2000
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: total, Seed: 5, Labels: pdcpfake.LabelsVaried})
	orig := pdcp.fake.Snapshot()
	_, stop1 := h.startWorker(4, func(c *worker.Config) { c.Limiter = &pacedLimiter{every: 5 * time.Millisecond} })
	h.submit(&jobs.Campaign{ID: "src", Snapshot: true}, ids(1, total), jobs.SubmitOptions{ConfirmAbove: -1})
	h.waitFinished("src", 200, time.Minute)
	stop1()
	if c, _ := h.store.Get(context.Background(), "src"); c.State != jobs.StateRunning || c.Finished() >= total {
		t.Fatalf("source %s with %d of %d finished; the test needs it running with assets never called", c.State, c.Finished(), total)
	}
	deleted := map[int64]bool{}
	for _, c := range pdcp.fake.Log() {
		if c.Method == http.MethodDelete {
			deleted[c.AssetID] = true
		}
	}

	res, plan, err := h.store.Undo(context.Background(), "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{ConfirmAbove: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Cancels {
		t.Fatalf("plan %+v does not cancel the running source", plan)
	}
	rid := res.Campaign.ID
	// The grace for in-flight calls is TestBatchesWaitForNotBefore's: the
	// source's only worker has stopped, so none is in flight here.
	if err := h.redis.Client.HDel(context.Background(), jobs.MetaKey(h.redis.Namespace, rid), "not_before").Err(); err != nil {
		t.Fatal(err)
	}
	before := len(pdcp.fake.Log())
	h.startWorker(16, nil)
	h.waitState(rid, 2*time.Minute, jobs.StateDone)
	h.waitState("src", time.Minute, jobs.StateCancelled)

	posted := map[int64]bool{}
	for _, c := range pdcp.fake.Log()[before:] {
		if c.Method == http.MethodPost {
			posted[c.AssetID] = true
		}
	}
	recs := h.records(rid)
	now := pdcp.fake.Snapshot()
	for id := int64(1); id <= total; id++ {
		if !deleted[id] && posted[id] {
			t.Errorf("asset %d: the source never called it, yet the restore called POST on it", id)
		}
		want := jobs.OutcomeUnchanged
		if deleted[id] && len(orig[id]) > 0 {
			want = jobs.OutcomeRestored
		}
		if got := recs[id].Outcome; got != want {
			t.Errorf("asset %d (called by the source: %v): restore outcome %q, want %q", id, deleted[id], got, want)
		}
		if !sameSet(now[id], orig[id]) {
			t.Errorf("asset %d: labels %q after undo, want the original %q", id, now[id], orig[id])
		}
	}
}
