package worker

import (
	"context"
	"sync"
	"testing"
	"time"
)

// waitQueued waits until n acquirers are queued in p.
func waitQueued(t *testing.T, p *slotPool, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.waiters)
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSlotPoolOldestBatchFirst: freed slots go to the waiter with the
// lowest batch sequence, whatever the order in which they started waiting.
func TestSlotPoolOldestBatchFirst(t *testing.T) {
	p := newSlotPool(1)
	ctx := context.Background()
	if !p.acquire(ctx, 0) {
		t.Fatal("a free slot was not granted")
	}
	var mu sync.Mutex
	var order []uint64
	var wg sync.WaitGroup
	for i, seq := range []uint64{7, 3, 9, 1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.acquire(ctx, seq) {
				t.Errorf("batch %d: not granted", seq)
				return
			}
			mu.Lock()
			order = append(order, seq)
			mu.Unlock()
			p.release()
		}()
		waitQueued(t, p, i+1)
	}
	p.release()
	wg.Wait()
	want := []uint64{1, 3, 7, 9}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Fatalf("grant order %v, want %v", order, want)
		}
	}
	if p.free != 1 {
		t.Fatalf("%d free slots after every release, want 1", p.free)
	}
}

// TestSlotPoolCancel: a waiter whose context ends leaves the queue and
// holds nothing; the slot goes to the next waiter.
func TestSlotPoolCancel(t *testing.T) {
	p := newSlotPool(1)
	if !p.acquire(context.Background(), 0) {
		t.Fatal("a free slot was not granted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan bool)
	go func() { gone <- p.acquire(ctx, 1) }()
	waitQueued(t, p, 1)
	got := make(chan bool)
	go func() { got <- p.acquire(context.Background(), 2) }()
	waitQueued(t, p, 2)
	cancel()
	if <-gone {
		t.Fatal("a cancelled acquire reported a slot")
	}
	p.release()
	if !<-got {
		t.Fatal("the remaining waiter did not get the freed slot")
	}
	p.release()
	if p.free != 1 || len(p.waiters) != 0 {
		t.Fatalf("free %d, waiters %d; want 1 and 0", p.free, len(p.waiters))
	}
}

// TestSlotClaimKeepsItsPlace: a batch that claimed several slots gets every
// freed slot before a younger batch, even while it takes none of them (its
// goroutine not yet scheduled); closing the claim returns the slots it was
// granted and did not take.
func TestSlotClaimKeepsItsPlace(t *testing.T) {
	p := newSlotPool(2)
	ctx := context.Background()
	for range 2 {
		if !p.acquire(ctx, 0) {
			t.Fatal("free slots were not granted")
		}
	}
	old := p.claim(1, 3)
	young := p.claim(2, 1)
	p.release()
	p.release()
	if got := len(old.ch); got != 2 {
		t.Fatalf("the older claim holds %d granted slots, want 2", got)
	}
	if got := len(young.ch); got != 0 {
		t.Fatalf("the younger claim was granted %d slots before the older one had all it claimed", got)
	}
	if !old.take(ctx) {
		t.Fatal("a granted slot could not be taken")
	}
	// The older claim stops early: its untaken slot goes to the younger.
	old.close()
	if got := len(young.ch); got != 1 {
		t.Fatalf("after the older claim closed the younger holds %d slots, want 1", got)
	}
	if !young.take(ctx) {
		t.Fatal("the younger claim's slot could not be taken")
	}
	young.close()
	p.release() // the slot old took
	p.release() // the slot young took
	if p.free != 2 || len(p.waiters) != 0 {
		t.Fatalf("free %d, waiters %d; want 2 and 0", p.free, len(p.waiters))
	}
}
