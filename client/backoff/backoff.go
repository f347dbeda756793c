// Package backoff is the one shape of every retry loop in labelreset: a
// delay that doubles from a base up to a cap, optionally with equal jitter,
// waited out under a context.
//
// Equal jitter draws each delay uniformly from [d/2, d]. The jitter spreads
// the retries of many processes instead of synchronising them; the fixed
// half bounds from below the time a run of retries spans, which is what
// lets a retry budget ride out an outage of known length. (With full
// jitter, [0, d], every retry of a run could land within the first second.)
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is the shape of a run of retries.
type Policy struct {
	// Base is the delay after the first failure; each later failure
	// doubles it.
	Base time.Duration
	// Cap is the longest delay. A Cap below Base caps every delay.
	Cap time.Duration
	// Jitter draws each delay from [d/2, d] instead of waiting d.
	Jitter bool
}

// Delay is the delay after n failures in a row (n < 1 counts as 1):
// min(Cap, Base·2^(n-1)), jittered when the policy says so.
func (p Policy) Delay(n int) time.Duration {
	n = max(n, 1)
	d := p.Cap
	if n < 64 {
		if b := p.Base << (n - 1); b > 0 && b>>(n-1) == p.Base && b < d {
			d = b
		}
	}
	if d <= 0 {
		return 0
	}
	if !p.Jitter {
		return d
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// Backoff counts the failures of one retry loop.
type Backoff struct {
	Policy
	failures int
}

// New returns a Backoff with no failure counted.
func New(p Policy) *Backoff { return &Backoff{Policy: p} }

// Next counts a failure and returns the delay before the next try.
func (b *Backoff) Next() time.Duration {
	b.failures++
	return b.Delay(b.failures)
}

// Reset forgets the failures: the loop's next failure waits Base again.
func (b *Backoff) Reset() { b.failures = 0 }

// Sleep waits d, or until ctx ends and then returns ctx.Err(). It returns
// ctx.Err() at once when d <= 0.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
