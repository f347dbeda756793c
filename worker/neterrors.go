package worker

import (
	"sync"
	"time"
)

// Network errors are warned about when netErrorThreshold of them fall
// within netErrorWindow, at most once per window: an unreachable API
// server otherwise shows only as a campaign that does not move while every
// asset spends its retries.
const (
	netErrorWindow    = 10 * time.Second
	netErrorThreshold = 3
)

// netErrors counts calls that got no answer (Result.Status 0) in a fixed
// window and decides when to warn.
type netErrors struct {
	now func() time.Time // time.Now; a test clock in tests

	mu       sync.Mutex
	start    time.Time // of the current window
	count    int       // errors in it
	lastWarn time.Time
}

// note counts one network error at the current time. warn reports that a
// warning is due now, for n errors within the last d.
func (e *netErrors) note() (n int, d time.Duration, warn bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.start) >= netErrorWindow {
		e.start, e.count = now, 0
	}
	e.count++
	if e.count < netErrorThreshold || (!e.lastWarn.IsZero() && now.Sub(e.lastWarn) < netErrorWindow) {
		return e.count, 0, false
	}
	e.lastWarn = now
	return e.count, max(now.Sub(e.start), time.Second).Round(time.Second), true
}
