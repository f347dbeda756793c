package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// Config configures a Worker. Zero values take the documented defaults.
type Config struct {
	// Redis locates the shared Redis (required).
	Redis *redis.UniversalOptions
	// Namespace of keys and queues. Default jobs.DefaultNamespace.
	Namespace string
	// API returns the PDCP caller for a campaign's team ID ("" = no
	// X-Team-Id). Required.
	API func(teamID string) Caller
	// LegacyTeamID is the team for campaigns stored by versions that did
	// not record one (jobs.Campaign.TeamRecorded false) and have none:
	// those versions sent the worker's own team, and their campaigns keep
	// getting it.
	LegacyTeamID string
	// Server is the PDCP API server API calls (client.NormalizeServer
	// form). A campaign that recorded another server is left alone: its
	// batches go back to the queue untouched, for a worker of that server,
	// and the skip is logged once per campaign and counted in
	// labelreset_batches_skipped_total. "" (and campaigns that recorded no
	// server) skips the check.
	Server string
	// Campaigns, when not empty, are the only campaigns this worker works
	// ("labelreset run" works its own campaign only, even on a shared
	// Redis); batches of others go back to the queue untouched.
	Campaigns []string
	// Limiter is the shared requests/s budget; nil means unlimited.
	Limiter Limiter
	// Concurrency caps PDCP calls in flight in this process (plus their
	// outcomes not yet recorded). Default DefaultConcurrency.
	Concurrency int
	// ShutdownTimeout bounds a graceful stop: in-flight calls finish and
	// their outcomes are recorded; unfinished batches go back to the queue.
	// Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StatePollInterval is how often campaign states (pause, cancel,
	// block) are re-read from Redis. Default 200ms. jobs.StoreOptions'
	// ControlDelay must be larger.
	StatePollInterval time.Duration
	// HandBackAfter: an asset whose next attempt is further away than this
	// is handed back to the queue instead of holding the batch. Default 250ms:
	// a batch slot sleeping on a backoff would otherwise stall its whole batch.
	HandBackAfter time.Duration
	// HoldDelay is how long a batch of a paused, blocked, stopped or
	// pending campaign waits in the queue before it is looked at again.
	// Default 2s.
	HoldDelay time.Duration
	// JanitorInterval is how often expired campaigns are deleted. Default 5m.
	JanitorInterval time.Duration
	// RepairAfter is how long a running campaign with unfinished assets
	// may make no progress, while no task of its own is queued, active,
	// scheduled or retrying, before its unfinished assets are re-enqueued
	// (see orphanRepair). Default 30s.
	RepairAfter time.Duration
	// Registerer receives the metrics; nil means a private registry.
	Registerer prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Redis == nil || len(c.Redis.Addrs) == 0 {
		return errors.New("worker: Redis is required")
	}
	if c.API == nil {
		return errors.New("worker: API is required")
	}
	if c.Namespace == "" {
		c.Namespace = jobs.DefaultNamespace
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 || c.Concurrency > 10000 {
		return fmt.Errorf("worker: concurrency %d: want 1..10000", c.Concurrency)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.StatePollInterval == 0 {
		c.StatePollInterval = 200 * time.Millisecond
	}
	if c.HandBackAfter == 0 {
		c.HandBackAfter = 250 * time.Millisecond
	}
	if c.HoldDelay == 0 {
		c.HoldDelay = 2 * time.Second
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = 5 * time.Minute
	}
	if c.RepairAfter == 0 {
		c.RepairAfter = 30 * time.Second
	}
	if c.Limiter == nil {
		c.Limiter = noLimit{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return nil
}

// Worker processes batch tasks: one asynq server plus the state poller,
// the ledger writer and the janitor, under one Run lifecycle.
type Worker struct {
	cfg   Config
	log   *slog.Logger
	rdb   redis.UniversalClient // our own commands
	qrdb  redis.UniversalClient // asynq's, guarded against busy loops
	guard *redisGuard           // qrdb's hook; aborted at the shutdown timeout
	// rdbDials abandons rdb's dials when the worker closes.
	rdbDials *jobs.DialAborter
	store    *jobs.Store
	ledger   *jobs.Ledger
	control  *control
	writer   *writer
	metrics  *Metrics
	limiter  Limiter
	// slots bound the PDCP calls in flight (the concurrency); pending
	// bounds the final outcomes not yet durable in the ledger, to twice
	// the concurrency. A call frees its slot when it returns and holds a
	// pending token until the writer has recorded its outcome, so calls
	// go on while outcomes wait for a group commit, and a crash loses at
	// most 3 × concurrency unrecorded calls (they are made again). With
	// only concurrency tokens, callers ran out of them whenever a write
	// was slow to be scheduled, and the groups were smaller.
	slots    *slotPool
	batchSeq atomic.Uint64
	pending  chan struct{}

	// callCtx is cancelled only when the shutdown timeout has passed:
	// calls in flight at SIGTERM may finish and be recorded.
	callCtx    context.Context
	callCancel context.CancelFunc
	// callShards are children of callCtx that the calls derive their own
	// contexts from (see callContext).
	callShards []context.Context
	// stopCtx is cancelled when the shutdown starts: whatever waits
	// without a call in flight (the limiter, a Retry-After pause, a slot)
	// gives up at once and hands its asset back, instead of holding the
	// shutdown until its timeout.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	stopping   atomic.Bool
	// loggedPause is the end (Unix ns) of the last long pause logged.
	loggedPause atomic.Int64
	ready       atomic.Bool
	closeOnce   sync.Once
	// queueAbandoned: asynq's Shutdown did not return within the stop's
	// bound, so its goroutines still use qrdb, which close then leaves
	// open (see close).
	queueAbandoned atomic.Bool
	// skipLogged holds the campaign IDs whose skip (another API server)
	// this process has logged.
	skipLogged sync.Map
	// netErrs decides when repeated network errors are warned about.
	netErrs netErrors
}

// taskCheckInterval is how often an idle worker looks for a batch. asynq
// sleeps from half of it to one and a half times it after finding its
// queues empty, so a campaign submitted to idle workers waited 100-300 ms
// for its first call at 200 ms. At 50 ms an idle worker costs Redis about
// 60 short script calls a second (one per queue per check).
const taskCheckInterval = 50 * time.Millisecond

// maxCallShards bounds the parent contexts of calls (callContext).
const maxCallShards = 64

// callContext is the parent context of a call for asset id: one of
// several children of callCtx, chosen by the ID. Every call derives a
// timeout context, which registers itself in its parent's child set under
// the parent's mutex; with one parent for every call in flight, that
// mutex and set were shared by all of them (about 5% of the worker's CPU
// in profiles, against none for the plain client loop, whose parent is
// Background).
func (w *Worker) callContext(id int64) context.Context {
	return w.callShards[uint64(id)%uint64(len(w.callShards))]
}

// pendingPerSlot is how many final outcomes per call slot may wait for
// their ledger write.
const pendingPerSlot = 2

// New builds a Worker; Run starts it.
func New(cfg Config) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, limiter: cfg.Limiter, slots: newSlotPool(cfg.Concurrency), pending: make(chan struct{}, pendingPerSlot*cfg.Concurrency),
		netErrs: netErrors{now: time.Now}}
	opts := *cfg.Redis
	opts.PoolSize = max(opts.PoolSize, 16)
	w.rdb = redis.NewUniversalClient(&opts)
	w.rdbDials = jobs.NewDialAborter()
	w.rdb.AddHook(w.rdbDials)
	qopts := *cfg.Redis
	w.qrdb = redis.NewUniversalClient(&qopts)
	w.guard = newRedisGuard()
	w.qrdb.AddHook(w.guard)
	w.store = jobs.NewStore(w.rdb, jobs.StoreOptions{Namespace: cfg.Namespace, Actor: "worker:" + jobs.Hostname()})
	w.ledger = w.store.Ledger()
	w.metrics = NewMetrics(cfg.Registerer)
	cfg.Registerer.MustRegister(newQueueCollector(w.qrdb, cfg.Namespace, w.store))
	w.control = &control{store: w.store, rdb: w.rdb, ns: cfg.Namespace, api: cfg.API,
		interval: cfg.StatePollInterval, log: w.log, m: map[string]*campaignInfo{}, gone: w.campaignGone,
		legacyTeam: cfg.LegacyTeamID}
	w.writer = newWriter(w.ledger, pendingPerSlot*cfg.Concurrency, w.log, w.metrics, w.onChange, w.campaignGoneID)
	w.writer.recount = w.countReplicas
	w.callCtx, w.callCancel = context.WithCancel(context.Background())
	w.callShards = make([]context.Context, min(cfg.Concurrency, maxCallShards))
	// The parent is cancelled first: a call that sees its shard
	// cancelled must also see callCtx cancelled (runAsset checks it to
	// hand the asset back instead of counting a failure).
	cancels := []context.CancelFunc{w.callCancel}
	for i := range w.callShards {
		var c context.CancelFunc
		w.callShards[i], c = context.WithCancel(w.callCtx)
		cancels = append(cancels, c)
	}
	w.callCancel = func() {
		for _, c := range cancels {
			c()
		}
	}
	w.stopCtx, w.stopCancel = context.WithCancel(context.Background())
	return w, nil
}

// Store returns the worker's campaign store.
func (w *Worker) Store() *jobs.Store { return w.store }

// stateGone is a campaign state known only to this process: the
// campaign's data is no longer in Redis (deleted, or lost with a Redis that
// kept nothing on disk). Its batches in hand stop calling PDCP: a call
// whose outcome cannot be recorded is a change nobody can account for.
const stateGone jobs.State = "gone"

// campaignGone stops the calls of a campaign whose data is gone and says so
// once per campaignInfo. A finished campaign deleted by the janitor is
// not news. The cache forgets ci, so a campaign re-created under the same
// ID is loaded afresh.
func (w *Worker) campaignGone(ci *campaignInfo) {
	w.control.forget(ci)
	st := ci.State()
	if st.Final() || st == stateGone || !ci.state.CompareAndSwap(st, stateGone) {
		return
	}
	w.log.Warn("campaign data is gone from Redis (deleted, or lost with a Redis restart): its batches in this worker stop calling PDCP",
		"campaign", ci.def.ID)
}

// campaignGoneID is campaignGone for the writer, which knows only the ID
// and incarnation.
func (w *Worker) campaignGoneID(id, inc string) {
	if ci := w.control.lookup(id, inc); ci != nil {
		w.campaignGone(ci)
	}
}

func (w *Worker) onChange(campaign, inc string, ch jobs.Change) {
	switch ch {
	case jobs.ChangeFinished:
		w.control.setLocal(campaign, inc, jobs.StateDone) // its data may go now without alarm
		w.log.Info("campaign finished", "campaign", campaign)
	case jobs.ChangeStopped:
		w.control.setLocal(campaign, inc, jobs.StateStopped)
		w.log.Error("campaign stopped: failure ratio above its limit; see `labelreset status` for the reason",
			"campaign", campaign)
	}
}

// Ready reports whether the worker is processing: Redis answers and the
// asynq server runs.
func (w *Worker) Ready() error {
	if !w.ready.Load() {
		return errors.New("not ready: Redis unreachable or worker not started")
	}
	return nil
}

// Run processes tasks until ctx is cancelled, then shuts down gracefully
// within ShutdownTimeout. Shutdown order: stop starting calls; let asynq
// wait for handlers (they finish in-flight calls and hand back the rest);
// flush the ledger writer; close Redis clients.
func (w *Worker) Run(ctx context.Context) error {
	srv := asynq.NewServerFromRedisClient(w.qrdb, asynq.Config{
		Concurrency:              w.batchSlots(),
		Queues:                   jobs.Queues(w.cfg.Namespace),
		ShutdownTimeout:          w.cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        taskCheckInterval,
		RetryDelayFunc:           retryDelay,
		IsFailure:                func(err error) bool { var rl *retryLater; return !errors.As(err, &rl) },
		Logger:                   asynqLogger{w.log},
		LogLevel:                 asynq.WarnLevel,
		HealthCheckFunc: func(err error) {
			if err != nil {
				w.ready.Store(false)
				w.metrics.redisUp.Set(0)
			}
		},
		HealthCheckInterval: 5 * time.Second,
	})
	go w.writer.run()
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(5)
	// The inspector's commands carry no deadline: on the guarded client
	// they end at the shutdown timeout like asynq's own.
	repair := newOrphanRepair(w.store, asynq.NewInspectorFromRedisClient(w.qrdb), w.cfg.Namespace, w.cfg.RepairAfter, w.log)
	go func() { defer wg.Done(); repair.run(bg, max(w.cfg.RepairAfter/3, time.Second)) }()
	go func() { defer wg.Done(); w.watchReplicas(bg) }()
	go func() { defer wg.Done(); w.control.run(bg) }()
	go func() { defer wg.Done(); w.health(bg) }()
	go func() { defer wg.Done(); w.janitor(bg) }()

	if err := srv.Start(asynq.HandlerFunc(w.ProcessTask)); err != nil {
		stopBG()
		wg.Wait()
		w.writer.stop(time.Second)
		w.close()
		return fmt.Errorf("start worker: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "batch_slots", w.batchSlots(), "namespace", w.cfg.Namespace)
	<-ctx.Done()
	w.log.Info("worker stopping", "timeout", w.cfg.ShutdownTimeout)
	w.stopping.Store(true)
	w.stopCancel()
	w.ready.Store(false)
	deadline := time.Now().Add(w.cfg.ShutdownTimeout)
	// At the timeout, calls in flight are cancelled, asynq's Redis
	// commands fail at once instead of waiting for a Redis (or a sentinel)
	// that does not answer (asynq's Shutdown waits for its dequeue loop,
	// whose commands carry no deadline: during an outage it waited for
	// minutes), and the writer stops retrying, which releases the handlers
	// waiting for their outcomes to be written.
	hard := time.AfterFunc(w.cfg.ShutdownTimeout, func() { w.callCancel(); w.guard.abort(); w.writer.giveUpNow() })
	var errs []error
	if !waitBounded(srv.Shutdown, time.Until(deadline)+shutdownGrace) {
		w.queueAbandoned.Store(true)
		errs = append(errs, fmt.Errorf("the queue server did not stop within %v of the shutdown timeout; batches in hand come back after their lease expires", shutdownGrace))
	}
	hard.Stop()
	// Handlers have returned (or were abandoned at the timeout): write
	// what they recorded, bounded in case Redis is gone.
	if lost := w.writer.stop(max(time.Until(deadline)+shutdownGrace, minFinalFlush)); lost > 0 {
		errs = append(errs, fmt.Errorf("%d outcomes could not be written to Redis before the shutdown timeout; their assets will be called again by the next worker", lost))
	}
	stopBG()
	// The background loops (repair, control, health, janitor, replicas)
	// may be in a Redis command that a hanging Redis never answers, and
	// go-redis does not end a blocking read on cancellation: past the
	// stop's deadline, closing the clients fails those reads at once.
	if !waitGroupBounded(&wg, max(time.Until(deadline)+shutdownGrace, minFinalFlush)) {
		w.close()
		wg.Wait()
	}
	w.close()
	if err := errors.Join(errs...); err != nil {
		w.log.Error("worker stopped without recording everything", "err", err)
		return fmt.Errorf("worker stop: %w", err)
	}
	w.log.Info("worker stopped")
	return nil
}

// shutdownGrace is how long past ShutdownTimeout a stop may take: asynq
// hands back the batches it abandoned and the writer makes its last
// attempt. A stop never takes longer than the two together.
const shutdownGrace = 2 * time.Second

// minFinalFlush is the least time the writer gets for its final flush,
// even when the handlers used the whole shutdown timeout.
const minFinalFlush = 500 * time.Millisecond

// waitBounded runs fn and waits at most d for it to return. fn keeps
// running after a timeout: it is only called for asynq's Shutdown, whose
// remaining goroutines end with the process.
func waitBounded(fn func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// waitGroupBounded waits for wg at most d and says whether it finished.
func waitGroupBounded(wg *sync.WaitGroup, d time.Duration) bool {
	return waitBounded(wg.Wait, d)
}

func (w *Worker) close() {
	w.closeOnce.Do(func() {
		w.callCancel()
		w.stopCancel()
		w.guard.abort()
		w.rdbDials.Abort()
		w.rdb.Close()
		// asynq v0.26's subscriber dereferences the nil message of a
		// closed pub/sub channel: closing qrdb under an abandoned asynq
		// server crashes the process. Its goroutines (and qrdb, whose
		// commands the aborted guard fails) end with the process.
		if !w.queueAbandoned.Load() {
			w.qrdb.Close()
		}
	})
}

// batchSlots is asynq's concurrency: enough batches in hand to keep every
// call slot busy while some batches wait on backoff, plus spares.
func (w *Worker) batchSlots() int {
	return 4*((w.cfg.Concurrency+99)/100) + 4
}

func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	var rl *retryLater
	if errors.As(err, &rl) {
		return rl.delay
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		// A crashed worker's (or a Redis outage's) batch: its finished
		// assets are skipped on the next run, so take it up again soon
		// instead of asynq's default 15-45 s.
		return time.Second
	}
	return min(asynq.DefaultRetryDelayFunc(n, err, t), time.Minute)
}

// health pings Redis every second and keeps readiness and redis_up
// current.
func (w *Worker) health(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			w.metrics.redisUp.Set(1)
			w.ready.Store(!w.stopping.Load())
		} else if ctx.Err() == nil {
			w.metrics.redisUp.Set(0)
			w.ready.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) janitor(ctx context.Context) {
	every(ctx, w.cfg.JanitorInterval, func(ctx context.Context) {
		if n, err := w.store.Janitor(ctx); err != nil {
			w.log.Warn("janitor failed", "err", err)
		} else if n > 0 {
			w.log.Info("expired campaigns deleted", "count", n)
		}
	})
}

// every calls fn each interval until ctx ends: the one lifecycle of the
// worker's background loops (state poll, orphan repair, janitor, replica
// count).
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

// redisGuard is a go-redis hook on asynq's connection. asynq v0.26's
// processor retries a failed dequeue at once, in a tight loop, while Redis
// is unreachable; the guard makes commands wait while Redis is known to be
// down, until the next probe time (a growing interval up to 2s) or until
// any command succeeds, which wakes every waiter at once — so completions
// and lease renewals do not queue up behind each other when Redis comes
// back. There is no exclusive prober: a blocking command (asynq's pub/sub)
// must not hold everyone else back.
//
// At the shutdown timeout the guard is aborted: every command in flight is
// cancelled and every later one fails at once. asynq's commands carry no
// deadline, and go-redis keeps dialing (or asking sentinels) for a master
// that is down, so without this asynq's Shutdown could wait for minutes.
type redisGuard struct {
	mu       sync.Mutex
	down     bool
	nextTry  time.Time
	interval time.Duration
	up       chan struct{} // closed when Redis answers again

	aborted     context.Context // done once abort is called
	cancelAbort context.CancelFunc
}

func newRedisGuard() *redisGuard {
	g := &redisGuard{}
	g.aborted, g.cancelAbort = context.WithCancel(context.Background())
	return g
}

// errGuardAborted is what asynq's commands return after the shutdown
// timeout.
var errGuardAborted = errors.New("worker stopping: shutdown timeout passed, Redis command abandoned")

// abort cancels the commands in flight and fails the later ones.
func (g *redisGuard) abort() { g.cancelAbort() }

// bind returns ctx, also cancelled when the guard is aborted.
func (g *redisGuard) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.aborted, cancel)
	return ctx, func() { stop(); cancel() }
}

func (g *redisGuard) wait(ctx context.Context) {
	for {
		g.mu.Lock()
		if !g.down {
			g.mu.Unlock()
			return
		}
		up, wait := g.up, time.Until(g.nextTry)
		g.mu.Unlock()
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-up:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (g *redisGuard) report(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return // the caller gave up; says nothing about Redis
	}
	var ne net.Error
	isNet := err != nil && (errors.As(err, &ne) || errors.Is(err, redis.ErrClosed))
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case isNet && !g.down:
		g.down = true
		g.up = make(chan struct{})
		g.interval = 250 * time.Millisecond
		g.nextTry = time.Now().Add(g.interval)
	case isNet:
		if time.Now().After(g.nextTry) {
			g.interval = min(g.interval*2, 2*time.Second)
			g.nextTry = time.Now().Add(g.interval)
		}
	case g.down:
		// Any answer from Redis, even an error reply, means it is back.
		g.down = false
		close(g.up)
	}
}

// DialHook abandons dials at abort: asynq's pub/sub connection is dialed
// outside ProcessHook, and a sentinel client's dial waits for the
// sentinels.
func (g *redisGuard) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.aborted.Err() != nil {
			return nil, errGuardAborted
		}
		ctx, cancel := g.bind(ctx)
		defer cancel()
		return next(ctx, network, addr)
	}
}

func (g *redisGuard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if g.aborted.Err() != nil {
			cmd.SetErr(errGuardAborted)
			return errGuardAborted
		}
		ctx, cancel := g.bind(ctx)
		defer cancel()
		g.wait(ctx)
		err := next(ctx, cmd)
		g.report(err)
		return err
	}
}

func (g *redisGuard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if g.aborted.Err() != nil {
			for _, c := range cmds {
				c.SetErr(errGuardAborted)
			}
			return errGuardAborted
		}
		ctx, cancel := g.bind(ctx)
		defer cancel()
		g.wait(ctx)
		err := next(ctx, cmds)
		g.report(err)
		return err
	}
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }

// OpsHandler serves /metrics from g, /healthz (process alive) and /readyz
// (ready() == nil).
func OpsHandler(g prometheus.Gatherer, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttpHandler(g))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// watchReplicas keeps the number of replicas of a standalone or Sentinel
// master current. With replicas, the writer waits for one to acknowledge
// each ledger write (WAIT, on the write's own connection:
// Ledger.RecordAndWait) before it counts the outcomes as recorded, so
// that a failover does not lose outcomes the worker considers recorded.
// (On Redis Cluster WAIT has no key to route it to the node that took the
// write, so it is not used there.)
func (w *Worker) watchReplicas(ctx context.Context) {
	if _, isCluster := w.rdb.(*redis.ClusterClient); isCluster {
		return
	}
	w.countReplicas(ctx)
	every(ctx, 10*time.Second, w.countReplicas)
}

// countReplicas counts the master's online replicas: one still syncing
// (or a master left without its replica after a failover) would make
// every WAIT last its whole timeout.
func (w *Worker) countReplicas(ctx context.Context) {
	info := w.rdb.InfoMap(ctx, "replication")
	if info.Err() != nil {
		return
	}
	n := 0
	for k, v := range info.Val()["Replication"] {
		if strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online") {
			n++
		}
	}
	w.writer.replicas.Store(int32(n))
}

// pendingDone returns a pending token once an outcome is durable.
func (w *Worker) pendingDone() { <-w.pending }
