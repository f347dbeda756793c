package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// step is an audit event without its time.
type step struct{ Actor, Action, From, To string }

func steps(t *testing.T, store *jobs.Store, id string) []step {
	t.Helper()
	evs, err := store.Events(context.Background(), id)
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	out := make([]step, len(evs))
	for i, e := range evs {
		if e.Time.IsZero() || e.Campaign != id {
			t.Errorf("event %d of %s: %+v: want a time and the campaign", i, id, e)
		}
		out[i] = step{e.Actor, e.Action, string(e.From), string(e.To)}
	}
	return out
}

func recordAll(t *testing.T, ctx context.Context, store *jobs.Store, id string, outcome string, ids ...int64) jobs.Change {
	t.Helper()
	recs := make([]jobs.Record, len(ids))
	for i, a := range ids {
		recs[i] = jobs.Record{AssetID: a, Outcome: outcome, Status: 200, Attempts: 1, FinishedAt: time.Now()}
	}
	ch, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestAuditEveryStateChange drives campaigns through every state change
// the Store makes, each under an actor, and checks the audit log: who,
// what, from, to, in order; automatic changes (done, stop, block) by the
// store's own actor; the log is bounded, and goes with the campaign.
func TestAuditEveryStateChange(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond, Actor: "worker:w1"})
	alice := jobs.WithActor(context.Background(), "api:alice")
	bob := jobs.WithActor(context.Background(), "api:bob")
	carol := jobs.WithActor(context.Background(), "cli:carol@ops-1")
	bg := context.Background() // no actor: the store's

	def := newDef("audit")
	plan, _ := jobs.ReadPlan(def, jobs.IDList("t", []string{"1", "2", "3"}))
	if _, err := store.Submit(alice, def, plan, jobs.SubmitOptions{ConfirmAbove: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Approve(bob, "audit"); err != nil {
		t.Fatal(err)
	}
	recordAll(t, bg, store, "audit", jobs.OutcomeReset, 1, 2)
	if ch := recordAll(t, bg, store, "audit", jobs.OutcomeFailed, 3); ch != jobs.ChangeFinished {
		t.Fatalf("last outcome: change %v, want finished", ch)
	}
	if n, err := store.Redrive(carol, "audit", []string{jobs.OutcomeFailed}); err != nil || n != 1 {
		t.Fatalf("redrive: %d, %v; want 1", n, err)
	}
	recordAll(t, bg, store, "audit", jobs.OutcomeReset, 3)
	def2 := newDef("audit")
	plan2, _ := jobs.ReadPlan(def2, jobs.IDList("t", []string{"4"}))
	if _, err := store.Submit(carol, def2, plan2, jobs.SubmitOptions{Append: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Block(bg, "audit", mustGet(t, store, "audit").Incarnation, "PDCP answered HTTP 401"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Resume(alice, "audit"); err != nil {
		t.Fatal(err)
	}
	if err := store.Pause(bob, "audit"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(carol, "audit"); err != nil {
		t.Fatal(err)
	}
	want := []step{
		{"api:alice", "create", "", "pending"},
		{"api:bob", "approve", "pending", "running"},
		{"worker:w1", "done", "running", "done"},
		{"cli:carol@ops-1", "retry", "done", "running"},
		{"worker:w1", "done", "running", "done"},
		{"cli:carol@ops-1", "append", "done", "running"},
		{"worker:w1", "block", "running", "blocked"},
		{"api:alice", "resume", "blocked", "running"},
		{"api:bob", "pause", "running", "paused"},
		{"cli:carol@ops-1", "cancel", "paused", "cancelled"},
	}
	if diff := cmp.Diff(want, steps(t, store, "audit")); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}

	// The failure threshold stops a campaign: recorded, with its reason.
	def3 := newDef("audit-stop")
	def3.Policy.MaxFailureRatio, def3.Policy.MinSample = 0.1, 1
	plan3, _ := jobs.ReadPlan(def3, jobs.IDList("t", []string{"1", "2", "3"}))
	if _, err := store.Submit(jobs.WithActor(bg, "scheduler:nightly"), def3, plan3, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if ch := recordAll(t, bg, store, "audit-stop", jobs.OutcomeFailed, 1); ch != jobs.ChangeStopped {
		t.Fatalf("failed outcome: change %v, want stopped", ch)
	}
	want = []step{{"scheduler:nightly", "create", "", "running"}, {"worker:w1", "stop", "running", "stopped"}}
	if diff := cmp.Diff(want, steps(t, store, "audit-stop")); diff != "" {
		t.Errorf("audit log of the stopped campaign (-want +got):\n%s", diff)
	}
	evs, _ := store.Events(bg, "audit-stop")
	if len(evs) == 2 && evs[1].Reason == "" {
		t.Error("stop event without its reason")
	}

	// Bounded: the first KeepFirstEvents and the newest others are kept,
	// so a pause/resume loop never erases who created the campaign.
	for i := range jobs.MaxEvents / 2 {
		if _, err := store.Resume(alice, "audit-stop"); err != nil {
			t.Fatal(i, err)
		}
		if err := store.Pause(bob, "audit-stop"); err != nil {
			t.Fatal(i, err)
		}
	}
	got := steps(t, store, "audit-stop")
	if len(got) != jobs.MaxEvents || got[len(got)-1] != (step{"api:bob", "pause", "running", "paused"}) ||
		got[0] != (step{"scheduler:nightly", "create", "", "running"}) || got[1].Action != "stop" {
		t.Errorf("after %d more changes: %d events, first %+v, last %+v; want %d: the first %d and the newest",
			jobs.MaxEvents, len(got), got[0], got[len(got)-1], jobs.MaxEvents, jobs.KeepFirstEvents)
	}

	// The log goes with the campaign; a new campaign of the same ID starts
	// its own.
	ekey := fmt.Sprintf("%s:{%s}:events", env.Namespace, "audit")
	if err := store.Delete(bg, "audit"); err != nil {
		t.Fatal(err)
	}
	if n := env.Client.Exists(bg, ekey).Val(); n != 0 {
		t.Errorf("events key left after Delete")
	}
	if _, err := store.Submit(bob, newDef("audit"), plan, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]step{{"api:bob", "create", "", "running"}}, steps(t, store, "audit")); diff != "" {
		t.Errorf("audit log of the new campaign (-want +got):\n%s", diff)
	}
}

// mustGet loads campaign id or fails the test.
func mustGet(t *testing.T, store *jobs.Store, id string) *jobs.Campaign {
	t.Helper()
	c, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
