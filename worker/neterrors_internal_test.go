package worker

import (
	"testing"
	"time"
)

// TestNetErrorsWarnOncePerWindow: a warning is due at the threshold, then
// at most once per window while the errors go on; sparse errors never
// warn.
func TestNetErrorsWarnOncePerWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	e := &netErrors{now: func() time.Time { return now }}
	var warned []int
	note := func(at time.Duration) {
		now = t0.Add(at)
		if n, _, warn := e.note(); warn {
			warned = append(warned, n)
		}
	}
	// Sparse: one error every 6 s never reaches 3 within a window.
	for i := range 5 {
		note(time.Duration(i) * 6 * time.Second)
	}
	if len(warned) != 0 {
		t.Fatalf("sparse errors warned %v, want no warning", warned)
	}
	// A burst: 10 errors within 1 s warn once, at the third.
	base := 60 * time.Second
	for i := range 10 {
		note(base + time.Duration(i)*100*time.Millisecond)
	}
	// Still failing 12 s later: one more warning.
	for i := range 5 {
		note(base + 12*time.Second + time.Duration(i)*100*time.Millisecond)
	}
	if want := []int{3, 3}; len(warned) != len(want) || warned[0] != want[0] || warned[1] != want[1] {
		t.Errorf("warnings at counts %v, want %v", warned, want)
	}
}
