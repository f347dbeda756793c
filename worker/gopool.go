package worker

import (
	"sync"
	"sync/atomic"
	"time"
)

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
//
// Each Worker owns its pool, and Run closes it once the handlers have
// returned: a stopped worker leaves no goroutine behind, and two workers
// in one process (tests, `labelreset run` beside `serve`) do not share
// goroutines whose lifetime neither of them controls.
type goPool struct {
	work chan func()
	tick atomic.Pointer[chan struct{}] // closed at the next expiry tick
	quit chan struct{}                 // closed by close: idle goroutines exit
	// wg counts the pooled goroutines and the scheduled expiry tick.
	wg sync.WaitGroup

	mu     sync.Mutex
	live   int         // pooled goroutines
	timer  *time.Timer // the next expiry tick; nil when none is scheduled
	closed bool
}

func newGoPool() *goPool {
	p := &goPool{work: make(chan func()), quit: make(chan struct{})}
	ch := make(chan struct{})
	p.tick.Store(&ch)
	return p
}

// Go runs fn on an idle pooled goroutine, or on a new one. After close it
// runs fn on the caller's goroutine: only a handler that asynq abandoned
// at the shutdown timeout gets there, and the worker is stopping, so its
// assets are handed back at once.
func (p *goPool) Go(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		fn()
		return
	}
	p.live++
	p.wg.Add(1)
	p.arm()
	p.mu.Unlock()
	go p.loop(fn)
}

// arm schedules the next expiry tick unless one is scheduled. p.mu is held.
func (p *goPool) arm() {
	if p.timer == nil {
		p.wg.Add(1)
		p.timer = time.AfterFunc(goPoolIdle, p.expire)
	}
}

// expire ends the current tick and schedules the next while goroutines
// live.
func (p *goPool) expire() {
	defer p.wg.Done()
	next := make(chan struct{})
	old := p.tick.Swap(&next)
	close(*old)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if p.live > 0 && !p.closed {
		p.arm()
	}
}

// close makes idle goroutines exit at once and waits until every pooled
// goroutine has finished its work and exited.
func (p *goPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.closed = true
	if p.timer != nil && p.timer.Stop() {
		p.timer = nil
		p.wg.Done() // the tick that will not run
	}
	p.mu.Unlock()
	close(p.quit)
	p.wg.Wait()
}

func (p *goPool) loop(fn func()) {
	defer p.wg.Done()
	idleTicks := 0
	for {
		if fn != nil {
			fn()
			fn = nil
			idleTicks = 0
		}
		select {
		case fn = <-p.work:
		case <-p.quit:
			p.exit()
			return
		case <-*p.tick.Load():
			if idleTicks++; idleTicks == 2 {
				p.exit()
				return
			}
		}
	}
}

func (p *goPool) exit() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
}
