package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/backoff"
)

// TestDelayDoublesToCap: without jitter the delays are exactly the capped
// doubling, and a count past the shift width stays at the cap.
func TestDelayDoublesToCap(t *testing.T) {
	p := backoff.Policy{Base: 500 * time.Millisecond, Cap: 10 * time.Second}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-3, 500 * time.Millisecond},
		{0, 500 * time.Millisecond},
		{1, 500 * time.Millisecond},
		{2, time.Second},
		{3, 2 * time.Second},
		{5, 8 * time.Second},
		{6, 10 * time.Second},
		{40, 10 * time.Second},
		{63, 10 * time.Second},
		{1000, 10 * time.Second},
	}
	for _, tc := range tests {
		if got := p.Delay(tc.n); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// TestEqualJitter: each jittered delay lies in [d/2, d] and the draws
// reach down near d/2 (the jitter is not a no-op).
func TestEqualJitter(t *testing.T) {
	p := backoff.Policy{Base: 50 * time.Millisecond, Cap: time.Second, Jitter: true}
	for n := 1; n <= 8; n++ {
		d := min(p.Cap, p.Base<<(n-1))
		lo, hi := d, time.Duration(0)
		for range 1000 {
			got := p.Delay(n)
			if got < d/2 || got > d {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, got, d/2, d)
			}
			lo, hi = min(lo, got), max(hi, got)
		}
		if lo > d/2+d/10 || hi < d-d/10 {
			t.Errorf("Delay(%d): 1000 draws within [%v, %v]; want them to spread over [%v, %v]", n, lo, hi, d/2, d)
		}
	}
}

// TestBackoffCountsAndResets: Next doubles per failure; Reset starts over.
func TestBackoffCountsAndResets(t *testing.T) {
	b := backoff.New(backoff.Policy{Base: 50 * time.Millisecond, Cap: 2 * time.Second})
	var got []time.Duration
	for range 7 {
		got = append(got, b.Next())
	}
	want := []time.Duration{50, 100, 200, 400, 800, 1600, 2000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 50*time.Millisecond {
		t.Errorf("after Reset: Next() = %v, want 50ms", d)
	}
}

// TestSleepEndsWithContext: a cancelled context ends the wait at once
// with its error; an elapsed wait returns nil.
func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Sleep on a cancelled context took %v", el)
	}
	if err := backoff.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on a cancelled context = %v, want context.Canceled", err)
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep(1ms) = %v, want nil", err)
	}
}
