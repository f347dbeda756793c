package main

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labelreset/labelreset/jobs"
)

// rateWindow is how far back the progress rate looks: long enough that a
// quiet second (a batch in backoff, a slow Redis answer) does not drop the
// rate to zero, short enough that it follows a change of --rate.
const rateWindow = 10 * time.Second

// plainEvery is how often progress writes a line when stderr is not a
// terminal (a log file, CI): one line per tick would flood it.
const plainEvery = 5 * time.Second

// progress draws a bar on a terminal, redrawn in place, or a plain line
// every plainEvery otherwise.
type progress struct {
	live *liveLine
	now  func() time.Time
	// samples are (time, finished) readings within rateWindow, oldest
	// first; the first may be older, so that the window is always covered.
	samples    []sample
	lastChange time.Time // when the finished count last grew, or the first reading
	lastLine   time.Time
	// etaOut is when the ETA fell under a second: assets left a second
	// later are waiting on their retries.
	etaOut time.Time
}

type sample struct {
	at   time.Time
	done int64
}

func newProgress(live *liveLine, now func() time.Time) *progress {
	return &progress{live: live, now: now}
}

// observe records a reading of the finished count at now.
func (p *progress) observe(now time.Time, done int64) {
	if n := len(p.samples); n == 0 || done > p.samples[n-1].done {
		p.lastChange = now
	}
	p.samples = append(p.samples, sample{now, done})
	cut := now.Add(-rateWindow)
	i := 0
	for i+1 < len(p.samples) && !p.samples[i+1].at.After(cut) {
		i++
	}
	p.samples = p.samples[i:]
}

// minRateSpan is the shortest span a rate is computed over: shorter, one
// batch landing between two readings gives a rate of thousands per second.
const minRateSpan = 500 * time.Millisecond

// rate is the assets finished per second over the window; known is false
// while the readings span less than minRateSpan.
func (p *progress) rate() (rate float64, known bool) {
	if len(p.samples) < 2 {
		return 0, false
	}
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	span := last.at.Sub(first.at)
	if span < minRateSpan {
		return 0, false
	}
	return float64(last.done-first.done) / span.Seconds(), true
}

// line renders the progress of c at p.now and records it as a reading.
func (p *progress) line(c *jobs.Campaign) string {
	return p.fitted(c, 0)
}

// barWidth is the width of the bar inside its brackets when there is room;
// minBarWidth is the narrowest one still worth drawing.
const (
	barWidth    = 24
	minBarWidth = 10
)

// fitted renders the progress of c at p.now, records it as a reading, and
// cuts it to cols display columns (0: no limit). It drops the least useful
// parts first, so that the counts and the percentage stay: the bar narrows,
// then counts that are zero go, then the state, the bar, the pace; the
// last resort cuts the line at cols.
func (p *progress) fitted(c *jobs.Campaign, cols int) string {
	now := p.now()
	done := c.Finished()
	p.observe(now, done)
	pct := 0.0
	if c.Total > 0 {
		pct = 100 * float64(done) / float64(c.Total)
	}
	parts := lineParts{
		barPct: pct,
		bar:    barWidth,
		head:   fmt.Sprintf("%d/%d (%.1f%%)", done, c.Total, pct),
		state:  "[" + string(c.State) + "]",
	}
	first := jobs.OutcomeReset
	if c.Mode == jobs.ModeRestore {
		first = jobs.OutcomeRestored
	}
	for _, o := range []string{first, "not_found", "invalid", "failed", "cancelled",
		jobs.OutcomeNotInInventory, jobs.OutcomeUnchanged} {
		n := c.Counts[o]
		if (o == "cancelled" || o == jobs.OutcomeNotInInventory || o == jobs.OutcomeUnchanged) && n == 0 {
			continue
		}
		parts.counts = append(parts.counts, outcomeCount{o, n})
	}
	if c.State == jobs.StateRunning {
		parts.pace = p.pace(now, c.Total-done)
	}
	if cols <= 0 {
		return parts.String()
	}
	for _, shrink := range []func(*lineParts) bool{
		(*lineParts).narrowBar,
		(*lineParts).dropZeroCounts,
		(*lineParts).dropState,
		(*lineParts).dropBar,
		(*lineParts).dropPace,
	} {
		for displayWidth(parts.String()) > cols {
			if !shrink(&parts) {
				break
			}
		}
	}
	return cutToWidth(parts.String(), cols)
}

// lineParts are the pieces of a progress line, so that fitted can drop
// them one by one.
type lineParts struct {
	barPct float64
	bar    int // width inside the brackets; 0: no bar
	head   string
	counts []outcomeCount
	pace   string // "" when the campaign is not running
	state  string // "" once dropped
}

type outcomeCount struct {
	outcome string
	n       int64
}

func (l lineParts) String() string {
	var b strings.Builder
	if l.bar > 0 {
		b.WriteString(bar(l.barPct, l.bar) + " ")
	}
	b.WriteString(l.head)
	for _, c := range l.counts {
		fmt.Fprintf(&b, "  %s %d", c.outcome, c.n)
	}
	if l.pace != "" {
		b.WriteString("  " + l.pace)
	}
	if l.state != "" {
		b.WriteString("  " + l.state)
	}
	return b.String()
}

func (l *lineParts) narrowBar() bool {
	if l.bar <= minBarWidth {
		return false
	}
	l.bar--
	return true
}

func (l *lineParts) dropZeroCounts() bool {
	kept := l.counts[:0]
	for _, c := range l.counts {
		if c.n != 0 {
			kept = append(kept, c)
		}
	}
	dropped := len(kept) < len(l.counts)
	l.counts = kept
	return dropped
}

func (l *lineParts) dropState() bool { return empty(&l.state) }
func (l *lineParts) dropPace() bool  { return empty(&l.pace) }

func (l *lineParts) dropBar() bool {
	dropped := l.bar > 0
	l.bar = 0
	return dropped
}

// empty empties *s and reports whether there was anything to empty.
func empty(s *string) bool {
	had := *s != ""
	*s = ""
	return had
}

// displayWidth is the columns s takes on a terminal: one per rune, as
// every rune a progress line holds (ASCII, the em dash) is one column wide.
func displayWidth(s string) int {
	return utf8.RuneCountInString(s)
}

// cutToWidth cuts s to at most cols runes, without trailing spaces.
func cutToWidth(s string, cols int) string {
	if displayWidth(s) <= cols {
		return s
	}
	return strings.TrimRight(string([]rune(s)[:cols]), " ")
}

// pace is the rate and what remains of a running campaign. An ETA that
// ran out a second ago with assets left would read "ETA 0s" for as long as
// their retries take, so the tail names them instead; a window without any outcome
// (nothing finished for rateWindow) says how long it has been quiet rather
// than 0/s.
func (p *progress) pace(now time.Time, remaining int64) string {
	rate, known := p.rate()
	switch {
	case !known:
		return "—/s  ETA ?"
	case remaining <= 0:
		return fmt.Sprintf("%.0f/s", rate)
	case rate > 0:
		eta := time.Duration(float64(remaining) / rate * float64(time.Second)).Round(time.Second)
		if eta >= time.Second {
			p.etaOut = time.Time{}
			return fmt.Sprintf("%.0f/s  ETA %s", rate, eta)
		}
		if p.etaOut.IsZero() {
			p.etaOut = now
		}
		if now.Sub(p.etaOut) < time.Second {
			return fmt.Sprintf("%.0f/s  ETA <1s", rate)
		}
		return fmt.Sprintf("%.0f/s  retrying %d", rate, remaining)
	}
	return fmt.Sprintf("—/s  %d left, no outcome for %s", remaining, now.Sub(p.lastChange).Round(time.Second))
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// update draws the progress of c: in place on a terminal, or as a plain
// line when plainEvery has passed since the last one.
func (p *progress) update(c *jobs.Campaign) {
	if p.live.tty {
		p.live.draw(p.fitted(c, p.live.room()))
		return
	}
	line := p.line(c)
	if now := p.now(); p.lastLine.IsZero() || now.Sub(p.lastLine) >= plainEvery {
		p.live.println(line)
		p.lastLine = now
	}
}

// updateLine draws a line that is not a campaign's counts (the snapshot
// phase), as update does.
func (p *progress) updateLine(line string) {
	if p.live.tty {
		p.live.draw(cutToWidth(line, p.live.room()))
		return
	}
	if now := p.now(); p.lastLine.IsZero() || now.Sub(p.lastLine) >= plainEvery {
		p.live.println(line)
		p.lastLine = now
	}
}

// done draws the last state of c once, and leaves it on the screen.
func (p *progress) done(c *jobs.Campaign) {
	p.live.finish(p.line(c))
}

// note prints a line of its own above the bar (a hint, a warning).
func (p *progress) note(format string, args ...any) {
	p.live.println(fmt.Sprintf(format, args...))
}
