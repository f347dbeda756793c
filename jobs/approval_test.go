package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// appendAs appends IDs first..first+n-1 to campaign id under actor.
func appendAs(t *testing.T, store *jobs.Store, actor, id string, first, n int, opts jobs.SubmitOptions) *jobs.SubmitResult {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(first + i)
	}
	def := newDef(id)
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	opts.Append = true
	res, err := store.Submit(jobs.WithActor(context.Background(), actor), def, plan, opts)
	if err != nil {
		t.Fatalf("append %d to %s as %s: %v", n, id, actor, err)
	}
	return res
}

// TestAppendAboveApprovalHoldsInEveryState: an append that takes a
// campaign more than ConfirmAbove above the assets approved makes it
// pending whatever state it is in (running, paused, blocked, stopped,
// done), in the append script itself, so resume cannot run the
// unapproved assets; the append is in the audit log with its actor,
// count and states, and its actor is among the stagers.
func TestAppendAboveApprovalHoldsInEveryState(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	opts := jobs.SubmitOptions{ConfirmAbove: 100}
	into := map[jobs.State]func(id string){
		jobs.StateRunning: func(string) {},
		jobs.StatePaused: func(id string) {
			if err := store.Pause(ctx, id); err != nil {
				t.Fatal(err)
			}
		},
		jobs.StateBlocked: func(id string) {
			if ok, err := store.Block(ctx, id, mustGet(t, store, id).Incarnation, "PDCP answered HTTP 401"); !ok || err != nil {
				t.Fatalf("block: %v, %v", ok, err)
			}
		},
		jobs.StateStopped: func(id string) {
			ids := make([]int64, 10)
			for i := range ids {
				ids[i] = int64(i + 1)
			}
			recordAll(t, ctx, store, id, jobs.OutcomeFailed, ids[:9]...)
		},
		jobs.StateDone: func(id string) {
			recordAll(t, ctx, store, id, jobs.OutcomeReset, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		},
	}
	for _, st := range []jobs.State{jobs.StateRunning, jobs.StatePaused, jobs.StateBlocked, jobs.StateStopped, jobs.StateDone} {
		id := "hold-" + string(st)
		def := newDef(id)
		def.Policy.MaxFailureRatio, def.Policy.MinSample = 0.5, 5
		if res, err := submitIDs(t, store, def, 1, 10, opts); err != nil || res.Campaign.State != jobs.StateRunning {
			t.Fatalf("%s: create 10: %v, %v", id, res, err)
		}
		into[st](id)
		if got := mustGet(t, store, id).State; got != st {
			t.Fatalf("%s: state %s, want %s", id, got, st)
		}
		res := appendAs(t, store, "api:mallory", id, 1000, 500, opts)
		c := res.Campaign
		if c.State != jobs.StatePending || c.ApprovedTotal != 10 || !slices.Contains(c.Stagers, "api:mallory") {
			t.Errorf("%s: after appending 500 (ConfirmAbove 100, 10 approved): state %s, approved_total %d, stagers %v; want pending, 10, api:mallory among them",
				id, c.State, c.ApprovedTotal, c.Stagers)
		}
		if _, err := store.Resume(ctx, id); !errors.Is(err, jobs.ErrTransition) {
			t.Errorf("%s: resume after the append: %v; want ErrTransition (pending waits for approve)", id, err)
		}
		evs, err := store.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Action != jobs.ActionAppend || last.Actor != "api:mallory" || last.Count != 500 || last.From != st || last.To != jobs.StatePending {
			t.Errorf("%s: last event %+v; want append by api:mallory of 500, %s -> pending", id, last, st)
		}
	}
}

// TestSmallAppendsAfterApprovalAddUp: approval covers the assets the
// campaign held when approved; appends each below the threshold add up,
// and the one that takes the campaign more than ConfirmAbove above the
// approved number holds it. An append confirmed by its caller (--yes)
// counts as approved for its own assets only: it never releases a
// campaign someone else staged.
func TestSmallAppendsAfterApprovalAddUp(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	opts := jobs.SubmitOptions{ConfirmAbove: 100}
	if res, err := submitIDs(t, store, newDef("drip"), 1, 101, opts); err != nil || res.Campaign.State != jobs.StatePending {
		t.Fatalf("create 101: %v, %v; want pending", res, err)
	}
	c, err := store.Approve(jobs.WithActor(ctx, "api:appr"), "drip")
	if err != nil || c.ApprovedTotal != 101 || c.ApprovedBy != "api:appr" || len(c.Stagers) != 0 {
		t.Fatalf("approve: %+v, %v; want approved_total 101 by api:appr, no stagers", c, err)
	}
	if st := appendAs(t, store, "api:op", "drip", 1000, 60, opts).Campaign.State; st != jobs.StateRunning {
		t.Fatalf("first append of 60 (60 above the approved 101): %s, want running", st)
	}
	if st := appendAs(t, store, "api:op", "drip", 2000, 60, opts).Campaign.State; st != jobs.StatePending {
		t.Fatalf("second append of 60 (120 above the approved 101, ConfirmAbove 100): %s, want pending", st)
	}
	// A confirmed append to a campaign pending for someone else's assets
	// leaves it pending.
	yes := opts
	yes.Approved = true
	c = appendAs(t, store, "cli:bob@h", "drip", 3000, 5, yes).Campaign
	if c.State != jobs.StatePending || c.ApprovedTotal != 101+5 {
		t.Fatalf("confirmed append of 5 to the pending campaign: %s, approved_total %d; want pending, 106", c.State, c.ApprovedTotal)
	}
	if want := []string{"api:op", "cli:bob@h"}; !slices.Equal(c.Stagers, want) {
		t.Errorf("stagers %v, want %v", c.Stagers, want)
	}
}

// TestRepeatedActionWritesNoEvent: a pause of a paused campaign, a
// resume of a running one and a cancel of a cancelled one succeed as
// before but change nothing and write no audit event.
func TestRepeatedActionWritesNoEvent(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	if _, err := submitIDs(t, store, newDef("noop"), 1, 3, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	op := jobs.WithActor(ctx, "api:op")
	for range 3 {
		if _, err := store.Resume(op, "noop"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := store.Pause(op, "noop"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := store.Cancel(op, "noop"); err != nil {
			t.Fatal(err)
		}
	}
	want := []step{
		{"system", "create", "", "running"},
		{"api:op", "pause", "running", "paused"},
		{"api:op", "cancel", "paused", "cancelled"},
	}
	got := steps(t, store, "noop")
	if !slices.Equal(got, want) {
		t.Errorf("events after 3 resumes, 3 pauses, 3 cancels: %v; want %v", got, want)
	}
	if c := mustGet(t, store, "noop"); c.CreatedBy != "system" {
		t.Errorf("created_by %q, want system", c.CreatedBy)
	}
}

// TestApproveCheckedCoversWhatWasRead: an approval checked against the
// total the approver read and its stagers is refused, atomically, when an
// append came in between (ErrChanged) or when the approver is a stager
// (ErrSelfApproval); the campaign stays pending either way.
func TestApproveCheckedCoversWhatWasRead(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	opts := jobs.SubmitOptions{ConfirmAbove: 100}
	def := newDef("checked")
	plan, _ := jobs.ReadPlan(def, jobs.IDList("t", []string{"1", "2", "3"}))
	if _, err := store.Submit(jobs.WithActor(ctx, "api:other"), def, plan, jobs.SubmitOptions{RequireApproval: true}); err != nil {
		t.Fatal(err)
	}
	read := mustGet(t, store, "checked")
	appendAs(t, store, "api:appr", "checked", 1000, 500, opts)
	appr := jobs.WithActor(ctx, "api:appr")
	if _, err := store.ApproveChecked(appr, "checked", jobs.ApproveOptions{Total: read.Total}); !errors.Is(err, jobs.ErrChanged) {
		t.Errorf("approve of the 3 assets read, 503 held: %v; want ErrChanged", err)
	}
	if _, err := store.ApproveChecked(appr, "checked", jobs.ApproveOptions{Total: 503, NotStager: true}); !errors.Is(err, jobs.ErrSelfApproval) {
		t.Errorf("approve by the appender: %v; want ErrSelfApproval", err)
	}
	if st := mustGet(t, store, "checked").State; st != jobs.StatePending {
		t.Fatalf("after refused approvals: %s, want pending", st)
	}
	c, err := store.ApproveChecked(jobs.WithActor(ctx, "api:third"), "checked", jobs.ApproveOptions{Total: 503, NotStager: true})
	if err != nil || c.State != jobs.StateRunning || c.ApprovedTotal != 503 || c.ApprovedBy != "api:third" {
		t.Fatalf("approve by a third actor: %+v, %v; want running, 503 approved by api:third", c, err)
	}
}
