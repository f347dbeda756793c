package worker

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// repairEnv is a namespace with a running campaign "stuck" whose tasks
// were lost (deleted from asynq, as a failover can lose them).
type repairEnv struct {
	t     *testing.T
	redis *redistest.Env
	store *jobs.Store
	insp  *asynq.Inspector
	log   bytes.Buffer
}

func newRepairEnv(t *testing.T) *repairEnv {
	t.Helper()
	e := &repairEnv{t: t, redis: redistest.New(t)}
	e.store = jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace, ControlDelay: time.Millisecond})
	e.insp = asynq.NewInspectorFromRedisClient(e.redis.Client)
	e.submit("stuck", jobs.PriorityNormal, -1)
	if n, err := e.insp.DeleteAllPendingTasks(jobs.Queue(e.redis.Namespace, jobs.PriorityNormal)); err != nil || n != 1 {
		t.Fatalf("deleting the stuck campaign's task: %d deleted, %v", n, err)
	}
	return e
}

func (e *repairEnv) submit(id string, p jobs.Priority, confirmAbove int64) {
	e.t.Helper()
	def := &jobs.Campaign{ID: id, Mode: jobs.ModeDelete, BatchSize: 10, Priority: p, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3", "4", "5"}))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{ConfirmAbove: confirmAbove}); err != nil {
		e.t.Fatal(err)
	}
}

// repair runs the orphan repair twice with insp (nil: the real one): the
// first look marks the campaigns' progress, the second finds no progress
// since (the repair window is 1ns).
func (e *repairEnv) repair(insp *asynq.Inspector) {
	if insp == nil {
		insp = e.insp
	}
	o := newOrphanRepair(e.store, insp, e.redis.Namespace, time.Nanosecond, slog.New(slog.NewTextHandler(&e.log, nil)))
	o.check(context.Background())
	o.check(context.Background())
}

// queued counts the tasks of campaign cid in queue p, any state.
func (e *repairEnv) queued(p jobs.Priority, cid string) int {
	e.t.Helper()
	q := jobs.Queue(e.redis.Namespace, p)
	n := 0
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		e.insp.ListPendingTasks, e.insp.ListActiveTasks, e.insp.ListRetryTasks, e.insp.ListScheduledTasks} {
		tasks, err := list(q, asynq.PageSize(1000))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, t := range tasks {
			if jobs.TaskCampaign(t.ID) == cid {
				n++
			}
		}
	}
	return n
}

// TestRepairDespitePausedCampaignElsewhere: a paused campaign keeps its
// tasks in another queue of the namespace; a running campaign whose tasks
// were lost is repaired all the same.
func TestRepairDespitePausedCampaignElsewhere(t *testing.T) {
	e := newRepairEnv(t)
	e.submit("paused", jobs.PriorityHigh, -1)
	if err := e.store.Pause(context.Background(), "paused"); err != nil {
		t.Fatal(err)
	}
	e.repair(nil)
	if n := e.queued(jobs.PriorityNormal, "stuck"); n != 1 {
		t.Errorf("the stuck campaign has %d tasks after the repair, want 1 (re-enqueued); log:\n%s", n, e.log.String())
	}
	if n := e.queued(jobs.PriorityHigh, "paused"); n != 1 {
		t.Errorf("the paused campaign has %d tasks, want its 1", n)
	}
}

// TestRepairRunningCampaignWithItsOwnTask: a campaign whose task is still
// queued is never repaired, whatever its progress (repairing it would put
// its assets in two tasks at once).
func TestRepairRunningCampaignWithItsOwnTask(t *testing.T) {
	e := newRepairEnv(t)
	e.submit("queued", jobs.PriorityLow, -1)
	e.repair(nil)
	if n := e.queued(jobs.PriorityLow, "queued"); n != 1 {
		t.Errorf("a campaign with its task queued has %d tasks after the repair, want 1 (not repaired)", n)
	}
	if n := e.queued(jobs.PriorityNormal, "stuck"); n != 1 {
		t.Errorf("the stuck campaign has %d tasks after the repair, want 1", n)
	}
}

// TestRepairBeyondNewest100: the stuck campaign is older than 100 others
// (pending ones, with no tasks); it is found and repaired.
func TestRepairBeyondNewest100(t *testing.T) {
	e := newRepairEnv(t)
	for i := range 120 {
		e.submit("newer-"+strconv.Itoa(i), jobs.PriorityNormal, 1) // pending: waits for approval
	}
	// Oldest of all, whatever the clock did meanwhile.
	ctx := context.Background()
	if err := e.redis.Client.ZAdd(ctx, e.redis.Namespace+":campaigns", redis.Z{Score: 1, Member: "stuck"}).Err(); err != nil {
		t.Fatal(err)
	}
	if newest, err := e.store.List(ctx, 100); err != nil || len(newest) != 100 || newest[99].ID == "stuck" {
		t.Fatalf("setup: the 100 newest campaigns should not include stuck (%d listed, err %v)", len(newest), err)
	}
	e.repair(nil)
	if n := e.queued(jobs.PriorityNormal, "stuck"); n != 1 {
		t.Errorf("the stuck campaign (older than the 100 newest) has %d tasks after the repair, want 1; log:\n%s", n, e.log.String())
	}
}

// TestRepairNotOnInspectorError: when the task queues cannot be read,
// nothing is judged orphaned (unknown is not empty), and the log says so.
func TestRepairNotOnInspectorError(t *testing.T) {
	e := newRepairEnv(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer dead.Close()
	broken := asynq.NewInspectorFromRedisClient(dead)
	e.repair(broken)
	if n := e.queued(jobs.PriorityNormal, "stuck"); n != 0 {
		t.Errorf("the stuck campaign was repaired (%d tasks) although the queues could not be read", n)
	}
	if !bytes.Contains(e.log.Bytes(), []byte("cannot read the task queues")) {
		t.Errorf("no warning about the unreadable queues in the log:\n%s", e.log.String())
	}
	// Once the queues can be read again, it is repaired.
	e.repair(nil)
	if n := e.queued(jobs.PriorityNormal, "stuck"); n != 1 {
		t.Errorf("the stuck campaign has %d tasks after a repair with readable queues, want 1", n)
	}
}
