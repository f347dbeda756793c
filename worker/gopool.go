package worker

import (
	"sync"
	"sync/atomic"
	"time"
)

// callers runs the per-asset goroutines of every worker in the process.
var callers goPool

// goPoolIdle is how long an idle pooled goroutine waits for more work: it
// exits at the second expiry tick it sees while idle (after goPoolIdle to
// 2×goPoolIdle).
const goPoolIdle = 2 * time.Second

// goPool reuses goroutines. A fresh goroutine starts with a small stack
// that an HTTP call grows (copying it) a few times; at thousands of assets
// per second that copying was ~6% of the worker's CPU. A pooled goroutine
// keeps its grown stack for the next asset. Idle goroutines exit after a
// while, so an idle worker holds none.
//
// Expiry is one shared channel closed every goPoolIdle rather than a timer
// per goroutine: resetting a timer after every asset cost about as much as
// the rest of the pool.
type goPool struct {
	work chan func()
	tick atomic.Pointer[chan struct{}] // closed at the next expiry tick

	mu    sync.Mutex
	live  int  // pooled goroutines
	armed bool // an expiry tick is scheduled
}

var goPoolInit sync.Once

// Go runs fn on an idle pooled goroutine, or on a new one.
func (p *goPool) Go(fn func()) {
	goPoolInit.Do(func() {
		p.work = make(chan func())
		ch := make(chan struct{})
		p.tick.Store(&ch)
	})
	select {
	case p.work <- fn:
	default:
		p.mu.Lock()
		p.live++
		if !p.armed {
			p.armed = true
			time.AfterFunc(goPoolIdle, p.expire)
		}
		p.mu.Unlock()
		go p.loop(fn)
	}
}

// expire ends the current tick and schedules the next while goroutines
// live.
func (p *goPool) expire() {
	next := make(chan struct{})
	old := p.tick.Swap(&next)
	close(*old)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live > 0 {
		time.AfterFunc(goPoolIdle, p.expire)
	} else {
		p.armed = false
	}
}

func (p *goPool) loop(fn func()) {
	idleTicks := 0
	for {
		if fn != nil {
			fn()
			fn = nil
			idleTicks = 0
		}
		select {
		case fn = <-p.work:
		case <-*p.tick.Load():
			if idleTicks++; idleTicks == 2 {
				p.mu.Lock()
				p.live--
				p.mu.Unlock()
				return
			}
		}
	}
}
