package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// outboxEvents returns the event kinds in campaign id's outbox, in order.
func outboxEvents(t *testing.T, env *redistest.Env, id string) []string {
	t.Helper()
	raw, err := env.Client.LRange(context.Background(), jobs.OutboxKey(env.Namespace, id), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range raw {
		var e struct{ Event, Notify, ID string }
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			t.Fatalf("outbox entry %q: %v", r, err)
		}
		out = append(out, e.Event)
	}
	return out
}

// TestOutboxFollowsTransitions: a campaign that names notifiers gets an
// outbox entry for exactly the transitions they hear about (pending,
// blocked, stopped, cancelled, done, undone), none for the others
// (approve, pause, resume) and none for a repeat; a campaign without
// notifiers gets none; the outbox goes with the campaign.
func TestOutboxFollowsTransitions(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})

	def := newDef("n1")
	def.Notify = []string{"ops", "audit-2"}
	def.Policy.MaxFailureRatio, def.Policy.MinSample = 0.5, 2
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{RequireApproval: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Approve(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := store.Pause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := store.Pause(ctx, "n1"); err != nil { // a repeat: nothing
		t.Fatal(err)
	}
	if _, err := store.Resume(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.Block(ctx, "n1", mustGet(t, store, "n1").Incarnation, "PDCP answered HTTP 401"); !ok || err != nil {
		t.Fatalf("block: %v, %v", ok, err)
	}
	if _, err := store.Resume(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	recordAll(t, ctx, store, "n1", jobs.OutcomeFailed, 1, 2, 3)
	if _, err := store.Cancel(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	want := []string{jobs.NotifyNeedsApproval, jobs.NotifyBlocked, jobs.NotifyStopped, jobs.NotifyCancelled}
	if got := outboxEvents(t, env, "n1"); !slices.Equal(got, want) {
		t.Errorf("outbox events %v, want %v", got, want)
	}
	if got := mustGet(t, store, "n1").Notify; !slices.Equal(got, def.Notify) {
		t.Errorf("Notify read back %v, want %v", got, def.Notify)
	}

	plain := newDef("n2")
	if _, err := submitIDs(t, store, plain, 1, 10, jobs.SubmitOptions{RequireApproval: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if got := outboxEvents(t, env, "n2"); len(got) != 0 {
		t.Errorf("campaign without notifiers: outbox %v, want none", got)
	}

	if err := store.Delete(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := env.Client.Exists(ctx, jobs.OutboxKey(env.Namespace, "n1")).Result(); n != 0 {
		t.Error("the outbox outlived its campaign's delete")
	}
}

// TestOutboxDoneAndUndone: a finished campaign's outbox holds done; its
// undo adds undone to it, and the restore campaign inherits the
// notifiers.
func TestOutboxDoneAndUndone(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	def := undoDef("u1", jobs.ModeDelete)
	def.Notify = []string{"ops"}
	undoSource(t, store, def, outcomeFixture(), jobs.SubmitOptions{})
	res, _, err := store.Undo(ctx, "u1", jobs.UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{jobs.NotifyDone, jobs.NotifyUndone}
	if got := outboxEvents(t, env, "u1"); !slices.Equal(got, want) {
		t.Errorf("outbox events %v, want %v", got, want)
	}
	if got := res.Campaign.Notify; !slices.Equal(got, []string{"ops"}) {
		t.Errorf("restore campaign notifies %v, want [ops]", got)
	}
}

func TestValidateNotify(t *testing.T) {
	for _, tc := range []struct {
		names []string
		ok    bool
	}{
		{nil, true},
		{[]string{"ops", "a-b_c", "0"}, true},
		{[]string{"Ops"}, false},
		{[]string{"-ops"}, false},
		{[]string{"o,ps"}, false},
		{[]string{"ops", "ops"}, false},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, false},
	} {
		if err := jobs.ValidateNotify(tc.names); (err == nil) != tc.ok {
			t.Errorf("ValidateNotify(%q) = %v, want ok %v", tc.names, err, tc.ok)
		}
	}
}
