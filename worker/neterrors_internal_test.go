package worker

import (
	"slices"
	"testing"
	"time"
)

// TestNetErrorsWarnOncePerWindow: a warning is due at the threshold, then
// at most once per window while the errors go on, counting the errors
// since the previous warning; errors further apart than the gap never
// warn.
func TestNetErrorsWarnOncePerWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	e := &netErrors{now: func() time.Time { return now }}
	type warning struct {
		n int
		d time.Duration
	}
	var warned []warning
	note := func(at time.Duration) {
		now = t0.Add(at)
		if n, d, warn := e.note(); warn {
			warned = append(warned, warning{n, d})
		}
	}
	// Sparse: one error every 70 s never warns.
	for i := range 5 {
		note(time.Duration(i) * 70 * time.Second)
	}
	if len(warned) != 0 {
		t.Fatalf("sparse errors warned %v, want no warning", warned)
	}
	// A burst: 10 errors within 1 s warn once, at the third; the first
	// error of a retry burst 12 s later warns once more, for it and the 7
	// after the first warning.
	base := 10 * time.Minute
	for i := range 10 {
		note(base + time.Duration(i)*100*time.Millisecond)
	}
	for i := range 5 {
		note(base + 12*time.Second + time.Duration(i)*100*time.Millisecond)
	}
	want := []warning{{3, time.Second}, {8, 12 * time.Second}}
	if !slices.Equal(warned, want) {
		t.Errorf("warnings %v, want %v", warned, want)
	}
}
