package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

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
	// callers runs the per-asset goroutines; Run waits for them.
	callers *goPool
	// snapshotSlots bounds the snapshot and express tasks in hand
	// (snapshotSlotCount): each holds one of asynq's task slots for as
	// long as it lists, and the batches of running campaigns need the
	// others.
	snapshotSlots chan struct{}

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
	w := &Worker{cfg: cfg, log: cfg.Logger, limiter: cfg.Limiter, slots: newSlotPool(cfg.Concurrency), callers: newGoPool(), pending: make(chan struct{}, pendingPerSlot*cfg.Concurrency),
		netErrs: netErrors{now: time.Now}}
	w.snapshotSlots = make(chan struct{}, w.snapshotSlotCount())
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

// Run processes tasks until ctx is cancelled, then shuts down gracefully
// within ShutdownTimeout. Shutdown order: stop starting calls; let asynq
// wait for handlers (they finish in-flight calls and hand back the rest);
// flush the ledger writer; stop the background loops and the per-asset
// goroutines; close Redis clients. Every goroutine Run starts has ended
// when it returns, except those of an asynq server that did not stop
// within the bound (see waitBounded).
func (w *Worker) Run(ctx context.Context) error {
	srv := w.newQueueServer()
	go w.writer.run()
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	w.startLoops(bg, &wg)
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
	deadline := time.Now().Add(w.cfg.ShutdownTimeout)
	errs := w.stopQueue(srv, deadline)
	stopBG()
	w.stopRest(&wg, deadline)
	if err := errors.Join(errs...); err != nil {
		w.log.Error("worker stopped without recording everything", "err", err)
		return fmt.Errorf("worker stop: %w", err)
	}
	w.log.Info("worker stopped")
	return nil
}

// newQueueServer is the asynq server that hands batches to ProcessTask.
func (w *Worker) newQueueServer() *asynq.Server {
	return asynq.NewServerFromRedisClient(w.qrdb, asynq.Config{
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
}

// startLoops starts the background loops (orphan repair, replicas,
// control, health, janitor) in wg; they run until bg is cancelled.
func (w *Worker) startLoops(bg context.Context, wg *sync.WaitGroup) {
	wg.Add(5)
	// The inspector's commands carry no deadline: on the guarded client
	// they end at the shutdown timeout like asynq's own.
	repair := newOrphanRepair(w.store, asynq.NewInspectorFromRedisClient(w.qrdb), w.cfg.Namespace, w.cfg.RepairAfter, w.log)
	go func() { defer wg.Done(); repair.run(bg, max(w.cfg.RepairAfter/3, time.Second)) }()
	go func() { defer wg.Done(); w.watchReplicas(bg) }()
	go func() { defer wg.Done(); w.control.run(bg) }()
	go func() { defer wg.Done(); w.health(bg) }()
	go func() { defer wg.Done(); w.janitor(bg) }()
}

// stopQueue stops starting calls, lets asynq wait for the handlers, and
// flushes the ledger writer, all bounded by deadline. The errors say what
// could not be recorded.
func (w *Worker) stopQueue(srv *asynq.Server, deadline time.Time) []error {
	w.stopping.Store(true)
	w.stopCancel()
	w.ready.Store(false)
	// At the timeout, calls in flight are cancelled, asynq's Redis
	// commands fail at once instead of waiting for a Redis (or a sentinel)
	// that does not answer (asynq's Shutdown waits for its dequeue loop,
	// whose commands carry no deadline: during an outage it waited for
	// minutes), and the writer stops retrying, which releases the handlers
	// waiting for their outcomes to be written.
	hardDone := make(chan struct{})
	hard := time.AfterFunc(w.cfg.ShutdownTimeout, func() {
		defer close(hardDone)
		w.callCancel()
		w.guard.abort()
		w.writer.giveUpNow()
	})
	var errs []error
	if !waitBounded(srv.Shutdown, time.Until(deadline)+shutdownGrace) {
		w.queueAbandoned.Store(true)
		errs = append(errs, fmt.Errorf("the queue server did not stop within %v of the shutdown timeout; batches in hand come back after their lease expires", shutdownGrace))
	}
	if !hard.Stop() {
		<-hardDone
	}
	// Handlers have returned (or were abandoned at the timeout): write
	// what they recorded, bounded in case Redis is gone.
	if lost := w.writer.stop(max(time.Until(deadline)+shutdownGrace, minFinalFlush)); lost > 0 {
		errs = append(errs, fmt.Errorf("%d outcomes could not be written to Redis before the shutdown timeout; their assets will be called again by the next worker", lost))
	}
	return errs
}

// stopRest waits, bounded by deadline, for the background loops in wg
// (already cancelled) and the per-asset goroutines, then closes the Redis
// clients.
func (w *Worker) stopRest(wg *sync.WaitGroup, deadline time.Time) {
	// The background loops (repair, control, health, janitor, replicas)
	// may be in a Redis command that a hanging Redis never answers, and
	// go-redis does not end a blocking read on cancellation: past the
	// stop's deadline, closing the clients fails those reads at once.
	if !waitGroupBounded(wg, max(time.Until(deadline)+shutdownGrace, minFinalFlush)) {
		w.close()
		wg.Wait()
	}
	// The per-asset goroutines are idle once the handlers have returned.
	// Those of a handler abandoned at the timeout end with their call
	// (cancelled at the timeout) or their Redis command (failed by close).
	if !waitBounded(w.callers.close, max(time.Until(deadline)+shutdownGrace, minFinalFlush)) {
		w.close()
		w.callers.close()
	}
	w.close()
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

// snapshotSlotCount is how many snapshot tasks a worker works at once:
// half its task slots, so that campaigns listing large inventories never
// hold every slot away from the batches of running campaigns. One listing
// per segment goes at the pace of PDCP's answers and the shared rate
// limit; more of them in one process would only share that rate.
func (w *Worker) snapshotSlotCount() int {
	return max(1, w.batchSlots()/2)
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

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }

// pendingDone returns a pending token once an outcome is durable.
func (w *Worker) pendingDone() { <-w.pending }
