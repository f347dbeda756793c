package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

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

// failOne submits campaign id with assets 1..3 (running) and records
// asset 2 failed.
func failOne(t *testing.T, store *jobs.Store, id string) {
	t.Helper()
	if _, err := submitIDs(t, store, newDef(id), 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	rec := jobs.Record{AssetID: 2, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: time.Now()}
	if _, err := store.Ledger().Record(context.Background(), id, []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{rec}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// outcomeOf returns the reported outcome of one asset.
func outcomeOf(t *testing.T, store *jobs.Store, id string, asset int64) string {
	t.Helper()
	var got string
	err := store.Records(context.Background(), id, func(r jobs.Record) error {
		if r.AssetID == asset {
			got = r.Outcome
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRedriveKeepsHold: a retry of a paused, blocked or pending campaign
// re-queues the assets but leaves the campaign held (workers call nothing
// until resume or approve); a done or stopped campaign runs again, and a
// cancelled one is refused.
func TestRedriveKeepsHold(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	for _, tc := range []struct {
		state jobs.State
		hold  func(id string) error
		want  jobs.State
	}{
		{jobs.StatePaused, func(id string) error { return store.Pause(ctx, id) }, jobs.StatePaused},
		{jobs.StateBlocked, func(id string) error {
			_, err := store.Block(ctx, id, mustGet(t, store, id).Incarnation, "HTTP 401")
			return err
		}, jobs.StateBlocked},
		{jobs.StatePending, func(id string) error {
			// An append above --confirm-above puts a campaign that has
			// outcomes back to pending.
			_, err := submitIDs(t, store, newDef(id), 1, 300, jobs.SubmitOptions{Append: true, ConfirmAbove: 50})
			return err
		}, jobs.StatePending},
		{jobs.StateRunning, func(string) error { return nil }, jobs.StateRunning},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			id := "hold-" + string(tc.state)
			failOne(t, store, id)
			if err := tc.hold(id); err != nil {
				t.Fatal(err)
			}
			if c, _ := store.Get(ctx, id); c.State != tc.state {
				t.Fatalf("set up: campaign is %s, want %s", c.State, tc.state)
			}
			n, err := store.Redrive(ctx, id, []string{jobs.OutcomeFailed})
			if err != nil || n != 1 {
				t.Fatalf("retry of a %s campaign: %d, %v; want 1 asset re-enqueued", tc.state, n, err)
			}
			c, err := store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tc.want {
				t.Errorf("after retry: campaign is %s (%q), want %s", c.State, c.Reason, tc.want)
			}
			if o := outcomeOf(t, store, id, 2); o != jobs.OutcomePending {
				t.Errorf("after retry: asset 2 is %s, want pending (re-enqueued)", o)
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		// The failure threshold stops a campaign by itself; a retry of the
		// failed assets is how the operator continues it.
		def := newDef("hold-stopped")
		def.Policy.MinSample, def.Policy.MaxFailureRatio = 1, 0.1
		if _, err := submitIDs(t, store, def, 1, 3, jobs.SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
		rec := jobs.Record{AssetID: 2, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: time.Now()}
		if ch, err := store.Ledger().Record(ctx, "hold-stopped", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{rec}}}, time.Now()); err != nil || ch != jobs.ChangeStopped {
			t.Fatalf("set up: record = %v, %v; want the campaign stopped", ch, err)
		}
		if n, err := store.Redrive(ctx, "hold-stopped", nil); err != nil || n != 1 {
			t.Fatalf("retry of a stopped campaign: %d, %v; want 1", n, err)
		}
		if c, _ := store.Get(ctx, "hold-stopped"); c.State != jobs.StateRunning {
			t.Errorf("after retry of a stopped campaign: %s, want running", c.State)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		failOne(t, store, "hold-cancelled")
		if _, err := store.Cancel(ctx, "hold-cancelled"); err != nil {
			t.Fatal(err)
		}
		if n, err := store.Redrive(ctx, "hold-cancelled", nil); !errors.Is(err, jobs.ErrTransition) || n != 0 {
			t.Errorf("retry of a cancelled campaign: %d, %v; want 0, ErrTransition", n, err)
		}
	})
}

// TestRedriveTwice: a second retry before the first one's assets ran
// re-queues nothing and says 0 (it used to count, and enqueue again, the
// assets the first one re-queued: a second task for one asset can call it
// twice).
func TestRedriveTwice(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	failOne(t, store, "twice")
	if n, err := store.Redrive(ctx, "twice", nil); err != nil || n != 1 {
		t.Fatalf("first retry: %d, %v; want 1", n, err)
	}
	before, err := store.Get(ctx, "twice")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := store.Redrive(ctx, "twice", nil); err != nil || n != 0 {
		t.Errorf("second retry: %d, %v; want 0 (no asset is failed any more)", n, err)
	}
	after, err := store.Get(ctx, "twice")
	if err != nil {
		t.Fatal(err)
	}
	if after.Gen != before.Gen || after.State != before.State {
		t.Errorf("second retry changed the campaign: gen %d state %s, before %d %s", after.Gen, after.State, before.Gen, before.State)
	}
	// The queue holds the submit's batch and the first retry's, no more.
	info, err := asynq.NewInspectorFromRedisClient(env.Client).GetQueueInfo(jobs.Queue(env.Namespace, jobs.PriorityNormal))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Pending + info.Scheduled + info.Retry + info.Active; got != 2 {
		t.Errorf("queued tasks: %d, want 2 (batch 0 and the first retry's)", got)
	}
}

// TestRecordAndWaitAfterScriptFlush: RecordAndWait sends the record script
// by its hash; on a Redis whose script cache is empty (a restart) it sends
// the script itself, and the records are written. No replica is attached,
// so the WAIT reports ErrNoReplicaAck. The script cache is flushed, so
// this test uses its own embedded Redis, never the shared one.
func TestRecordAndWaitAfterScriptFlush(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: "flush"})
	if _, err := submitIDs(t, store, newDef("flush"), 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var recs []jobs.Record
	for id := int64(1); id <= 3; id++ {
		recs = append(recs, jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()})
	}
	inc := mustGet(t, store, "flush").Incarnation
	ch, err := store.Ledger().RecordAndWait(ctx, "flush", inc, []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now(), 1, 10*time.Millisecond)
	if !errors.Is(err, jobs.ErrNoReplicaAck) || ch != jobs.ChangeFinished {
		t.Fatalf("RecordAndWait = %v, %v; want the campaign finished and ErrNoReplicaAck (no replica)", ch, err)
	}
	if c, err := store.Get(ctx, "flush"); err != nil || c.State != jobs.StateDone || c.Counts[jobs.OutcomeReset] != 3 {
		t.Errorf("campaign after RecordAndWait: %+v, %v; want done with 3 reset", c, err)
	}
	if _, err := store.Ledger().RecordAndWait(ctx, "flush", inc, nil, time.Now(), 1, 0); err == nil {
		t.Error("RecordAndWait with timeout 0 (WAIT forever) accepted")
	}
}
