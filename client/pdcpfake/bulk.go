package pdcpfake

// PATCH /v1/asset/labels, the bulk call: it changes every asset that
// matches its filters, and empty filters match every asset, as the spec
// says PDCP does. The fake checks the body as the spec types it
// (AssetFilters has additionalProperties: false), applies the filters as
// the listing applies them, and can answer async, apply late, apply to
// only part of the assets, or fail (Options.Bulk*), so that callers are
// tested against every way the real call can leave its work unfinished.

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultBulkAsyncDelay is Options.BulkAsyncDelay when 0.
const DefaultBulkAsyncDelay = 2 * time.Second

// bulkProp is how AssetFilters types a property.
type bulkProp int

const (
	propString bulkProp = iota
	propStrings
	propBool
	propDays
	propTime
	propDate
)

// assetFilterProps are the properties of the spec's AssetFilters with
// their types; any other key (is_internal and favicon included: they are
// listing parameters only) answers 400.
var assetFilterProps = map[string]bulkProp{
	"labels": propString, "host": propString, "port": propString, "status_code": propString,
	"content_length": propString, "title": propString, "cname": propString, "technologies": propString,
	"ip": propString, "search": propString, "custom_filter": propString,
	"domain": propStrings, "enumeration_ids": propStrings,
	"is_tech": propBool, "is_favicon": propBool, "is_new": propBool, "is_screenshot": propBool,
	"only_dns": propBool, "only_ip": propBool,
	"not_seen_for_days": propDays,
	"time":              propTime,
	"start_date":        propDate, "end_date": propDate,
}

// bulkRequest is UpdateAssetLabelsRequest, checked.
type bulkRequest struct {
	flt    filter
	op     opFunc
	labels []string
	ut     string
}

// parseBulk checks the request as the spec types it and returns the
// filter as the listing would apply it; ok=false after a 400.
func (f *Fake) parseBulk(w http.ResponseWriter, r *http.Request) (req bulkRequest, ok bool) {
	switch req.ut = r.URL.Query().Get("update_type"); req.ut {
	case "", "append":
		req.op, req.ut = (*asset).add, "append"
	case "delete":
		req.op = (*asset).remove
	case "replace":
		req.op = (*asset).replace
	default:
		f.badParam(w, "update_type")
		return req, false
	}
	var body struct {
		Filters json.RawMessage `json:"filters"`
		Labels  json.RawMessage `json:"labels"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(data, &body) != nil || body.Filters == nil || body.Labels == nil {
		f.write(w, http.StatusBadRequest, errorBody(400, "Invalid request body: filters and labels are required", "INVALID_BODY"))
		return req, false
	}
	if !isJSON(body.Labels, '[') || json.Unmarshal(body.Labels, &req.labels) != nil {
		f.badParam(w, "labels")
		return req, false
	}
	var props map[string]json.RawMessage
	if !isJSON(body.Filters, '{') || json.Unmarshal(body.Filters, &props) != nil {
		f.badParam(w, "filters")
		return req, false
	}
	q, ok := f.bulkQuery(w, props, &req.flt)
	if !ok {
		return req, false
	}
	extra := req.flt // the bulk-only fields parseFilter does not set
	if req.flt, ok = f.parseFilter(w, q); !ok {
		return req, false
	}
	req.flt.from, req.flt.to, req.flt.enums = extra.from, extra.to, extra.enums
	return req, true
}

// isJSON reports whether raw is a JSON value that starts with open ('[' or
// '{'): null is not an array or an object.
func isJSON(raw json.RawMessage, open byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == open
}

// bulkQuery type-checks every AssetFilters property and renders those the
// listing takes as its query parameters, so that parseFilter applies them
// exactly as the listing does; the bulk-only ones go into flt.
func (f *Fake) bulkQuery(w http.ResponseWriter, props map[string]json.RawMessage, flt *filter) (map[string][]string, bool) {
	q := map[string][]string{}
	for k, raw := range props {
		kind, known := assetFilterProps[k]
		bad := !known
		switch {
		case bad:
		case kind == propString || kind == propTime || kind == propDate:
			var s string
			if bad = !isString(raw) || json.Unmarshal(raw, &s) != nil; bad {
				break
			}
			switch kind {
			case propTime:
				_, known := timeRanges[s]
				bad = !known
			case propDate:
				d, err := time.Parse(time.DateOnly, s)
				if bad = err != nil; bad {
					break
				}
				if k == "start_date" {
					flt.from = d
				} else {
					flt.to = d.Add(24 * time.Hour) // end_date is the last day included
				}
				continue
			}
			if k != "custom_filter" { // ignored, as by the listing: its syntax is not specified
				q[k] = []string{s}
			}
		case kind == propStrings:
			var list []string
			if bad = !isJSON(raw, '[') || json.Unmarshal(raw, &list) != nil; bad {
				break
			}
			if k == "enumeration_ids" {
				flt.enums = list
			} else {
				q[k] = []string{strings.Join(list, ",")}
			}
		case kind == propBool:
			switch v := string(bytes.TrimSpace(raw)); v {
			case "true", "false": // not null, which decodes into a bool silently
				q[k] = []string{v}
			default:
				bad = true
			}
		case kind == propDays:
			n, isInt := jsonInteger(raw)
			if bad = !isInt || n < 1; !bad {
				q[k] = []string{strconv.FormatInt(n, 10)}
			}
		}
		if bad {
			f.badParam(w, "filters."+k)
			return nil, false
		}
	}
	return q, true
}

// isString reports whether raw is a JSON string (not null).
func isString(raw json.RawMessage) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '"'
}

// jsonInteger decodes a JSON number with no fractional part (JSON Schema's
// integer: 30 and 30.0 alike).
func jsonInteger(raw json.RawMessage) (int64, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '-' && (t[0] < '0' || t[0] > '9') {
		return 0, false // a quoted number decodes into json.Number too
	}
	var n json.Number
	if json.Unmarshal(t, &n) != nil {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	x, err := n.Float64()
	if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, false
	}
	return int64(x), true
}

// bulk serves PATCH /v1/asset/labels.
func (f *Fake) bulk(w http.ResponseWriter, r *http.Request, o *Options) {
	arrived := time.Now()
	if r.Method != http.MethodPatch {
		f.methodNotAllowed(w, "PATCH")
		return
	}
	if !f.authorized(w, r, o) {
		return
	}
	f.bulkCalls.Add(1)
	call := Call{Time: arrived, Method: r.Method, Bulk: true, Team: r.Header.Get("X-Team-Id"), UpdateType: r.URL.Query().Get("update_type")}
	call.Status, call.AssetCount, call.Async = f.bulkCall(w, r, o)
	if !o.NoLog {
		f.record(call)
	}
}

// bulkCall answers one authorised bulk call: the status, and the
// asset_count and async it answered (0, false for a failure).
func (f *Fake) bulkCall(w http.ResponseWriter, r *http.Request, o *Options) (int, int64, bool) {
	if o.BulkFailStatus != 0 {
		if o.BulkFailStatus == http.StatusTooManyRequests {
			return f.throttle(w, o), 0, false
		}
		return f.write(w, o.BulkFailStatus, defaultBody(o.BulkFailStatus)), 0, false
	}
	req, ok := f.parseBulk(w, r)
	if !ok {
		return http.StatusBadRequest, 0, false
	}
	apply := func() int64 { return f.applyBulk(&req.flt, req.op, req.labels, o.Seed, o.BulkSkipFraction) }
	var count int64
	async, delay := false, o.BulkLateDelay
	if o.BulkAsyncAbove > 0 || delay > 0 {
		count = f.countBulk(&req.flt) // what matches now is what PDCP answers
		if o.BulkAsyncAbove > 0 && count > int64(o.BulkAsyncAbove) {
			async, delay = true, o.BulkAsyncDelay
		}
	}
	if delay > 0 {
		// Applied later to what matches then: assets that start or stop
		// matching meanwhile are changed or not, as by a real queue.
		if !f.later(delay, func() { apply() }) {
			return f.write(w, http.StatusServiceUnavailable, errorBody(503, "Shutting down", "SERVICE_UNAVAILABLE")), 0, false
		}
	} else {
		count = apply()
	}
	msg := "Labels updated successfully"
	if async {
		msg = "Labels update started"
	}
	body, _ := json.Marshal(struct {
		Message    string `json:"message"`
		AssetCount int64  `json:"asset_count"`
		Async      bool   `json:"async"`
	}{msg, count, async})
	return f.write(w, http.StatusOK, body), count, async
}

// countBulk counts the assets flt matches now.
func (f *Fake) countBulk(flt *filter) int64 {
	var n int64
	for _, id := range f.order {
		a := f.lookup(id)
		l := f.lock(id)
		l.Lock()
		if f.match(id, a, flt) {
			n++
		}
		l.Unlock()
	}
	return n
}

// applyBulk applies op to every asset flt matches now, except the share
// skip leaves unchanged (decided by seed and asset ID alone), and returns
// how many matched, skipped ones included: PDCP's asset_count counts what
// matched, not what changed.
func (f *Fake) applyBulk(flt *filter, op opFunc, labels []string, seed uint64, skip float64) int64 {
	var n int64
	for _, id := range f.order {
		a := f.lookup(id)
		l := f.lock(id)
		l.Lock()
		if f.match(id, a, flt) {
			n++
			if !chance(seed, id, 0, saltBulkSkip, skip) {
				op(a, f.vocab, labels)
			}
		}
		l.Unlock()
	}
	return n
}

// BulkSkipped reports whether a bulk call under the current options leaves
// assetID unchanged (Options.BulkSkipFraction), so that tests can predict
// which assets a partial bulk call reached.
func (f *Fake) BulkSkipped(assetID int64) bool {
	o := f.opts.Load()
	return chance(o.Seed, assetID, 0, saltBulkSkip, o.BulkSkipFraction)
}

// later runs fn after d in a goroutine the Fake owns; Close stops it
// unrun. It reports false, running nothing, once the Fake is closed.
func (f *Fake) later(d time.Duration, fn func()) bool {
	f.bulkMu.Lock()
	defer f.bulkMu.Unlock()
	if f.closed {
		return false
	}
	f.bulkWG.Add(1)
	f.bulkPending.Add(1)
	go func() {
		defer f.bulkWG.Done()
		defer f.bulkPending.Add(-1)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-f.stop:
		}
	}()
	return true
}

// Close drops the bulk changes still waiting to be applied (async or
// late) and waits for their goroutines to end; bulk calls after it answer
// 503. A second Close is harmless. Server.Close calls it once the server
// has stopped.
func (f *Fake) Close() {
	f.bulkMu.Lock()
	if !f.closed {
		f.closed = true
		close(f.stop)
	}
	f.bulkMu.Unlock()
	f.bulkWG.Wait()
}
