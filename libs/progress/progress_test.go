package progress_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/progress"
)

// clock is a fake clock with a ticker the test drives: tick sends one tick
// and waits until the reporter has written its line.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
	out   *writer
	// interval is what the reporter asked its ticker for.
	interval time.Duration
	stopped  bool
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), ticks: make(chan time.Time), out: &writer{wrote: make(chan struct{}, 100)}}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Tick(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interval = d
	return c.ticks, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stopped = true
	}
}

func (c *clock) tick() {
	c.ticks <- c.Now()
	<-c.out.wrote
}

// writer records what the reporter writes and signals each write.
type writer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wrote <- struct{}{}
	return w.buf.Write(p)
}

func (w *writer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		total  int64
		detail func() string
		want   []string
	}{
		{
			name:  "TotalKnown",
			total: 400,
			want: []string{
				"replay: 100/400 done (25%), 0 failed, 20.0/s, about 15s left",
				"replay: 290/400 done (75%), 10 failed, 30.0/s, about 3.3s left",
				"replay: 390/400 done (100%), 10 failed, 30.8/s",
				"replay: finished: 390/400 done, 10 failed in 13s, 30.8/s",
			},
		},
		{
			name: "TotalUnknown",
			want: []string{
				"replay: 100 done, 0 failed, 20.0/s",
				"replay: 290 done, 10 failed, 30.0/s",
				"replay: 390 done, 10 failed, 30.8/s",
				"replay: finished: 390 done, 10 failed in 13s, 30.8/s",
			},
		},
		{
			name:   "Detail",
			detail: func() string { return "3 objects read" },
			want: []string{
				"replay: 100 done, 0 failed, 20.0/s; 3 objects read",
				"replay: 290 done, 10 failed, 30.0/s; 3 objects read",
				"replay: 390 done, 10 failed, 30.8/s; 3 objects read",
				"replay: finished: 390 done, 10 failed in 13s, 30.8/s; 3 objects read",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			r := progress.New(progress.Options{Out: c.out, Label: "replay", Total: tc.total, Detail: tc.detail, Now: c.Now, Tick: c.Tick})
			c.advance(5 * time.Second)
			r.Add(100)
			c.tick()
			c.advance(5 * time.Second)
			r.Add(190)
			r.AddFailed(10)
			c.tick()
			c.advance(3 * time.Second)
			r.Add(100)
			c.tick()
			r.Finish()
			r.Finish() // a second Finish prints nothing
			if diff := cmp.Diff(strings.Join(tc.want, "\n")+"\n", c.out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if c.interval != progress.DefaultLinesInterval || !c.stopped {
				t.Errorf("ticker interval %v stopped %v, want %v and stopped", c.interval, c.stopped, progress.DefaultLinesInterval)
			}
			if done, failed := r.Counts(); done != 390 || failed != 10 {
				t.Errorf("Counts() = %d, %d; want 390, 10", done, failed)
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	c := newClock()
	r := progress.New(progress.Options{Out: c.out, Label: "redrive", Style: progress.StyleTerminal, Now: c.Now, Tick: c.Tick})
	c.advance(time.Second)
	r.SetTotal(10)
	r.Set(4, 0)
	c.tick()
	c.advance(time.Second)
	r.Set(10, 0)
	c.tick()
	r.Finish()
	want := "\rredrive: 4/10 done (40%), 0 failed, 4.0/s, about 1.5s left\x1b[K" +
		"\rredrive: 10/10 done (100%), 0 failed, 5.0/s\x1b[K" +
		"\rredrive: finished: 10/10 done, 0 failed in 2s, 5.0/s\x1b[K\n"
	if diff := cmp.Diff(want, c.out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if c.interval != progress.DefaultTerminalInterval {
		t.Errorf("ticker interval %v, want %v", c.interval, progress.DefaultTerminalInterval)
	}
}

// TestConcurrentCounts adds from many goroutines while ticks print; run
// with -race it checks the counters and the printing share nothing unsafely.
func TestConcurrentCounts(t *testing.T) {
	c := newClock()
	r := progress.New(progress.Options{Out: c.out, Interval: time.Minute, Now: c.Now, Tick: c.Tick})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				r.Add(1)
				r.AddFailed(1)
			}
		})
	}
	c.tick()
	wg.Wait()
	c.advance(8 * time.Second)
	r.Finish()
	lines := strings.Split(strings.TrimSuffix(c.out.String(), "\n"), "\n")
	if got, want := lines[len(lines)-1], "finished: 8000 done, 8000 failed in 8s, 2000/s"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if c.interval != time.Minute {
		t.Errorf("ticker interval %v, want the option's 1m", c.interval)
	}
}

func TestFinishWithoutTicks(t *testing.T) {
	c := newClock()
	r := progress.New(progress.Options{Out: c.out, Label: "x", Now: c.Now, Tick: c.Tick})
	r.Finish()
	if got, want := c.out.String(), "x: finished: 0 done, 0 failed in 0s, 0.0/s\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestStyleFor(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
		want progress.Style
	}{
		{"Buffer", &bytes.Buffer{}, progress.StyleLines},
		{"RegularFile", f, progress.StyleLines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := progress.StyleFor(tc.w); got != tc.want {
				t.Errorf("StyleFor = %v, want %v", got, tc.want)
			}
		})
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if got := progress.StyleFor(tty); got != progress.StyleTerminal {
			t.Errorf("StyleFor(/dev/tty) = %v, want StyleTerminal", got)
		}
	}
}
