package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// resetAll answers every call with a reset, at once.
type resetAll struct{}

func (resetAll) DeleteLabels(context.Context, int64) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (resetAll) RemoveLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (resetAll) AddLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (resetAll) ReplaceLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

// ListPage answers an empty inventory.
func (resetAll) ListPage(context.Context, client.AssetFilter, int, int) ([]client.Asset, error) {
	return nil, nil
}
func (resetAll) BulkUpdateLabels(context.Context, client.BulkFilter, client.UpdateType, []string) client.BulkResult {
	return client.BulkResult{Result: client.Result{Outcome: client.OutcomePermanent}}
}

// ledgerGate is a go-redis hook that holds every ledger write (a script
// call on a campaign's ledger hash) until open is closed: a group commit
// that has not reached Redis yet, for as long as the test wants.
type ledgerGate struct {
	ns      string
	reached chan struct{} // closed when the first ledger write arrives
	once    sync.Once
	open    chan struct{}
}

func newLedgerGate(ns string) *ledgerGate {
	return &ledgerGate{ns: ns, reached: make(chan struct{}), open: make(chan struct{})}
}

func (g *ledgerGate) isLedgerWrite(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 4 {
		return false
	}
	if name, _ := args[0].(string); !strings.EqualFold(name, "evalsha") && !strings.EqualFold(name, "eval") {
		return false
	}
	for _, a := range args[3:] {
		if s, ok := a.(string); ok && strings.HasPrefix(s, g.ns+":{") && strings.Contains(s, "}:l:") {
			return true
		}
	}
	return false
}

func (g *ledgerGate) hold(cmds ...redis.Cmder) {
	for _, c := range cmds {
		if g.isLedgerWrite(c) {
			g.once.Do(func() { close(g.reached) })
			<-g.open
			return
		}
	}
}

// TestBatchAcknowledgedOnlyWhenDurable: while a batch's outcomes wait for
// their group commit (the ledger write held back), the batch's task stays
// in asynq (active): a SIGKILL in that window must leave the task to be
// run again, not assets with no outcome and no task. Once the write goes
// through, the task is done and every outcome is in the ledger.
func TestBatchAcknowledgedOnlyWhenDurable(t *testing.T) {
	env := redistest.New(t)
	ropts, err := jobs.ParseRedisURL(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Redis: ropts, Namespace: env.Namespace, Concurrency: 8,
		API:    func(string) Caller { return resetAll{} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gate := newLedgerGate(env.Namespace)
	w.rdb.AddHook(redistest.Observe(gate.hold))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var openOnce sync.Once
	release := func() { openOnce.Do(func() { close(gate.open) }) }
	t.Cleanup(func() { release(); cancel(); <-done })

	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := &jobs.Campaign{ID: "ack", Mode: jobs.ModeDelete, BatchSize: 10, Priority: jobs.PriorityNormal, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(context.Background(), def, plan, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("no ledger write within 30s (the gate did not recognise it?)")
	}
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	camp, err := store.Get(context.Background(), "ack")
	if err != nil {
		t.Fatal(err)
	}
	queue, taskID := jobs.Queue(env.Namespace, jobs.PriorityNormal), (&jobs.Batch{Campaign: "ack", Incarnation: camp.Incarnation}).TaskID()
	// Without the fix the handler returns as soon as its outcomes are
	// queued for the writer, and asynq deletes the task within
	// milliseconds; 2s is only how long we give it to do that.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		info, err := insp.GetTaskInfo(queue, taskID)
		if errors.Is(err, asynq.ErrTaskNotFound) {
			n := 0
			_ = store.Records(context.Background(), "ack", func(r jobs.Record) error {
				if r.Terminal() {
					n++
				}
				return nil
			})
			t.Fatalf("the batch's task was acknowledged (deleted from asynq) while its outcomes waited for the ledger write (%d of 10 in the ledger)", n)
		}
		if err != nil {
			t.Fatal(err)
		}
		if info.State != asynq.TaskStateActive {
			t.Fatalf("task state %v while its outcomes wait for the ledger, want active", info.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	var c *jobs.Campaign
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err = store.Get(context.Background(), "ack"); err != nil {
			t.Fatal(err)
		}
		if c.State == jobs.StateDone {
			break
		}
	}
	if c.State != jobs.StateDone || c.Finished() != 10 {
		t.Fatalf("campaign %s with %d of 10 finished after the ledger write went through", c.State, c.Finished())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := insp.GetTaskInfo(queue, taskID); errors.Is(err, asynq.ErrTaskNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task is still in asynq 10s after its outcomes were recorded")
		}
	}
}
