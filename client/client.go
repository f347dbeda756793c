package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Body limits. A response body is read at most up to maxBody bytes and then
// closed: an oversized body costs a connection, never memory.
const (
	maxBody       = 64 << 10
	maxFieldBytes = 512
	maxSnippet    = 80
)

// Header values shared by every request; net/http only reads them.
var (
	acceptJSON      = []string{"application/json"}
	contentTypeJSON = []string{"application/json"}
)

// Client calls the PDCP API. It is safe for concurrent use; one Client (and
// its WithTeam copies) shares one connection pool.
type Client struct {
	scheme, host string // of the configured server, for String
	prefix       string // scheme://host[/path], no trailing slash
	rt           http.RoundTripper
	ownTransport *http.Transport // nil when Config.Transport was supplied
	timeout      time.Duration
	red          redactor // removes the API key from what answers bring back
	// Pre-built header values, assigned (not copied) into each request.
	key, ua, team []string
}

// New validates cfg, applies defaults and builds a Client with its own
// pooled transport (or cfg.Transport).
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := cfg.serverURL()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "labelreset/" + Version
	}
	c := &Client{
		scheme:  u.Scheme,
		host:    u.Host,
		prefix:  u.Scheme + "://" + u.Host + u.EscapedPath(),
		timeout: cfg.Timeout,
		red:     newRedactor(cfg.APIKey),
		key:     []string{cfg.APIKey},
		ua:      []string{cfg.UserAgent},
	}
	if cfg.TeamID != "" {
		c.team = []string{cfg.TeamID}
	}
	rt := cfg.Transport
	if rt == nil {
		c.ownTransport = newTransport(cfg.MaxConns)
		rt = c.ownTransport
	}
	// The transport is called directly rather than through http.Client:
	// that never follows a redirect (X-Api-Key would go wherever Location
	// points; a 3xx is OutcomePermanent) and skips http.Client's
	// per-request header and URL copies made for redirects.
	c.rt = rt
	return c, nil
}

func newTransport(maxConns int) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Verification stays on: InsecureSkipVerify is never set.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// WithTeam returns a shallow copy of c that sends X-Team-Id: teamID (none
// when empty). The copy shares c's connection pool.
func (c *Client) WithTeam(teamID string) *Client {
	cp := *c
	cp.team = nil
	if teamID != "" {
		cp.team = []string{teamID}
	}
	return &cp
}

// CloseIdleConnections closes idle pooled connections of the transport that
// c (and every WithTeam copy) shares.
func (c *Client) CloseIdleConnections() {
	if ci, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// String describes c without the API key.
func (c Client) String() string {
	s := "client.Client{" + c.prefix
	if c.team != nil {
		s += " team " + c.team[0]
	}
	return s + "}"
}

// Format implements fmt.Formatter so that no verb can print the API key,
// whether c is formatted as a value or a pointer.
func (c Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// DeleteLabels removes all labels of an asset: DELETE /v1/asset/{id}/labels.
//
// The Result is classified as described in the package documentation. When
// ctx is cancelled (or its deadline passes) before an answer arrives, the
// Result has Outcome OutcomeRetryable, Status 0 and an Err wrapping
// ctx.Err(); callers that stop on cancellation must check ctx themselves.
func (c *Client) DeleteLabels(ctx context.Context, assetID int64) Result {
	return c.do(ctx, http.MethodDelete, c.labelsURL(assetID, ""), nil)
}

// RemoveLabels removes the given labels of an asset and keeps the others:
// PATCH /v1/asset/{id}/labels?update_type=delete with {"labels": [...]}.
// Results and cancellation behave as for DeleteLabels.
func (c *Client) RemoveLabels(ctx context.Context, assetID int64, labels []string) Result {
	return c.labelsCall(ctx, http.MethodPatch, assetID, "?update_type=delete", labels)
}

// AddLabels adds labels to an asset and keeps the ones it has: POST
// /v1/asset/{id}/labels with {"labels": [...]}. PDCP documents that this
// endpoint always appends, so repeating it is harmless: it is how undo
// puts removed labels back without deleting labels added since. Results
// and cancellation behave as for DeleteLabels.
func (c *Client) AddLabels(ctx context.Context, assetID int64, labels []string) Result {
	return c.labelsCall(ctx, http.MethodPost, assetID, "", labels)
}

// ReplaceLabels sets an asset's labels to exactly labels: PATCH
// /v1/asset/{id}/labels?update_type=replace. Labels added by others are
// removed; undo --exact uses it. Results and cancellation behave as for
// DeleteLabels.
func (c *Client) ReplaceLabels(ctx context.Context, assetID int64, labels []string) Result {
	return c.labelsCall(ctx, http.MethodPatch, assetID, "?update_type=replace", labels)
}

func (c *Client) labelsCall(ctx context.Context, method string, assetID int64, query string, labels []string) Result {
	if labels == nil {
		labels = []string{} // the spec requires the array
	}
	body, err := json.Marshal(labelsBody{Labels: labels})
	if err != nil { // unreachable for []string, but never panic
		return Result{Outcome: OutcomePermanent, Err: fmt.Errorf("encode labels: %w", err)}
	}
	return c.do(ctx, method, c.labelsURL(assetID, query), body)
}

type labelsBody struct {
	Labels []string `json:"labels"`
}

func (c *Client) labelsURL(assetID int64, query string) string {
	var buf [20]byte // string(bytes) inside a concatenation does not allocate
	return c.prefix + "/v1/asset/" + string(strconv.AppendInt(buf[:0], assetID, 10)) + "/labels" + query
}

// newRequest builds a request with the static headers. The header value
// slices are shared between requests: net/http never writes into them.
func (c *Client) newRequest(ctx context.Context, method, target string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h["X-Api-Key"] = c.key
	h["User-Agent"] = c.ua
	h["Accept"] = acceptJSON
	if c.team != nil {
		h["X-Team-Id"] = c.team
	}
	if body != nil {
		h["Content-Type"] = contentTypeJSON
	}
	return req, nil
}

// do performs one label call and classifies its answer.
func (c *Client) do(ctx context.Context, method, target string, body []byte) Result {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(rctx, method, target, body)
	if err != nil {
		return Result{Outcome: OutcomePermanent, Err: fmt.Errorf("build request: %w", err)}
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return c.transportError(ctx, err, start)
	}
	res := Result{Status: resp.StatusCode}
	res.Outcome, res.RetryAfter = classify(resp.StatusCode, resp.Header, start)
	if res.Outcome == OutcomeReset {
		drain(resp.Body)
	} else {
		c.readError(resp, &res)
	}
	res.Duration = time.Since(start)
	return res
}

// roundTrip sends req once, never following redirects.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, &url.Error{Op: urlOp(req.Method), URL: req.URL.Redacted(), Err: err}
	}
	if resp == nil {
		return nil, &url.Error{Op: urlOp(req.Method), URL: req.URL.Redacted(), Err: errors.New("transport returned no response")}
	}
	return resp, nil
}

// urlOp mimics http.Client's url.Error operation names ("Delete", "Patch").
func urlOp(method string) string {
	switch method {
	case http.MethodDelete:
		return "Delete"
	case http.MethodPatch:
		return "Patch"
	case http.MethodGet:
		return "Get"
	case http.MethodPost:
		return "Post"
	}
	return method
}

// transportError turns a failed exchange (no response) into a Result.
func (c *Client) transportError(ctx context.Context, err error, start time.Time) Result {
	res := Result{Outcome: OutcomeRetryable, Duration: time.Since(start)}
	if cerr := ctx.Err(); cerr != nil {
		res.Err = fmt.Errorf("request abandoned: %w", cerr)
		return res
	}
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		res.Err = &timeoutError{after: c.timeout, err: err}
		return res
	}
	res.Err = c.red.redactErr(err) // *url.Error: method and URL, never headers
	return res
}

// classify maps a status (and Retry-After) to an Outcome. It is the single
// place that defines the classification table of the package doc.
func classify(status int, h http.Header, now time.Time) (Outcome, time.Duration) {
	switch {
	case status >= 200 && status <= 299:
		return OutcomeReset, 0
	case status == http.StatusNotFound:
		return OutcomeNotFound, 0
	case status == http.StatusBadRequest:
		return OutcomeInvalid, 0
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return OutcomeUnauthorized, 0
	case status == http.StatusTooManyRequests:
		d, _ := ParseRetryAfter(h.Get("Retry-After"), now)
		return OutcomeThrottled, d
	case status == http.StatusServiceUnavailable:
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			return OutcomeThrottled, d
		}
		return OutcomeRetryable, 0
	case status == http.StatusRequestTimeout: // the server gave up waiting for the request
		return OutcomeRetryable, 0
	case status == http.StatusNotImplemented:
		return OutcomePermanent, 0
	case status >= 500 && status <= 599:
		return OutcomeRetryable, 0
	}
	return OutcomePermanent, 0
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// drain reads up to maxBody bytes and closes the body, so that small bodies
// leave the connection reusable and large ones cost no more than maxBody.
func drain(body io.ReadCloser) {
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	for n := 0; n < maxBody; {
		m, err := body.Read(buf[:min(len(buf), maxBody-n)])
		n += m
		if err != nil {
			break
		}
	}
	bufPool.Put(bp)
	body.Close()
}

// readBody reads at most maxBody bytes. over reports that the body was
// longer; err is a read failure such as a truncated body.
func readBody(body io.ReadCloser) (data []byte, over bool, err error) {
	defer body.Close()
	lr := io.LimitedReader{R: body, N: maxBody + 1}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(&lr)
	data = buf.Bytes()
	if len(data) > maxBody {
		return data[:maxBody], true, err
	}
	return data, false, err
}

// readError reads a non-2xx body into res.API, or records why it could not.
func (c *Client) readError(resp *http.Response, res *Result) {
	defer func() { res.Err = c.red.redactErr(res.Err) }()
	data, over, err := readBody(resp.Body)
	if err != nil {
		res.Err = fmt.Errorf("read %d response body: %w", resp.StatusCode, err)
		// A body cut short by a 5xx-answering server is a transport
		// failure: the answer cannot be trusted, retry it. A 503 with a
		// valid Retry-After keeps its throttling advice.
		if resp.StatusCode >= 500 && res.Outcome != OutcomeThrottled {
			res.Outcome = OutcomeRetryable
		}
		return
	}
	if over {
		res.Err = fmt.Errorf("%d response body larger than %d bytes, discarded", resp.StatusCode, maxBody)
		return
	}
	if api := parseAPIError(data, c.red); api != nil {
		res.API = api
		return
	}
	if len(bytes.TrimSpace(data)) > 0 {
		res.Err = fmt.Errorf("unparsable %d response body: %q", resp.StatusCode, c.snippet(data))
	}
}

// parseAPIError decodes PDCP's ErrorResponse, redacting the API key from
// every field and then bounding it (in that order: a clipped field must not
// keep the start of a key). It returns nil when data is not such a JSON
// object.
func parseAPIError(data []byte, red redactor) *APIError {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
		Code    string `json:"code"`
		ErrorID string `json:"error_id"`
	}
	if json.Unmarshal(data, &e) != nil {
		return nil
	}
	if e.Message == "" {
		e.Message = e.Error
	}
	if e.Message == "" && e.Code == "" && e.ErrorID == "" {
		return nil
	}
	return &APIError{Message: clip(red.redact(e.Message)), Code: clip(red.redact(e.Code)), ErrorID: clip(red.redact(e.ErrorID))}
}

// clip truncates s to maxFieldBytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxFieldBytes {
		return s
	}
	s = s[:maxFieldBytes]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// snippet returns the start of an unparsable body for error messages, with
// the API key redacted (before the cut) in case a proxy echoes request
// headers.
func (c *Client) snippet(data []byte) string {
	s := c.red.redact(strings.ToValidUTF8(string(data), ""))
	if len(s) > maxSnippet {
		s = s[:maxSnippet]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// timeoutError is a call that got no answer within the client's timeout.
// Its message is the cause alone ("timed out after 30s"), short enough for
// the ledger; Unwrap keeps the transport error (method, URL,
// context.DeadlineExceeded) for errors.Is and logs.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %v", e.after) }
func (e *timeoutError) Unwrap() error { return e.err }
func (e *timeoutError) Timeout() bool { return true }
