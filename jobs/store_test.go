package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	if _, err := submitIDs(t, store, newDef("repair"), 1, 250, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
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

// submitIDs submits IDs first..first+n-1 as campaign def.
func submitIDs(t *testing.T, store *jobs.Store, def *jobs.Campaign, first, n int, opts jobs.SubmitOptions) (*jobs.SubmitResult, error) {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(first + i)
	}
	d := *def
	plan, err := jobs.ReadPlan(&d, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	return store.Submit(context.Background(), &d, plan, opts)
}

func newDef(id string) *jobs.Campaign {
	return &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
}

// TestAppendNeedsApproval: an append that takes a campaign above
// ConfirmAbove (or is above it by itself) waits for Approve like a new
// campaign would; starting small and appending does not skip approval.
func TestAppendNeedsApproval(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	opts := jobs.SubmitOptions{ConfirmAbove: 50}
	if res, err := submitIDs(t, store, newDef("small"), 1, 1, opts); err != nil || res.Campaign.State != jobs.StateRunning {
		t.Fatalf("1 asset: %v, %v; want running", res, err)
	}
	opts.Append = true
	res, err := submitIDs(t, store, newDef("small"), 1, 300, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Appended != 299 || res.Campaign.State != jobs.StatePending || res.Enqueued != 0 ||
		!strings.Contains(res.Campaign.Reason, "approve") {
		t.Fatalf("append of 299 above confirm-above 50: appended %d, state %s (%q), %d batches enqueued; want pending, 0 enqueued",
			res.Appended, res.Campaign.State, res.Campaign.Reason, res.Enqueued)
	}
	if c, err := store.Approve(ctx, "small"); err != nil || c.State != jobs.StateRunning {
		t.Fatalf("approve: %v", err)
	}
	// Small appends to an approved campaign, and confirmed ones, run.
	res, err = submitIDs(t, store, newDef("small"), 1, 310, opts)
	if err != nil || res.Campaign.State != jobs.StateRunning {
		t.Errorf("append of 10 to an approved campaign of 300: %v, %v; want running", res.Campaign.State, err)
	}
	opts.Approved = true
	res, err = submitIDs(t, store, newDef("small"), 1, 500, opts)
	if err != nil || res.Campaign.State != jobs.StateRunning || res.Enqueued == 0 {
		t.Errorf("confirmed append: %v, %v; want running with batches enqueued", res.Campaign.State, err)
	}
}

// TestResubmitWithOtherTeamRefused: the same IDs for another PDCP team is
// a different campaign, not a no-op re-submit.
func TestResubmitWithOtherTeamRefused(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := newDef("team")
	def.TeamID = "team-a"
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	def.TeamID = "team-b"
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{}); !errors.Is(err, jobs.ErrInputMismatch) {
		t.Errorf("same IDs for another team: %v, want ErrInputMismatch", err)
	}
	def.TeamID = "team a"
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{}); !errors.Is(err, jobs.ErrInvalidCampaign) {
		t.Errorf("team ID with a space: %v, want ErrInvalidCampaign", err)
	}
}

// TestRedriveNothingLeavesCampaignAlone: a retry that matches no asset
// changes neither the re-drive count nor the finish time (which starts
// the retention clock).
func TestRedriveNothingLeavesCampaignAlone(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("clean"), 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	var recs []jobs.Record
	for id := int64(1); id <= 3; id++ {
		recs = append(recs, jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()})
	}
	if _, err := store.Ledger().Record(ctx, "clean", []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, err := store.Get(ctx, "clean")
	if err != nil || before.State != jobs.StateDone {
		t.Fatalf("campaign: %v, %v; want done", before, err)
	}
	n, err := store.Redrive(ctx, "clean", []string{jobs.OutcomeFailed})
	if err != nil || n != 0 {
		t.Fatalf("redrive: %d, %v; want 0", n, err)
	}
	after, _ := store.Get(ctx, "clean")
	if after.State != before.State || after.Gen != before.Gen || !after.FinishedAt.Equal(before.FinishedAt) {
		t.Errorf("after a no-op retry: state %s gen %d finished %v; before: %s %d %v",
			after.State, after.Gen, after.FinishedAt, before.State, before.Gen, before.FinishedAt)
	}
	if _, err := store.Redrive(ctx, "clean", []string{"bogus"}); !errors.Is(err, jobs.ErrUnknownOutcome) {
		t.Errorf("redrive of outcome bogus: %v, want ErrUnknownOutcome", err)
	}
}

// TestRequireApprovalAlwaysPending: RequireApproval creates the campaign
// pending whatever ConfirmAbove and Approved say (a select_all schedule),
// and an append to it under RequireApproval waits again.
func TestRequireApprovalAlwaysPending(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	for _, opts := range []jobs.SubmitOptions{
		{RequireApproval: true},
		{RequireApproval: true, ConfirmAbove: -1},
		{RequireApproval: true, ConfirmAbove: 1000, Approved: true},
	} {
		id := fmt.Sprintf("req-%d-%t", opts.ConfirmAbove, opts.Approved)
		res, err := submitIDs(t, store, newDef(id), 1, 3, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Campaign.State != jobs.StatePending || res.Enqueued != 0 {
			t.Errorf("%+v: state %s, %d tasks enqueued; want pending, none", opts, res.Campaign.State, res.Enqueued)
		}
	}
	if _, err := store.Approve(context.Background(), "req-0-false"); err != nil {
		t.Fatal(err)
	}
	res, err := submitIDs(t, store, newDef("req-0-false"), 1, 4, jobs.SubmitOptions{RequireApproval: true, Append: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Campaign.State != jobs.StatePending {
		t.Errorf("append under RequireApproval: state %s, want pending", res.Campaign.State)
	}
}
