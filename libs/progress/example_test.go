package progress_test

import (
	"os"
	"time"

	"github.com/ore-masora/pipeline/libs/progress"
)

// A command counts its work and ends with the summary line. Out is where a
// person looks (os.Stderr), Style comes from StyleFor; the clock is fixed
// here so that the output is the same every run.
func Example() {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	now := start
	p := progress.New(progress.Options{
		Out:   os.Stdout,
		Label: "backfill",
		Total: 3,
		Style: progress.StyleLines, // progress.StyleFor(os.Stderr) in a command
		Now:   func() time.Time { return now },
		Tick:  func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} },
	})
	for range 3 {
		p.Add(1)
		now = now.Add(2 * time.Second)
	}
	p.Finish()
	// Output: backfill: finished: 3/3 done, 0 failed in 6s, 0.5/s
}
