package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// progress draws a bar on a terminal, or a plain line every few seconds.
type progress struct {
	w         io.Writer
	tty       bool
	start     time.Time
	lastLine  time.Time
	startDone int64
	drawn     bool
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, start: time.Now(), startDone: -1}
}

func (p *progress) line(c *jobs.Campaign) string {
	done := c.Finished()
	if p.startDone < 0 {
		p.startDone = done
	}
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0.5 {
		rate = float64(done-p.startDone) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(c.Total-done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 0.0
	if c.Total > 0 {
		pct = 100 * float64(done) / float64(c.Total)
	}
	counts := fmt.Sprintf("reset %d  not_found %d  invalid %d  failed %d", c.Counts["reset"], c.Counts["not_found"], c.Counts["invalid"], c.Counts["failed"])
	if n := c.Counts["cancelled"]; n > 0 {
		counts += fmt.Sprintf("  cancelled %d", n)
	}
	return fmt.Sprintf("%s %d/%d (%.1f%%)  %s  %.0f/s  ETA %s  [%s]", bar(pct, 24), done, c.Total, pct, counts, rate, eta, c.State)
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func (p *progress) update(c *jobs.Campaign) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(c))
		p.drawn = true
		return
	}
	if time.Since(p.lastLine) >= 5*time.Second {
		fmt.Fprintln(p.w, p.line(c))
		p.lastLine = time.Now()
	}
}

func (p *progress) done(c *jobs.Campaign) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.line(c))
		return
	}
	fmt.Fprintln(p.w, p.line(c))
}
