package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// expressCampaign stores an express campaign of assets first..first+n-1
// (remove "stale", query labels=stale, batches of 100) in state pending
// or running (approved), with no task queued. It is created as a plain
// query campaign and then marked express in its meta hash: the filters
// express accepts are package client's rules (ExpressFilters), which the
// store's tests do not depend on.
func expressCampaign(t *testing.T, env *redistest.Env, store *jobs.Store, id string, first, n int, approved bool) *jobs.Campaign {
	t.Helper()
	ctx := context.Background()
	d := snapDef(id)
	d.Mode, d.Labels, d.Query = jobs.ModeRemove, []string{"stale"}, "labels=stale"
	if _, err := submitIDs(t, store, d, first, n, jobs.SubmitOptions{RequireApproval: !approved, Approved: approved, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.HSet(ctx, jobs.MetaKey(env.Namespace, id), "express", "1").Err(); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	if _, err := insp.DeleteAllPendingTasks(jobs.Queue(env.Namespace, jobs.PriorityNormal)); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Express {
		t.Fatal("campaign not read back as express")
	}
	return c
}

// completeSnapshot completes every segment's snapshot of c, listing the
// given assets.
func completeSnapshot(t *testing.T, store *jobs.Store, c *jobs.Campaign, page []client.Asset) {
	t.Helper()
	ctx := context.Background()
	for seg := 0; seg < c.Segments; seg++ {
		r, err := store.BeginSnapshot(ctx, c, seg, "t")
		if err != nil {
			t.Fatal(err)
		}
		r.Add(page)
		if err := r.Complete(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExpressTaskPayload: the payload round-trips, its task ID is the
// campaign incarnation's, and a corrupt one is refused.
func TestExpressTaskPayload(t *testing.T) {
	in := &jobs.ExpressTask{Campaign: "c-1", Incarnation: "abc123"}
	p, err := jobs.EncodeExpressTask(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jobs.DecodeExpressTask(p)
	if err != nil || *out != *in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if got, want := in.TaskID(), "c-1:iabc123:express"; got != want {
		t.Errorf("TaskID %q, want %q", got, want)
	}
	if got := jobs.TaskCampaign(in.TaskID()); got != "c-1" {
		t.Errorf("TaskCampaign of the express task ID: %q, want c-1 (the orphan repair finds campaigns by it)", got)
	}
	for _, bad := range []string{`{`, `{"campaign":"a b","inc":"x"}`, `{"campaign":"a","inc":""}`, `{"campaign":"a","inc":"X"}`, `{"inc":"x"}`} {
		if _, err := jobs.DecodeExpressTask([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	if _, err := jobs.EncodeExpressTask(&jobs.ExpressTask{Campaign: "c-1"}); err == nil {
		t.Error("a task without an incarnation encoded")
	}
}

// TestUpdateExpress: the express state moves forward by compare-and-set,
// every field round-trips, a change of state is audited with its numbers
// (a write that keeps the state is not), and another incarnation is not
// touched.
func TestUpdateExpress(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	c := expressCampaign(t, env, store, "x1", 1, 50, true)

	x, err := store.Express(ctx, c)
	if err != nil || x == nil || *x != (jobs.ExpressInfo{}) {
		t.Fatalf("fresh express state: %+v, %v; want the zero value", x, err)
	}
	plain, err := store.Get(ctx, "x1")
	if err != nil {
		t.Fatal(err)
	}
	plain.Express = false
	if x, err := store.Express(ctx, plain); x != nil || err != nil {
		t.Errorf("Express of a campaign that is not express: %+v, %v; want nil, nil", x, err)
	}

	sent := time.UnixMilli(time.Now().UnixMilli()).UTC()
	steps := []struct {
		from jobs.ExpressState
		info jobs.ExpressInfo
	}{
		{jobs.ExpressWaiting, jobs.ExpressInfo{State: jobs.ExpressSending, Listed: 48, SentAt: sent}},
		{jobs.ExpressSending, jobs.ExpressInfo{State: jobs.ExpressSent, Listed: 48, SentAt: sent, AssetCount: 50, Difference: 2,
			Async: true, Deadline: sent.Add(10 * time.Minute)}},
		// Progress: the same state again, audited nothing.
		{jobs.ExpressSent, jobs.ExpressInfo{State: jobs.ExpressSent, Listed: 48, SentAt: sent, AssetCount: 50, Difference: 2,
			Async: true, Deadline: sent.Add(10 * time.Minute), Verified: 30}},
		{jobs.ExpressSent, jobs.ExpressInfo{State: jobs.ExpressVerified, Reason: "deadline passed", Listed: 48, SentAt: sent,
			AssetCount: 50, Difference: 2, Async: true, Deadline: sent.Add(10 * time.Minute), Verified: 45, Fallback: 5,
			FinishedAt: sent.Add(11 * time.Minute)}},
	}
	for _, st := range steps {
		if err := store.UpdateExpress(ctx, c, st.from, &st.info); err != nil {
			t.Fatalf("%q -> %q: %v", st.from, st.info.State, err)
		}
		got, err := store.Express(ctx, c)
		if err != nil || *got != st.info {
			t.Fatalf("after %q -> %q: read %+v, %v; want %+v", st.from, st.info.State, got, err, st.info)
		}
	}

	events, err := store.Events(ctx, "x1")
	if err != nil {
		t.Fatal(err)
	}
	var express []jobs.Event
	for _, e := range events {
		if strings.HasPrefix(e.Action, "express_") {
			express = append(express, e)
		}
	}
	wantActions := []string{jobs.ActionExpressSending, jobs.ActionExpressSent, jobs.ActionExpressVerified}
	wantIn := []string{"48 listed", "PDCP matched 50 assets (listed 48, difference +2, async true)", "45 assets seen clean (path bulk), 5 left to per-asset calls: deadline passed"}
	if len(express) != len(wantActions) {
		t.Fatalf("express events %+v, want %v", express, wantActions)
	}
	for i, e := range express {
		if e.Action != wantActions[i] || !strings.Contains(e.Reason, wantIn[i]) || e.From != jobs.StateRunning || e.To != jobs.StateRunning {
			t.Errorf("event %d: %+v; want %s from running to running, reason with %q", i, e, wantActions[i], wantIn[i])
		}
	}

	// Compare-and-set: a stale from, a move back, leaving a final state.
	for _, bad := range []struct {
		from jobs.ExpressState
		to   jobs.ExpressState
		want error
	}{
		{jobs.ExpressSent, jobs.ExpressVerified, jobs.ErrExpressConflict},
		{jobs.ExpressWaiting, jobs.ExpressSending, jobs.ErrExpressConflict},
	} {
		err := store.UpdateExpress(ctx, c, bad.from, &jobs.ExpressInfo{State: bad.to})
		if !errors.Is(err, bad.want) {
			t.Errorf("%q -> %q over verified: %v, want %v", bad.from, bad.to, err, bad.want)
		}
	}
	for _, bad := range [][2]jobs.ExpressState{
		{jobs.ExpressVerified, jobs.ExpressSending}, {jobs.ExpressVerified, jobs.ExpressFailed},
		{jobs.ExpressSent, jobs.ExpressSending}, {jobs.ExpressSent, jobs.ExpressWaiting}, {jobs.ExpressWaiting, "bogus"},
	} {
		if err := store.UpdateExpress(ctx, c, bad[0], &jobs.ExpressInfo{State: bad[1]}); err == nil || errors.Is(err, jobs.ErrExpressConflict) {
			t.Errorf("%q -> %q: %v, want a refusal of the order", bad[0], bad[1], err)
		}
	}
	if got, _ := store.Express(ctx, c); got.State != jobs.ExpressVerified || got.Verified != 45 {
		t.Errorf("after refused updates: %+v, want the verified state kept", got)
	}

	// Another incarnation under the same ID is not this campaign.
	other := *c
	other.Incarnation = "0000"
	if err := store.UpdateExpress(ctx, &other, jobs.ExpressVerified, &jobs.ExpressInfo{State: jobs.ExpressVerified}); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("UpdateExpress of another incarnation: %v, want ErrNotFound", err)
	}
	if _, err := store.Express(ctx, &other); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Express of another incarnation: %v, want ErrNotFound", err)
	}
}

// TestEnsureEnqueuedExpress: a pending express campaign queues nothing,
// not even its snapshot; running, its snapshot, then its express task
// (once, however often asked, Repair included) and no batch; once the
// express state is final, its batches.
func TestEnsureEnqueuedExpress(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	c := expressCampaign(t, env, store, "xq", 1, 250, false)
	if c.State != jobs.StatePending {
		t.Fatalf("state %s, want pending", c.State)
	}
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 0 {
		t.Fatalf("EnsureEnqueued of a pending express campaign: %d, %v", n, err)
	}
	if tasks := pendingTasks(t, env); len(tasks) != 0 {
		t.Fatalf("pending express campaign queued %v, want nothing (its snapshot is taken once it runs)", tasks)
	}
	c, err := store.Approve(ctx, "xq")
	if err != nil {
		t.Fatal(err)
	}
	tasks := pendingTasks(t, env)
	if want := "xq:i" + c.Incarnation + ":snap0"; tasks[want] != jobs.TypeSnapshot || len(tasks) != 1 {
		t.Fatalf("approved: queued %v, want only the snapshot task %s", tasks, want)
	}
	completeSnapshot(t, store, c, []client.Asset{{ID: 1, Labels: []string{"stale"}}})
	expressID := "xq:i" + c.Incarnation + ":express"
	for range 2 {
		if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 0 {
			t.Fatalf("EnsureEnqueued after the snapshot: %d batches, %v; want 0", n, err)
		}
	}
	if n, err := store.Repair(ctx, "xq"); err != nil || n != 0 {
		t.Fatalf("Repair before the express phase is over: %d assets, %v; want 0", n, err)
	}
	tasks = pendingTasks(t, env)
	if tasks[expressID] != jobs.TypeExpress || countType(tasks, jobs.TypeBatch) != 0 || countType(tasks, jobs.TypeExpress) != 1 {
		t.Fatalf("after the snapshot: queued %v, want the one express task %s and no batch", tasks, expressID)
	}

	// An express task asynq gave up on (archived) must not hold its ID
	// for ever: the next EnsureEnqueued enqueues it again.
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	queue := jobs.Queue(env.Namespace, jobs.PriorityNormal)
	if err := insp.ArchiveTask(queue, expressID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.EnsureEnqueued(ctx, c); err != nil {
		t.Fatal(err)
	}
	if info, err := insp.GetTaskInfo(queue, expressID); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("after an archived express task: %+v, %v; want it pending again", info, err)
	}

	// Nor does a retry queue batches beside the bulk call.
	if _, err := store.Redrive(ctx, "xq", []string{jobs.OutcomeFailed, jobs.OutcomeNotInInventory}); !errors.Is(err, jobs.ErrTransition) {
		t.Fatalf("Redrive before the express phase is over: %v, want ErrTransition", err)
	}
	if n := countType(pendingTasks(t, env), jobs.TypeBatch); n != 0 {
		t.Fatalf("Redrive before the express phase is over queued %d batches", n)
	}

	if err := store.UpdateExpress(ctx, c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressRefused, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 3 {
		t.Fatalf("EnsureEnqueued once refused: %d, %v; want the 3 batches", n, err)
	}
}

// TestEnsureEnqueuedExpressCancelled: a cancelled express campaign's
// batches go (they record cancelled); its express task goes too only
// when its bulk call may have been sent, for verification.
func TestEnsureEnqueuedExpressCancelled(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		state   jobs.ExpressState
		express bool
	}{
		{"not sent", jobs.ExpressWaiting, false},
		{"sending", jobs.ExpressSending, true},
		{"sent", jobs.ExpressSent, true},
		{"refused", jobs.ExpressRefused, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := redistest.New(t)
			store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
			c := expressCampaign(t, env, store, "xc", 1, 150, true)
			completeSnapshot(t, store, c, nil)
			// Through the states before tc.state (forward only).
			for _, st := range []jobs.ExpressState{jobs.ExpressSending, jobs.ExpressSent} {
				if tc.state == jobs.ExpressWaiting || tc.state == jobs.ExpressRefused || st == jobs.ExpressSent && tc.state == jobs.ExpressSending {
					break
				}
				x, _ := store.Express(ctx, c)
				if err := store.UpdateExpress(ctx, c, x.State, &jobs.ExpressInfo{State: st}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.state == jobs.ExpressRefused {
				if err := store.UpdateExpress(ctx, c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressRefused}); err != nil {
					t.Fatal(err)
				}
			}
			if x, _ := store.Express(ctx, c); x.State != tc.state {
				t.Fatalf("express state %q, want %q", x.State, tc.state)
			}
			if _, err := store.Cancel(ctx, "xc"); err != nil {
				t.Fatal(err)
			}
			c, err := store.Get(ctx, "xc")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 2 {
				t.Fatalf("EnsureEnqueued of the cancelled campaign: %d, %v; want its 2 batches", n, err)
			}
			tasks := pendingTasks(t, env)
			if got := countType(tasks, jobs.TypeExpress) == 1; got != tc.express {
				t.Errorf("express task queued %v, want %v (queued: %v)", got, tc.express, tasks)
			}
		})
	}
}

// TestUpdateExpressBackToWaiting: a bulk call PDCP refused with 401/403
// changed nothing, so its sending state goes back to waiting (the call
// is sent again once the campaign is resumed); from sent it cannot.
func TestUpdateExpressBackToWaiting(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	c := expressCampaign(t, env, store, "x401", 1, 10, true)
	for _, step := range [][2]jobs.ExpressState{
		{jobs.ExpressWaiting, jobs.ExpressSending}, {jobs.ExpressSending, jobs.ExpressWaiting},
		{jobs.ExpressWaiting, jobs.ExpressSending}, {jobs.ExpressSending, jobs.ExpressSent},
	} {
		if err := store.UpdateExpress(ctx, c, step[0], &jobs.ExpressInfo{State: step[1], Listed: 10}); err != nil {
			t.Fatalf("%q -> %q: %v, want nil", step[0], step[1], err)
		}
	}
	if err := store.UpdateExpress(ctx, c, jobs.ExpressSent, &jobs.ExpressInfo{State: jobs.ExpressWaiting}); err == nil {
		t.Error("sent -> waiting accepted, want a refusal: the bulk call was answered 2xx")
	}
}

// TestUndoExpress: once an express campaign's bulk call may have been
// sent, undo restores every asset its snapshot listed holding a removed
// label, whatever its outcome, and its exported snapshot says each was
// reset; before (or refused), today's rules.
func TestUndoExpress(t *testing.T) {
	ctx := context.Background()
	assets := outcomeFixture()
	assets[13] = undoAsset{labels: []string{"a", "z"}, listed: true} // no outcome yet
	ids := sortedIDs(assets)
	bulkSent := map[int64][]string{1: {"a"}, 3: {"a"}, 4: {"a"}, 5: {"c"}, 6: {"c"}, 7: {"a"}, 10: {"a"}, 12: {"a"}, 13: {"a"}}
	notSent := map[int64][]string{1: {"a"}, 3: {"a"}, 5: {"c"}, 6: {"c"}, 12: {"a"}, 13: {"a"}}
	for _, tc := range []struct {
		name  string
		steps []jobs.ExpressState
		want  map[int64][]string
	}{
		{"waiting", nil, notSent},
		{"refused", []jobs.ExpressState{jobs.ExpressRefused}, notSent},
		{"failed", []jobs.ExpressState{jobs.ExpressSending, jobs.ExpressFailed}, notSent},
		{"sending", []jobs.ExpressState{jobs.ExpressSending}, bulkSent},
		{"sent", []jobs.ExpressState{jobs.ExpressSending, jobs.ExpressSent}, bulkSent},
		{"verified", []jobs.ExpressState{jobs.ExpressSending, jobs.ExpressSent, jobs.ExpressVerified}, bulkSent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := redistest.New(t)
			store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
			def := undoDef("xu", jobs.ModeRemove, "a", "c")
			def.Query = "labels=a"
			c := undoSource(t, store, def, assets, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
			if err := env.Client.HSet(ctx, jobs.MetaKey(env.Namespace, "xu"), "express", "1").Err(); err != nil {
				t.Fatal(err)
			}
			c.Express = true
			from := jobs.ExpressWaiting
			for _, st := range tc.steps {
				if err := store.UpdateExpress(ctx, c, from, &jobs.ExpressInfo{State: st}); err != nil {
					t.Fatal(err)
				}
				from = st
			}

			plan, err := store.PlanUndo(ctx, "xu", false)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Restore != int64(len(tc.want)) {
				t.Errorf("plan restores %d assets, want %d", plan.Restore, len(tc.want))
			}
			var buf bytes.Buffer
			if _, err := store.ExportSnapshot(ctx, "xu", &buf); err != nil {
				t.Fatal(err)
			}
			_, lines, err := jobs.ReadSnapshot(&buf, "xu.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			sent := len(tc.want) == len(bulkSent)
			for _, l := range lines {
				if sent && (l.Reset == nil || !*l.Reset) {
					t.Errorf("exported line of asset %d: reset %v, want true after the bulk call", l.AssetID, l.Reset)
				}
			}

			res, _, err := store.Undo(ctx, "xu", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}})
			if err != nil {
				t.Fatal(err)
			}
			sameLabels(t, restoreLabelsOf(t, store, res.Campaign, ids), tc.want)
		})
	}
}
