package jobs_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestLoadAndRepair: LoadForRun answers a batch without records like
// Load does; Repair re-enqueues exactly the assets without an outcome,
// and a second Repair while the first one's lock holds does nothing.
func TestLoadAndRepair(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := &jobs.Campaign{ID: "repair", Name: "repair", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
	vals := make([]string, 250)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	// Batch 0 (IDs 1-100) finished; batches 1 and 2 have no record.
	recs := make([]jobs.Record, 100)
	ids0 := make([]int64, 100)
	for i := range recs {
		ids0[i] = int64(i + 1)
		recs[i] = jobs.Record{AssetID: ids0[i], Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()}
	}
	l := store.Ledger()
	if _, err := l.Record(ctx, "repair", []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ids1 := []int64{101, 150, 200}
	for name, load := range map[string]func(context.Context, string, int, []int64) ([]jobs.Record, error){
		"Load": l.Load, "LoadForRun": l.LoadForRun,
	} {
		got, err := load(ctx, "repair", 0, ids0[:3])
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if r.AssetID != ids0[i] || r.Outcome != jobs.OutcomeReset {
				t.Errorf("%s batch 0: record %d = %+v, want asset %d reset", name, i, r, ids0[i])
			}
		}
		got, err = load(ctx, "repair", 1, ids1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if r.AssetID != ids1[i] || r.Outcome != "" || r.Terminal() {
				t.Errorf("%s batch 1: record %d = %+v, want asset %d without outcome", name, i, r, ids1[i])
			}
		}
	}
	n, err := store.Repair(ctx, "repair")
	if err != nil || n != 150 {
		t.Fatalf("Repair = %d, %v; want the 150 assets without an outcome", n, err)
	}
	if n, err := store.Repair(ctx, "repair"); !errors.Is(err, jobs.ErrRepairInProgress) || n != 0 {
		t.Fatalf("second Repair within the lock = %d, %v; want 0, ErrRepairInProgress", n, err)
	}
}
