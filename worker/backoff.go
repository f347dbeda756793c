package worker

import (
	"math/rand/v2"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// backoff returns the delay before attempt n+1 after n failed attempts:
// exponential with equal jitter, a uniform draw in [c/2, c] for
// c = min(cap, base·2^(n-1)). The jitter spreads the retries of many
// workers instead of synchronising them; the fixed half guarantees that
// the retries of one asset span a known time. With full jitter ([0, c])
// five attempts could all land within a second or two, so an API outage
// of two seconds failed assets; with the defaults (500ms doubling to 30s,
// 8 attempts) the last attempt comes at least 30s after the first.
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
	half := ceil / 2
	return half + time.Duration(rand.Int64N(int64(ceil-half)+1))
}
