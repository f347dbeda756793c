package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client/backoff"
)

// Page sizes of ListAssets.
const (
	DefaultPageSize = 100
	// MaxPageSize caps the page size.
	MaxPageSize = 1000
	// maxListBody bounds one listing page (1000 fat items fit easily).
	maxListBody = 64 << 20
)

// TimeRange is PDCP's TimeRangeQueryParameter.
type TimeRange string

// The values of TimeRangeQueryParameter.
const (
	TimeLastDay      TimeRange = "last_day"
	TimeLastWeek     TimeRange = "last_week"
	TimeLastMonth    TimeRange = "last_month"
	TimeLast3Months  TimeRange = "last_3_months"
	TimeLast6Months  TimeRange = "last_6_months"
	TimeLast12Months TimeRange = "last_12_months"
	TimeAll          TimeRange = "all_time"
)

// AssetFilter selects assets for ListAssets. Zero fields are not sent.
type AssetFilter struct {
	// Labels is sent comma-separated as labels=a,b.
	Labels []string
	// NotSeenForDays is sent as not_seen_for_days when > 0.
	NotSeenForDays int
	// Search matches the content name.
	Search string
	// Host and Domain are comma-separated lists, passed through.
	Host, Domain string
	// Time is the time range filter.
	Time TimeRange
	// IsInternal filters internal (true) or external (false) hosts.
	IsInternal *bool
	// CustomFilter is PDCP's custom_filter, passed through as given.
	CustomFilter string
	// Extra holds further query parameters (e.g. port, technologies). It
	// must not contain offset or limit, which ListAssets owns.
	Extra url.Values
}

// Query returns the filter as query parameters, without offset and limit.
func (f AssetFilter) Query() url.Values {
	q := url.Values{}
	for k, v := range f.Extra {
		if k == "offset" || k == "limit" {
			continue
		}
		q[k] = append([]string(nil), v...)
	}
	if len(f.Labels) > 0 {
		q.Set("labels", strings.Join(f.Labels, ","))
	}
	if f.NotSeenForDays > 0 {
		q.Set("not_seen_for_days", strconv.Itoa(f.NotSeenForDays))
	}
	setIf := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	setIf("search", f.Search)
	setIf("host", f.Host)
	setIf("domain", f.Domain)
	setIf("time", string(f.Time))
	setIf("custom_filter", f.CustomFilter)
	if f.IsInternal != nil {
		q.Set("is_internal", strconv.FormatBool(*f.IsInternal))
	}
	return q
}

// Asset is the part of an EnumerationContent item labelreset needs.
type Asset struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	Labels []string `json:"labels"`
}

// StatusError is the error ListAssets yields for a failed page: a non-2xx
// answer, a transport failure or an unparsable body. Result holds the
// classification, so callers can tell throttling from a bad key.
type StatusError struct {
	Result Result
}

// Error describes the failed call without the API key.
func (e *StatusError) Error() string {
	if e.Result.Outcome == OutcomeReset && e.Result.Err != nil {
		return "pdcp: " + e.Result.Err.Error()
	}
	return "pdcp: " + e.Result.Error()
}

// Unwrap returns the underlying transport or decoding error, if any.
func (e *StatusError) Unwrap() error { return e.Result.Err }

// listRetries is how many times a page that failed retryably (5xx, 429,
// a network error, a body that did not decode) is asked for again, after
// listRetryDelay, doubling (a variable for tests).
const listRetries = 5

var listRetryDelay = time.Second

// ListAssets enumerates assets matching f with GET
// /v1/asset/enumerate/contents, pageSize items per request (default
// DefaultPageSize, capped at MaxPageSize), until an empty page. The spec
// gives no total and does not promise full pages (a server may cap limit),
// so a short page is not taken as the last one; a page equal to the one
// before it (a server ignoring offset) ends the listing with an error
// rather than looping. A page that fails retryably is retried up to 5
// times with backoff (1 s doubling, or Retry-After, at most 1 minute).
// Paging is by offset, so assets that stop matching the filter while the
// listing runs (e.g. because their labels were removed) shift later pages:
// callers that modify what they list should list first or restart at offset
// 0. A failed page yields one error wrapping *StatusError and ends the
// sequence; so do cancellation of ctx (wrapping ctx.Err()) and a repeated
// page (a plain error).
func (c *Client) ListAssets(ctx context.Context, f AssetFilter, pageSize int) iter.Seq2[Asset, error] {
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	pageSize = min(pageSize, MaxPageSize)
	base := f.Query()
	return func(yield func(Asset, error) bool) {
		var prev []Asset
		for offset := 0; ; {
			page, err := c.listPageRetrying(ctx, base, offset, pageSize)
			if err != nil {
				yield(Asset{}, fmt.Errorf("list assets at offset %d: %w", offset, err))
				return
			}
			if len(page) == 0 {
				return
			}
			if samePage(page, prev) {
				yield(Asset{}, fmt.Errorf("list assets at offset %d: the page repeats the one at offset %d: the server does not advance by offset", offset, offset-len(prev)))
				return
			}
			for _, a := range page {
				if !yield(a, nil) {
					return
				}
			}
			offset += len(page)
			prev = page
		}
	}
}

func samePage(a, b []Asset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// ListPage fetches the page of GET /v1/asset/enumerate/contents at offset,
// once: no retries. It is for callers that page themselves because they
// checkpoint each page and take each request from a shared rate limit (the
// snapshot of a campaign); ListAssets suits everyone else. limit is capped
// at MaxPageSize; the page may hold fewer items than limit (a server may cap
// it) and is empty only at the end of the listing. A failure is a
// *StatusError, whose Result classifies it like a label call's.
func (c *Client) ListPage(ctx context.Context, f AssetFilter, offset, limit int) ([]Asset, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	return c.listPage(ctx, f.Query(), offset, min(limit, MaxPageSize))
}

// listPageRetrying is listPage with retries of retryable failures.
func (c *Client) listPageRetrying(ctx context.Context, base url.Values, offset, limit int) ([]Asset, error) {
	retry := backoff.New(backoff.Policy{Base: listRetryDelay, Cap: time.Minute})
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		page, err := c.listPage(ctx, base, offset, limit)
		var se *StatusError
		if err == nil || attempt == listRetries || !errors.As(err, &se) ||
			(se.Result.Outcome != OutcomeRetryable && se.Result.Outcome != OutcomeThrottled) {
			return page, err
		}
		wait := retry.Next()
		if se.Result.RetryAfter > 0 {
			wait = min(se.Result.RetryAfter, time.Minute)
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// listPage fetches one page; every failure is a *StatusError.
func (c *Client) listPage(ctx context.Context, base url.Values, offset, limit int) ([]Asset, error) {
	q := make(url.Values, len(base)+2)
	for k, v := range base {
		q[k] = v
	}
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(rctx, http.MethodGet, c.prefix+"/v1/asset/enumerate/contents?"+q.Encode(), nil)
	if err != nil {
		return nil, &StatusError{Result{Outcome: OutcomePermanent, Err: fmt.Errorf("build request: %w", err)}}
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, &StatusError{c.transportError(ctx, err, start)}
	}
	res := Result{Status: resp.StatusCode}
	res.Outcome, res.RetryAfter = classify(resp.StatusCode, resp.Header, start)
	if res.Outcome != OutcomeReset {
		c.readError(resp, &res)
		res.Duration = time.Since(start)
		return nil, &StatusError{res}
	}
	defer resp.Body.Close()
	lr := &io.LimitedReader{R: resp.Body, N: maxListBody}
	items, err := decodePage(json.NewDecoder(lr))
	if err != nil {
		// The request did succeed; the body did not. Retrying may help.
		res.Outcome = OutcomeRetryable
		res.Err = fmt.Errorf("decode asset page: %w", err)
		res.Duration = time.Since(start)
		return nil, &StatusError{res}
	}
	drain(resp.Body)
	return items, nil
}

// decodePage streams a listing body, {"message": ..., "data": [items]},
// decoding each item on its own into an Asset: the heavy fields an item
// carries (body, TLS, technologies, favicon) are scanned and dropped, never
// held as a whole page. data is required by the spec: absent is an error,
// not the end of the listing; null (how many servers render an empty list)
// is an empty page.
func decodePage(dec *json.Decoder) ([]Asset, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var items []Asset
	sawData := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if key, _ := tok.(string); key != "data" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("field %q: %w", key, err)
			}
			continue
		}
		sawData = true
		tok, err = dec.Token()
		if err != nil {
			return nil, err
		}
		if tok == nil {
			continue // "data": null
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, fmt.Errorf(`"data" is %v, not an array`, tok)
		}
		for dec.More() {
			items = append(items, Asset{})
			if err := dec.Decode(&items[len(items)-1]); err != nil {
				return nil, fmt.Errorf("item %d: %w", len(items)-1, err)
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if !sawData {
		return nil, errors.New(`no "data" array`)
	}
	return items, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", tok, want)
	}
	return nil
}
