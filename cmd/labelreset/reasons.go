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

// failureReasons reads the most frequent reasons of the campaign's failed
// and invalid assets, so that "failed 3" comes with its cause. It reads one
// small hash (bounded by ctx: Redis may be down at the end of a run); when
// that fails, it logs and returns none, and the summary goes without them.
func (a *app) failureReasons(ctx context.Context, store *jobs.Store, c *jobs.Campaign) []jobs.FailureReason {
	if c.Counts[jobs.OutcomeFailed]+c.Counts[jobs.OutcomeInvalid] == 0 {
		return nil
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
		return nil
	}
	return rs
}

// printFailureReasons ends a text summary with failureReasons, and says
// where every asset's error is (every: "the report x.csv", a command); none
// are printed when there are none (failures recorded by a version that did
// not count them, or a read that failed).
func (a *app) printFailureReasons(ctx context.Context, store *jobs.Store, c *jobs.Campaign, every string) {
	rs := a.failureReasons(ctx, store, c)
	if len(rs) == 0 {
		return
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d × %s", r.Count, r.Reason)
	}
	fmt.Fprintf(a.stdout, "top failure reasons: %s (every asset's: %s)\n", strings.Join(parts, "; "), every)
}

// reportCommand is the command that lists a campaign's failed and invalid
// assets, with the namespace when it is not the default (the Redis URL
// comes from the same flag or REDIS_URL the user just used).
func reportCommand(id, namespace string) string {
	ns := ""
	if namespace != jobs.DefaultNamespace {
		ns = " --namespace " + namespace
	}
	return fmt.Sprintf("labelreset report %s%s --only failed,invalid", id, ns)
}

// summaryJSON is statusJSON with the top failure reasons, the JSON form of
// the summary that status and run print as text.
func (a *app) summaryJSON(ctx context.Context, store *jobs.Store, c *jobs.Campaign) campaignStatus {
	s := statusJSON(c)
	s.FailureReasons = a.failureReasons(ctx, store, c)
	if c.Snapshot {
		info, err := store.Snapshot(ctx, c)
		if err != nil {
			a.log.Warn("snapshot progress could not be read", "campaign", c.ID, "err", err)
		}
		s.Snapshot = info
	}
	s.Express = a.readExpress(ctx, store, c)
	return s
}
