package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestSnapshotListingFailingShown: a listing that always fails keeps the
// snapshot retrying (the campaign does not fail) and records the last
// failure, counting up, in the snapshot progress; once the listing works
// again the snapshot completes and the failure is cleared.
func TestSnapshotListingFailingShown(t *testing.T) {
	ctx := context.Background()
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 50, ListFailFraction: 1})
	h.startWorker(4, nil)
	res := h.submit(&jobs.Campaign{ID: "stuck", Snapshot: true}, ids(1, 50), jobs.SubmitOptions{})
	deadline := time.Now().Add(time.Minute)
	var lf *jobs.ListingFailure
	for lf == nil || lf.Failures < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no listing failure recorded 3 times within a minute (last %+v)", lf)
		}
		time.Sleep(20 * time.Millisecond)
		info, err := h.store.Snapshot(ctx, res.Campaign)
		if err != nil {
			t.Fatal(err)
		}
		lf = info.ListingFailing
	}
	if !strings.Contains(lf.Error, "500") || lf.At.IsZero() || time.Since(lf.At) > time.Minute {
		t.Errorf("listing failure %+v: want the 500 and a recent time", lf)
	}
	if c, err := h.store.Get(ctx, "stuck"); err != nil || c.State.Final() || c.State == jobs.StateBlocked {
		t.Fatalf("campaign %v (err %v): want it still running while the listing fails", c.State, err)
	}
	pdcp.fake.Update(func(o *pdcpfake.Options) { o.ListFailFraction = 0 })
	h.waitFinished("stuck", 50, time.Minute)
	info, err := h.store.Snapshot(ctx, res.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Complete || info.ListingFailing != nil {
		t.Errorf("after the listing recovered: complete %v, listing failing %+v; want complete and no failure", info.Complete, info.ListingFailing)
	}
}
