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
	"errors"
	"time"
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

// Express reads the express state of campaign c (nil, nil for a campaign
// that is not express).
func (s *Store) Express(ctx context.Context, c *Campaign) (*ExpressInfo, error) {
	panic("not built yet")
}

// UpdateExpress moves campaign c's express state from from to info.State
// and writes info's fields, atomically, only in c's incarnation
// (ErrNotFound otherwise) and only while the state is from
// (ErrExpressConflict otherwise); the change is appended to the audit log.
func (s *Store) UpdateExpress(ctx context.Context, c *Campaign, from ExpressState, info *ExpressInfo) error {
	panic("not built yet")
}
