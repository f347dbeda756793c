package pdcpfake

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Documented bodies, pre-encoded because the label path is a benchmark
// target.
var (
	bodyDeleted      = []byte(`{"message":"All labels removed successfully"}`)
	bodyRemoved      = []byte(`{"message":"Labels removed successfully"}`)
	bodyAdded        = []byte(`{"message":"Labels added successfully"}`)
	bodyReplaced     = []byte(`{"message":"Labels replaced successfully"}`)
	bodyNotFound     = []byte(`{"message":"Asset not found","code":"NOT_FOUND"}`)
	bodyInvalidID    = []byte(`{"message":"Invalid asset ID format","code":"INVALID_ID"}`)
	bodyUnauthorized = []byte(`{"message":"Invalid or missing API key","code":"UNAUTHORIZED"}`)
	bodyThrottled    = []byte(`{"message":"Rate limit exceeded","code":"RATE_LIMITED"}`)
	bodyMethod       = []byte(`{"message":"Method not allowed","code":"METHOD_NOT_ALLOWED"}`)
	bodyNoRoute      = []byte(`{"message":"Not found","code":"NOT_FOUND"}`)
	contentTypeJSON  = []string{"application/json"}
)

func errorBody(status int, message, code string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
		Code    string `json:"code,omitempty"`
	}{message, code})
	return b
}

// defaultBody is the body of a scripted reply without Body.
func defaultBody(status int) []byte {
	switch {
	case status >= 200 && status <= 299:
		return bodyDeleted
	case status == 400:
		return bodyInvalidID
	case status == 401:
		return bodyUnauthorized
	case status == 404:
		return bodyNotFound
	case status == 429:
		return bodyThrottled
	}
	code := strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	if code == "" {
		code = "STATUS_" + strconv.Itoa(status)
	}
	msg := http.StatusText(status)
	if msg == "" {
		msg = "Status " + strconv.Itoa(status)
	}
	return errorBody(status, msg, code)
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/_fake/") {
		f.admin(w, r) // observation only: not counted
		return
	}
	f.requests.Add(1)
	f.countMethod(r.Method)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxInFlight.Load(); n > m && !f.maxInFlight.CompareAndSwap(m, n); m = f.maxInFlight.Load() {
	}
	o := f.opts.Load()
	rest, ok := strings.CutPrefix(p, "/v1/asset/")
	switch {
	case !ok:
		f.write(w, http.StatusNotFound, bodyNoRoute)
	case rest == "labels":
		f.bulk(w, r, o)
	case rest == "enumerate/contents":
		f.list(w, r, o)
	case strings.HasSuffix(rest, "/labels") && strings.IndexByte(rest, '/') == len(rest)-len("/labels"):
		f.label(w, r, o, rest[:len(rest)-len("/labels")])
	default:
		f.write(w, http.StatusNotFound, bodyNoRoute)
	}
}

func (f *Fake) countMethod(m string) {
	for i, v := range methods {
		if v == m {
			f.byMethod[i].Add(1)
			return
		}
	}
	f.byMethod[len(methods)].Add(1)
}

func (f *Fake) countStatus(status int) {
	if status >= 0 && status < len(f.byStatus) {
		f.byStatus[status].Add(1)
	}
}

// write sends a JSON answer and counts it.
func (f *Fake) write(w http.ResponseWriter, status int, body []byte) int {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	f.countStatus(status)
	return status
}

func (f *Fake) methodNotAllowed(w http.ResponseWriter, allow string) int {
	w.Header().Set("Allow", allow)
	return f.write(w, http.StatusMethodNotAllowed, bodyMethod)
}

// authorized checks X-Api-Key (net/http canonicalises the header name, so
// X-API-Key matches too) and answers 401 when it is wrong.
func (f *Fake) authorized(w http.ResponseWriter, r *http.Request, o *Options) bool {
	if r.Header.Get("X-Api-Key") == o.APIKey {
		return true
	}
	f.unauthorized.Add(1)
	f.write(w, http.StatusUnauthorized, bodyUnauthorized)
	return false
}

func (f *Fake) throttle(w http.ResponseWriter, o *Options) int {
	f.throttled.Add(1)
	if o.RetryAfter != "" {
		w.Header().Set("Retry-After", o.RetryAfter)
	}
	return f.write(w, http.StatusTooManyRequests, bodyThrottled)
}

// label serves DELETE/PATCH/POST /v1/asset/{id}/labels.
func (f *Fake) label(w http.ResponseWriter, r *http.Request, o *Options, idStr string) {
	arrived := time.Now()
	switch r.Method {
	case http.MethodDelete, http.MethodPatch, http.MethodPost:
	default:
		f.methodNotAllowed(w, "DELETE, PATCH, POST")
		return
	}
	if !f.authorized(w, r, o) {
		return
	}
	n := f.labelCalls.Add(1)
	id, err := strconv.ParseInt(idStr, 10, 64)
	status := 0
	if err != nil {
		status = f.write(w, http.StatusBadRequest, bodyInvalidID)
	} else {
		status = f.labelCall(w, r, o, id, n)
	}
	if !o.NoLog {
		f.record(Call{Time: arrived, Method: r.Method, AssetID: id, Status: status, Team: r.Header.Get("X-Team-Id")})
	}
}

// labelCall decides and sends the answer for a valid asset ID; it returns
// the status sent (0 for a reset).
func (f *Fake) labelCall(w http.ResponseWriter, r *http.Request, o *Options, id, n int64) int {
	if len(o.Script) > 0 {
		if rep, ok := f.nextScript(id, o); ok {
			return f.scripted(w, r, id, rep)
		}
	}
	if o.UnauthorizedAfter > 0 && n > int64(o.UnauthorizedAfter) {
		f.unauthorized.Add(1)
		return f.write(w, http.StatusUnauthorized, bodyUnauthorized)
	}
	if !f.allow(o) {
		return f.throttle(w, o)
	}
	a := f.lookup(id)
	attempt := f.attempt(id, a)
	if d := f.latency(o, id, attempt); d > 0 {
		sleep(r.Context(), d)
	}
	switch {
	case chance(o.Seed, id, attempt, saltThrottle, o.ThrottleFraction):
		return f.throttle(w, o)
	case chance(o.Seed, id, attempt, saltReset, o.ResetFraction):
		return f.reset(w)
	case chance(o.Seed, id, attempt, saltTruncate, o.TruncateFraction):
		return f.truncate(w, http.StatusInternalServerError, defaultBody(http.StatusInternalServerError))
	case a == nil:
		return f.write(w, http.StatusNotFound, bodyNotFound)
	}
	switch f.kind(id, o) {
	case KindInvalid:
		return f.write(w, http.StatusBadRequest, answerError("Invalid asset ID format", "INVALID_ID", id, attempt))
	case KindFlaky, KindFailing:
		l := f.lock(id)
		l.Lock()
		fail := o.FailTimes < 0 || a.fails < uint32(o.FailTimes)
		if fail {
			a.fails++
		}
		l.Unlock()
		if fail {
			return f.write(w, o.FailStatus, answerError(http.StatusText(o.FailStatus), "INTERNAL_ERROR", id, attempt))
		}
	}
	return f.apply(w, r, id, a)
}

// answerError is an ErrorResponse with PDCP's error_id, which names one
// answer: "fake-<asset>-<attempt>" (attempt counting from 0), so a test
// can tell which call's error a report kept.
func answerError(message, code string, id int64, attempt uint64) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
		Code    string `json:"code"`
		ErrorID string `json:"error_id"`
	}{message, code, "fake-" + strconv.FormatInt(id, 10) + "-" + strconv.FormatUint(attempt, 10)})
	return b
}

// attempt returns and advances the per-asset call counter.
func (f *Fake) attempt(id int64, a *asset) uint64 {
	if a != nil {
		l := f.lock(id)
		l.Lock()
		n := a.attempts
		a.attempts++
		l.Unlock()
		return uint64(n)
	}
	f.miscMu.Lock()
	n := f.unseenAttempts[id]
	f.unseenAttempts[id] = n + 1
	f.miscMu.Unlock()
	return n
}

func (f *Fake) latency(o *Options, id int64, attempt uint64) time.Duration {
	if o.SpikeFraction > 0 && chance(o.Seed, id, attempt, saltSpike, o.SpikeFraction) {
		return o.SpikeLatency
	}
	d := o.Latency
	if o.LatencyJitter > 0 {
		d += time.Duration(hash(o.Seed, id, attempt, saltJitter) % uint64(o.LatencyJitter))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// nextScript pops the next scripted reply for id.
func (f *Fake) nextScript(id int64, o *Options) (Reply, bool) {
	s := o.Script[id]
	if len(s) == 0 {
		return Reply{}, false
	}
	f.miscMu.Lock()
	defer f.miscMu.Unlock()
	i := f.scriptPos[id]
	if i >= len(s) {
		return Reply{}, false
	}
	f.scriptPos[id] = i + 1
	return s[i], true
}

func (f *Fake) scripted(w http.ResponseWriter, r *http.Request, id int64, rep Reply) int {
	if rep.Delay > 0 {
		sleep(r.Context(), rep.Delay)
	}
	if rep.Reset {
		return f.reset(w)
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	body := []byte(rep.Body)
	if rep.Body == "" {
		body = defaultBody(status)
	}
	if rep.Truncate {
		return f.truncateWith(w, status, body, rep.Header)
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if status >= 200 && status <= 299 {
		if a := f.lookup(id); a != nil {
			if op, labels, ok := f.parseOp(w, r); ok {
				l := f.lock(id)
				l.Lock()
				op(a, f.vocab, labels)
				l.Unlock()
			} else {
				return http.StatusBadRequest
			}
		}
	}
	return f.write(w, status, body)
}

type opFunc func(a *asset, v *vocab, labels []string)

// parseOp decodes the operation of a label call; on a bad request it
// answers 400 and returns ok=false.
func (f *Fake) parseOp(w http.ResponseWriter, r *http.Request) (op opFunc, labels []string, ok bool) {
	if r.Method == http.MethodDelete {
		return func(a *asset, _ *vocab, _ []string) { a.clear() }, nil, true
	}
	var body struct {
		Labels *[]string `json:"labels"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(data, &body) != nil || body.Labels == nil {
		f.write(w, http.StatusBadRequest, errorBody(400, "Invalid request body: labels is required", "INVALID_BODY"))
		return nil, nil, false
	}
	labels = *body.Labels
	if r.Method == http.MethodPost {
		return (*asset).add, labels, true
	}
	switch r.URL.Query().Get("update_type") {
	case "", "append":
		return (*asset).add, labels, true
	case "delete":
		return (*asset).remove, labels, true
	case "replace":
		return (*asset).replace, labels, true
	}
	f.write(w, http.StatusBadRequest, errorBody(400, "Invalid update_type: use append, replace or delete", "INVALID_PARAM"))
	return nil, nil, false
}

// apply performs a successful label call.
func (f *Fake) apply(w http.ResponseWriter, r *http.Request, id int64, a *asset) int {
	op, labels, ok := f.parseOp(w, r)
	if !ok {
		return http.StatusBadRequest
	}
	// A reset may be followed at once by a person's edit (EditAfterReset):
	// the edit lands under the same lock, so no reader sees the reset alone.
	reset := r.Method == http.MethodDelete || (r.Method == http.MethodPatch && r.URL.Query().Get("update_type") == "delete")
	o := f.opts.Load()
	l := f.lock(id)
	l.Lock()
	op(a, f.vocab, labels)
	if reset && o.EditAfterReset > 0 && chance(o.Seed, id, uint64(a.attempts), saltEdit, o.EditAfterReset) {
		a.add(f.vocab, []string{o.EditLabel})
	}
	l.Unlock()
	body := bodyDeleted
	switch {
	case r.Method == http.MethodPost:
		body = bodyAdded
	case r.Method == http.MethodPatch:
		switch r.URL.Query().Get("update_type") {
		case "delete":
			body = bodyRemoved
		case "replace":
			body = bodyReplaced
		default:
			body = bodyAdded
		}
	}
	return f.write(w, http.StatusOK, body)
}

// reset closes the connection without an answer (RST where possible).
func (f *Fake) reset(w http.ResponseWriter) int {
	f.resets.Add(1)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return 0
}

func (f *Fake) truncate(w http.ResponseWriter, status int, body []byte) int {
	return f.truncateWith(w, status, body, nil)
}

// truncateWith announces len(body)+100 bytes, sends half the body and
// closes the connection.
func (f *Fake) truncateWith(w http.ResponseWriter, status int, body []byte, hdr map[string]string) int {
	f.truncated.Add(1)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	writeTruncated(rw.Writer, status, body, hdr)
	_ = rw.Flush()
	f.countStatus(status)
	return status
}

func writeTruncated(bw *bufio.Writer, status int, body []byte, hdr map[string]string) {
	bw.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	bw.WriteString("Content-Type: application/json\r\nConnection: close\r\n")
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		bw.WriteString(http.CanonicalHeaderKey(k) + ": " + hdr[k] + "\r\n")
	}
	bw.WriteString("Content-Length: " + strconv.Itoa(len(body)+100) + "\r\n\r\n")
	bw.Write(body[:len(body)/2])
}
