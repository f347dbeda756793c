package jobs

// Express mode (Campaign.Express): a query-defined remove campaign whose
// labels come off in one bulk call, PATCH /v1/asset/labels, and that still
// ends with one recorded outcome per asset.
//
// The campaign is planned like any query campaign: its assets are the ones
// the query listed when it was created, capped and approved as usual. Its
// snapshot is taken once it runs (not while it waits for approval), and
// then one express task (TypeExpress) does, recording each step in the
// meta hash (the x_* fields) before it acts on it:
//
//  1. the guard listing: the query is listed again with labels. An asset it
//     lists that is not one of the campaign's means the bulk call would
//     change an asset nobody approved: express is refused (ExpressRefused)
//     and every asset is called one by one.
//  2. ExpressSending is recorded, then the bulk call is sent (one, never
//     repeated after a restart: its effect is then unknown and
//     verification finds it). PDCP's asset_count is compared with the
//     guard listing's count and the difference is kept.
//  3. verification lists the query without the removed labels (so that
//     cleaned assets stay visible) until every asset the snapshot listed
//     is seen without them, or ExpressDeadline passes; an asset seen clean
//     is recorded reset with no per-asset call (Record.Path "bulk").
//  4. ExpressVerified (or ExpressRefused, ExpressFailed) is recorded and
//     the batches are enqueued: they call the assets still unfinished one
//     by one (path per_asset), as for any campaign.
//
// Cancelling after the bulk call was sent stops only the per-asset calls:
// what the bulk call changed stays changed (undo puts it back).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DefaultExpressDeadline is Campaign.ExpressDeadline when 0.
const DefaultExpressDeadline = 10 * time.Minute

// MaxExpressDeadline bounds Campaign.ExpressDeadline.
const MaxExpressDeadline = 24 * time.Hour

// TypeExpress is the asynq task type of an express campaign's bulk call
// and verification (one per campaign incarnation).
const TypeExpress = "labelreset:express"

// ExpressTask is the payload of a TypeExpress task.
type ExpressTask struct {
	Campaign    string `json:"campaign"`
	Incarnation string `json:"inc"`
}

// ExpressState is the progress of an express campaign's bulk call.
type ExpressState string

// The express states, in order. The last three are final: the batches
// then run.
const (
	// ExpressWaiting: nothing sent yet (the zero value).
	ExpressWaiting ExpressState = ""
	// ExpressSending: the bulk call is being (or was) sent; after a
	// restart its effect is unknown, and it is not sent again.
	ExpressSending ExpressState = "sending"
	// ExpressSent: PDCP answered 2xx; verification runs.
	ExpressSent ExpressState = "sent"
	// ExpressVerified: verification ended; the rest is called per asset.
	ExpressVerified ExpressState = "verified"
	// ExpressRefused: the bulk call was not sent (Reason says why); every
	// asset is called per asset.
	ExpressRefused ExpressState = "refused"
	// ExpressFailed: PDCP refused the bulk call (Reason); every asset is
	// called per asset.
	ExpressFailed ExpressState = "failed"
)

// Final reports whether the express phase is over (the batches run).
func (s ExpressState) Final() bool {
	return s == ExpressVerified || s == ExpressRefused || s == ExpressFailed
}

// BulkSent reports whether the bulk call may have reached PDCP.
func (s ExpressState) BulkSent() bool {
	return s == ExpressSending || s == ExpressSent || s == ExpressVerified
}

// ExpressInfo is what an express campaign's meta hash says of its bulk
// call. Zero values are "not yet".
type ExpressInfo struct {
	State  ExpressState `json:"state"`
	Reason string       `json:"reason,omitempty"`
	// Listed is how many of the campaign's assets the guard listing found
	// (what the bulk call should change); Outside how many assets it
	// listed that are not the campaign's (more than 0 refuses express).
	Listed  int64 `json:"listed"`
	Outside int64 `json:"outside"`
	// SentAt is when the bulk call was sent.
	SentAt time.Time `json:"sent_at,omitzero"`
	// AssetCount and Async are PDCP's answer; Difference is AssetCount -
	// Listed (assets that started matching after the guard listing, or
	// stopped: changed but not the campaign's, so not undoable).
	AssetCount int64 `json:"asset_count"`
	Async      bool  `json:"async"`
	Difference int64 `json:"difference"`
	// Verified is how many assets were seen clean (path bulk), Fallback
	// how many were left to per-asset calls when verification ended.
	Verified int64 `json:"verified"`
	Fallback int64 `json:"fallback"`
	// Deadline is when verification gives up; FinishedAt when the express
	// phase ended.
	Deadline   time.Time `json:"deadline,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// ErrExpressConflict is returned by UpdateExpress when the campaign's
// express state is not the one the caller expected (another worker moved
// it on).
var ErrExpressConflict = errors.New("express state changed meanwhile")

// TaskID is the deterministic asynq task ID of the express task of the
// campaign's incarnation: enqueueing it again while it is queued, running
// or handed back (retrying) conflicts instead of sending a second bulk
// call. It starts with the campaign ID (TaskCampaign), so the orphan
// repair sees the campaign has a task.
func (t *ExpressTask) TaskID() string {
	return t.Campaign + ":i" + t.Incarnation + ":express"
}

// EncodeExpressTask renders a TypeExpress payload.
func EncodeExpressTask(t *ExpressTask) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

// DecodeExpressTask decodes a TypeExpress payload; a corrupt one is an
// error (the worker drops it: asynq.SkipRetry).
func DecodeExpressTask(p []byte) (*ExpressTask, error) {
	var t ExpressTask
	if err := json.Unmarshal(p, &t); err != nil {
		return nil, fmt.Errorf("express task payload: %w", err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// validate refuses a payload that names no campaign incarnation this
// store could hold: a corrupt task must never send a bulk call. Unlike a
// batch task, an express task always has an incarnation (no version
// without one ever made them).
func (t *ExpressTask) validate() error {
	if err := ValidateCampaignID(t.Campaign); err != nil {
		return fmt.Errorf("express task: %w", err)
	}
	if !validIncarnation(t.Incarnation) {
		return fmt.Errorf("express task of campaign %s: incarnation %q: want 1..32 of [0-9a-z]", t.Campaign, t.Incarnation)
	}
	return nil
}

// Express task options. The worker hands the task back (a retryLater,
// which asynq does not count as a failure) between verification passes,
// so MaxRetry only bounds real failures, and is as generous as the
// snapshot's: once asynq archives the task its ID would conflict with
// every later enqueue (enqueueExpress deletes an archived one for that
// reason). The timeout bounds one run, which may list the whole query and
// wait out a verification of up to MaxExpressDeadline.
const (
	expressMaxRetry = 10000
	expressTimeout  = MaxExpressDeadline + time.Hour
)

// enqueueExpress enqueues the express task of c. One queued, running or
// handed back already is not an error (the conflict of its deterministic
// ID); one archived (asynq gave up on it, or it was dropped as corrupt)
// would hold the ID forever and leave the campaign stuck, so it is
// deleted and the task enqueued again. It returns whether a task was
// created.
func (s *Store) enqueueExpress(ctx context.Context, c *Campaign) (bool, error) {
	t := &ExpressTask{Campaign: c.ID, Incarnation: c.Incarnation}
	p, err := EncodeExpressTask(t)
	if err != nil {
		return false, err
	}
	queue := Queue(s.ns, c.Priority)
	opts := []asynq.Option{asynq.Queue(queue), asynq.TaskID(t.TaskID()),
		asynq.MaxRetry(expressMaxRetry), asynq.Timeout(expressTimeout)}
	for try := 0; ; try++ {
		_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeExpress, p), opts...)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return false, fmt.Errorf("enqueue the express task of campaign %s: %w", c.ID, err)
		}
		if try > 0 {
			return false, nil // re-created meanwhile by another caller
		}
		insp := asynq.NewInspectorFromRedisClient(s.rdb)
		info, err := insp.GetTaskInfo(queue, t.TaskID())
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			continue // gone between the conflict and the look
		case err != nil:
			return false, fmt.Errorf("enqueue the express task of campaign %s: inspect the task holding its ID: %w", c.ID, err)
		case info.State != asynq.TaskStateArchived:
			return false, nil // queued, running or handed back: it goes on
		}
		if err := insp.DeleteTask(queue, t.TaskID()); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("enqueue the express task of campaign %s: delete its archived task: %w", c.ID, err)
		}
	}
}

// The x_* fields of the meta hash (keys.go) hold ExpressInfo.
const (
	xState      = "x_state"
	xReason     = "x_reason"
	xListed     = "x_listed"
	xOutside    = "x_outside"
	xSentAt     = "x_sent_ms"
	xAssetCount = "x_asset_count"
	xAsync      = "x_async"
	xDifference = "x_difference"
	xVerified   = "x_verified"
	xFallback   = "x_fallback"
	xDeadline   = "x_deadline_ms"
	xFinishedAt = "x_finished_ms"
)

// expressFields are the x_* fields in the order Express reads them.
var expressFields = []string{xState, xReason, xListed, xOutside, xSentAt, xAssetCount, xAsync,
	xDifference, xVerified, xFallback, xDeadline, xFinishedAt}

// Express reads the express state of campaign c (nil, nil for a campaign
// that is not express). Another incarnation stored under c's ID now is
// ErrNotFound: its express state is not c's.
func (s *Store) Express(ctx context.Context, c *Campaign) (*ExpressInfo, error) {
	if !c.Express {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.meta(c.ID), append([]string{"id", "inc"}, expressFields...)...).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: read its express state: %w", c.ID, err)
	}
	str := func(i int) string { v, _ := vals[i].(string); return v }
	if str(0) == "" || str(1) != c.Incarnation {
		return nil, fmt.Errorf("campaign %s: %w", c.ID, ErrNotFound)
	}
	f := func(i int) string { return str(i + 2) }
	n := func(i int) int64 { v, _ := strconv.ParseInt(f(i), 10, 64); return v }
	t := func(i int) time.Time {
		if ms := n(i); ms > 0 {
			return time.UnixMilli(ms).UTC()
		}
		return time.Time{}
	}
	return &ExpressInfo{
		State: ExpressState(f(0)), Reason: f(1), Listed: n(2), Outside: n(3), SentAt: t(4),
		AssetCount: n(5), Async: f(6) == "1", Difference: n(7), Verified: n(8), Fallback: n(9),
		Deadline: t(10), FinishedAt: t(11),
	}, nil
}

// msOrZero renders a time of ExpressInfo: 0 for none.
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fields renders x as the x_* field/value pairs, in expressFields' order.
func (x *ExpressInfo) fields() []any {
	return []any{
		xState, string(x.State), xReason, x.Reason, xListed, x.Listed, xOutside, x.Outside,
		xSentAt, msOrZero(x.SentAt), xAssetCount, x.AssetCount, xAsync, flag01(x.Async),
		xDifference, x.Difference, xVerified, x.Verified, xFallback, x.Fallback,
		xDeadline, msOrZero(x.Deadline), xFinishedAt, msOrZero(x.FinishedAt),
	}
}

// auditDetail is the reason of the audit event of a change to x.State:
// the numbers an operator reads the log for (what the bulk call should
// change, what PDCP said it matched, what verification saw).
func (x *ExpressInfo) auditDetail() string {
	var b strings.Builder
	switch x.State {
	case ExpressSending:
		fmt.Fprintf(&b, "bulk call sent for %d listed assets", x.Listed)
	case ExpressSent:
		fmt.Fprintf(&b, "PDCP matched %d assets (listed %d, difference %+d, async %v)", x.AssetCount, x.Listed, x.Difference, x.Async)
	case ExpressVerified:
		fmt.Fprintf(&b, "%d assets seen clean (path bulk), %d left to per-asset calls", x.Verified, x.Fallback)
	case ExpressRefused, ExpressFailed:
		fmt.Fprintf(&b, "listed %d, outside %d; every asset is called one by one", x.Listed, x.Outside)
	}
	if x.Reason != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(x.Reason)
	}
	return ClipError(b.String(), MaxErrorBytes)
}

// updateExpressScript moves a campaign's express state (compare-and-set
// on x_state) and writes the x_* fields, in incarnation ARGV[1] only and
// never in a campaign being deleted; a change of state is appended to the
// audit log in the same step, with the campaign's own state as from and
// to (its state does not change, and no notifier hears of it). A write
// that keeps the state (verification progress) audits nothing: the log
// keeps state changes, not progress.
// KEYS meta, events. ARGV incarnation, expected x_state, new x_state,
// actor, now (ms), audit reason, then x_* field/value pairs. Returns "ok",
// "" (missing or another incarnation), "~" (being deleted) or
// "!<x_state>" (not the expected state).
var updateExpressScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting', 'state', '` + xState + `')
if not m[1] or (m[2] or '') ~= ARGV[1] then return '' end
if m[3] then return '~' end
local cur = m[5] or ''
if cur ~= ARGV[2] then return '!' .. cur end
local set = {}
for i = 7, #ARGV do set[#set+1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(set))
if ARGV[3] ~= cur then
  audit(KEYS[2], ARGV[5], ARGV[4], 'express_' .. ARGV[3], m[4], m[4], ARGV[6])
end
return 'ok'
`)

// UpdateExpress moves campaign c's express state from from to info.State
// and writes info's fields, atomically, only in c's incarnation
// (ErrNotFound otherwise) and only while the state is from
// (ErrExpressConflict otherwise); the change is appended to the audit log.
// A write that keeps the state (from == info.State: verification's
// progress) is written the same way and audits nothing.
func (s *Store) UpdateExpress(ctx context.Context, c *Campaign, from ExpressState, info *ExpressInfo) error {
	if !c.Express {
		return fmt.Errorf("campaign %s is not an express campaign", c.ID)
	}
	if !expressOrder(from, info.State) {
		return fmt.Errorf("campaign %s: express state %q cannot follow %q", c.ID, info.State, from)
	}
	args := append([]any{c.Incarnation, string(from), string(info.State), s.actor(ctx), s.nowMS(), info.auditDetail()},
		info.fields()...)
	got, err := updateExpressScript.Run(ctx, s.rdb, []string{s.keys.meta(c.ID), s.keys.events(c.ID)}, args...).Text()
	switch {
	case err != nil:
		return fmt.Errorf("campaign %s: set express state %q: %w", c.ID, info.State, err)
	case got == "":
		return fmt.Errorf("campaign %s: %w", c.ID, ErrNotFound)
	case got == "~":
		return fmt.Errorf("campaign %s: %w", c.ID, ErrDeleting)
	case strings.HasPrefix(got, "!"):
		return fmt.Errorf("campaign %s: express state is %q, not %q: %w", c.ID, got[1:], from, ErrExpressConflict)
	}
	return nil
}

// expressOrder reports whether the express state to may follow from:
// forward only (waiting, sending, sent, then a final state: going back
// to waiting or sending would send the bulk call again), a final state is
// never left, and a state may be written again (progress). The one way
// back is sending to waiting, which the worker takes only when PDCP
// answered the bulk call 401/403: the key was refused, so nothing
// changed, and the call is to be sent again once the campaign is resumed.
func expressOrder(from, to ExpressState) bool {
	if from == ExpressSending && to == ExpressWaiting {
		return true
	}
	rank := func(s ExpressState) int {
		switch s {
		case ExpressWaiting:
			return 0
		case ExpressSending:
			return 1
		case ExpressSent:
			return 2
		case ExpressVerified, ExpressRefused, ExpressFailed:
			return 3
		}
		return -1
	}
	rf, rt := rank(from), rank(to)
	if rf < 0 || rt < 0 {
		return false
	}
	return from == to || rt > rf
}
