package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// The snapshot phase: before a campaign resets anything, one task per
// segment lists the team's inventory page by page and keeps the labels of
// the segment's assets (jobs.SnapshotRun). Its batches are enqueued when
// it is complete.
//
// Paging follows what PDCP promises and what it does not (UNDO-NOTES):
// offset advances by the rows a page actually held, never by the limit,
// because a server may cap the limit silently; only an empty page ends the
// listing; pages come in a stable order (created_at ascending: new assets
// land at the end), and consecutive pages overlap by a few rows, because
// an asset deleted before the offset meanwhile shifts every later row one
// place down and would otherwise be skipped. A page that fails is asked
// for again, never skipped: an asset missing from the snapshot would be
// recorded not_in_inventory and never reset.

// Snapshot paging knobs.
const (
	// maxPageOverlap bounds the rows re-read from the end of each page:
	// the deletions before the offset between two page reads that the
	// listing survives without skipping an asset.
	maxPageOverlap = 10
	// snapshotMaxSleep is the longest wait for a page's retry that holds
	// the task; a longer one (a long Retry-After) hands it back.
	snapshotMaxSleep = 10 * time.Second
	// snapshotRejectedDelay is when a snapshot whose listing PDCP refuses
	// (a 4xx, a server that ignores offset) is tried again, while the
	// campaign cannot be blocked (pending or paused) to show the reason.
	snapshotRejectedDelay = time.Minute
	// snapshotWriteTimeout bounds the checkpoint written at a hand-back,
	// when the task's own context may be cancelled already (shutdown).
	snapshotWriteTimeout = 5 * time.Second
)

// processSnapshot handles a jobs.TypeSnapshot task.
func (w *Worker) processSnapshot(ctx context.Context, t *asynq.Task) error {
	st, err := jobs.DecodeSnapshotTask(t.Payload())
	if err != nil {
		w.log.Error("discarding an unreadable snapshot task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !w.mine(st.Campaign) {
		return w.skip(st.Campaign, skipOtherCampaign, "")
	}
	select {
	case w.snapshotSlots <- struct{}{}:
		defer func() { <-w.snapshotSlots }()
	default:
		return &retryLater{delay: time.Second, reason: "every snapshot slot busy"}
	}
	ci, err := w.control.get(ctx, st.Campaign, st.Incarnation)
	if isGone(err) {
		w.log.Warn("discarding the snapshot of a campaign that no longer exists", "campaign", st.Campaign, "segment", st.Segment, "err", err)
		return nil
	}
	if err != nil {
		return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign unreadable: " + err.Error()}
	}
	defer w.control.put(ci)
	if !ci.def.Snapshot {
		// Only EnsureEnqueued makes these, for campaigns with a snapshot:
		// this one cannot belong to the campaign stored now.
		w.log.Warn("discarding a snapshot task of a campaign without a snapshot", "campaign", st.Campaign, "segment", st.Segment)
		return nil
	}
	if ci.def.Server != "" && w.cfg.Server != "" && ci.def.Server != w.cfg.Server {
		// The inventory of another server holds other assets under the
		// same IDs: its labels are not this campaign's.
		return w.skip(st.Campaign, skipServerMismatch, ci.def.Server)
	}
	if stop, err := w.snapshotHeld(ctx, ci, true); stop {
		return err
	}
	run, err := w.store.BeginSnapshot(ctx, ci.def, st.Segment, newSnapshotToken())
	switch {
	case isGone(err):
		w.campaignGone(ci)
		return nil
	case err != nil:
		return &retryLater{delay: w.cfg.HoldDelay, reason: "snapshot unreadable: " + err.Error()}
	case run.Done():
		return w.afterSnapshot(ctx, ci)
	}
	s := &segmentSnapshot{w: w, ci: ci, seg: st.Segment, run: run, filter: sortedFilter(run.Filter()),
		offset: run.Offset(), started: time.Now()}
	return s.list(ctx)
}

// snapshotHeld reports whether the snapshot of campaign ci stops here, and
// then ProcessTask's answer. Listing is read-only, so a pending, paused or
// stopped campaign snapshots (a pending one while it waits for approval,
// whose approver then sees what it holds); a blocked one waits, as its
// key is refused; a cancelled, finished or deleted one needs none (the
// cancel records its assets itself). fresh re-reads a cached state other
// than running from Redis first.
func (w *Worker) snapshotHeld(ctx context.Context, ci *campaignInfo, fresh bool) (bool, error) {
	st := ci.State()
	if fresh && st != jobs.StateRunning {
		st = w.control.fresh(ctx, ci)
	}
	switch st {
	case stateGone, jobs.StateCancelled, jobs.StateDone:
		return true, nil
	case jobs.StateBlocked:
		return true, &retryLater{delay: w.cfg.HoldDelay, reason: "campaign blocked"}
	}
	return false, nil
}

// afterSnapshot enqueues the batches of a campaign whose segment's
// snapshot is complete. A failure hands the task back: its next run finds
// the snapshot done and enqueues again (EnsureEnqueued is idempotent).
func (w *Worker) afterSnapshot(ctx context.Context, ci *campaignInfo) error {
	c, err := w.store.Get(ctx, ci.def.ID)
	switch {
	case isGone(err):
		w.campaignGone(ci)
		return nil
	case err != nil:
		return &retryLater{delay: time.Second, reason: "campaign unreadable: " + err.Error()}
	case c.Incarnation != ci.def.Incarnation:
		w.campaignGone(ci)
		return nil
	}
	if _, err := w.store.EnsureEnqueued(ctx, c); err != nil {
		return &retryLater{delay: time.Second, reason: "batches not enqueued: " + err.Error()}
	}
	return nil
}

// newSnapshotToken names one run of a segment's snapshot (see
// jobs.Store.BeginSnapshot): a run that a worker took over after this one
// was thought dead must not be overwritten by it.
func newSnapshotToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// sortedFilter is f with PDCP's stable listing order, created_at ascending,
// unless f names an order of its own.
func sortedFilter(f client.AssetFilter) client.AssetFilter {
	if f.Extra.Has("sort_asc") || f.Extra.Has("sort_desc") {
		return f
	}
	extra := url.Values{}
	for k, v := range f.Extra {
		extra[k] = slices.Clone(v)
	}
	extra.Set("sort_asc", "created_at")
	f.Extra = extra
	return f
}

// nextOffset is the offset of the page after one of n rows at offset:
// n rows on, less an overlap of at most maxPageOverlap rows (a tenth of
// the page, so that small pages still advance).
func nextOffset(offset, n int) int {
	return offset + n - min(n/10, maxPageOverlap)
}

// segmentSnapshot is one run of the snapshot of one segment.
type segmentSnapshot struct {
	w      *Worker
	ci     *campaignInfo
	seg    int
	run    *jobs.SnapshotRun
	filter client.AssetFilter
	offset int
	// prev holds the IDs of the last page: a server that ignores offset
	// answers the same page again, and would be listed forever.
	prev []int64
	// saved is when the last checkpoint was written; dirty says whether
	// pages were read since.
	saved   time.Time
	dirty   bool
	started time.Time
	pages   int
	// listingFailed says that a listing failure was recorded since the
	// last page that listed.
	listingFailed bool
}

// list pages through the inventory until an empty page, a stop or a
// failure; its result is ProcessTask's answer.
func (s *segmentSnapshot) list(ctx context.Context) error {
	w, ci := s.w, s.ci
	retry := backoff.New(backoff.Policy{Base: ci.def.Policy.BackoffBase, Cap: ci.def.Policy.BackoffCap, Jitter: true})
	failures := 0
	s.saved = time.Now()
	for {
		if stop, err := w.snapshotHeld(ctx, ci, false); stop {
			if err == nil {
				return nil // cancelled, finished or deleted: nothing to keep
			}
			return s.handBack(ctx, err.(*retryLater))
		}
		if w.stopping.Load() || ctx.Err() != nil {
			return s.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
		}
		if err := w.limiter.Wait(ctx, ci.def.TeamID); err != nil {
			return s.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
		}
		start := time.Now()
		page, err := ci.caller.ListPage(ctx, s.filter, s.offset, w.cfg.SnapshotPageSize)
		if err != nil {
			if ctx.Err() != nil {
				return s.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
			}
			failures++
			delay, stop := s.pageFailed(ctx, err, retry, failures)
			if stop != nil {
				return stop
			}
			if delay > snapshotMaxSleep {
				return s.handBack(ctx, &retryLater{delay: delay, reason: "listing backing off"})
			}
			if backoff.Sleep(ctx, delay) != nil {
				return s.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"})
			}
			continue
		}
		failures = 0
		retry.Reset()
		if s.pages == 0 || s.listingFailed {
			// An earlier run may have recorded a failure: clear it once.
			if err := s.run.ListingRecovered(ctx); err != nil {
				w.log.Warn("snapshot: listing failure not cleared", "campaign", ci.def.ID, "segment", s.seg, "err", err)
			}
			s.listingFailed = false
		}
		ok := client.Result{Outcome: client.OutcomeReset, Status: http.StatusOK, Duration: time.Since(start)}
		w.metrics.request(&ok)
		w.metrics.snapshotPages.Inc()
		w.metrics.snapshotListed.Add(float64(len(page)))
		s.pages++
		if len(page) == 0 {
			return s.complete(ctx)
		}
		ids := make([]int64, len(page))
		for i, a := range page {
			ids[i] = a.ID
		}
		if slices.Equal(ids, s.prev) {
			w.metrics.pageError(pageErrRejected)
			return s.rejected(ctx, fmt.Sprintf("the page at offset %d repeats the one before it: the API server ignores offset, so the inventory cannot be listed", s.offset))
		}
		s.prev = ids
		w.metrics.snapshotFound.Add(float64(s.run.Add(page)))
		s.offset = nextOffset(s.offset, len(page))
		s.dirty = true
		if time.Since(s.saved) >= w.cfg.SnapshotCheckpointEvery {
			if err := s.checkpoint(ctx); err != nil {
				return s.writeFailed(err)
			}
		}
	}
}

// pageFailed counts a failed page and returns the delay before it is
// asked for again, or (stop non-nil) ProcessTask's answer: the campaign
// was blocked (401/403), PDCP refused the listing, or the page failed too
// often in a row and the task is handed back.
func (s *segmentSnapshot) pageFailed(ctx context.Context, err error, retry *backoff.Backoff, failures int) (time.Duration, error) {
	w, ci := s.w, s.ci
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
		return 0, s.handBack(ctx, s.blocked(ctx, w.block(ci, &res), "PDCP refused the credentials"))
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
		return 0, s.rejected(ctx, fmt.Sprintf("PDCP refused the listing at offset %d: %s", s.offset, res.Error()))
	}
	// Recorded for status and the API: the snapshot keeps retrying through
	// an outage, and this is what shows that it is stuck, and why.
	if err := s.run.ListingFailed(ctx, res.Error()); err != nil {
		w.log.Warn("snapshot: listing failure not recorded", "campaign", ci.def.ID, "segment", s.seg, "err", err)
	}
	s.listingFailed = true
	if failures >= budget {
		w.log.Warn("snapshot: a page keeps failing; handing the task back to try again later",
			"campaign", ci.def.ID, "segment", s.seg, "offset", s.offset, "failures", failures, "err", res.Error(), "retry_in", delay)
		return 0, s.handBack(ctx, &retryLater{delay: delay, reason: "listing failing"})
	}
	return delay, nil
}

// rejected stops a snapshot that retrying cannot help (PDCP refuses the
// listing, or ignores offset): the campaign is blocked with the reason,
// so that status shows it and resume tries again once it is fixed; one
// that cannot be blocked (pending, paused) tries again after a minute.
// The reason is logged either way.
func (s *segmentSnapshot) rejected(ctx context.Context, why string) error {
	w, ci := s.w, s.ci
	reason := fmt.Sprintf("snapshot: %s; fix it, then run: labelreset resume %s", why, ci.def.ID)
	w.log.Error("campaign snapshot cannot list the inventory", "campaign", ci.def.ID, "segment", s.seg, "reason", why)
	blocked := w.blockWith(ci, reason, "campaign blocked: its snapshot cannot list the inventory", "reason", why)
	return s.handBack(ctx, s.blocked(ctx, blocked, "listing refused"))
}

// blocked is when a snapshot stopped by a refusal runs again: a blocked
// campaign is looked at every HoldDelay, as its batches are (resume
// unblocks it); one that cannot be blocked (pending, paused) is tried
// again after snapshotRejectedDelay, rather than every HoldDelay with a
// request PDCP refuses.
func (s *segmentSnapshot) blocked(ctx context.Context, blocked bool, reason string) *retryLater {
	if blocked || s.w.control.fresh(ctx, s.ci) == jobs.StateBlocked {
		return &retryLater{delay: s.w.cfg.HoldDelay, reason: "campaign blocked"}
	}
	return &retryLater{delay: snapshotRejectedDelay, reason: reason}
}

// checkpoint writes what was read since the last checkpoint.
func (s *segmentSnapshot) checkpoint(ctx context.Context) error {
	if err := s.run.Checkpoint(ctx, s.offset); err != nil {
		return fmt.Errorf("checkpoint the snapshot of campaign %s segment %d at offset %d: %w", s.ci.def.ID, s.seg, s.offset, err)
	}
	s.saved, s.dirty = time.Now(), false
	s.w.metrics.snapshotCheckpoints.Inc()
	return nil
}

// handBack checkpoints, even on a cancelled ctx (a shutdown), and returns
// rl for asynq: the next run continues from the checkpoint.
func (s *segmentSnapshot) handBack(ctx context.Context, rl *retryLater) error {
	if s.dirty {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(snapshotWriteTimeout, s.w.cfg.ShutdownTimeout))
		defer cancel()
		if err := s.checkpoint(wctx); err != nil {
			if stop := s.writeFailed(err); !errors.As(stop, new(*retryLater)) {
				return stop
			}
			s.w.log.Warn("snapshot progress not saved; the next run lists those pages again", "campaign", s.ci.def.ID, "segment", s.seg, "err", err)
		}
	}
	return rl
}

// writeFailed is ProcessTask's answer after a checkpoint failed: nil when
// the run must stop quietly (another run owns the segment, or the
// campaign is gone), else the task is tried again, from the last
// checkpoint.
func (s *segmentSnapshot) writeFailed(err error) error {
	switch {
	case errors.Is(err, jobs.ErrSnapshotTakenOver):
		s.w.log.Info("snapshot taken over by another run; this one stops", "campaign", s.ci.def.ID, "segment", s.seg)
		return nil
	case isGone(err):
		s.w.campaignGone(s.ci)
		return nil
	}
	return &retryLater{delay: time.Second, reason: "snapshot not saved: " + err.Error()}
}

// complete marks the segment's snapshot complete and enqueues the
// campaign's batches.
func (s *segmentSnapshot) complete(ctx context.Context) error {
	w := s.w
	if err := s.run.Complete(ctx); err != nil {
		return s.writeFailed(fmt.Errorf("complete the snapshot of campaign %s segment %d: %w", s.ci.def.ID, s.seg, err))
	}
	s.dirty = false
	w.metrics.snapshotSegments.Inc()
	w.log.Info("snapshot of a campaign segment complete", "campaign", s.ci.def.ID, "segment", s.seg,
		"pages", s.pages, "elapsed", time.Since(s.started).Round(time.Millisecond))
	return w.afterSnapshot(ctx, s.ci)
}
