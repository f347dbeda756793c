package worker

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client/backoff"
)

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
	mu      sync.Mutex
	down    bool
	nextTry time.Time
	probes  *backoff.Backoff // spaces the probes while Redis is down
	up      chan struct{}    // closed when Redis answers again

	aborted     context.Context // done once abort is called
	cancelAbort context.CancelFunc
}

func newRedisGuard() *redisGuard {
	g := &redisGuard{probes: backoff.New(backoff.Policy{Base: 250 * time.Millisecond, Cap: 2 * time.Second})}
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
		g.probes.Reset()
		g.nextTry = time.Now().Add(g.probes.Next())
	case isNet:
		if time.Now().After(g.nextTry) {
			g.nextTry = time.Now().Add(g.probes.Next())
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
