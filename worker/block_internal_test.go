package worker

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// holdHook holds the next command (or pipeline) of its client, once armed:
// before sending it (a write not yet applied) or after its reply (a read
// whose answer is not yet used). held is closed when it holds; closing
// release lets it go on.
type holdHook struct {
	mu    sync.Mutex
	after bool // hold after the reply rather than before sending
	held  chan struct{}
	goOn  chan struct{}
}

// arm makes the hook hold the next command; the returned release lets it go.
func (h *holdHook) arm(after bool) (held <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	goOn := make(chan struct{})
	h.after, h.held, h.goOn = after, make(chan struct{}), goOn
	return h.held, sync.OnceFunc(func() { close(goOn) })
}

// take disarms the hook and returns what the current command must do.
func (h *holdHook) take() (armed, after bool, held, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return false, false, nil, nil
	}
	armed, after, held, release = true, h.after, h.held, h.goOn
	h.held, h.goOn = nil, nil
	return armed, after, held, release
}

func (h *holdHook) hold(run func() error) error {
	armed, after, held, release := h.take()
	if !armed {
		return run()
	}
	if after {
		err := run()
		close(held)
		<-release
		return err
	}
	close(held)
	<-release
	return run()
}

func (h *holdHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.hold(func() error { return next(ctx, cmd) })
	}
}

func (h *holdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.hold(func() error { return next(ctx, cmds) })
	}
}

// hookedClient is a new client of r's Redis with h on it.
func hookedClient(t *testing.T, r *redistest.Env, h *holdHook) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	c.AddHook(h)
	t.Cleanup(func() { c.Close() })
	return c
}

// wait fails the test if ch is not closed within a generous bound: it
// guards against a hang, it does not time anything.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not happen within 30s", what)
	}
}

// TestBlockSurvivesStalePolls: a 401 blocks the campaign in this process
// at once, and a state poll that read "running" from Redis before the block
// was written there must not undo it. Before, such a poll (the control
// loop's, or the fresh read of a batch starting meanwhile) stored "running"
// again and every slot called PDCP until the next poll: on a busy host
// TestUnauthorizedBlocksAndResumes saw up to 32 calls answered 401 with 16
// slots. After a resume, the next 401 blocks the campaign in Redis again.
func TestBlockSurvivesStalePolls(t *testing.T) {
	r := redistest.New(t)
	ctx := context.Background()
	var pollHook, storeHook holdHook
	store := jobs.NewStore(hookedClient(t, r, &storeHook), jobs.StoreOptions{Namespace: r.Namespace})
	def := &jobs.Campaign{ID: "c1", Mode: jobs.ModeDelete, BatchSize: 10, Priority: jobs.PriorityNormal, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := &control{store: store, rdb: hookedClient(t, r, &pollHook), ns: r.Namespace,
		api: func(string) Caller { return nil }, interval: time.Hour, m: map[string]*campaignInfo{}}
	w := &Worker{control: c, store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ci, err := c.get(ctx, "c1", res.Campaign.Incarnation)
	if err != nil {
		t.Fatal(err)
	}
	if st := ci.State(); st != jobs.StateRunning {
		t.Fatalf("campaign is %s, want running", st)
	}
	unauthorized := &client.Result{Status: http.StatusUnauthorized}
	redisState := func() jobs.State {
		t.Helper()
		got, err := store.Get(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}

	// 1. The control loop reads "running", then the 401 comes and is
	// recorded, then the loop stores what it read.
	held, release := pollHook.arm(true)
	polled := make(chan struct{})
	go func() { defer close(polled); c.refresh(ctx) }()
	wait(t, held, "the control loop's read")
	w.block(ci, unauthorized)
	if st := redisState(); st != jobs.StateBlocked {
		t.Fatalf("after the 401 Redis says %s, want blocked", st)
	}
	release()
	wait(t, polled, "the control loop's refresh")
	if st := ci.State(); st != jobs.StateBlocked {
		t.Errorf("after a poll that read before the 401: %s, want blocked (calls would go on)", st)
	}
	c.refresh(ctx)
	if st := ci.State(); st != jobs.StateBlocked {
		t.Errorf("after a poll that read after the 401: %s, want blocked", st)
	}

	// 2. Resumed; the next 401 comes, and while its block is being written
	// to Redis a batch starting meanwhile re-reads the state (fresh).
	if _, err := store.Resume(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	c.refresh(ctx)
	if st := ci.State(); st != jobs.StateRunning {
		t.Fatalf("after resume and a poll: %s, want running", st)
	}
	held, release = storeHook.arm(false)
	blocked := make(chan struct{})
	go func() { defer close(blocked); w.block(ci, unauthorized) }()
	wait(t, held, "the block's write to Redis after a resume (a second 401 must block the campaign again)")
	if st := c.fresh(ctx, ci); st != jobs.StateBlocked {
		t.Errorf("fresh read while the block was being written: %s, want blocked (calls would go on)", st)
	}
	release()
	wait(t, blocked, "the block")
	if st := redisState(); st != jobs.StateBlocked {
		t.Errorf("after the second 401 Redis says %s, want blocked", st)
	}
	if st := c.fresh(ctx, ci); st != jobs.StateBlocked {
		t.Errorf("fresh read after the block was written: %s, want blocked", st)
	}
}
