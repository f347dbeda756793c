package idfile

import (
	"math"
	"strconv"
)

// Reasons reported by ParseID (IDError.Reason) and, for file rows, BadRow.Reason.
const (
	ReasonEmpty       = "empty"
	ReasonNotDecimal  = "not a decimal integer"
	ReasonNotPositive = "must be > 0"
	ReasonOutOfRange  = "out of int64 range"
)

// IDError reports a string that is not a valid asset ID.
type IDError struct {
	Value  string // the input as given (untrimmed)
	Reason string // one of the Reason* constants
}

// Error renders `invalid asset ID "value": reason`, with the value quoted and
// truncated like BadRow values.
func (e *IDError) Error() string {
	return "invalid asset ID " + quoteValue(e.Value) + ": " + e.Reason
}

// ParseID parses one asset ID. It is the single validation rule for asset IDs,
// shared by files, --ids and JSON inputs: surrounding ASCII spaces and tabs are
// ignored; what remains must be ASCII decimal digits only (no sign, no '+', no
// exponent, no hex, no Unicode digits, leading zeros allowed) with a value in
// 1..math.MaxInt64. Errors are *IDError with Reason "empty", "not a decimal
// integer", "must be > 0" (zero or a negative decimal) or "out of int64 range".
func ParseID(s string) (int64, error) {
	id, reason := parseID(s)
	if reason != "" {
		return 0, &IDError{Value: s, Reason: reason}
	}
	return id, nil
}

// parseID is ParseID without allocation; it returns a reason instead of an error.
func parseID[T string | []byte](b T) (int64, string) {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t') {
		j--
	}
	if i == j {
		return 0, ReasonEmpty
	}
	neg := false
	if b[i] == '-' && j-i > 1 {
		neg = true
		i++
	}
	var v uint64
	overflow := false
	if j-i <= 18 { // cannot overflow: skip the per-digit range check
		for k := i; k < j; k++ {
			c := b[k] - '0'
			if c > 9 {
				return 0, ReasonNotDecimal
			}
			v = v*10 + uint64(c)
		}
	} else {
		for k := i; k < j; k++ {
			c := b[k] - '0'
			if c > 9 {
				return 0, ReasonNotDecimal
			}
			if !overflow {
				if v > (math.MaxInt64-uint64(c))/10 {
					overflow = true
				} else {
					v = v*10 + uint64(c)
				}
			}
		}
	}
	switch {
	case neg:
		return 0, ReasonNotPositive
	case overflow:
		return 0, ReasonOutOfRange
	case v == 0:
		return 0, ReasonNotPositive
	}
	return int64(v), ""
}

// maxShownValue is how many bytes of a value error messages show.
const maxShownValue = 64

// quoteValue quotes v with strconv.Quote after truncating it to 64 bytes
// (backing off to a rune boundary) and appending "…" when it was longer.
func quoteValue(v string) string {
	if len(v) > maxShownValue {
		cut := maxShownValue
		for k := 0; k < 3 && cut > 0 && !runeStart(v[cut]); k++ {
			cut--
		}
		if !runeStart(v[cut]) {
			cut = maxShownValue
		}
		v = v[:cut] + "…"
	}
	return strconv.Quote(v)
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }
