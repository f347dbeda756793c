package worker

import (
	"time"

	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// assetBackoff returns the delay before an asset's attempt n+1 after n
// failed attempts (or n throttled answers): the campaign policy's capped
// doubling with equal jitter. The jitter spreads the retries of many
// workers; its fixed half guarantees that the retries of one asset span a
// known time: with the defaults (500ms doubling to 30s, 8 attempts) the
// last attempt comes at least 30s after the first, so an API outage
// shorter than that fails no asset.
func assetBackoff(p jobs.Policy, n int) time.Duration {
	return backoff.Policy{Base: p.BackoffBase, Cap: p.BackoffCap, Jitter: true}.Delay(n)
}
