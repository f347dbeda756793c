package jobs

// One asset's ledger record and its compact encoding: the outcome code,
// the attempt counts and a short error in at most compactValueMax bytes, so
// that a batch's ledger hash keeps Redis' compact encoding.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is the ledger entry of one asset: its latest outcome and how it
// got there.
type Record struct {
	AssetID  int64  `json:"asset_id"`
	Outcome  string `json:"outcome"`
	Status   int    `json:"http_status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
	// ErrorID is PDCP's error_id of the last answer, kept for failed and
	// invalid assets: the reference a support ticket needs.
	ErrorID    string    `json:"error_id,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Failures and Throttles are the retry budget an unfinished asset has
	// used since it was last (re-)driven: calls that failed with a
	// retryable answer, and throttled answers. Attempts counts every call
	// ever made and is what reports show.
	Failures  int `json:"-"`
	Throttles int `json:"-"`
}

// The paths an asset's outcome took (Record.Path, the report's path
// column).
const (
	// PathBulk: reset by an express campaign's bulk call and seen clean
	// by its verification; no per-asset call was made.
	PathBulk = "bulk"
	// PathPerAsset: at least one per-asset call was made.
	PathPerAsset = "per_asset"
)

// Path says how the asset got its outcome: PathBulk for a reset made
// without any per-asset call (only an express campaign's verification
// records one), PathPerAsset once a per-asset call was made, "" when no
// call was (not_in_inventory, unchanged, cancelled before any call, or no
// outcome yet).
func (r Record) Path() string {
	switch {
	case r.Attempts > 0:
		return PathPerAsset
	case r.Outcome == OutcomeReset:
		return PathBulk
	}
	return ""
}

// Terminal reports whether the record is a final outcome.
func (r Record) Terminal() bool {
	return outcomeCode(r.Outcome) != 0 && isTerminalCode(outcomeCode(r.Outcome))
}

// Non-terminal ledger states: "retrying" keeps the attempts of an asset
// whose batch was handed back; "requeued" marks an asset taken out of its
// outcome by a re-drive.
const (
	outcomeRetrying = "retrying"
	outcomeRequeued = "requeued"
)

func outcomeCode(o string) byte {
	switch o {
	case OutcomeReset:
		return 'r'
	case OutcomeNotFound:
		return 'n'
	case OutcomeInvalid:
		return 'i'
	case OutcomeFailed:
		return 'f'
	case OutcomeCancelled:
		return 'c'
	case OutcomeNotInInventory:
		return 'o'
	case OutcomeUnchanged:
		return 'u'
	case OutcomeRestored:
		return 'R'
	case outcomeRetrying:
		return 'p'
	case outcomeRequeued:
		return 'q'
	}
	return 0
}

func outcomeName(c byte) string {
	switch c {
	case 'r':
		return OutcomeReset
	case 'n':
		return OutcomeNotFound
	case 'i':
		return OutcomeInvalid
	case 'f':
		return OutcomeFailed
	case 'c':
		return OutcomeCancelled
	case 'o':
		return OutcomeNotInInventory
	case 'u':
		return OutcomeUnchanged
	case 'R':
		return OutcomeRestored
	}
	return OutcomePending
}

func isTerminalCode(c byte) bool {
	switch c {
	case 'r', 'n', 'i', 'f', 'c', 'o', 'u', 'R':
		return true
	}
	return false
}

// compactValueMax is Redis' default hash-max-listpack-value: a hash keeps
// the compact listpack encoding only while every value is at most this
// long. One longer record turns a whole batch's ledger hash (a hundred
// assets) into a hashtable, about three times its size, which is why a
// ledger record never exceeds it and a longer error lives in the
// campaign's error hash (keys.errors) instead.
const compactValueMax = 64

// MaxErrorBytes bounds the error text kept for a failed or invalid asset
// (the report's error column): long enough for PDCP's message, its code
// and the worker's "(gave up after N attempts)".
const MaxErrorBytes = 256

// maxErrorIDBytes bounds the error_id kept per asset: PDCP's are short
// opaque IDs; anything longer is not one a support ticket can use.
const maxErrorIDBytes = 128

// errorElsewhere is the whole error field of a ledger record whose error
// text and error_id are in the campaign's error hash. Error texts never
// contain it (sanitizeError).
const errorElsewhere = "\x1e"

// ClipError returns s cut to at most n bytes: at a word boundary when one
// is in the last quarter, never inside a UTF-8 sequence, with "…" marking
// the cut. Callers that add their own suffix clip the text before it, so
// the suffix (the attempt count) is what survives.
func ClipError(s string, n int) string {
	const ellipsis = "…"
	if len(s) <= n {
		return s
	}
	if n <= len(ellipsis) {
		return ""
	}
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if sp := strings.LastIndexByte(s[:cut], ' '); sp >= cut*3/4 {
		cut = sp
	}
	return strings.TrimRight(s[:cut], " ,;:(") + ellipsis
}

// sanitizeError keeps the errorElsewhere marker out of an error text.
func sanitizeError(s string) string {
	return strings.ReplaceAll(s, errorElsewhere, " ")
}

// sanitizeErrorID keeps an error_id on one line and bounded: the error
// hash stores it before a newline.
func sanitizeErrorID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return ClipError(s, maxErrorIDBytes)
}

// keepsFullError reports whether an outcome keeps its whole error and
// error_id: a failed or invalid asset is what a report is read for, and
// the one a support ticket names. Other outcomes keep the compact form.
func keepsFullError(outcome string) bool {
	return outcome == OutcomeFailed || outcome == OutcomeInvalid
}

// encodeRecord packs a record as "o,status,attempts,unix,error", where
// attempts is "A" (the only form older versions wrote: every call counted
// as a failure) or, for an unfinished asset whose budget differs from
// that, "A/F/T" (Attempts, Failures, Throttles). The record stays within
// compactValueMax: a failed or invalid asset whose error does not fit,
// or that has an error_id, gets errorElsewhere as its error and returns
// its error hash value, "error_id\nerror" (side); any other error is
// cut to fit.
func encodeRecord(dst []byte, r *Record) (rec []byte, side string) {
	dst = append(dst, outcomeCode(r.Outcome), ',')
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(r.Attempts), 10)
	// Only an unfinished asset needs its budget; a final outcome keeps the
	// short form (a reset after one call is "1", not "1/0/0").
	if r.Outcome == outcomeRetrying && (r.Failures != r.Attempts || r.Throttles != 0) {
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(r.Failures), 10)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(r.Throttles), 10)
	}
	dst = append(dst, ',')
	if !r.FinishedAt.IsZero() {
		dst = strconv.AppendInt(dst, r.FinishedAt.Unix(), 10)
	}
	dst = append(dst, ',')
	e := sanitizeError(r.Error)
	room := compactValueMax - len(dst)
	if keepsFullError(r.Outcome) && (len(e) > room || r.ErrorID != "") {
		return append(dst, errorElsewhere...), sanitizeErrorID(r.ErrorID) + "\n" + ClipError(e, MaxErrorBytes)
	}
	return append(dst, ClipError(e, room)...), ""
}

// decodeSide reads an error hash value (see encodeRecord).
func decodeSide(r *Record, v string) {
	r.ErrorID, r.Error, _ = strings.Cut(v, "\n")
}

// decodeAttempts reads "A" or "A/F/T" (see encodeRecord).
func decodeAttempts(s string) (attempts, failures, throttles int) {
	a, rest, ok := strings.Cut(s, "/")
	attempts, _ = strconv.Atoi(a)
	if !ok {
		return attempts, attempts, 0
	}
	f, t, _ := strings.Cut(rest, "/")
	failures, _ = strconv.Atoi(f)
	throttles, _ = strconv.Atoi(t)
	return attempts, failures, throttles
}

func decodeRecord(id int64, v string) (Record, error) {
	parts := strings.SplitN(v, ",", 5)
	if len(parts) != 5 || len(parts[0]) != 1 || !(isTerminalCode(parts[0][0]) || parts[0][0] == 'p' || parts[0][0] == 'q') {
		return Record{}, fmt.Errorf("asset %d: corrupt ledger record %q", id, v)
	}
	r := Record{AssetID: id, Error: parts[4]}
	switch parts[0][0] {
	case 'p':
		r.Outcome = outcomeRetrying
	case 'q':
		r.Outcome = outcomeRequeued
	default:
		r.Outcome = outcomeName(parts[0][0])
	}
	r.Status, _ = strconv.Atoi(parts[1])
	r.Attempts, r.Failures, r.Throttles = decodeAttempts(parts[2])
	if r.Outcome == outcomeRequeued {
		// Re-driven: the asset starts a fresh retry budget; its attempts
		// keep counting.
		r.Failures, r.Throttles = 0, 0
	}
	if ts, err := strconv.ParseInt(parts[3], 10, 64); err == nil && ts > 0 {
		r.FinishedAt = time.Unix(ts, 0).UTC()
	}
	return r, nil
}
