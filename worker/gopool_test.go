package worker

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestGoPoolCloseWaits: close ends the idle goroutines at once (without
// waiting for their expiry), waits for a busy one to finish its work, and
// afterwards work runs on the caller's goroutine.
func TestGoPoolCloseWaits(t *testing.T) {
	p := newGoPool()
	release := make(chan struct{})
	var ran atomic.Int32
	for range 4 {
		p.Go(func() { ran.Add(1) })
	}
	p.Go(func() { <-release; ran.Add(1) })

	closed := make(chan struct{})
	go func() { defer close(closed); p.close() }()
	select {
	case <-closed:
		t.Fatal("close returned while a goroutine was still running its work")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(time.Second):
		// Idle goroutines expire after goPoolIdle at the earliest: a
		// close that waited for that would take seconds.
		t.Fatal("close did not return within 1s of the last work finishing")
	}
	if n := ran.Load(); n != 5 {
		t.Fatalf("%d functions ran, want 5", n)
	}
	p.mu.Lock()
	live := p.live
	p.mu.Unlock()
	if live != 0 {
		t.Errorf("%d pooled goroutines live after close, want 0", live)
	}

	// After close, Go runs fn before it returns.
	var inline bool
	p.Go(func() { inline = true })
	if !inline {
		t.Error("Go after close did not run fn on the caller's goroutine")
	}
	p.close() // a second close is harmless
}
