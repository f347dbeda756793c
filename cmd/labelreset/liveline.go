package main

import (
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// clearLine moves to the start of the line and erases it.
const clearLine = "\r\033[K"

// liveLine is stderr with a line that stays at the bottom of a terminal
// (the progress bar). Everything else written to stderr, the log above
// all, goes through Write, which takes the bar off the line, writes, and
// draws the bar again below, so that a log line never runs into the bar.
// Off a terminal there is no bar to keep: writes pass through.
type liveLine struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	line string // the bar on screen; "" when none is drawn
	// width is the terminal's width in columns, read on each draw so that
	// a resized window gets a bar that fits at the next tick.
	width func() int
}

var _ io.Writer = (*liveLine)(nil)

func newLiveLine(w io.Writer, tty bool) *liveLine {
	return &liveLine{w: w, tty: tty, width: terminalWidth(w)}
}

// defaultWidth is the width assumed when the terminal does not tell.
const defaultWidth = 80

// terminalWidth returns a function that reads the width of the terminal
// behind w, or defaultWidth when w is not one or does not answer.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok {
		return func() int { return defaultWidth }
	}
	return func() int {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
		return defaultWidth
	}
}

// room is how many columns a drawn line may take. A line as wide as the
// terminal may wrap (the cursor moves past the last column), and
// clearLine erases only the row the cursor is on, so a wrapped bar would
// leave its first rows behind at every redraw: one column is kept free.
func (l *liveLine) room() int {
	return max(1, l.width()-1)
}

// Write writes b above the bar. b is a whole line or lines (slog writes
// each record in one call).
func (l *liveLine) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line == "" {
		return l.w.Write(b)
	}
	if _, err := io.WriteString(l.w, clearLine); err != nil {
		return 0, err
	}
	n, err := l.w.Write(b)
	if err != nil {
		return n, err
	}
	_, err = io.WriteString(l.w, l.line)
	return n, err
}

// draw replaces the bar with line (terminals only).
func (l *liveLine) draw(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, clearLine+line)
	l.line = line
}

// println writes s as a line of its own above the bar.
func (l *liveLine) println(s string) {
	l.Write([]byte(s + "\n"))
}

// finish draws line as the last state of the bar and leaves it on the
// screen: later writes go below it.
func (l *liveLine) finish(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		io.WriteString(l.w, clearLine)
	}
	io.WriteString(l.w, line+"\n")
	l.line = ""
}
