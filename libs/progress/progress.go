// Package progress reports how long work is moving: counts of items done and
// failed, the rate, and an estimate of the time left when the total is known.
// On a plain writer (a log file, a pipe, CI output) it prints one line every
// interval; on a terminal it keeps rewriting one line. Finish prints the
// summary line.
//
// It never logs and never reads the environment: the caller passes the
// writer, the interval and the style.
//
//	p := progress.New(progress.Options{Out: os.Stderr, Label: "replay", Style: progress.StyleFor(os.Stderr)})
//	for _, m := range messages {
//		if err := send(m); err != nil {
//			p.AddFailed(1)
//			continue
//		}
//		p.Add(1)
//	}
//	p.Finish()
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Style says how progress is shown.
type Style int

// The styles.
const (
	// StyleLines prints one line per interval: for logs, pipes and CI.
	StyleLines Style = iota
	// StyleTerminal rewrites a single line (carriage return, then erase to
	// the end of the line) at every interval: for a person at a terminal.
	StyleTerminal
)

// Default intervals, per style.
const (
	DefaultLinesInterval    = 5 * time.Second
	DefaultTerminalInterval = 500 * time.Millisecond
)

// StyleFor returns StyleTerminal when w is a character device (a terminal,
// as far as the standard library can tell without a system call; /dev/null
// is one too, and writing to it is harmless), StyleLines otherwise.
func StyleFor(w io.Writer) Style {
	f, ok := w.(*os.File)
	if !ok {
		return StyleLines
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return StyleLines
	}
	return StyleTerminal
}

// Options configure a Reporter. Zero values take the documented defaults.
type Options struct {
	// Out receives the progress and the summary. Required.
	Out io.Writer
	// Label starts every line, e.g. "replay"; empty for none.
	Label string
	// Total is how many items the work has, or 0 when unknown (no
	// percentage, no estimate of the time left). SetTotal changes it.
	Total int64
	// Style is how progress is shown; see StyleFor.
	Style Style
	// Interval is the time between progress lines or updates; 0 means
	// DefaultLinesInterval or DefaultTerminalInterval by Style.
	Interval time.Duration
	// Detail, if set, is called at each update and its result appended to
	// the line: other counts of the work, e.g. "12 objects read".
	Detail func() string
	// Now and Tick replace the clock in tests: Now is time.Now and Tick
	// returns a time.Ticker's channel and its Stop when nil.
	Now  func() time.Time
	Tick func(d time.Duration) (<-chan time.Time, func())
}

// Reporter counts items done and failed and prints progress in the
// background until Finish. Its methods are safe for concurrent use.
type Reporter struct {
	opts  Options
	start time.Time

	total, done, failed atomic.Int64

	stop     chan struct{}
	stopped  chan struct{}
	finished sync.Once
}

// New starts a Reporter. Call Finish when the work ends.
func New(opts Options) *Reporter {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultLinesInterval
		if opts.Style == StyleTerminal {
			opts.Interval = DefaultTerminalInterval
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick == nil {
		opts.Tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	r := &Reporter{opts: opts, start: opts.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	r.total.Store(opts.Total)
	ticks, stopTicks := opts.Tick(opts.Interval)
	go func() {
		defer close(r.stopped)
		defer stopTicks()
		for {
			select {
			case <-r.stop:
				return
			case <-ticks:
				r.print(r.line(false), false)
			}
		}
	}()
	return r
}

// Add counts n more items done.
func (r *Reporter) Add(n int64) { r.done.Add(n) }

// AddFailed counts n more items failed.
func (r *Reporter) AddFailed(n int64) { r.failed.Add(n) }

// Set replaces the counts, for work whose counts come from elsewhere (e.g.
// a server-side task that reports how far it got).
func (r *Reporter) Set(done, failed int64) {
	r.done.Store(done)
	r.failed.Store(failed)
}

// SetTotal sets how many items the work has; 0 means unknown.
func (r *Reporter) SetTotal(n int64) { r.total.Store(n) }

// Counts returns the items done and failed so far.
func (r *Reporter) Counts() (done, failed int64) { return r.done.Load(), r.failed.Load() }

// Finish stops the updates and prints the summary line: the counts, the
// elapsed time and the rate. Later calls do nothing.
func (r *Reporter) Finish() {
	r.finished.Do(func() {
		close(r.stop)
		<-r.stopped
		r.print(r.line(true), true)
	})
}

// print writes one progress or summary line in the reporter's style.
func (r *Reporter) print(line string, final bool) {
	if r.opts.Style == StyleTerminal {
		// Return to the line's start and erase what a longer line left; the
		// summary ends the line.
		line = "\r" + line + "\x1b[K"
		if !final {
			_, _ = io.WriteString(r.opts.Out, line)
			return
		}
	}
	_, _ = io.WriteString(r.opts.Out, line+"\n")
}

// line formats the counts: for progress,
//
//	replay: 120/400 done (30%), 2 failed, 40.0/s, about 7s left; 3 objects read
//
// and for the summary,
//
//	replay: finished: 400/400 done, 2 failed in 10s, 40.2/s; 12 objects read
func (r *Reporter) line(final bool) string {
	done, failed, total := r.done.Load(), r.failed.Load(), r.total.Load()
	elapsed := r.opts.Now().Sub(r.start)
	var b strings.Builder
	if r.opts.Label != "" {
		b.WriteString(r.opts.Label + ": ")
	}
	if final {
		b.WriteString("finished: ")
	}
	fmt.Fprintf(&b, "%d", done)
	if total > 0 {
		fmt.Fprintf(&b, "/%d", total)
	}
	b.WriteString(" done")
	if total > 0 && !final {
		fmt.Fprintf(&b, " (%d%%)", min(100, (done+failed)*100/total))
	}
	fmt.Fprintf(&b, ", %d failed", failed)
	if final {
		fmt.Fprintf(&b, " in %s", round(elapsed))
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done+failed) / elapsed.Seconds()
	}
	fmt.Fprintf(&b, ", %s/s", formatRate(rate))
	if !final && total > 0 && rate > 0 {
		if left := total - done - failed; left > 0 {
			fmt.Fprintf(&b, ", about %s left", round(time.Duration(float64(left)/rate*float64(time.Second))))
		}
	}
	if r.opts.Detail != nil {
		if d := r.opts.Detail(); d != "" {
			b.WriteString("; " + d)
		}
	}
	return b.String()
}

// formatRate prints a rate with one decimal below 100 a second, none above.
func formatRate(r float64) string {
	if r < 100 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// round shortens a duration for a person: tenths of a second below a minute,
// whole seconds above.
func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
