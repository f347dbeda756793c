package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestScriptsAtMaxBatchSize: record, re-drive and cancel work on batches
// of jobs.MaxBatchSize assets. A real Redis (REDIS_ADDR) refuses to
// unpack a Lua table of more than about 8,000 values ("too many results
// to unpack"); miniredis has no such limit, so this test only proves
// something against a real Redis, which is how CI runs it.
func TestScriptsAtMaxBatchSize(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	const n = 2 * jobs.MaxBatchSize // two full batches
	newBig := func(id string) {
		t.Helper()
		def := newDef(id)
		def.BatchSize = jobs.MaxBatchSize
		res, err := submitIDs(t, store, def, 1, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
		if err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		if res.Campaign.Batches != 2 {
			t.Fatalf("campaign %s has %d batches, want 2", id, res.Campaign.Batches)
		}
	}
	// batchRecords gives every asset of both batches the outcome o.
	batchRecords := func(o string) []jobs.BatchRecords {
		now := time.Now()
		out := make([]jobs.BatchRecords, 2)
		for b := range out {
			out[b].Batch = b
			out[b].Records = make([]jobs.Record, jobs.MaxBatchSize)
			for i := range out[b].Records {
				id := int64(b*jobs.MaxBatchSize + i + 1)
				out[b].Records[i] = jobs.Record{AssetID: id, Outcome: o, Status: 500, Attempts: 1, FinishedAt: now}
				if o == jobs.OutcomeFailed {
					// An error_id puts every record's error in the error
					// hash: those writes are chunked too.
					out[b].Records[i].Error, out[b].Records[i].ErrorID = "HTTP 500", "e-"+strconv.FormatInt(id, 10)
				}
			}
		}
		return out
	}
	// expect checks every asset's outcome, the counts and the state.
	expect := func(id, outcome string, state jobs.State) {
		t.Helper()
		seen, wrong := 0, 0
		err := store.Records(ctx, id, func(r jobs.Record) error {
			seen++
			if r.Outcome != outcome {
				if wrong < 3 {
					t.Errorf("campaign %s asset %d: outcome %q, want %q", id, r.AssetID, r.Outcome, outcome)
				}
				wrong++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("records of %s: %v", id, err)
		}
		if seen != n || wrong > 0 {
			t.Fatalf("campaign %s: %d records, %d without outcome %q; want %d, 0", id, seen, wrong, outcome, n)
		}
		c, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != state {
			t.Errorf("campaign %s: state %s (%s), want %s", id, c.State, c.Reason, state)
		}
		if outcome != jobs.OutcomePending && c.Counts[outcome] != n {
			t.Errorf("campaign %s: count of %s %d, want %d", id, outcome, c.Counts[outcome], n)
		}
	}

	// Record: one script call carrying two full batches.
	newBig("big")
	if _, err := store.Ledger().Record(ctx, "big", batchRecords(jobs.OutcomeFailed), time.Now()); err != nil {
		t.Fatalf("record %d outcomes: %v", n, err)
	}
	expect("big", jobs.OutcomeFailed, jobs.StateDone)

	// Re-drive: every failed asset goes back to the queue.
	got, err := store.Redrive(ctx, "big", []string{jobs.OutcomeFailed})
	if err != nil || got != n {
		t.Fatalf("retry: %d assets re-enqueued, err %v; want %d", got, err, n)
	}
	expect("big", jobs.OutcomePending, jobs.StateRunning)
	if _, err := store.Ledger().Record(ctx, "big", batchRecords(jobs.OutcomeReset), time.Now()); err != nil {
		t.Fatalf("record the re-driven outcomes: %v", err)
	}
	expect("big", jobs.OutcomeReset, jobs.StateDone)

	// Cancel: every asset without an outcome becomes cancelled.
	newBig("bigc")
	if _, err := store.Cancel(ctx, "bigc"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	expect("bigc", jobs.OutcomeCancelled, jobs.StateCancelled)
}
