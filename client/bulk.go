package client

// Express mode's bulk call: PATCH /v1/asset/labels changes every asset that
// matches its filters in one request. It is the most dangerous call of the
// API: empty filters select every asset of the team, and a large update
// answers "async": true with no job and no per-asset result. This file is
// the only way labelreset sends it, and it refuses filters that narrow
// nothing (BulkNarrowing, the rule schedules use), whoever the caller.

import (
	"context"
	"errors"
	"net/url"
)

// UpdateType is update_type of PATCH /v1/asset/labels. The endpoint
// defaults to append, so it is always sent.
type UpdateType string

// The update types of PATCH /v1/asset/labels.
const (
	UpdateAppend  UpdateType = "append"
	UpdateReplace UpdateType = "replace"
	UpdateDelete  UpdateType = "delete"
)

// ErrNotNarrowing is the refusal of a bulk call whose filters narrow
// nothing: PDCP would apply it to every asset of the team.
var ErrNotNarrowing = errors.New("bulk filters narrow nothing: PATCH /v1/asset/labels would change every asset of the team")

// BulkFilter is the AssetFilters body of PATCH /v1/asset/labels for a
// listing query whose every parameter means the same in both: built only
// by ExpressFilters, so a filter the bulk schema would read differently
// (or not at all) can never be sent.
type BulkFilter struct {
	q url.Values // the listing query it came from, normalised
}

// ExpressFilters converts q, query parameters of the listing GET
// /v1/asset/enumerate/contents, into the filters of PATCH
// /v1/asset/labels. It refuses, naming the parameter, every key that does
// not mean the same in both (listing-only parameters such as is_internal,
// favicon, sorting and paging; domain, an array in AssetFilters;
// custom_filter, whose encoding differs; bulk-only keys), malformed values,
// and a query that narrows nothing (ErrNotNarrowing). It never drops a
// key.
func ExpressFilters(q url.Values) (BulkFilter, error) {
	panic("not built yet")
}

// Query returns the listing query that selects what the filter selects.
func (f BulkFilter) Query() url.Values { panic("not built yet") }

// MarshalJSON encodes the filter as AssetFilters, each property with the
// type the spec gives it (booleans as booleans, not_seen_for_days as an
// integer).
func (f BulkFilter) MarshalJSON() ([]byte, error) { panic("not built yet") }

// BulkResult is the answer to a bulk call: Result classifies it as for a
// per-asset call (Outcome OutcomeReset for a 2xx), and AssetCount and Async
// are PDCP's AssetCountResponse.
type BulkResult struct {
	Result
	// AssetCount is the number of assets PDCP says matched.
	AssetCount int64
	// Async is true when PDCP applies the change later: nothing in the
	// answer says when, or to which assets.
	Async bool
}

// BulkUpdateLabels sends PATCH /v1/asset/labels?update_type=ut with
// {"filters": f, "labels": labels}. It checks f with BulkNarrowing again
// and refuses (OutcomePermanent, Err wrapping ErrNotNarrowing, no request
// sent) filters that narrow nothing, whatever built them; it refuses an
// empty labels list for delete too (what PDCP does with it is not
// documented). Cancellation behaves as for DeleteLabels.
func (c *Client) BulkUpdateLabels(ctx context.Context, f BulkFilter, ut UpdateType, labels []string) BulkResult {
	panic("not built yet")
}
