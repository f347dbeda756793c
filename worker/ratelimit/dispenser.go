package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/labelreset/labelreset/client/backoff"
)

// waiter is one caller blocked in Wait; the dispenser sends nil (a token) or
// ErrClosed on ch.
type waiter struct {
	ch chan error
}

// dispenser takes tokens from Redis for the waiters of one team ("" = none)
// of one process. It asks for as many tokens as there are waiters, at most
// MaxChunk, so a round trip serves several callers when the rate allows it
// and no token is held back for later (a stock of tokens would be spent as a
// burst above the rate).
type dispenser struct {
	l    *Limiter
	team string
	wake chan struct{} // capacity 1: "the queue may have grown"

	mu    sync.Mutex
	queue []*waiter // FIFO
	dead  bool      // retired or closed: enqueue must go elsewhere
}

// enqueue adds w unless d is dead.
func (d *dispenser) enqueue(w *waiter) bool {
	d.mu.Lock()
	if d.dead {
		d.mu.Unlock()
		return false
	}
	d.queue = append(d.queue, w)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

// remove takes w out of the queue; false means it was already served.
func (d *dispenser) remove(w *waiter) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, q := range d.queue {
		if q == w {
			d.queue = append(d.queue[:i], d.queue[i+1:]...)
			return true
		}
	}
	return false
}

func (d *dispenser) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue)
}

// grant serves the first n waiters. Tokens beyond the current waiters (their
// callers gave up meanwhile) are dropped: keeping them would hoard.
func (d *dispenser) grant(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n = min(n, len(d.queue))
	for _, w := range d.queue[:n] {
		w.ch <- nil
	}
	rest := copy(d.queue, d.queue[n:])
	clear(d.queue[rest:])
	d.queue = d.queue[:rest]
}

// fail ends every wait with err and marks d dead.
func (d *dispenser) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, w := range d.queue {
		w.ch <- err
	}
	d.queue = nil
}

func (d *dispenser) run() {
	l := d.l
	defer l.wg.Done()
	idle := time.NewTimer(dispenserIdle)
	defer idle.Stop()
	// Fail safe: no token without Redis. Back off so that an outage
	// costs a few round trips per second, not a spin.
	retries := backoff.New(backoff.Policy{Base: minBackoff, Cap: maxBackoff, Jitter: true})
	for {
		n := d.waiting()
		if n == 0 {
			idle.Reset(dispenserIdle)
			select {
			case <-d.wake:
				continue
			case <-l.ctx.Done():
				d.fail(ErrClosed)
				return
			case <-idle.C:
				if l.retire(d) {
					return
				}
				continue
			}
		}
		if p := l.pausedFor(); p > 0 {
			if !l.sleep(p) {
				d.fail(ErrClosed)
				return
			}
			continue
		}
		want := min(n, l.cfg.MaxChunk)
		ctx, cancel := context.WithTimeout(l.ctx, callTimeout)
		res, err := l.take(ctx, d.team, want)
		cancel()
		if err != nil {
			if l.ctx.Err() != nil {
				d.fail(ErrClosed)
				return
			}
			l.m.errors.Inc()
			if !l.sleep(retries.Next()) {
				d.fail(ErrClosed)
				return
			}
			continue
		}
		retries.Reset()
		if l.cfg.Rate > 0 {
			l.rate.Store(math.Float64bits(res.rate))
		}
		if res.paused {
			l.extendPause(time.Now().Add(res.retry))
			continue
		}
		d.grant(res.granted)
		if res.granted < want {
			l.lastShort.Store(time.Now().UnixNano())
			if !l.sleep(max(res.retry, minRetry)) {
				d.fail(ErrClosed)
				return
			}
		}
	}
}
