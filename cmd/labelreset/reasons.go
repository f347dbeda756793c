package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// topReasons is how many failure reasons a summary shows; the report has
// every asset's.
const topReasons = 3

// printFailureReasons ends a summary with the most frequent reasons of the
// campaign's failed and invalid assets, so that "failed 3" comes with its
// cause. It reads one small hash (bounded by ctx: Redis may be down at the
// end of a run); when that fails, the summary goes without it.
func (a *app) printFailureReasons(ctx context.Context, store *jobs.Store, c *jobs.Campaign) {
	if c.Counts[jobs.OutcomeFailed]+c.Counts[jobs.OutcomeInvalid] == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var rs []jobs.FailureReason
	err := bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		rs, err = store.FailureReasons(ctx, c.ID, topReasons)
		return err
	})
	if err != nil {
		a.log.Warn("failure reasons not read", "campaign", c.ID, "err", err)
		return
	}
	if len(rs) == 0 {
		return // failures recorded by a version that did not count them
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d × %s", r.Count, r.Reason)
	}
	fmt.Fprintf(a.stdout, "top failure reasons: %s (every asset's: labelreset report %s --only failed,invalid)\n",
		strings.Join(parts, "; "), c.ID)
}
