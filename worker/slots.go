package worker

import (
	"context"
	"sync"
)

// slotPool is the worker's call slots: a counting semaphore that hands a
// freed slot to the waiter of the oldest batch (lowest seq) rather than to
// whoever waited longest.
//
// Why: a worker holds several batches at once (asynq concurrency), and
// with first-come slots their assets interleave, so the outcomes of one
// ledger write spread over every batch in hand — one HMGET and one HSET
// per batch inside the record script. Serving the oldest batch first keeps
// the calls in flight concentrated on one or two batches, which halves the
// Redis work per outcome, and lets batches finish (and asynq take the next
// one) in order instead of all at the end.
type slotPool struct {
	mu      sync.Mutex
	free    int
	waiters []*slotWaiter // ascending seq; a handful (batches in hand)
}

type slotWaiter struct {
	seq uint64
	ch  chan struct{} // receives the granted slot; capacity 1
}

func newSlotPool(n int) *slotPool { return &slotPool{free: n} }

// acquire takes a slot for a batch with sequence seq, waiting on ch (a
// channel of capacity 1 owned by the caller). It returns false, holding
// nothing, when ctx ends first.
func (p *slotPool) acquire(ctx context.Context, seq uint64, ch chan struct{}) bool {
	p.mu.Lock()
	if p.free > 0 && len(p.waiters) == 0 {
		p.free--
		p.mu.Unlock()
		return true
	}
	sw := &slotWaiter{seq: seq, ch: ch}
	i := len(p.waiters)
	for i > 0 && p.waiters[i-1].seq > seq {
		i--
	}
	p.waiters = append(p.waiters, nil)
	copy(p.waiters[i+1:], p.waiters[i:])
	p.waiters[i] = sw
	p.mu.Unlock()

	select {
	case <-ch:
		return true
	case <-ctx.Done():
	}
	p.mu.Lock()
	for j, x := range p.waiters {
		if x == sw {
			p.waiters = append(p.waiters[:j], p.waiters[j+1:]...)
			p.mu.Unlock()
			return false
		}
	}
	p.mu.Unlock()
	// A release granted the slot while ctx ended: pass it on.
	<-ch
	p.release()
	return false
}

// release frees a slot, handing it to the oldest batch waiting.
func (p *slotPool) release() {
	p.mu.Lock()
	if len(p.waiters) == 0 {
		p.free++
		p.mu.Unlock()
		return
	}
	sw := p.waiters[0]
	copy(p.waiters, p.waiters[1:])
	p.waiters[len(p.waiters)-1] = nil
	p.waiters = p.waiters[:len(p.waiters)-1]
	p.mu.Unlock()
	sw.ch <- struct{}{}
}
