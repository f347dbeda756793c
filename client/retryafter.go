package client

import (
	"net/http"
	"strings"
	"time"
)

// MaxRetryAfter caps the pause a server can request, so that a broken or
// hostile Retry-After cannot park a worker for days.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either delta-seconds or an HTTP-date, relative to now. Negative values and
// dates in the past yield 0; values above MaxRetryAfter are capped. ok is
// false for an empty or unparsable value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	digits, neg := v, false
	if digits[0] == '-' || digits[0] == '+' {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if digits != "" && allDigits(digits) {
		if neg {
			return 0, true
		}
		const maxSecs = int64(MaxRetryAfter / time.Second)
		var secs int64
		for i := 0; i < len(digits); i++ {
			secs = secs*10 + int64(digits[i]-'0')
			if secs > maxSecs {
				return MaxRetryAfter, true
			}
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > MaxRetryAfter:
		return MaxRetryAfter, true
	}
	// HTTP-dates have one-second resolution; round up so that a client
	// waiting exactly d never arrives early.
	if r := d % time.Second; r != 0 {
		d += time.Second - r
		if d > MaxRetryAfter {
			d = MaxRetryAfter
		}
	}
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
