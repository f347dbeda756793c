package worker

import (
	"context"
	"sync"
)

// slotPool is the worker's call slots: a counting semaphore that hands a
// freed slot to the oldest batch (lowest seq) that still has assets to
// start, rather than to whoever waited longest.
//
// Why: a worker holds several batches at once (asynq concurrency), and
// with first-come slots their assets interleave, so the outcomes of one
// ledger write spread over every batch in hand — one HMGET and one HSET
// per batch inside the record script. Serving the oldest batch first keeps
// the calls in flight concentrated on one or two batches, and lets batches
// finish (and asynq take the next one) in order instead of all at the end.
//
// A batch claims all the slots it will need at once (claim). Granting to
// one waiting goroutine per batch is not enough: the batch's dispatching
// goroutine waits for one slot at a time, and while it is runnable but not
// yet running the next freed slots would go to younger batches, so a
// ledger write would touch nearly every batch in hand. A claim stays
// first in line until it has all its slots; the slots it was granted wait
// in its channel until its goroutine takes them.
type slotPool struct {
	mu      sync.Mutex
	free    int
	waiters []*slotClaim // ascending seq; a handful (batches in hand)
}

// slotClaim is one batch's request for want more slots.
type slotClaim struct {
	p    *slotPool
	seq  uint64
	want int           // slots still to grant; guarded by p.mu
	ch   chan struct{} // granted slots not yet taken; capacity = slots claimed
}

func newSlotPool(n int) *slotPool { return &slotPool{free: n} }

// claim registers a request for n slots for a batch with sequence seq.
// Free slots are granted at once; the rest as they are released, before
// any younger batch's. The caller takes each with take and must close the
// claim when it stops taking.
func (p *slotPool) claim(seq uint64, n int) *slotClaim {
	c := &slotClaim{p: p, seq: seq, ch: make(chan struct{}, n)}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Free slots exist only while nobody waits (release grants first).
	g := min(p.free, n)
	p.free -= g
	for range g {
		c.ch <- struct{}{}
	}
	c.want = n - g
	if c.want == 0 {
		return c
	}
	i := len(p.waiters)
	for i > 0 && p.waiters[i-1].seq > seq {
		i--
	}
	p.waiters = append(p.waiters, nil)
	copy(p.waiters[i+1:], p.waiters[i:])
	p.waiters[i] = c
	return c
}

// take waits for one of the claim's slots. It returns false, holding
// nothing, when ctx ends first.
func (c *slotClaim) take(ctx context.Context) bool {
	select {
	case <-c.ch:
		return true
	default:
	}
	select {
	case <-c.ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// close withdraws the claim: it is granted nothing more, and slots granted
// but not taken go back to the pool.
func (c *slotClaim) close() {
	p := c.p
	p.mu.Lock()
	if c.want > 0 {
		c.want = 0
		for j, x := range p.waiters {
			if x == c {
				p.waiters = append(p.waiters[:j], p.waiters[j+1:]...)
				break
			}
		}
	}
	p.mu.Unlock()
	// Grants are sent under p.mu, so none is in flight any more.
	for {
		select {
		case <-c.ch:
			p.release()
		default:
			return
		}
	}
}

// acquire takes one slot for a batch with sequence seq (an asset's retry).
func (p *slotPool) acquire(ctx context.Context, seq uint64) bool {
	c := p.claim(seq, 1)
	if c.take(ctx) {
		return true
	}
	c.close()
	return false
}

// release frees a slot, granting it to the oldest claim waiting.
func (p *slotPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) == 0 {
		p.free++
		return
	}
	c := p.waiters[0]
	c.want--
	if c.want == 0 {
		copy(p.waiters, p.waiters[1:])
		p.waiters[len(p.waiters)-1] = nil
		p.waiters = p.waiters[:len(p.waiters)-1]
	}
	// Never blocks: a claim is granted at most its channel's capacity.
	c.ch <- struct{}{}
}
