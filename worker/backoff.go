package worker

import (
	"math/rand/v2"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// backoff returns the delay before attempt n+1 after n failed attempts:
// exponential with full jitter (a uniform draw in [0, min(cap, base·2^(n-1))]),
// which spreads retries of many workers instead of synchronising them.
func backoff(p jobs.Policy, n int) time.Duration {
	if n < 1 {
		n = 1
	}
	ceil := p.BackoffCap
	if n < 32 {
		if d := p.BackoffBase << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}
