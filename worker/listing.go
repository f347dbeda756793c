package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// The paging of an inventory listing, shared by the snapshot of a segment
// (snapshot.go) and the guard and verification listings of an express
// campaign (express.go): one implementation of what PDCP's paging needs
// (see the comment at the top of snapshot.go), so that no listing skips
// an asset the others would see.

// pagedListing is the position of one listing: its filter (sortedFilter
// already applied), the offset of its next page and the IDs of its last
// page.
type pagedListing struct {
	filter client.AssetFilter
	offset int
	// prev holds the IDs of the last page: a server that ignores offset
	// answers the same page again, and would be listed forever.
	prev  []int64
	pages int
	// listingFailed says that a listing failure was recorded since the
	// last page that listed.
	listingFailed bool
}

// listingSink is what a listing reports to and what decides what its
// stops mean: each method that returns an error returns ProcessTask's
// answer.
type listingSink interface {
	// held reports whether the listing stops before its next page (the
	// campaign's state), and then ProcessTask's answer.
	held(ctx context.Context) (bool, error)
	// page takes one non-empty page (l.offset is already the next
	// page's); a non-nil answer stops the listing.
	page(ctx context.Context, page []client.Asset) error
	// failed records a page failure that is retried (msg says why), and
	// recovered clears it once a page lists again.
	failed(ctx context.Context, msg string)
	recovered(ctx context.Context)
	// rejected stops a listing that retrying cannot help: PDCP refuses it
	// (a 4xx) or ignores offset.
	rejected(ctx context.Context, why string) error
	// handBack saves what the listing read, if anything, and returns rl.
	handBack(ctx context.Context, rl *retryLater) error
}

// listPages pages through l until an empty page (complete true) or a stop
// (complete false, err ProcessTask's answer). Each page waits for the
// shared rate limit; a page that fails is asked for again, never skipped:
// after a backoff while it is short, else the task is handed back.
func (w *Worker) listPages(ctx context.Context, ci *campaignInfo, l *pagedListing, sink listingSink) (complete bool, err error) {
	retry := backoff.New(backoff.Policy{Base: ci.def.Policy.BackoffBase, Cap: ci.def.Policy.BackoffCap, Jitter: true})
	failures := 0
	for {
		if stop, err := sink.held(ctx); stop {
			return false, err
		}
		if w.stopping.Load() || ctx.Err() != nil {
			return false, sink.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
		}
		if err := w.limiter.Wait(ctx, ci.def.TeamID); err != nil {
			return false, sink.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
		}
		start := time.Now()
		page, err := ci.caller.ListPage(ctx, l.filter, l.offset, w.cfg.SnapshotPageSize)
		if err != nil {
			if ctx.Err() != nil {
				return false, sink.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
			}
			failures++
			delay, stop := w.pageFailed(ctx, ci, l, sink, err, retry, failures)
			if stop != nil {
				return false, stop
			}
			if delay > snapshotMaxSleep {
				return false, sink.handBack(ctx, &retryLater{delay: delay, reason: "listing backing off"})
			}
			if backoff.Sleep(ctx, delay) != nil {
				return false, sink.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
			}
			continue
		}
		failures = 0
		retry.Reset()
		if l.pages == 0 || l.listingFailed {
			// An earlier run may have recorded a failure: clear it once.
			sink.recovered(ctx)
			l.listingFailed = false
		}
		ok := client.Result{Outcome: client.OutcomeReset, Status: http.StatusOK, Duration: time.Since(start)}
		w.metrics.request(&ok)
		l.pages++
		if len(page) == 0 {
			return true, nil
		}
		ids := make([]int64, len(page))
		for i, a := range page {
			ids[i] = a.ID
		}
		if slices.Equal(ids, l.prev) {
			w.metrics.pageError(pageErrRejected)
			return false, sink.rejected(ctx, fmt.Sprintf("the page at offset %d repeats the one before it: the API server ignores offset, so the inventory cannot be listed", l.offset))
		}
		l.prev = ids
		l.offset = nextOffset(l.offset, len(page))
		if err := sink.page(ctx, page); err != nil {
			return false, err
		}
	}
}

// pageFailed counts a failed page and returns the delay before it is
// asked for again, or (stop non-nil) ProcessTask's answer: the campaign
// was blocked (401/403), PDCP refused the listing, or the page failed too
// often in a row and the task is handed back.
func (w *Worker) pageFailed(ctx context.Context, ci *campaignInfo, l *pagedListing, sink listingSink, err error, retry *backoff.Backoff, failures int) (time.Duration, error) {
	var se *client.StatusError
	if !errors.As(err, &se) {
		// ListPage fails with a *StatusError only; anything else is a
		// bug best retried than taken for the end of the listing.
		se = &client.StatusError{Result: client.Result{Outcome: client.OutcomeRetryable, Err: err}}
	}
	res := se.Result
	w.metrics.request(&res)
	delay := retry.Next()
	budget := ci.def.Policy.MaxAttempts
	switch res.Outcome {
	case client.OutcomeUnauthorized:
		w.metrics.pageError(pageErrUnauthorized)
		return 0, sink.handBack(ctx, w.refusedDelay(ctx, ci, w.block(ci, &res), "PDCP refused the credentials"))
	case client.OutcomeThrottled:
		w.metrics.pageError(pageErrThrottled)
		w.metrics.throttled.Inc()
		if res.RetryAfter > 0 {
			delay = res.RetryAfter
			w.pauseAll(ctx, ci, res.RetryAfter)
		}
		if res.Status == http.StatusTooManyRequests {
			w.limiter.Throttled(ctx)
		}
		budget = ci.def.Policy.ThrottleBudget()
	case client.OutcomeRetryable:
		if res.Status == 0 {
			w.metrics.pageError(pageErrNetwork)
			w.noteNetworkError(ci, res.Error())
		} else {
			w.metrics.pageError(pageErrServer)
		}
	default:
		w.metrics.pageError(pageErrRejected)
		return 0, sink.rejected(ctx, fmt.Sprintf("PDCP refused the listing at offset %d: %s", l.offset, res.Error()))
	}
	// Recorded for status and the API: a listing keeps retrying through
	// an outage, and this is what shows that it is stuck, and why.
	sink.failed(ctx, res.Error())
	l.listingFailed = true
	if failures >= budget {
		w.log.Warn("listing: a page keeps failing; handing the task back to try again later",
			"campaign", ci.def.ID, "offset", l.offset, "failures", failures, "err", res.Error(), "retry_in", delay)
		return 0, sink.handBack(ctx, &retryLater{delay: delay, reason: "listing failing"})
	}
	return delay, nil
}

// refusedDelay is when a listing stopped by a refusal runs again: a
// blocked campaign is looked at every HoldDelay, as its batches are
// (resume unblocks it); one that cannot be blocked (pending, paused) is
// tried again after snapshotRejectedDelay, rather than every HoldDelay
// with a request PDCP refuses.
func (w *Worker) refusedDelay(ctx context.Context, ci *campaignInfo, blocked bool, reason string) *retryLater {
	if blocked || w.control.fresh(ctx, ci) == jobs.StateBlocked {
		return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign blocked"}
	}
	return &retryLater{delay: snapshotRejectedDelay, reason: reason}
}
