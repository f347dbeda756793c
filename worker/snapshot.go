package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
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
	s := &segmentSnapshot{w: w, ci: ci, seg: st.Segment, run: run, started: time.Now(),
		pagedListing: pagedListing{filter: sortedFilter(run.Filter()), offset: run.Offset()}}
	return s.list(ctx)
}

// snapshotHeld reports whether the snapshot of campaign ci stops here, and
// then ProcessTask's answer. Listing is read-only, so a pending, paused or
// stopped campaign snapshots (a pending one while it waits for approval,
// whose approver then sees what it holds); a blocked one waits, as its
// key is refused; a cancelled, finished or deleted one needs none (the
// cancel records its assets itself). An express campaign snapshots only
// while it runs: its snapshot is the record of what the bulk call
// changes, so it is taken right before that call, not while the campaign
// waits for approval or is paused (issue 19). fresh re-reads a cached
// state other than running from Redis first.
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
	if ci.def.Express && st.Holding() {
		return true, &retryLater{delay: w.cfg.HoldDelay, reason: "express campaign " + string(st) + ": its snapshot waits until it runs"}
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

// segmentSnapshot is one run of the snapshot of one segment: the sink of
// its listing (listPages).
type segmentSnapshot struct {
	w   *Worker
	ci  *campaignInfo
	seg int
	run *jobs.SnapshotRun
	pagedListing
	// saved is when the last checkpoint was written; dirty says whether
	// pages were read since.
	saved   time.Time
	dirty   bool
	started time.Time
}

// list pages through the inventory until an empty page, a stop or a
// failure; its result is ProcessTask's answer.
func (s *segmentSnapshot) list(ctx context.Context) error {
	s.saved = time.Now()
	complete, err := s.w.listPages(ctx, s.ci, &s.pagedListing, s)
	if !complete {
		return err
	}
	s.w.metrics.snapshotPages.Inc() // the empty page that ended it
	return s.complete(ctx)
}

// held stops the listing of a campaign that must not snapshot now.
func (s *segmentSnapshot) held(ctx context.Context) (bool, error) {
	stop, err := s.w.snapshotHeld(ctx, s.ci, false)
	if !stop {
		return false, nil
	}
	if err == nil {
		return true, nil // cancelled, finished or deleted: nothing to keep
	}
	return true, s.handBack(ctx, err.(*retryLater))
}

// page keeps the labels of the page's assets of the segment, and
// checkpoints every SnapshotCheckpointEvery.
func (s *segmentSnapshot) page(ctx context.Context, page []client.Asset) error {
	w := s.w
	w.metrics.snapshotPages.Inc()
	w.metrics.snapshotListed.Add(float64(len(page)))
	w.metrics.snapshotFound.Add(float64(s.run.Add(page)))
	s.dirty = true
	if time.Since(s.saved) >= w.cfg.SnapshotCheckpointEvery {
		if err := s.checkpoint(ctx); err != nil {
			return s.writeFailed(err)
		}
	}
	return nil
}

// failed records a listing failure for status and the API.
func (s *segmentSnapshot) failed(ctx context.Context, msg string) {
	if err := s.run.ListingFailed(ctx, msg); err != nil {
		s.w.log.Warn("snapshot: listing failure not recorded", "campaign", s.ci.def.ID, "segment", s.seg, "err", err)
	}
}

// recovered clears a recorded listing failure.
func (s *segmentSnapshot) recovered(ctx context.Context) {
	if err := s.run.ListingRecovered(ctx); err != nil {
		s.w.log.Warn("snapshot: listing failure not cleared", "campaign", s.ci.def.ID, "segment", s.seg, "err", err)
	}
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
	return s.handBack(ctx, w.refusedDelay(ctx, ci, blocked, "listing refused"))
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
