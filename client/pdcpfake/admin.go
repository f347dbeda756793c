package pdcpfake

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ConfigPatch is the body of POST /_fake/config: only present fields
// change. The answer is the resulting ConfigPatch with every field set.
type ConfigPatch struct {
	APIKey            *string  `json:"api_key,omitempty"`
	UnauthorizedAfter *int     `json:"unauthorized_after,omitempty"`
	InvalidFraction   *float64 `json:"invalid_fraction,omitempty"`
	FailFraction      *float64 `json:"fail_fraction,omitempty"`
	FailTimes         *int     `json:"fail_times,omitempty"`
	FailStatus        *int     `json:"fail_status,omitempty"`
	ThrottleFraction  *float64 `json:"throttle_fraction,omitempty"`
	RetryAfter        *string  `json:"retry_after,omitempty"`
	RateLimit         *float64 `json:"rate_limit,omitempty"`
	ResetFraction     *float64 `json:"reset_fraction,omitempty"`
	TruncateFraction  *float64 `json:"truncate_fraction,omitempty"`
	LatencyMS         *float64 `json:"latency_ms,omitempty"`
	ListLimitCap      *int     `json:"list_limit_cap,omitempty"`
	ListFailFraction  *float64 `json:"list_fail_fraction,omitempty"`
	ListThrottle      *bool    `json:"list_throttle,omitempty"`
	EditAfterReset    *float64 `json:"edit_after_reset,omitempty"`
	EditLabel         *string  `json:"edit_label,omitempty"`
	BulkAsyncAbove    *int     `json:"bulk_async_above,omitempty"`
	BulkAsyncDelayMS  *float64 `json:"bulk_async_delay_ms,omitempty"`
	BulkSkipFraction  *float64 `json:"bulk_skip_fraction,omitempty"`
	BulkLateDelayMS   *float64 `json:"bulk_late_delay_ms,omitempty"`
	BulkFailStatus    *int     `json:"bulk_fail_status,omitempty"`
}

// Apply copies the present fields into o.
func (p ConfigPatch) Apply(o *Options) {
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	if p.APIKey != nil {
		o.APIKey = *p.APIKey
	}
	if p.UnauthorizedAfter != nil {
		o.UnauthorizedAfter = *p.UnauthorizedAfter
	}
	if p.FailTimes != nil {
		o.FailTimes = *p.FailTimes
	}
	if p.FailStatus != nil {
		o.FailStatus = *p.FailStatus
	}
	if p.RetryAfter != nil {
		o.RetryAfter = *p.RetryAfter
	}
	if p.RateLimit != nil && *p.RateLimit != o.RateLimit {
		o.RateLimit = *p.RateLimit
		o.RateBurst = 0 // re-derive from the new rate
	}
	if p.LatencyMS != nil {
		o.Latency = ms(*p.LatencyMS)
	}
	if p.ListLimitCap != nil {
		o.ListLimitCap = *p.ListLimitCap
	}
	if p.ListThrottle != nil {
		o.ListThrottle = *p.ListThrottle
	}
	if p.EditLabel != nil {
		o.EditLabel = *p.EditLabel
	}
	if p.BulkAsyncAbove != nil {
		o.BulkAsyncAbove = *p.BulkAsyncAbove
	}
	if p.BulkAsyncDelayMS != nil {
		o.BulkAsyncDelay = ms(*p.BulkAsyncDelayMS)
	}
	if p.BulkLateDelayMS != nil {
		o.BulkLateDelay = ms(*p.BulkLateDelayMS)
	}
	if p.BulkFailStatus != nil {
		o.BulkFailStatus = *p.BulkFailStatus
	}
	set(&o.BulkSkipFraction, p.BulkSkipFraction)
	set(&o.ListFailFraction, p.ListFailFraction)
	set(&o.EditAfterReset, p.EditAfterReset)
	set(&o.InvalidFraction, p.InvalidFraction)
	set(&o.FailFraction, p.FailFraction)
	set(&o.ThrottleFraction, p.ThrottleFraction)
	set(&o.ResetFraction, p.ResetFraction)
	set(&o.TruncateFraction, p.TruncateFraction)
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func toMS(d time.Duration) *float64 {
	v := float64(d) / float64(time.Millisecond)
	return &v
}

func patchOf(o Options) ConfigPatch {
	return ConfigPatch{
		APIKey: &o.APIKey, UnauthorizedAfter: &o.UnauthorizedAfter, InvalidFraction: &o.InvalidFraction,
		FailFraction: &o.FailFraction, FailTimes: &o.FailTimes, FailStatus: &o.FailStatus,
		ThrottleFraction: &o.ThrottleFraction, RetryAfter: &o.RetryAfter, RateLimit: &o.RateLimit,
		ResetFraction: &o.ResetFraction, TruncateFraction: &o.TruncateFraction, LatencyMS: toMS(o.Latency),
		ListLimitCap: &o.ListLimitCap, ListFailFraction: &o.ListFailFraction, ListThrottle: &o.ListThrottle,
		EditAfterReset: &o.EditAfterReset, EditLabel: &o.EditLabel,
		BulkAsyncAbove: &o.BulkAsyncAbove, BulkAsyncDelayMS: toMS(o.BulkAsyncDelay), BulkSkipFraction: &o.BulkSkipFraction,
		BulkLateDelayMS: toMS(o.BulkLateDelay), BulkFailStatus: &o.BulkFailStatus,
	}
}

// admin serves /_fake/*; no API key needed.
func (f *Fake) admin(w http.ResponseWriter, r *http.Request) {
	send := func(status int, b []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
	writeJSON := func(status int, v any) {
		b, _ := json.Marshal(v)
		send(status, b)
	}
	bad := func(msg string) { send(http.StatusBadRequest, errorBody(400, msg, "INVALID_PARAM")) }
	switch r.URL.Path {
	case "/_fake/stats":
		writeJSON(http.StatusOK, f.Stats())
	case "/_fake/calls":
		var calls []Call
		if v := r.URL.Query().Get("asset_id"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				bad("Invalid value of parameter asset_id")
				return
			}
			calls = f.Calls(id)
		} else {
			calls = f.Log()
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, c := range calls {
			_ = enc.Encode(c)
		}
		_ = bw.Flush()
	case "/_fake/asset":
		id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
		if err != nil {
			bad("Invalid value of parameter id")
			return
		}
		labels, ok := f.Labels(id)
		writeJSON(http.StatusOK, struct {
			ID     int64    `json:"id"`
			Seeded bool     `json:"seeded"`
			Kind   string   `json:"kind"`
			Labels []string `json:"labels"`
		}{id, ok, f.Kind(id), labels})
	case "/_fake/labels":
		f.serveLabels(w, r, bad)
	case "/_fake/config":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			send(http.StatusMethodNotAllowed, bodyMethod)
			return
		}
		var p ConfigPatch
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			send(http.StatusBadRequest, errorBody(400, "Invalid config patch: "+err.Error(), "INVALID_BODY"))
			return
		}
		f.Update(p.Apply)
		writeJSON(http.StatusOK, patchOf(f.Options()))
	default:
		send(http.StatusNotFound, bodyNoRoute)
	}
}

// serveLabels answers GET /_fake/labels[?ids=1,2]: {"id": [labels]} for
// the given seeded IDs (unknown ones are left out) or for every asset,
// streamed so that a million assets need no second copy.
func (f *Fake) serveLabels(w http.ResponseWriter, r *http.Request, bad func(string)) {
	ids := f.order
	if v := r.URL.Query().Get("ids"); v != "" {
		ids = nil
		for _, s := range splitList(v) {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				bad("Invalid value of parameter ids")
				return
			}
			if f.lookup(id) != nil {
				ids = append(ids, id)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			bw.WriteByte(',')
		}
		labels, _ := f.Labels(id)
		b, _ := json.Marshal(labels)
		bw.WriteString(`"` + strconv.FormatInt(id, 10) + `":`)
		bw.Write(b)
	}
	bw.WriteByte('}')
	_ = bw.Flush()
}
