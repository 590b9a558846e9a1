package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bar is a one-line progress display that redraws itself in place on a
// terminal and prints nothing anywhere else (a pipe, a file, --quiet).
type Bar struct {
	w       io.Writer
	on      bool
	every   time.Duration
	start   time.Time
	last    time.Time
	printed bool
}

// NewBar returns a bar on w, drawn only when w is a terminal and quiet is
// false, and redrawn at most once per every (0: on each Draw).
func NewBar(w io.Writer, quiet bool, every time.Duration) *Bar {
	on := false
	if f, ok := w.(*os.File); ok && !quiet {
		on = term.IsTerminal(int(f.Fd()))
	}
	return &Bar{w: w, on: on, every: every, start: time.Now()}
}

// On reports whether the bar draws anything.
func (b *Bar) On() bool { return b.on }

// Elapsed is the time since the bar was made.
func (b *Bar) Elapsed() time.Duration { return time.Since(b.start) }

// Draw replaces the line by the formatted text. Between two redraws less
// than the bar's interval apart only a final one (the last step) is drawn.
func (b *Bar) Draw(final bool, format string, a ...any) {
	if !b.on || (!final && b.printed && time.Since(b.last) < b.every) {
		return
	}
	b.last = time.Now()
	fmt.Fprintf(b.w, "\r"+format, a...)
	b.printed = true
}

// Clear erases the line if anything was drawn.
func (b *Bar) Clear() {
	if b.printed {
		fmt.Fprint(b.w, "\r\033[K")
		b.printed = false
	}
}

// Gauge is a bar of width cells, the fraction frac of them filled.
func Gauge(width int, frac float64) string {
	fill := min(width, max(0, int(frac*float64(width))))
	return strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
}
