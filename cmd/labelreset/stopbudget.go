package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// stopGrace is how long past --shutdown-timeout run's whole stop may take:
// the worker's own grace (worker.shutdownGrace, 2s) plus a little for the
// status reload, the report and closing Redis.
const stopGrace = 3 * time.Second

// errStopBudget says a step of the stop was cut because the stop's one
// deadline (--shutdown-timeout + stopGrace after the stop began) passed.
var errStopBudget = errors.New("the shutdown timeout passed (Redis does not answer)")

// stopBudget returns a context that ends budget after parent is done, so
// that every step of a stop that began with a signal shares one deadline
// instead of each having its own bound.
func stopBudget(parent context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var t *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(parent, func() {
		mu.Lock()
		defer mu.Unlock()
		t = time.AfterFunc(budget, func() { cancel(errStopBudget) })
	})
	return ctx, func() {
		stop()
		mu.Lock()
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel(context.Canceled)
	}
}

// bounded runs fn and returns when it does or when ctx ends, whichever is
// first. go-redis v9 does not interrupt a blocking read when its context
// ends (without ContextTimeoutEnabled it uses its own read timeout, and
// retries), so a Redis that hangs (SIGSTOP, a partition: connections open,
// no answer) holds a command for many seconds past any deadline. fn keeps
// running after a timeout; it is tracked in wg, and it ends when closeRedis
// closes the connections it waits on (see app.closeRedis).
func bounded(ctx context.Context, wg *sync.WaitGroup, fn func(context.Context) error) error {
	done := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if err := context.Cause(ctx); err != nil {
			return err
		}
		return ctx.Err()
	}
}

// waitGroupFor waits for wg at most d and says whether it finished.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
