package cli

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/ore-masora/pipeline/libs/progress"
)

// runProgress shows a person waiting for `masora run` or `masora backfill`
// that the work is moving: objects loaded of those planned so far, the
// rate, and the rows loaded. It is the run.Progress of the request.
type runProgress struct {
	r       *progress.Reporter
	planned atomic.Int64
	rows    atomic.Int64
}

func newRunProgress(w io.Writer, label string) *runProgress {
	p := &runProgress{}
	p.r = progress.New(progress.Options{Out: w, Label: label + " objects", Style: progress.StyleFor(w),
		Detail: func() string { return fmt.Sprintf("%d rows", p.rows.Load()) }})
	return p
}

// Planned adds the new objects of a log type's run to the total.
func (p *runProgress) Planned(objects int) { p.r.SetTotal(p.planned.Add(int64(objects))) }

// Loaded counts a committed chunk.
func (p *runProgress) Loaded(objects int, rows int64) {
	p.r.Add(int64(objects))
	p.rows.Add(rows)
}

// Failed counts an object that cannot be loaded.
func (p *runProgress) Failed() { p.r.AddFailed(1) }
