package worker

import (
	"sync"
	"time"
)

// Repeated network errors are warned about once netErrorThreshold of them
// have come without a gap of netErrorGap, at most once per netErrorWindow:
// an unreachable API server otherwise shows only as a campaign that does
// not move while every asset spends its retries. The gap is longer than
// the window because retries come in bursts spaced by their backoff.
const (
	netErrorWindow    = 10 * time.Second
	netErrorGap       = time.Minute
	netErrorThreshold = 3
)

// netErrors counts calls that got no answer (Result.Status 0) and decides
// when to warn.
type netErrors struct {
	now func() time.Time // time.Now; a test clock in tests

	mu       sync.Mutex
	since    time.Time // start of the count: first error, or last warning
	last     time.Time // last error
	count    int       // errors since since
	lastWarn time.Time
}

// note counts one network error at the current time. warn reports that a
// warning is due now, for n errors within the last d (since the previous
// warning, or the first of them).
func (e *netErrors) note() (n int, d time.Duration, warn bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.count == 0 || now.Sub(e.last) > netErrorGap {
		e.since, e.count = now, 0
	}
	e.count++
	e.last = now
	if e.count < netErrorThreshold || (!e.lastWarn.IsZero() && now.Sub(e.lastWarn) < netErrorWindow) {
		return e.count, 0, false
	}
	n, d = e.count, max(now.Sub(e.since), time.Second).Round(time.Second)
	e.lastWarn, e.since, e.count = now, now, 0
	return n, d, true
}
