package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestRetryKeepsHoldAndCounts: `retry` of a paused campaign re-queues its
// failed asset, leaves the campaign paused and says how to continue; a
// second `retry` re-queues nothing and says 0 (it used to repeat the first
// one's count). No worker runs: the outcome is recorded through the
// ledger, as a worker would.
func TestRetryKeepsHoldAndCounts(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	if out, errs, code := e.run("submit", "--campaign", "rt", "--ids", "1,2,3", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d: %s %s", code, out, errs)
	}
	store := jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace})
	rec := jobs.Record{AssetID: 2, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: time.Now()}
	if _, err := store.Ledger().Record(context.Background(), "rt", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{rec}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := e.run("pause", "rt"); code != 0 {
		t.Fatalf("pause: exit %d: %s %s", code, out, errs)
	}
	out, errs, code := e.run("retry", "rt", "--outcome", "failed")
	if code != 0 {
		t.Fatalf("retry: exit %d: %s %s", code, out, errs)
	}
	for _, want := range []string{"campaign rt: 1 assets re-enqueued", "paused", "labelreset resume rt"} {
		if !strings.Contains(out, want) {
			t.Errorf("retry of a paused campaign: output lacks %q:\n%s", want, out)
		}
	}
	if s := e.status("rt"); s.State != "paused" {
		t.Errorf("after retry: state %s, want paused", s.State)
	}
	out, errs, code = e.run("retry", "rt", "--outcome", "failed")
	if code != 0 {
		t.Fatalf("second retry: exit %d: %s %s", code, out, errs)
	}
	for _, want := range []string{"campaign rt: 0 assets re-enqueued", "no asset has outcome failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("second retry: output lacks %q:\n%s", want, out)
		}
	}
}
