package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// Caller is the part of the PDCP client the worker uses: the label calls
// of the three campaign modes and the listing a snapshot pages through.
type Caller interface {
	DeleteLabels(ctx context.Context, assetID int64) client.Result
	RemoveLabels(ctx context.Context, assetID int64, labels []string) client.Result
	// AddLabels and ReplaceLabels put labels back (restore campaigns).
	AddLabels(ctx context.Context, assetID int64, labels []string) client.Result
	ReplaceLabels(ctx context.Context, assetID int64, labels []string) client.Result
	// ListPage reads one page of the inventory, without retries: the
	// snapshot retries, rate-limits and checkpoints page by page itself.
	ListPage(ctx context.Context, f client.AssetFilter, offset, limit int) ([]client.Asset, error)
	// BulkUpdateLabels is an express campaign's one bulk call, without
	// retries (express.go bounds them).
	BulkUpdateLabels(ctx context.Context, f client.BulkFilter, ut client.UpdateType, labels []string) client.BulkResult
}

var _ Caller = (*client.Client)(nil)

// Limiter is the shared rate limit (see package ratelimit).
type Limiter interface {
	Wait(ctx context.Context, team string) error
	PauseUntil(ctx context.Context, t time.Time) error
	Throttled(ctx context.Context)
}

type noLimit struct{}

func (noLimit) Wait(context.Context, string) error          { return nil }
func (noLimit) PauseUntil(context.Context, time.Time) error { return nil }
func (noLimit) Throttled(context.Context)                   {}

// retryLater asks asynq to run the batch again after delay without
// counting a failure: the batch is healthy, its campaign is only waiting
// (paused, blocked, backing off, or the worker is shutting down).
type retryLater struct {
	delay  time.Duration
	reason string
}

func (e *retryLater) Error() string {
	return fmt.Sprintf("batch handed back (%s), next run in %v", e.reason, e.delay.Round(time.Millisecond))
}

func isGone(err error) bool {
	return errors.Is(err, jobs.ErrCampaignGone) || errors.Is(err, jobs.ErrNotFound)
}

// asset is the in-memory state of one asset of a running batch.
type asset struct {
	id       int64
	attempts int // every call made, as reported
	// The retry budget used since the asset was last (re-)driven: calls
	// that failed retryably, and throttled answers (jobs.Policy).
	failures, throttles int
	status              int
	lastErr             string
	// errorID is PDCP's error_id of the last answer, if it had one.
	errorID string
	// labels are what a restore campaign puts back on the asset.
	labels []string
}

// record is a's ledger record with outcome o.
func (a *asset) record(o string) jobs.Record {
	return jobs.Record{AssetID: a.id, Outcome: o, Status: a.status, Attempts: a.attempts,
		Failures: a.failures, Throttles: a.throttles, Error: a.lastErr, ErrorID: a.errorID}
}

// batchRun collects the assets of a batch that must be handed back.
type batchRun struct {
	seq uint64 // start order in this process: older batches get slots first
	// inc is the campaign creation its outcomes are recorded for
	// (jobs.Campaign.LedgerIdentity).
	inc string
	// acks holds the batch's records until they are durable.
	acks     acks
	mu       sync.Mutex
	deferred []jobs.Record
	delay    time.Duration
	reason   string
}

func (b *batchRun) handBack(a *asset, delay time.Duration, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deferred = append(b.deferred, a.record("retrying"))
	if len(b.deferred) == 1 || delay < b.delay {
		b.delay, b.reason = delay, reason
	}
}

// ProcessTask handles one task: the snapshot of a campaign's segment
// (jobs.TypeSnapshot), the bulk call and verification of an express
// campaign (jobs.TypeExpress) or a batch of assets (every other type, as
// tasks of earlier versions carry).
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	// asynq cancels ctx only at the shutdown timeout; waiting (not
	// calling) ends as soon as the shutdown starts.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.stopCtx, cancel)()
	switch t.Type() {
	case jobs.TypeSnapshot:
		return w.processSnapshot(ctx, t)
	case jobs.TypeExpress:
		return w.processExpress(ctx, t)
	}
	return w.processBatch(ctx, t)
}

// processBatch handles one batch task.
func (w *Worker) processBatch(ctx context.Context, t *asynq.Task) error {
	b, err := jobs.DecodeBatch(t.Payload())
	if err != nil {
		w.metrics.batches.WithLabelValues("failed").Inc()
		w.log.Error("discarding an unreadable batch task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !w.mine(b.Campaign) {
		return w.skip(b.Campaign, skipOtherCampaign, "")
	}
	ci, err := w.control.get(ctx, b.Campaign, b.Incarnation)
	if isGone(err) {
		w.log.Warn("discarding a batch of a campaign that no longer exists", "campaign", b.Campaign, "batch", b.Batch, "err", err)
		return nil
	}
	if err != nil {
		return w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "campaign unreadable: " + err.Error()})
	}
	defer w.control.put(ci)
	if ok, err := w.gate(ctx, b, ci); !ok {
		return err
	}
	snap, err := w.batchLabels(ctx, ci, b)
	if snap == nil && err != nil {
		return err
	}
	recs, err := w.ledger.LoadForRun(ctx, b.Campaign, b.Batch, b.IDs)
	if err != nil {
		return w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "ledger unreadable"})
	}
	run := &batchRun{seq: w.batchSeq.Add(1), inc: ci.def.LedgerIdentity()}
	var todo []*asset
	for _, r := range recs {
		if r.Terminal() {
			continue
		}
		a := &asset{id: r.AssetID, attempts: r.Attempts, failures: r.Failures,
			throttles: r.Throttles, status: r.Status, lastErr: r.Error}
		if o := snap.withoutCall(ci.def, a); o != "" {
			w.recordWithoutCall(b, run, a, o)
			continue
		}
		todo = append(todo, a)
	}
	w.runAssets(ctx, ci, b, run, todo)
	return w.finishBatch(b, run)
}

// gate decides whether a batch of campaign ci runs now. When it does not,
// err is ProcessTask's answer: nil to drop the task, a retryLater to hold
// it, or the skip of another API server's campaign.
func (w *Worker) gate(ctx context.Context, b *jobs.Batch, ci *campaignInfo) (run bool, err error) {
	if b.Incarnation == "" {
		// A task of an earlier version names no incarnation: it may be a
		// leftover of a deleted campaign whose ID was used again, and
		// must not call its assets under the new campaign.
		ok, err := w.store.LegacyBatchBelongs(ctx, ci.def, b)
		switch {
		case isGone(err):
			// ci is an earlier creation: its batches stop, and this task
			// is checked again against the campaign stored now.
			w.campaignGone(ci)
			return false, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "campaign created again: " + err.Error()})
		case err != nil:
			return false, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "campaign unreadable: " + err.Error()})
		case !ok:
			w.log.Warn("discarding a batch of a campaign that no longer exists", "campaign", b.Campaign, "batch", b.Batch,
				"err", "the campaign stored under its ID now does not hold the batch's IDs (deleted, then created again)")
			return false, nil
		}
	}
	if ci.def.Server != "" && w.cfg.Server != "" && ci.def.Server != w.cfg.Server {
		// Checked before any state: not even a cancel is recorded here.
		return false, w.skip(b.Campaign, skipServerMismatch, ci.def.Server)
	}
	st := ci.State()
	if st != jobs.StateRunning {
		st = w.control.fresh(ctx, ci)
	}
	switch {
	case st == stateGone:
		return false, nil // said once by campaignGone
	case st == jobs.StateCancelled:
		return false, w.cancelBatch(ctx, b, ci.def.LedgerIdentity())
	case st == jobs.StateDone:
		// Every asset has an outcome; this can only be a leftover copy.
		w.metrics.batches.WithLabelValues("done").Inc()
		return false, nil
	case st.Holding():
		return false, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "campaign " + string(st)})
	}
	if wait := time.Until(ci.def.NotBefore); wait > 0 {
		// A restore whose source may still have calls in flight: one that
		// lands after the restore's would delete the labels put back.
		// Looked at again every HoldDelay at most, so that a pause or
		// cancel meanwhile is seen as for any held batch.
		return false, w.requeue(&retryLater{delay: min(wait, w.cfg.HoldDelay), reason: restoreWaitReason})
	}
	return true, nil
}

// restoreWaitReason is why a restore campaign's batch is held until its
// NotBefore.
const restoreWaitReason = "waiting for the undone campaign's calls to end"

// runAssets runs the assets of a batch and returns once each has an
// outcome on its way to the ledger or is handed back. The batch claims a
// call slot for each asset and takes one before it starts an asset's
// goroutine: only assets that may call now have one, instead of every
// asset of every batch in hand parking on the slots. No slot is held when
// it returns: none is needed while the outcomes are written.
func (w *Worker) runAssets(ctx context.Context, ci *campaignInfo, b *jobs.Batch, run *batchRun, todo []*asset) {
	claim := w.slots.claim(run.seq, len(todo))
	defer claim.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, a := range todo {
		if !claim.take(ctx) {
			claim.close()
			for _, a := range todo[i:] {
				run.handBack(a, time.Second, "shutting down")
			}
			return
		}
		wg.Add(1)
		w.callers.Go(func() {
			defer wg.Done()
			w.runAsset(ctx, ci, b, a, run, true)
		})
	}
}

// finishBatch ends a batch run once every outcome it sent is durable (so
// that asynq deletes the task only then): done, or its unfinished assets
// go back to the queue with the attempts made so far.
func (w *Worker) finishBatch(b *jobs.Batch, run *batchRun) error {
	// Keep the attempts made so far, so a re-run continues counting.
	for _, r := range run.deferred {
		run.acks.add()
		w.writer.send(record{campaign: b.Campaign, inc: run.inc, batch: b.Batch, rec: r, acks: &run.acks})
	}
	w.writer.hurry()
	if !run.acks.wait() {
		return w.requeue(&retryLater{delay: time.Second, reason: "outcomes not recorded"})
	}
	if len(run.deferred) == 0 {
		w.metrics.batches.WithLabelValues("done").Inc()
		return nil
	}
	return w.requeue(&retryLater{delay: run.delay, reason: run.reason})
}

func (w *Worker) requeue(e *retryLater) error {
	w.metrics.batches.WithLabelValues("requeued").Inc()
	return e
}

// cancelBatch records "cancelled" for every asset of the batch that has no
// outcome yet (the ledger keeps the ones that have), and returns once that
// is durable.
func (w *Worker) cancelBatch(ctx context.Context, b *jobs.Batch, inc string) error {
	now := time.Now()
	var a acks
	for _, id := range b.IDs {
		a.add()
		w.writer.send(record{campaign: b.Campaign, inc: inc, batch: b.Batch, acks: &a,
			rec: jobs.Record{AssetID: id, Outcome: jobs.OutcomeCancelled, FinishedAt: now, Error: "campaign cancelled"}})
	}
	w.writer.hurry()
	if !a.wait() {
		return w.requeue(&retryLater{delay: time.Second, reason: "outcomes not recorded"})
	}
	w.metrics.batches.WithLabelValues("done").Inc()
	return nil
}

// runAsset drives one asset to a terminal outcome, or hands it back.
// haveSlot says the caller already holds a call slot for the first attempt.
func (w *Worker) runAsset(ctx context.Context, ci *campaignInfo, b *jobs.Batch, a *asset, run *batchRun, haveSlot bool) {
	for {
		// A slot bounds the calls in flight (finish bounds the outcomes
		// not yet durable).
		if !haveSlot && !w.slots.acquire(ctx, run.seq) {
			run.handBack(a, time.Second, "shutting down")
			return
		}
		haveSlot = false
		release := w.slots.release
		if !w.admit(ctx, ci, b, a, run) {
			release()
			return
		}
		res := w.call(ci, a)
		switch res.Outcome {
		case client.OutcomeReset, client.OutcomeNotFound, client.OutcomeInvalid, client.OutcomePermanent:
			w.finish(b, a, run, terminalOutcome(ci.def.Mode, res.Outcome), release)
			return
		case client.OutcomeUnauthorized:
			a.attempts-- // the key is wrong, not the asset: this call does not count
			// Block before the slot is free: a call started in between
			// would still see the campaign running.
			w.block(ci, &res)
			release()
			run.handBack(a, w.cfg.HoldDelay, "campaign blocked")
			return
		}
		// Throttled or retryable.
		if w.callCtx.Err() != nil {
			release()
			a.attempts--
			run.handBack(a, time.Second, "shutting down")
			return
		}
		delay, reason, spent := w.nextRetry(ctx, ci, a, &res)
		if spent {
			w.finish(b, a, run, jobs.OutcomeFailed, release)
			return
		}
		release()
		w.metrics.retries.WithLabelValues(reason).Inc()
		if !w.waitRetry(ctx, a, run, delay) {
			return
		}
	}
}

// admit reports whether a's call may start now: the campaign state allows
// it, before and after the wait for the shared rate limit. If not, the
// asset is handed back or recorded (see mayCall).
func (w *Worker) admit(ctx context.Context, ci *campaignInfo, b *jobs.Batch, a *asset, run *batchRun) bool {
	if !w.mayCall(ci, b, a, run) {
		return false
	}
	if err := w.limiter.Wait(ctx, ci.def.TeamID); err != nil {
		run.handBack(a, time.Second, "shutting down")
		return false
	}
	// The limiter may have waited: look at the state once more.
	return w.mayCall(ci, b, a, run)
}

// call makes one PDCP call for a and notes its answer on a.
func (w *Worker) call(ci *campaignInfo, a *asset) client.Result {
	w.metrics.inflight.Inc()
	var res client.Result
	switch ci.def.Mode {
	case jobs.ModeRemove:
		res = ci.caller.RemoveLabels(w.callContext(a.id), a.id, ci.def.Labels)
	case jobs.ModeRestore:
		if ci.def.Exact {
			res = ci.caller.ReplaceLabels(w.callContext(a.id), a.id, a.labels)
		} else {
			res = ci.caller.AddLabels(w.callContext(a.id), a.id, a.labels)
		}
	default:
		res = ci.caller.DeleteLabels(w.callContext(a.id), a.id)
	}
	w.metrics.inflight.Dec()
	w.metrics.request(&res)
	a.attempts++
	a.status = res.Status
	a.lastErr = res.Error()
	a.errorID = ""
	if res.API != nil {
		a.errorID = res.API.ErrorID
	}
	return res
}

// nextRetry counts a throttled or retryable answer against its budget
// (jobs.Policy: throttling has its own) and returns the delay before the
// next attempt, the reason for the retries metric, and whether the budget
// is spent. It tells the limiter of a throttled answer while the caller
// still holds its slot, and also on an asset's last attempt: PDCP's
// pushback is about every call, not this asset.
func (w *Worker) nextRetry(ctx context.Context, ci *campaignInfo, a *asset, res *client.Result) (delay time.Duration, reason string, spent bool) {
	policy := ci.def.Policy
	if res.Outcome != client.OutcomeThrottled {
		a.failures++
		reason = "server_error"
		if res.Status == 0 {
			reason = "network"
			w.noteNetworkError(ci, a.lastErr)
		}
		if spent = a.failures >= policy.MaxAttempts; spent {
			// The cause first, then why the worker gave up (gaveUp).
			a.lastErr = gaveUp(a.lastErr, fmt.Sprintf("gave up after %d attempts", a.attempts))
		}
		return assetBackoff(policy, a.failures), reason, spent
	}
	w.metrics.throttled.Inc()
	a.throttles++
	delay = assetBackoff(policy, a.throttles)
	if res.RetryAfter > 0 {
		delay = res.RetryAfter
		w.pauseAll(ctx, ci, res.RetryAfter)
	}
	if res.Status == http.StatusTooManyRequests {
		// With or without Retry-After: a server that pauses us on every
		// 429 would otherwise see the same rate after each pause, and
		// throttle again at once.
		w.limiter.Throttled(ctx)
	}
	if spent = a.throttles >= policy.ThrottleBudget(); spent {
		a.lastErr = gaveUp(a.lastErr, fmt.Sprintf("gave up after %d throttled answers", a.throttles))
	}
	return delay, "throttled", spent
}

// waitRetry waits out a short delay holding the batch, and reports whether
// to call again now. A delay longer than HandBackAfter, or a stop while it
// waits, hands the asset back instead.
func (w *Worker) waitRetry(ctx context.Context, a *asset, run *batchRun, delay time.Duration) bool {
	if delay > w.cfg.HandBackAfter {
		run.handBack(a, delay, "backing off")
		return false
	}
	if err := backoff.Sleep(ctx, delay); err != nil {
		run.handBack(a, time.Second, "shutting down")
		return false
	}
	return true
}

// noteNetworkError counts a call that got no answer and warns, at most
// once per netErrorWindow, when they repeat: with the cause, so that an
// unreachable API server is named while the campaign runs, not only in the
// report after every asset's retries.
func (w *Worker) noteNetworkError(ci *campaignInfo, msg string) {
	if n, d, warn := w.netErrs.note(); warn {
		w.log.Warn(fmt.Sprintf("%d network errors in the last %v: %s", n, d, msg), "campaign", ci.def.ID)
	}
}

// gaveUp is err followed by why the asset failed: the server's text is
// what gets cut, never the reason, so that both fit the error a report
// keeps (jobs.MaxErrorBytes).
func gaveUp(err, why string) string {
	why = " (" + why + ")"
	return jobs.ClipError(err, jobs.MaxErrorBytes-len(why)) + why
}

// longPause is the Retry-After from which a pause is logged.
const longPause = 30 * time.Second

// pauseAll pauses every worker until d from now (a Retry-After). A long
// pause is logged once: the campaign shows running with nothing moving,
// and otherwise only the paused gauge would say why. (client caps
// Retry-After at client.MaxRetryAfter.)
func (w *Worker) pauseAll(ctx context.Context, ci *campaignInfo, d time.Duration) {
	until := time.Now().Add(d)
	_ = w.limiter.PauseUntil(ctx, until)
	if d < longPause {
		return
	}
	last := w.loggedPause.Load()
	if until.UnixNano() < last+int64(longPause) || !w.loggedPause.CompareAndSwap(last, until.UnixNano()) {
		return // this pause (or one ending about then) is logged already
	}
	w.log.Warn("PDCP asked for a pause (Retry-After): no worker calls it until then",
		"campaign", ci.def.ID, "pause", d.Round(time.Second), "until", until.UTC().Format(time.RFC3339))
}

// mayCall reports whether a call may start now; if not, it hands the asset
// back (or records it cancelled) according to the campaign state.
func (w *Worker) mayCall(ci *campaignInfo, b *jobs.Batch, a *asset, run *batchRun) bool {
	if w.stopping.Load() {
		run.handBack(a, time.Second, "shutting down")
		return false
	}
	switch st := ci.State(); st {
	case jobs.StateRunning:
		return true
	case stateGone:
		return false // nothing can be recorded: drop the asset
	case jobs.StateCancelled:
		r := a.record(jobs.OutcomeCancelled)
		r.Error, r.FinishedAt = "campaign cancelled", time.Now()
		run.acks.add()
		w.writer.send(record{campaign: b.Campaign, inc: run.inc, batch: b.Batch, rec: r, acks: &run.acks})
		return false
	default:
		run.handBack(a, w.cfg.HoldDelay, "campaign "+string(st))
		return false
	}
}

// finish sends a terminal outcome to the ledger and frees the call slot.
// It first takes a pending token, returned once the outcome is durable:
// when the ledger cannot keep up (Redis slow or down) the tokens run out
// and callers wait here holding their slots, so no new calls start. The
// call slot is free at once (the group commit goes on without it); the
// batch's handler waits for the outcome (run.acks) before it returns.
func (w *Worker) finish(b *jobs.Batch, a *asset, run *batchRun, outcome string, release func()) {
	r := a.record(outcome)
	if outcome == jobs.OutcomeReset || outcome == jobs.OutcomeRestored {
		r.Error = ""
	}
	r.FinishedAt = time.Now()
	w.pending <- struct{}{}
	release()
	run.acks.add()
	w.writer.send(record{campaign: b.Campaign, inc: run.inc, batch: b.Batch, done: w.pendingDone, rec: r, acks: &run.acks})
}

// terminalOutcome is the ledger outcome of a terminal answer to a call of
// a campaign of mode m.
func terminalOutcome(m jobs.Mode, o client.Outcome) string {
	switch o {
	case client.OutcomeReset:
		if m == jobs.ModeRestore {
			return jobs.OutcomeRestored
		}
		return jobs.OutcomeReset
	case client.OutcomeNotFound:
		return jobs.OutcomeNotFound
	case client.OutcomeInvalid:
		return jobs.OutcomeInvalid
	}
	return jobs.OutcomeFailed
}

// block stops every call of the campaign in this process at once and
// marks it blocked in Redis, so other processes stop within one poll. A
// poll that read "running" before the block is written does not undo it
// (campaignInfo.setPolled), so at most the calls already in flight (the
// concurrency) are answered 401. It logs one error per process and block;
// no asset is marked failed. See blockWith for the result.
func (w *Worker) block(ci *campaignInfo, res *client.Result) bool {
	code := ""
	if res.API != nil && res.API.Code != "" {
		code = " " + res.API.Code
	}
	reason := fmt.Sprintf("PDCP answered HTTP %d%s: the API key or team ID is not accepted; "+
		"fix PDCP_API_KEY / PDCP_TEAM_ID, then run: labelreset resume %s", res.Status, code, ci.def.ID)
	return w.blockWith(ci, reason, "campaign blocked: PDCP refused the credentials; no further calls until it is resumed",
		"status", res.Status)
}

// blockWith blocks the campaign with reason (see block), logging msg with
// args when this call blocked it. It returns false only when the campaign
// could not be blocked in Redis: it is not running (a pending or paused
// campaign's snapshot meets a refusal too), or Redis failed.
func (w *Worker) blockWith(ci *campaignInfo, reason, msg string, args ...any) bool {
	record, done := ci.block()
	if !record {
		return true // another call of this process is recording it
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	changed, err := w.store.Block(ctx, ci.def.ID, ci.def.Incarnation, reason)
	switch {
	case err != nil:
		w.log.Error("campaign blocked; could not record it", append([]any{"campaign", ci.def.ID, "reason", reason, "err", err}, args...)...)
		return false
	case changed:
		w.log.Error(msg, append([]any{"campaign", ci.def.ID, "resume", "labelreset resume " + ci.def.ID}, args...)...)
	}
	return changed
}
