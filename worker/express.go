package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// The express task of a campaign (jobs/express.go has the design): the
// guard listing, the one bulk call, and verification, each step recorded
// with Store.UpdateExpress before it is acted on, so that a worker that
// dies anywhere leaves a state the next run continues from without ever
// sending the bulk call twice.

// Express knobs.
const (
	// expressBulkTries bounds the bulk call's tries on throttled and
	// retryable answers: it is one request for the whole campaign, and the
	// per-asset fallback is always there.
	expressBulkTries = 3
	// expressVerifyEvery is when the next verification pass runs: one pass
	// per task run, so that no task holds a slot for the whole deadline.
	expressVerifyEvery = 2 * time.Second
	// expressMaxBulkSleep bounds the wait before a bulk call's retry that
	// holds the task (a longer Retry-After fails the express phase: the
	// per-asset calls honour it on their own).
	expressMaxBulkSleep = 30 * time.Second
)

// Results of labelreset_express_bulk_calls_total: one per bulk request.
const (
	bulkResultOK           = "ok"
	bulkResultThrottled    = "throttled"
	bulkResultServerError  = "server_error"
	bulkResultNetwork      = "network"
	bulkResultUnauthorized = "unauthorized"
	bulkResultRejected     = "rejected"
)

// errDropTask stops a listing whose task ends quietly (the campaign is
// gone): ProcessTask answers nil.
var errDropTask = errors.New("task dropped")

// processExpress handles a jobs.TypeExpress task.
func (w *Worker) processExpress(ctx context.Context, t *asynq.Task) error {
	et, err := jobs.DecodeExpressTask(t.Payload())
	if err != nil {
		w.log.Error("discarding an unreadable express task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !w.mine(et.Campaign) {
		return w.skip(et.Campaign, skipOtherCampaign, "")
	}
	// It lists like a snapshot, and holds a task slot while it does.
	select {
	case w.snapshotSlots <- struct{}{}:
		defer func() { <-w.snapshotSlots }()
	default:
		return &retryLater{delay: time.Second, reason: "every listing slot busy"}
	}
	ci, err := w.control.get(ctx, et.Campaign, et.Incarnation)
	if isGone(err) {
		w.log.Warn("discarding the express task of a campaign that no longer exists", "campaign", et.Campaign, "err", err)
		return nil
	}
	if err != nil {
		return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign unreadable: " + err.Error()}
	}
	defer w.control.put(ci)
	if !ci.def.Express {
		// Only EnsureEnqueued makes these, for express campaigns: this
		// one cannot belong to the campaign stored now.
		w.log.Warn("discarding an express task of a campaign that is not express", "campaign", et.Campaign)
		return nil
	}
	if ci.def.Server != "" && w.cfg.Server != "" && ci.def.Server != w.cfg.Server {
		return w.skip(et.Campaign, skipServerMismatch, ci.def.Server)
	}
	e := &expressRun{w: w, ci: ci, c: ci.def}
	err = e.run(ctx)
	if errors.Is(err, errDropTask) {
		return nil
	}
	return err
}

// expressRun is one run of an express task.
type expressRun struct {
	w  *Worker
	ci *campaignInfo
	c  *jobs.Campaign
	// info is the express state as this run last read or wrote it.
	info jobs.ExpressInfo
	// assets are the campaign's assets (loadAssets), sorted by ID.
	assets []expressAsset
}

// expressAsset is one asset of the campaign as express needs it: 16 bytes
// each, so a million-asset campaign costs 16 MB, not a map.
type expressAsset struct {
	id    int64
	batch int32
	flags uint8
}

// Flags of expressAsset.
const (
	// expListed: the snapshot listed the asset (the bulk call is meant
	// for it; an unlisted one ends not_in_inventory).
	expListed uint8 = 1 << iota
	// expSettled: the asset has an outcome other than cancelled (a
	// cancel records every asset, and verification still records what
	// the bulk call did).
	expSettled
	// expBulk: reset without a call (Record.Path "bulk").
	expBulk
	// expSeen: the guard listing listed it.
	expSeen
)

// run drives the express state machine one step (or one verification
// pass) and returns ProcessTask's answer.
func (e *expressRun) run(ctx context.Context) error {
	w := e.w
	info, err := w.store.Express(ctx, e.c)
	switch {
	case isGone(err):
		w.campaignGone(e.ci)
		return nil
	case err != nil:
		return &retryLater{delay: w.cfg.HoldDelay, reason: "express state unreadable: " + err.Error()}
	case info == nil:
		w.log.Warn("discarding an express task of a campaign without an express state", "campaign", e.c.ID)
		return nil
	}
	e.info = *info
	st := e.ci.State()
	if st != jobs.StateRunning {
		st = w.control.fresh(ctx, e.ci)
	}
	switch {
	case st == stateGone:
		return nil
	case st == jobs.StateDone:
		return nil // every asset has an outcome
	case e.info.State.Final():
		return e.afterExpress(ctx, st)
	case st == jobs.StateCancelled && !e.info.State.BulkSent():
		return nil // nothing was sent: the cancel recorded every asset
	case e.info.State == jobs.ExpressWaiting && st != jobs.StateRunning:
		// pending, paused, blocked, stopped: the bulk call waits.
		return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign " + string(st)}
	}
	if err := e.loadAssets(ctx); err != nil {
		return err
	}
	if e.info.State == jobs.ExpressWaiting {
		if err := e.start(ctx); err != nil || e.info.State.Final() || e.info.State == jobs.ExpressWaiting {
			return err
		}
	}
	return e.verify(ctx)
}

// loadAssets reads the campaign's assets with their snapshot and ledger
// records (Store.EachAsset).
func (e *expressRun) loadAssets(ctx context.Context) error {
	w := e.w
	e.assets = make([]expressAsset, 0, e.c.Total)
	err := w.store.EachAsset(ctx, e.c, func(a jobs.AssetState) error {
		x := expressAsset{id: a.Record.AssetID, batch: int32(a.Batch)}
		if a.Listed {
			x.flags |= expListed
		}
		if a.Record.Terminal() && a.Record.Outcome != jobs.OutcomeCancelled {
			x.flags |= expSettled
			if a.Record.Outcome == jobs.OutcomeReset && a.Record.Attempts == 0 {
				x.flags |= expBulk
			}
		}
		e.assets = append(e.assets, x)
		return nil
	})
	switch {
	case isGone(err):
		w.campaignGone(e.ci)
		return errDropTask
	case errors.Is(err, jobs.ErrNoSnapshot):
		// The express task runs once the snapshot is complete: this one
		// came early (or its snapshot was lost). EnsureEnqueued makes
		// the snapshot tasks again.
		if rerr := w.afterSnapshot(ctx, e.ci); rerr != nil {
			return rerr
		}
		return &retryLater{delay: w.cfg.HoldDelay, reason: "snapshot not complete"}
	case err != nil:
		return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign assets unreadable: " + err.Error()}
	}
	slices.SortFunc(e.assets, func(a, b expressAsset) int { return cmpInt64(a.id, b.id) })
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// find returns the campaign asset id, or nil.
func (e *expressRun) find(id int64) *expressAsset {
	i, ok := slices.BinarySearchFunc(e.assets, id, func(a expressAsset, id int64) int { return cmpInt64(a.id, id) })
	if !ok {
		return nil
	}
	return &e.assets[i]
}

// counts returns the assets reset by the bulk call so far and those the
// snapshot listed that have no outcome yet (cancelled ones included).
func (e *expressRun) counts() (verified, open int64) {
	for i := range e.assets {
		a := &e.assets[i]
		if a.flags&expBulk != 0 {
			verified++
		}
		if a.flags&expListed != 0 && a.flags&expSettled == 0 {
			open++
		}
	}
	return verified, open
}

// start runs the guard listing and sends the bulk call (state waiting).
// On return e.info.State says where it got: waiting (handed back, err
// says when), final (the batches are enqueued), or sending/sent
// (verification follows in this run).
func (e *expressRun) start(ctx context.Context) error {
	w, c := e.w, e.c
	q, err := url.ParseQuery(c.Query)
	if err != nil {
		return e.finish(ctx, jobs.ExpressRefused, fmt.Sprintf("the campaign's query does not parse: %v", err))
	}
	f, err := client.ExpressFilters(q)
	if err != nil {
		return e.finish(ctx, jobs.ExpressRefused, fmt.Sprintf("the query cannot be sent as the bulk call's filters: %v", err))
	}
	g := &guardListing{e: e, pagedListing: pagedListing{filter: sortedFilter(jobs.QueryFilter(c.Query))}}
	complete, err := w.listPages(ctx, e.ci, &g.pagedListing, g)
	if !complete {
		return err
	}
	listed := int64(0)
	for i := range e.assets {
		if e.assets[i].flags&expSeen != 0 {
			listed++
		}
	}
	slices.Sort(g.outside)
	outside := int64(len(slices.Compact(g.outside)))
	e.info.Listed, e.info.Outside = listed, outside
	if outside > 0 {
		return e.finish(ctx, jobs.ExpressRefused, fmt.Sprintf(
			"the query lists %d assets that are not the campaign's (they started matching after it was planned): the bulk call would change them too, so every asset is called one by one", outside))
	}
	if listed == 0 {
		return e.finish(ctx, jobs.ExpressVerified, "")
	}
	now := time.Now()
	deadline := c.ExpressDeadline
	if deadline == 0 {
		deadline = jobs.DefaultExpressDeadline
	}
	sending := e.info
	sending.State, sending.Reason = jobs.ExpressSending, ""
	sending.SentAt, sending.Deadline = now, now.Add(deadline)
	sending.AssetCount = -1 // unknown until PDCP answers
	if err := e.update(ctx, jobs.ExpressWaiting, &sending); err != nil {
		return err
	}
	return e.send(ctx, f)
}

// update moves the express state from from to next (UpdateExpress) and
// keeps next as this run's view. Its error is ProcessTask's answer: the
// task is dropped when the campaign is gone, and otherwise tried again
// (a conflict: another run moved the state on, and the next run reads it).
func (e *expressRun) update(ctx context.Context, from jobs.ExpressState, next *jobs.ExpressInfo) error {
	w := e.w
	err := w.store.UpdateExpress(ctx, e.c, from, next)
	switch {
	case err == nil:
		e.info = *next
		return nil
	case isGone(err) || errors.Is(err, jobs.ErrDeleting):
		w.campaignGone(e.ci)
		return errDropTask
	case errors.Is(err, jobs.ErrExpressConflict):
		return &retryLater{delay: time.Second, reason: "express state changed meanwhile"}
	}
	return &retryLater{delay: time.Second, reason: "express state not recorded: " + err.Error()}
}

// send makes the bulk call (state sending), with at most expressBulkTries
// tries on throttled and retryable answers, and records its result.
func (e *expressRun) send(ctx context.Context, f client.BulkFilter) error {
	w, ci, c := e.w, e.ci, e.c
	retry := backoff.New(backoff.Policy{Base: c.Policy.BackoffBase, Cap: c.Policy.BackoffCap, Jitter: true})
	for try := 1; ; try++ {
		if err := w.limiter.Wait(ctx, c.TeamID); err != nil {
			// Shutting down before the request left: nothing was sent on
			// this try. The state stays sending, as an earlier try may
			// have reached PDCP: the next run verifies.
			return &retryLater{delay: time.Second, reason: "shutting down"}
		}
		callCtx, cancel := w.bulkContext()
		w.metrics.inflight.Inc()
		res := ci.caller.BulkUpdateLabels(callCtx, f, client.UpdateDelete, c.Labels)
		w.metrics.inflight.Dec()
		w.metrics.request(&res.Result)
		stopped := callCtx.Err() != nil
		cancel()
		if stopped {
			// Cancelled by the shutdown (bulkContext): its effect is
			// unknown, so the state stays sending and the next run
			// verifies.
			return &retryLater{delay: time.Second, reason: "shutting down"}
		}
		switch res.Outcome {
		case client.OutcomeReset:
			w.metrics.bulkCall(bulkResultOK)
			sent := e.info
			sent.State = jobs.ExpressSent
			sent.AssetCount, sent.Async = res.AssetCount, res.Async
			sent.Difference = res.AssetCount - sent.Listed
			w.log.Info("express: bulk call sent", "campaign", c.ID, "listed", sent.Listed,
				"asset_count", res.AssetCount, "async", res.Async, "difference", sent.Difference)
			return e.update(ctx, jobs.ExpressSending, &sent)
		case client.OutcomeUnauthorized:
			// The key is refused, so nothing changed: the campaign is
			// blocked as for a per-asset 401, and resume sends it again.
			w.metrics.bulkCall(bulkResultUnauthorized)
			w.block(ci, &res.Result)
			back := e.info
			back.State, back.SentAt, back.Deadline, back.AssetCount = jobs.ExpressWaiting, time.Time{}, time.Time{}, 0
			if err := e.update(ctx, jobs.ExpressSending, &back); err != nil {
				return err
			}
			return &retryLater{delay: w.cfg.HoldDelay, reason: "campaign blocked"}
		case client.OutcomeThrottled, client.OutcomeRetryable:
		default:
			w.metrics.bulkCall(bulkResultRejected)
			return e.finish(ctx, jobs.ExpressFailed, "PDCP refused the bulk call: "+res.Error())
		}
		delay := retry.Next()
		if res.Outcome == client.OutcomeThrottled {
			w.metrics.bulkCall(bulkResultThrottled)
			w.metrics.throttled.Inc()
			if res.RetryAfter > 0 {
				delay = res.RetryAfter
				w.pauseAll(ctx, ci, res.RetryAfter)
			}
			if res.Status == http.StatusTooManyRequests {
				w.limiter.Throttled(ctx)
			}
		} else if res.Status == 0 {
			w.metrics.bulkCall(bulkResultNetwork)
			w.noteNetworkError(ci, res.Error())
		} else {
			w.metrics.bulkCall(bulkResultServerError)
		}
		if try >= expressBulkTries || delay > expressMaxBulkSleep {
			return e.finish(ctx, jobs.ExpressFailed, fmt.Sprintf("the bulk call failed %d times: %s", try, res.Error()))
		}
		w.log.Warn("express: bulk call failed; trying again", "campaign", c.ID, "try", try, "err", res.Error(), "retry_in", delay)
		if backoff.Sleep(ctx, delay) != nil {
			return &retryLater{delay: time.Second, reason: "shutting down"}
		}
	}
}

// bulkContext is the context of a bulk call: a call in flight when the
// shutdown starts may finish for half the shutdown timeout (its answer is
// worth recording), then it is cancelled, so that the task is handed back
// before asynq gives up on it: an abandoned task would wait for its lease
// to expire before another worker verifies.
func (w *Worker) bulkContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(w.callCtx)
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(w.stopCtx, func() { timer.Store(time.AfterFunc(w.cfg.ShutdownTimeout/2, cancel)) })
	return ctx, func() {
		if !stop() {
			if t := timer.Load(); t != nil {
				t.Stop()
			}
		}
		cancel()
	}
}

// verify runs one verification pass (state sending or sent), then ends
// verification when every asset the snapshot listed has an outcome or
// the deadline has passed, else hands the task back for the next pass.
func (e *expressRun) verify(ctx context.Context) error {
	w, c := e.w, e.c
	if time.Now().Before(e.info.Deadline) {
		v := &verifyListing{e: e, removed: c.Labels,
			pagedListing: pagedListing{filter: sortedFilter(jobs.QueryFilter(verifyQuery(c.Query, c.Labels)))}}
		complete, err := w.listPages(ctx, e.ci, &v.pagedListing, v)
		if !complete {
			return err
		}
	}
	if _, open := e.counts(); open > 0 && time.Now().Before(e.info.Deadline) {
		return &retryLater{delay: expressVerifyEvery, reason: "verifying the bulk call"}
	}
	return e.finish(ctx, jobs.ExpressVerified, "")
}

// verifyQuery is the query verification lists: without its labels key
// when that names a removed label, so that the assets the bulk call
// cleaned are still listed (and seen clean); as it is otherwise.
func verifyQuery(query string, removed []string) string {
	q, err := url.ParseQuery(query)
	if err != nil || !q.Has("labels") {
		return query
	}
	for _, v := range q["labels"] {
		for _, l := range strings.Split(v, ",") {
			if slices.Contains(removed, strings.TrimSpace(l)) {
				q.Del("labels")
				return q.Encode()
			}
		}
	}
	return query
}

// finish records the final express state to (reason for refused and
// failed) with the counts, and enqueues the batches, which call the
// assets left one by one.
func (e *expressRun) finish(ctx context.Context, to jobs.ExpressState, reason string) error {
	w := e.w
	from := e.info.State
	end := e.info
	end.State, end.Reason, end.FinishedAt = to, reason, time.Now()
	end.Verified, end.Fallback = e.counts()
	if err := e.update(ctx, from, &end); err != nil {
		return err
	}
	w.metrics.expressFallback.Add(float64(end.Fallback))
	if to == jobs.ExpressVerified {
		w.log.Info("express: verification ended", "campaign", e.c.ID, "verified", end.Verified, "fallback", end.Fallback)
	} else {
		w.log.Warn("express: the bulk call was not made; every asset is called one by one", "campaign", e.c.ID,
			"state", to, "reason", reason)
	}
	return e.afterExpress(ctx, w.control.fresh(ctx, e.ci))
}

// afterExpress enqueues the batches of a campaign whose express phase is
// over; a cancelled campaign gets none (its cancel recorded every asset,
// and no per-asset call may follow it).
func (e *expressRun) afterExpress(ctx context.Context, st jobs.State) error {
	if st == jobs.StateCancelled || st == stateGone {
		return nil
	}
	return e.w.afterSnapshot(ctx, e.ci)
}

// guardListing lists the campaign's query before the bulk call: every
// asset it lists is one the bulk call would change.
type guardListing struct {
	e *expressRun
	pagedListing
	// outside are the listed IDs that are not the campaign's (repeats of
	// overlapping pages included).
	outside []int64
}

func (g *guardListing) held(ctx context.Context) (bool, error) {
	switch st := g.e.ci.State(); st {
	case jobs.StateRunning:
		return false, nil
	case stateGone:
		return true, nil
	default:
		return true, &retryLater{delay: g.e.w.cfg.HoldDelay, reason: "campaign " + string(st)}
	}
}

func (g *guardListing) page(_ context.Context, page []client.Asset) error {
	for _, a := range page {
		if x := g.e.find(a.ID); x != nil {
			x.flags |= expSeen
		} else {
			g.outside = append(g.outside, a.ID)
		}
	}
	return nil
}

func (g *guardListing) failed(context.Context, string) {}
func (g *guardListing) recovered(context.Context)      {}

// rejected blocks the campaign, as a snapshot that cannot list does: the
// same listing worked for the snapshot moments ago.
func (g *guardListing) rejected(ctx context.Context, why string) error {
	w, ci := g.e.w, g.e.ci
	reason := fmt.Sprintf("express: %s; fix it, then run: labelreset resume %s", why, ci.def.ID)
	w.log.Error("express campaign cannot list its query", "campaign", ci.def.ID, "reason", why)
	blocked := w.blockWith(ci, reason, "campaign blocked: its express listing cannot list the inventory", "reason", why)
	return w.refusedDelay(ctx, ci, blocked, "listing refused")
}

func (g *guardListing) handBack(_ context.Context, rl *retryLater) error { return rl }

// verifyListing is one verification pass: the assets it lists without
// the removed labels are recorded reset, page by page.
type verifyListing struct {
	e       *expressRun
	removed []string
	pagedListing
}

// held stops verification only when the campaign is gone or blocked (its
// key is refused): listing changes nothing, so it goes on while the
// campaign is paused or cancelled, and the deadline keeps running.
func (v *verifyListing) held(ctx context.Context) (bool, error) {
	switch st := v.e.ci.State(); st {
	case stateGone:
		return true, nil
	case jobs.StateBlocked:
		return true, &retryLater{delay: v.e.w.cfg.HoldDelay, reason: "campaign blocked"}
	}
	return false, nil
}

// page records reset, with no call, every asset of the page that the
// snapshot listed, has no outcome yet and holds none of the removed
// labels. Absence from a page proves nothing, so nothing else is.
func (v *verifyListing) page(ctx context.Context, page []client.Asset) error {
	e := v.e
	w, c := e.w, e.c
	now := time.Now()
	var batches []jobs.BatchRecords
	var marked []*expressAsset
	for _, a := range page {
		x := e.find(a.ID)
		if x == nil || x.flags&expListed == 0 || x.flags&expSettled != 0 || holdsAny(a.Labels, v.removed) {
			continue
		}
		r := jobs.Record{AssetID: a.ID, Outcome: jobs.OutcomeReset, Status: http.StatusOK, FinishedAt: now}
		i := slices.IndexFunc(batches, func(b jobs.BatchRecords) bool { return b.Batch == int(x.batch) })
		if i < 0 {
			batches = append(batches, jobs.BatchRecords{Batch: int(x.batch)})
			i = len(batches) - 1
		}
		batches[i].Records = append(batches[i].Records, r)
		marked = append(marked, x)
	}
	if len(marked) == 0 {
		return nil
	}
	ch, err := w.ledger.RecordIncarnation(ctx, c.ID, c.LedgerIdentity(), batches, now)
	switch {
	case isGone(err):
		w.campaignGone(e.ci)
		return errDropTask
	case err != nil:
		return &retryLater{delay: time.Second, reason: "verified assets not recorded: " + err.Error()}
	}
	for _, x := range marked {
		x.flags |= expSettled | expBulk
		w.metrics.outcome(jobs.OutcomeReset)
	}
	w.metrics.expressVerified.Add(float64(len(marked)))
	if ch != jobs.ChangeNone {
		w.onChange(c.ID, c.LedgerIdentity(), ch)
	}
	return nil
}

// holdsAny reports whether labels holds one of removed.
func holdsAny(labels, removed []string) bool {
	return slices.ContainsFunc(labels, func(l string) bool { return slices.Contains(removed, l) })
}

func (v *verifyListing) failed(context.Context, string) {}
func (v *verifyListing) recovered(context.Context)      {}

// rejected ends verification: the assets not seen clean yet are called
// one by one, which needs no listing.
func (v *verifyListing) rejected(ctx context.Context, why string) error {
	v.e.w.log.Error("express: verification cannot list the query; the rest is called one by one", "campaign", v.e.c.ID, "reason", why)
	return v.e.finish(ctx, jobs.ExpressVerified, "")
}

func (v *verifyListing) handBack(_ context.Context, rl *retryLater) error { return rl }
