package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiError is a client-facing error: its status, a stable code and a
// message naming the problem. Plan, when set, shows the rows read.
type apiError struct {
	status int
	code   string
	msg    string
	plan   *planJSON
	cause  error // for errors.Is; never shown
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.cause }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string    `json:"error"`
	Code  string    `json:"code"`
	Plan  *planJSON `json:"plan,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorBody{Error: e.msg, Code: e.code, Plan: e.plan})
}

// writeJSON writes v with < > & as they are, not as \u003c: error
// messages quote file names and CSV rows, and the body is served as
// application/json with nosniff, never rendered as HTML.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":"internal error: cannot render the response","code":"internal"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail writes err: an *apiError as such, anything else as a 500 whose
// details go to the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := err.(*apiError); ok {
		writeError(w, e)
		return
	}
	id := w.Header().Get("X-Request-Id")
	s.log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, errorf(http.StatusInternalServerError, "internal",
		"internal error (request %s): see the server log", id))
}

func joinComma(s []string) string { return strings.Join(s, ", ") }
