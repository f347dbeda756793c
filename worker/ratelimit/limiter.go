package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis is the subset of go-redis the limiter uses: scripts only. A
// *redis.Client, *redis.ClusterClient, *redis.Ring or any
// redis.UniversalClient satisfies it.
type Redis interface {
	redis.Scripter
}

var (
	_ Redis = (*redis.Client)(nil)
	_ Redis = (*redis.ClusterClient)(nil)
	_ Redis = (*redis.Ring)(nil)
	_ Redis = redis.UniversalClient(nil)
)

// ErrClosed is returned by Wait once Close has been called.
var ErrClosed = errors.New("ratelimit: limiter closed")

const (
	// decreaseWindow is the shared window with at most one AIMD decrease.
	decreaseWindow = time.Second
	// nearLimitWindow is how long near_limit stays 1 after callers waited.
	nearLimitWindow = time.Second
	// callTimeout bounds one Redis round trip of the background parts.
	callTimeout = 2 * time.Second
	// minBackoff and maxBackoff bound the wait after a Redis error.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// minRetry keeps a dispenser from spinning on a 0µs retry-after.
	minRetry = 50 * time.Microsecond
	// dispenserIdle is how long a per-team dispenser outlives its last waiter.
	dispenserIdle = 30 * time.Second
)

// Limiter is a requests/s budget shared by every process that uses the same
// Config.Key on the same Redis. It is safe for concurrent use.
type Limiter struct {
	rdb  Redis
	cfg  Config
	keys keys
	m    *metrics

	// ctx is cancelled by Close; it stops the background goroutines and
	// their Redis calls.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu         sync.Mutex
	closed     bool
	dispensers map[string]*dispenser

	rate         atomic.Uint64 // float64 bits: last known effective rate
	pausedUntil  atomic.Int64  // unix ns (local clock) until which requests wait
	lastShort    atomic.Int64  // unix ns when callers last had to wait for tokens
	nextDecrease atomic.Int64  // unix ns before which Throttled skips Redis
}

// New returns a Limiter for cfg on rdb. It validates cfg (errors wrap
// ErrInvalidConfig and say what to change) and registers the metrics on reg
// when reg is not nil; it never touches the global registry. New makes no
// Redis call. Call Close when done.
func New(rdb Redis, cfg Config, reg prometheus.Registerer) (*Limiter, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: Redis client is nil: pass a *redis.Client or another redis.UniversalClient", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Limiter{rdb: rdb, cfg: cfg, keys: newKeys(cfg.Key), dispensers: map[string]*dispenser{}}
	l.rate.Store(math.Float64bits(cfg.Rate))
	if l.m, err = newMetrics(l, reg); err != nil {
		return nil, err
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if cfg.Rate == 0 {
		l.wg.Add(1)
		go l.poll()
	}
	return l, nil
}

// Wait blocks until the caller may send one request on behalf of team
// ("" = no team). It returns nil when the request may go, ctx.Err() when ctx
// ends first and ErrClosed after Close. Redis errors never let a request
// through: Wait keeps waiting (the dispenser retries with a backoff capped at
// about one second) until Redis answers or ctx ends.
func (l *Limiter) Wait(ctx context.Context, team string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	start := time.Now()
	var err error
	if l.cfg.Rate == 0 && (team == "" || l.cfg.TeamRate == 0) {
		err = l.waitPause(ctx)
	} else {
		err = l.waitToken(ctx, team)
	}
	if err == nil {
		l.m.wait.Observe(time.Since(start).Seconds())
	}
	return err
}

// waitPause is Wait in unlimited mode: no Redis call, only the pause known
// locally (own PauseUntil calls and the poller).
func (l *Limiter) waitPause(ctx context.Context) error {
	for {
		d := l.pausedFor()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-l.ctx.Done():
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

// waitToken queues the caller at the dispenser of team.
func (l *Limiter) waitToken(ctx context.Context, team string) error {
	w := &waiter{ch: make(chan error, 1)}
	var d *dispenser
	for {
		var err error
		if d, err = l.dispenser(team); err != nil {
			return err
		}
		if d.enqueue(w) {
			break
		}
		// d retired between lookup and enqueue: take its successor.
	}
	select {
	case err := <-w.ch:
		return err
	case <-ctx.Done():
		if d.remove(w) {
			return ctx.Err()
		}
		// Granted (or failed) while ctx ended: the token is already taken.
		return <-w.ch
	}
}

// dispenser returns the running dispenser of team, starting one if needed.
func (l *Limiter) dispenser(team string) (*dispenser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	d := l.dispensers[team]
	if d == nil {
		d = &dispenser{l: l, team: team, wake: make(chan struct{}, 1)}
		l.dispensers[team] = d
		l.wg.Add(1)
		go d.run()
	}
	return d, nil
}

// retire removes d from the dispensers if it has no waiters.
func (l *Limiter) retire(d *dispenser) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) > 0 {
		return false
	}
	d.dead = true
	delete(l.dispensers, d.team)
	return true
}

// PauseUntil pauses every process sharing this limiter until t, e.g. the
// Retry-After of a 429 or 503. The pause applies to this process at once and
// to the others through Redis; it is idempotent, a later t extends it and an
// earlier t does not shorten it. To be immune to clock skew between hosts,
// the pause is stored as time.Until(t) added to the Redis server clock.
// The error reports a failure to share the pause; the local pause holds anyway.
func (l *Limiter) PauseUntil(ctx context.Context, t time.Time) error {
	l.m.pauses.Inc()
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	l.extendPause(t)
	if _, err := l.sharedPause(ctx, d); err != nil {
		l.m.errors.Inc()
		return err
	}
	return nil
}

// Throttled reports a 429 (with or without Retry-After: a server that
// throttles and names a pause still means the rate is too high; the pause
// itself is PauseUntil's). With AIMD it lowers the
// shared effective rate by DecreaseFactor, at most once per second for all
// processes together; calls within that window cost no Redis round trip.
// Redis errors are counted in errors_total and otherwise ignored.
func (l *Limiter) Throttled(ctx context.Context) {
	l.m.throttled.Inc()
	if !l.cfg.AIMD || time.Now().UnixNano() < l.nextDecrease.Load() {
		return
	}
	r, next, err := l.decrease(ctx)
	if err != nil {
		l.m.errors.Inc()
		return
	}
	l.rate.Store(math.Float64bits(r))
	l.nextDecrease.Store(time.Now().Add(next).UnixNano())
}

// EffectiveRate returns the last known shared effective rate in requests/s:
// Rate lowered by AIMD, as seen by this process's last Redis round trip.
// It is 0 when the limiter is unlimited (Rate 0).
func (l *Limiter) EffectiveRate() float64 {
	return math.Float64frombits(l.rate.Load())
}

// Close stops the background goroutines and unregisters the metrics.
// Pending and later Waits return ErrClosed. Calling Close twice is safe.
func (l *Limiter) Close() error {
	l.once.Do(func() {
		// Order: refuse new dispensers, cancel (which wakes and stops every
		// dispenser and the poller, failing their waiters), wait for them,
		// then drop the metrics that read their state.
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cancel()
		l.wg.Wait()
		l.m.unregister()
	})
	return nil
}

// poll refreshes the shared pause in unlimited mode, where no take script
// would report it.
func (l *Limiter) poll() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.PollInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(l.ctx, callTimeout)
		rem, err := l.sharedPause(ctx, 0)
		cancel()
		switch {
		case l.ctx.Err() != nil:
			return
		case err != nil:
			l.m.errors.Inc()
		case rem > 0:
			l.extendPause(time.Now().Add(rem))
		}
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// extendPause moves the local pause to t unless it already ends later.
func (l *Limiter) extendPause(t time.Time) {
	n := t.UnixNano()
	for {
		cur := l.pausedUntil.Load()
		if n <= cur || l.pausedUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// pausedFor returns what is left of the locally known pause.
func (l *Limiter) pausedFor() time.Duration {
	return time.Duration(l.pausedUntil.Load() - time.Now().UnixNano())
}

func (l *Limiter) nearLimit() bool {
	return time.Now().UnixNano()-l.lastShort.Load() < int64(nearLimitWindow)
}

// sleep waits d or until Close; it reports false on Close.
func (l *Limiter) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
