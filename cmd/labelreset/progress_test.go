package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labelreset/labelreset/jobs"
)

// fakeClock is a progress clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func campaignAt(total, reset int64) *jobs.Campaign {
	return &jobs.Campaign{ID: "c", State: jobs.StateRunning, Total: total, Counts: map[string]int64{"reset": reset}}
}

// TestProgressLine renders the pace part of the bar for readings taken
// every 250ms (as watch does) on a fake clock.
func TestProgressLine(t *testing.T) {
	type reading struct {
		after time.Duration // since the previous reading
		done  int64
	}
	// steady: 100 assets/s for 3s.
	steady := func(from int64) []reading {
		var rs []reading
		for i := int64(1); i <= 12; i++ {
			rs = append(rs, reading{250 * time.Millisecond, from + 25*i})
		}
		return rs
	}
	quiet := func(d time.Duration, done int64) []reading {
		var rs []reading
		for ; d > 0; d -= 250 * time.Millisecond {
			rs = append(rs, reading{250 * time.Millisecond, done})
		}
		return rs
	}
	cases := []struct {
		name     string
		total    int64
		readings []reading
		want     []string
		notWant  []string
	}{
		{name: "first reading", total: 1000, readings: []reading{{0, 0}},
			want: []string{"—/s  ETA ?"}},
		{name: "steady", total: 1000, readings: append([]reading{{0, 0}}, steady(0)...),
			want: []string{"100/s  ETA 7s"}},
		{name: "a quiet second mid-run keeps the rate", total: 1000,
			readings: append(append([]reading{{0, 0}}, steady(0)...), quiet(1500*time.Millisecond, 300)...),
			want:     []string{"67/s  ETA 11s"}, notWant: []string{" 0/s", "ETA ?"}},
		{name: "an ETA under a second", total: 303,
			readings: append([]reading{{0, 0}}, steady(0)...),
			want:     []string{"100/s  ETA <1s"}},
		{name: "retry tail names what is left", total: 303,
			readings: append(append([]reading{{0, 0}}, steady(0)...), quiet(1500*time.Millisecond, 300)...),
			want:     []string{"67/s  retrying 3"}, notWant: []string{"ETA"}},
		{name: "a quiet window says since when", total: 1000,
			readings: append(append([]reading{{0, 0}}, steady(0)...), quiet(12*time.Second, 300)...),
			want:     []string{"—/s  700 left, no outcome for 12s"}, notWant: []string{" 0/s", "ETA"}},
		{name: "a stalled campaign watched from its start", total: 1000,
			readings: append([]reading{{0, 40}}, quiet(20*time.Second, 40)...),
			want:     []string{"—/s  960 left, no outcome for 20s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := newProgress(newLiveLine(&bytes.Buffer{}, true), clk.now)
			var line string
			for _, r := range tc.readings {
				clk.add(r.after)
				line = p.line(campaignAt(tc.total, r.done))
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(line, nw) {
					t.Errorf("line %q has %q", line, nw)
				}
			}
		})
	}
}

// TestProgressFinalLine: a finished campaign shows no pace, and done
// leaves exactly one final line on a terminal.
func TestProgressFinalLine(t *testing.T) {
	clk := newFakeClock()
	var out bytes.Buffer
	live := newLiveLine(&out, true)
	live.width = func() int { return 200 }
	p := newProgress(live, clk.now)
	c := campaignAt(10, 5)
	p.update(c)
	clk.add(time.Second)
	c = campaignAt(10, 10)
	c.State = jobs.StateDone
	p.done(c)
	want := clearLine + "[############............] 5/10 (50.0%)  reset 5  not_found 0  invalid 0  failed 0  —/s  ETA ?  [running]" +
		clearLine + "[########################] 10/10 (100.0%)  reset 10  not_found 0  invalid 0  failed 0  [done]\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
}

// TestProgressFitsTerminal: the bar drawn on a terminal never takes its
// last column (a line that wraps cannot be erased in place), keeps the
// counts and the percentage as long as they fit, and follows a resize.
func TestProgressFitsTerminal(t *testing.T) {
	running := &jobs.Campaign{ID: "c", State: jobs.StateRunning, Total: 5150,
		Counts: map[string]int64{"reset": 1234, "not_found": 20, "failed": 3}}
	cases := []struct {
		cols    int
		want    []string
		notWant []string
	}{
		{cols: 200, want: []string{"[#####...................] 1257/5150 (24.4%)  reset 1234  not_found 20  invalid 0  failed 3  —/s  ETA ?  [running]"}},
		{cols: 101, want: []string{"[##........] 1257/5150 (24.4%)  reset 1234  not_found 20  invalid 0  failed 3  —/s  ETA ?  [running]"}},
		{cols: 90, want: []string{"[##........] 1257/5150 (24.4%)  reset 1234  not_found 20  failed 3  —/s  ETA ?  [running]"}},
		{cols: 80, want: []string{"[##........] 1257/5150 (24.4%)  reset 1234  not_found 20  failed 3  —/s  ETA ?"}, notWant: []string{"[running]"}},
		{cols: 70, want: []string{"1257/5150 (24.4%)  reset 1234  not_found 20  failed 3  —/s  ETA ?"}, notWant: []string{"#"}},
		{cols: 60, want: []string{"1257/5150 (24.4%)  reset 1234  not_found 20  failed 3"}, notWant: []string{"ETA"}},
		{cols: 20, want: []string{"1257/5150 (24.4%)"}, notWant: []string{"  "}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.cols), func(t *testing.T) {
			var out bytes.Buffer
			live := newLiveLine(&out, true)
			live.width = func() int { return tc.cols }
			p := newProgress(live, newFakeClock().now)
			p.update(running)
			got := strings.TrimPrefix(out.String(), clearLine)
			if n := utf8.RuneCountInString(got); n > tc.cols-1 {
				t.Errorf("drawn line takes %d columns on a %d-column terminal: %q", n, tc.cols, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("drawn line %q, want it to contain %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("drawn line %q, want it without %q", got, w)
				}
			}
		})
	}

	// A resize between two draws: the next draw fits the new width.
	var out bytes.Buffer
	cols := 200
	live := newLiveLine(&out, true)
	live.width = func() int { return cols }
	p := newProgress(live, newFakeClock().now)
	p.update(running)
	cols = 50
	out.Reset()
	p.update(running)
	if n := utf8.RuneCountInString(strings.TrimPrefix(out.String(), clearLine)); n > cols-1 {
		t.Errorf("after a resize to %d columns the bar takes %d", cols, n)
	}
}

// TestLiveLineKeepsLogOffTheBar: a log line written while the bar is
// drawn goes on a line of its own, and the bar is drawn again below it.
func TestLiveLineKeepsLogOffTheBar(t *testing.T) {
	var out bytes.Buffer
	l := newLiveLine(&out, true)
	l.Write([]byte("before\n"))
	l.draw("[bar 1]")
	l.Write([]byte("level=WARN msg=slow\n"))
	l.draw("[bar 2]")
	l.finish("[bar 3]")
	l.Write([]byte("after\n"))
	want := "before\n" +
		clearLine + "[bar 1]" +
		clearLine + "level=WARN msg=slow\n" + "[bar 1]" +
		clearLine + "[bar 2]" +
		clearLine + "[bar 3]\n" +
		"after\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}

	// Off a terminal, writes pass through untouched.
	out.Reset()
	l = newLiveLine(&out, false)
	l.println("line")
	l.Write([]byte("log\n"))
	l.finish("final")
	if got, want := out.String(), "line\nlog\nfinal\n"; got != want {
		t.Errorf("plain output %q, want %q", got, want)
	}
}

// TestHoldHint: every state that waits for a person names the command
// that moves the campaign on, with the namespace when it is not the
// default.
func TestHoldHint(t *testing.T) {
	for _, tc := range []struct {
		state jobs.State
		ns    string
		want  string
	}{
		{jobs.StatePending, jobs.DefaultNamespace, "`labelreset approve c`"},
		{jobs.StatePaused, jobs.DefaultNamespace, "`labelreset resume c`"},
		{jobs.StateBlocked, "team2", "fix PDCP_API_KEY / PDCP_TEAM_ID of the workers"},
		{jobs.StateBlocked, "team2", "`labelreset resume c --namespace team2`"},
		{jobs.StateStopped, jobs.DefaultNamespace, "`labelreset resume c`"},
		{jobs.StateRunning, jobs.DefaultNamespace, ""},
		{jobs.StateDone, jobs.DefaultNamespace, ""},
	} {
		c := &jobs.Campaign{ID: "c", State: tc.state}
		got := holdHint(c, tc.ns)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("holdHint(%s, %s) = %q, want it to contain %q", tc.state, tc.ns, got, tc.want)
		}
	}
}
