package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestFailureReasons: the ledger's writes count failed and invalid
// outcomes by reason (a record written twice counts once, resets do not
// count), a retry takes its re-queued assets out of the counts, the
// number of reasons is bounded, and Delete removes the counts.
func TestFailureReasons(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const n = 200
	if _, err := submitIDs(t, store, newDef("reasons"), 1, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	refused := "dial tcp 127.0.0.1:1: connection refused" // within the ledger's error bytes
	now := time.Now()
	rec := func(id int64, outcome string, status int, msg string) jobs.Record {
		return jobs.Record{AssetID: id, Outcome: outcome, Status: status, Attempts: 1, Error: msg, FinishedAt: now}
	}
	// Batch 0 (IDs 1..100): 3 refused, 2 HTTP 500 without text, 1 invalid,
	// the rest reset.
	var b0 []jobs.Record
	for id := int64(1); id <= 100; id++ {
		switch {
		case id <= 3:
			b0 = append(b0, rec(id, jobs.OutcomeFailed, 0, refused))
		case id <= 5:
			b0 = append(b0, rec(id, jobs.OutcomeFailed, 500, ""))
		case id == 6:
			b0 = append(b0, rec(id, jobs.OutcomeInvalid, 400, "HTTP 400 INVALID_ID: Invalid asset ID format"))
		default:
			b0 = append(b0, rec(id, jobs.OutcomeReset, 200, ""))
		}
	}
	l := store.Ledger()
	for range 2 { // a redelivered batch writes nothing new
		if _, err := l.Record(ctx, "reasons", []jobs.BatchRecords{{Batch: 0, Records: b0}}, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.FailureReasons(ctx, "reasons", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []jobs.FailureReason{{refused, 3}, {"HTTP 500", 2}, {"HTTP 400 INVALID_ID: Invalid asset ID format", 1}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reasons (-want +got):\n%s", d)
	}
	if top, _ := store.FailureReasons(ctx, "reasons", 1); len(top) != 1 || top[0].Reason != refused {
		t.Errorf("top 1 = %v, want %q", top, refused)
	}

	// A retry of the failed assets takes them out of the counts.
	if m, err := store.Redrive(ctx, "reasons", []string{jobs.OutcomeFailed}); err != nil || m != 5 {
		t.Fatalf("Redrive = %d, %v; want 5", m, err)
	}
	got, _ = store.FailureReasons(ctx, "reasons", 0)
	if d := cmp.Diff([]jobs.FailureReason{{"HTTP 400 INVALID_ID: Invalid asset ID format", 1}}, got); d != "" {
		t.Errorf("after the retry (-want +got):\n%s", d)
	}

	// Batch 1 (IDs 101..200): every asset with its own message; the
	// counts keep MaxFailureReasons reasons and put the rest under other.
	var b1 []jobs.Record
	for id := int64(101); id <= n; id++ {
		b1 = append(b1, rec(id, jobs.OutcomeFailed, 500, fmt.Sprintf("HTTP 500: error %d", id)))
	}
	if _, err := l.Record(ctx, "reasons", []jobs.BatchRecords{{Batch: 1, Records: b1}}, now); err != nil {
		t.Fatal(err)
	}
	got, _ = store.FailureReasons(ctx, "reasons", 0)
	var total int64
	for _, r := range got {
		total += r.Count
	}
	if len(got) > jobs.MaxFailureReasons+1 || total != 101 || got[0].Reason != jobs.OtherFailureReason {
		t.Errorf("%d reasons totalling %d, first %v; want at most %d totalling 101, %q first",
			len(got), total, got[0], jobs.MaxFailureReasons+1, jobs.OtherFailureReason)
	}

	if err := store.Delete(ctx, "reasons"); err != nil {
		t.Fatal(err)
	}
	if got, err := store.FailureReasons(ctx, "reasons", 0); err != nil || len(got) != 0 {
		t.Errorf("after Delete: %v, %v; want no reasons", got, err)
	}
	if _, err := store.Get(ctx, "reasons"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
}
