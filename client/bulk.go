package client

// Express mode's bulk call: PATCH /v1/asset/labels changes every asset that
// matches its filters in one request. It is the most dangerous call of the
// API: empty filters select every asset of the team, and a large update
// answers "async": true with no job and no per-asset result. This file is
// the only way labelreset sends it, and it refuses filters that narrow
// nothing (BulkNarrowing, the rule schedules use), whoever the caller.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
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

// expressKind is the AssetFilters type of a parameter ExpressFilters
// accepts: how its listing value is checked and how it is sent in JSON.
type expressKind int

const (
	expressString expressKind = iota // a JSON string, the listing's value as is
	expressBool                      // a JSON boolean; the listing value is true or false
	expressDays                      // not_seen_for_days: a JSON integer >= 1
	expressTime                      // time: TimeRangeQueryParameter
)

// expressKeys are the listing parameters that AssetFilters has under the
// same name, with the same type (a string the listing takes as a
// comma-separated list stays that string) and, as far as the spec says,
// the same meaning.
var expressKeys = map[string]expressKind{
	"labels": expressString, "host": expressString, "port": expressString, "status_code": expressString,
	"content_length": expressString, "title": expressString, "cname": expressString,
	"technologies": expressString, "ip": expressString, "search": expressString,

	"is_tech": expressBool, "is_favicon": expressBool, "is_new": expressBool,
	"is_screenshot": expressBool, "only_dns": expressBool, "only_ip": expressBool,

	"not_seen_for_days": expressDays,
	"time":              expressTime,
}

// expressRefused says, for each known parameter that cannot be carried
// into AssetFilters, why: a parameter that reads differently there (or is
// not there) would make the bulk call change other assets than the
// listing shows.
var expressRefused = map[string]string{
	"domain":          "domain is a comma-separated string in the listing but an array in the bulk filters (AssetFilters): that both select the same assets is not documented",
	"custom_filter":   "custom_filter is sent URL-encoded in the listing but must be double-encoded in the bulk call's JSON body, and its syntax is not specified: that both select the same assets cannot be shown",
	"is_internal":     "is_internal is a parameter of the listing only: the bulk filters (AssetFilters) have no such property and PDCP would refuse or ignore it",
	"favicon":         "favicon is a parameter of the listing only: the bulk filters (AssetFilters) have no such property and PDCP would refuse or ignore it",
	"sort_asc":        "sorting is a parameter of the listing only (the bulk filters have no sort_asc); drop it from the query",
	"sort_desc":       "sorting is a parameter of the listing only (the bulk filters have no sort_desc); drop it from the query",
	"offset":          "paging is a parameter of the listing only (the bulk filters have no offset); drop it from the query",
	"limit":           "paging is a parameter of the listing only (the bulk filters have no limit); drop it from the query",
	"start_date":      "start_date is a bulk filter only: the listing does not take it, so the assets it selects could not be listed, snapshotted or verified",
	"end_date":        "end_date is a bulk filter only: the listing does not take it, so the assets it selects could not be listed, snapshotted or verified",
	"enumeration_ids": "enumeration_ids is a bulk filter only: the listing does not take it, so the assets it selects could not be listed, snapshotted or verified",
}

// ExpressFilters converts q, query parameters of the listing GET
// /v1/asset/enumerate/contents, into the filters of PATCH
// /v1/asset/labels. It refuses, naming the parameter, every key that does
// not mean the same in both (listing-only parameters such as is_internal,
// favicon, sorting and paging; domain, an array in AssetFilters;
// custom_filter, whose encoding differs; bulk-only keys), malformed values,
// and a query that narrows nothing (ErrNotNarrowing). It never drops a
// key.
//
// Values are trimmed, as Narrowing judges them. A blank value is refused:
// it cannot be typed as a boolean or an integer, and what an empty string
// filter does in the bulk call is not documented. Booleans must be
// spelled true or false and not_seen_for_days as an integer >= 1 (the
// spec's minimum for AssetFilters), so that the listing and the bulk call
// are given the same value, one as text and one as JSON.
func ExpressFilters(q url.Values) (BulkFilter, error) {
	norm := make(url.Values, len(q))
	for _, key := range sortedKeys(q) {
		if why, refused := expressRefused[key]; refused {
			return BulkFilter{}, fmt.Errorf("express: query parameter %q refused: %s", key, why)
		}
		kind, ok := expressKeys[key]
		if !ok {
			return BulkFilter{}, fmt.Errorf("express: unknown query parameter %q: the bulk call takes only %s", key, strings.Join(ExpressParams(), ", "))
		}
		vals := q[key]
		if len(vals) != 1 {
			return BulkFilter{}, fmt.Errorf("express: query parameter %q given %d times: give it once (a comma-separated list where it takes one)", key, len(vals))
		}
		v := strings.TrimSpace(vals[0])
		if v == "" {
			return BulkFilter{}, fmt.Errorf("express: query parameter %q is blank: give a value or leave it out (what an empty filter does in the bulk call is not documented)", key)
		}
		switch kind {
		case expressBool:
			if v != "true" && v != "false" {
				return BulkFilter{}, fmt.Errorf("express: query parameter %s=%q: want true or false (the bulk call sends a JSON boolean)", key, v)
			}
		case expressDays:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || strings.TrimLeft(v, "0123456789") != "" {
				return BulkFilter{}, fmt.Errorf("express: query parameter %s=%q: want a whole number of days >= 1 (the bulk call sends a JSON integer, minimum 1)", key, v)
			}
			v = strconv.Itoa(n)
		}
		norm[key] = []string{v}
	}
	// The listing's own rule, for the malformed values it knows (an
	// unknown time range, a value with nothing visible) and for what
	// narrows.
	keys, wide, err := narrowing(norm)
	if err != nil {
		return BulkFilter{}, fmt.Errorf("express: %w", err)
	}
	if len(keys) == 0 {
		return BulkFilter{}, notNarrowing(wide)
	}
	return BulkFilter{q: norm}, nil
}

// notNarrowing is the refusal of filters that narrow nothing, explaining
// the values that look like filters (WideValues).
func notNarrowing(wide []string) error {
	if len(wide) == 0 {
		return fmt.Errorf("%w: give at least one filter that selects assets by an attribute (labels, host, search, not_seen_for_days, ...)", ErrNotNarrowing)
	}
	return fmt.Errorf("%w: %s", ErrNotNarrowing, strings.Join(wide, "; "))
}

// ExpressParams returns, sorted, the listing parameters ExpressFilters
// accepts.
func ExpressParams() []string {
	keys := make([]string, 0, len(expressKeys))
	for k := range expressKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Query returns the listing query that selects what the filter selects:
// the normalised values the bulk call sends, as text. The copy is the
// caller's.
func (f BulkFilter) Query() url.Values {
	out := make(url.Values, len(f.q))
	for k, v := range f.q {
		out[k] = slices.Clone(v)
	}
	return out
}

// MarshalJSON encodes the filter as AssetFilters, each property with the
// type the spec gives it (booleans as booleans, not_seen_for_days as an
// integer).
func (f BulkFilter) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(f.q))
	for k, vals := range f.q {
		kind, ok := expressKeys[k]
		if !ok || len(vals) != 1 {
			return nil, fmt.Errorf("bulk filter %q cannot be encoded as AssetFilters", k)
		}
		v := vals[0]
		switch kind {
		case expressString, expressTime:
			m[k] = v
		case expressBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("bulk filter %s=%q: %w", k, v, err)
			}
			m[k] = b
		case expressDays:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("bulk filter %s=%q: %w", k, v, err)
			}
			m[k] = n
		}
	}
	return json.Marshal(m) // map keys sorted: the same filter, the same bytes
}

// BulkResult is the answer to a bulk call: Result classifies it as for a
// per-asset call (Outcome OutcomeReset for a 2xx), and AssetCount and Async
// are PDCP's AssetCountResponse.
type BulkResult struct {
	Result
	// AssetCount is the number of assets PDCP says matched; -1 when it
	// said nothing (a refusal, a failed call, a 2xx body that did not
	// decode).
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
//
// A non-2xx answer is classified as for a per-asset call. A 2xx whose
// body is not an AssetCountResponse (cut short, not JSON, a required
// field missing) is OutcomeReset with AssetCount -1 and Err set: PDCP
// accepted the call, so the change may have happened (or may still
// happen); callers verify by listing, never by sending it again.
func (c *Client) BulkUpdateLabels(ctx context.Context, f BulkFilter, ut UpdateType, labels []string) BulkResult {
	refuse := func(err error) BulkResult {
		return BulkResult{Result: Result{Outcome: OutcomePermanent, Err: err}, AssetCount: -1}
	}
	switch ut {
	case UpdateAppend, UpdateReplace, UpdateDelete:
	default:
		return refuse(fmt.Errorf("bulk update_type %q: want append, replace or delete", ut))
	}
	keys, err := BulkNarrowing(f.q)
	if err != nil {
		return refuse(fmt.Errorf("bulk filters: %w", err))
	}
	if len(keys) == 0 {
		return refuse(notNarrowing(WideValues(f.q)))
	}
	if ut == UpdateDelete && len(labels) == 0 {
		return refuse(errors.New("bulk delete with no labels: name the labels to remove (what PDCP does with an empty list is not documented)"))
	}
	if labels == nil {
		labels = []string{} // the spec requires the array
	}
	body, err := json.Marshal(bulkBody{Filters: f, Labels: labels})
	if err != nil {
		return refuse(fmt.Errorf("encode bulk body: %w", err))
	}
	return c.doBulk(ctx, c.prefix+"/v1/asset/labels?update_type="+url.QueryEscape(string(ut)), body)
}

// bulkBody is UpdateAssetLabelsRequest.
type bulkBody struct {
	Filters BulkFilter `json:"filters"`
	Labels  []string   `json:"labels"`
}

// assetCountResponse is AssetCountResponse; every field is required, so
// a missing one is told from a zero.
type assetCountResponse struct {
	Message    *string `json:"message"`
	AssetCount *int64  `json:"asset_count"`
	Async      *bool   `json:"async"`
}

// doBulk sends the bulk call once and classifies its answer like do, then
// decodes a 2xx body.
func (c *Client) doBulk(ctx context.Context, target string, body []byte) BulkResult {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(rctx, http.MethodPatch, target, body)
	if err != nil {
		return BulkResult{Result: Result{Outcome: OutcomePermanent, Err: fmt.Errorf("build request: %w", err)}, AssetCount: -1}
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return BulkResult{Result: c.transportError(ctx, err, start), AssetCount: -1}
	}
	res := BulkResult{Result: Result{Status: resp.StatusCode}, AssetCount: -1}
	res.Outcome, res.RetryAfter = classify(resp.StatusCode, resp.Header, start)
	if res.Outcome != OutcomeReset {
		c.readError(resp, &res.Result)
		res.Duration = time.Since(start)
		return res
	}
	data, over, err := readBody(resp.Body)
	var acr assetCountResponse
	switch {
	case err != nil:
		res.Err = fmt.Errorf("read %d bulk response body: %w", resp.StatusCode, err)
	case over:
		res.Err = fmt.Errorf("%d bulk response body larger than %d bytes, discarded", resp.StatusCode, maxBody)
	case json.Unmarshal(data, &acr) != nil:
		res.Err = fmt.Errorf("unparsable %d bulk response body: %q", resp.StatusCode, c.snippet(data))
	case acr.Message == nil || acr.AssetCount == nil || acr.Async == nil:
		res.Err = fmt.Errorf("%d bulk response body lacks message, asset_count or async: %q", resp.StatusCode, c.snippet(data))
	default:
		res.AssetCount, res.Async = *acr.AssetCount, *acr.Async
	}
	res.Err = c.red.redactErr(res.Err)
	res.Duration = time.Since(start)
	return res
}
