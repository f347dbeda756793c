package client

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Outcome classifies the answer to one PDCP call. The worker's retry policy
// is a function of the Outcome alone, so every HTTP status, transport error
// and malformed body maps to exactly one of these.
type Outcome uint8

// The outcome classes. The zero value is deliberately not a valid outcome so
// that a forgotten assignment shows up as "unknown" rather than "reset".
const (
	OutcomeUnknown      Outcome = iota
	OutcomeReset                // 2xx: labels removed
	OutcomeNotFound             // 404: no such asset; never retried
	OutcomeInvalid              // 400 (e.g. INVALID_ID); never retried
	OutcomeUnauthorized         // 401/403: key or team wrong; every further call fails the same way
	OutcomeThrottled            // 429, or 503 with Retry-After: slow down
	OutcomeRetryable            // 408, other 5xx (not 501), timeouts, resets, truncated/unparsable 5xx bodies
	OutcomePermanent            // any other 4xx, 501, redirects elsewhere
)

var outcomeNames = [...]string{
	OutcomeUnknown:      "unknown",
	OutcomeReset:        "reset",
	OutcomeNotFound:     "not_found",
	OutcomeInvalid:      "invalid",
	OutcomeUnauthorized: "unauthorized",
	OutcomeThrottled:    "throttled",
	OutcomeRetryable:    "retryable",
	OutcomePermanent:    "permanent",
}

// String returns the outcome's snake_case name as used in metrics and reports.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Terminal reports whether the outcome ends an asset's processing: terminal
// outcomes are recorded and never retried.
func (o Outcome) Terminal() bool {
	switch o {
	case OutcomeReset, OutcomeNotFound, OutcomeInvalid, OutcomePermanent:
		return true
	}
	return false
}

// APIError is PDCP's ErrorResponse body, truncated to bounded sizes.
type APIError struct {
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
	ErrorID string `json:"error_id,omitempty"`
}

// Result is what one call returned. It is a value, not an error, because a
// 404 or a 429 is an expected answer that the caller must classify and
// record, not an exceptional condition.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status code, or 0 when no response arrived.
	Status int
	// API is the parsed ErrorResponse of a non-2xx answer, if it had one.
	API *APIError
	// RetryAfter is the server's requested pause (429/503), 0 if none.
	RetryAfter time.Duration
	// Err describes a transport or decoding failure. It never contains the
	// API key.
	Err error
	// Duration is the wall time of the HTTP exchange.
	Duration time.Duration
}

// Error returns a short, human-readable description of a non-reset result,
// suitable for the ledger's last-error column. It is empty for a reset.
// It leads with the cause, because a report keeps a bounded text: a
// transport error drops the method and URL that Err carries (the report
// row already names the asset): "x509: certificate signed by unknown
// authority", not `Delete "https://...`. PDCP's error_id is not part of
// it: callers keep API.ErrorID in a column of its own.
func (r Result) Error() string {
	switch {
	case r.Outcome == OutcomeReset:
		return ""
	case r.Err != nil && r.Status == 0:
		return withoutURL(r.Err)
	case r.API != nil && r.API.Code != "":
		return fmt.Sprintf("HTTP %d %s: %s", r.Status, r.API.Code, r.API.Message)
	case r.API != nil && r.API.Message != "":
		return fmt.Sprintf("HTTP %d: %s", r.Status, r.API.Message)
	case r.Err != nil:
		return fmt.Sprintf("HTTP %d: %v", r.Status, r.Err)
	default:
		return fmt.Sprintf("HTTP %d", r.Status)
	}
}

// withoutURL is err's message with any *url.Error in its chain reduced to
// the error it wraps.
func withoutURL(err error) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		msg = strings.Replace(msg, ue.Error(), ue.Err.Error(), 1)
	}
	return msg
}
