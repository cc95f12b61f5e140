// Package run owns the orchestration of a Masora run: for each log type,
// take its lock, list the hour folders, subtract the manifest, and load
// what is new chunk by chunk through BigQuery into Postgres, recording the
// run and isolating bad objects so that they do not hold up the others.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// Triggers, as recorded in the run history.
const (
	TriggerSchedule = "schedule"
	TriggerBackfill = "backfill"
	TriggerCLI      = "cli"
)

// Runner runs loads. It is safe for concurrent use; runs of the same log
// type exclude each other through the loader's Lock.
type Runner struct {
	reg     *schema.Registry
	bucket  *source.Bucket
	wh      *warehouse.Warehouse
	db      *loader.Loader
	metrics *metrics.Metrics
	log     *slog.Logger
	opts    Options
}

// Options tune a Runner.
type Options struct {
	// Lookback is how far back a run without a range lists hour folders.
	Lookback time.Duration
	// ChunkFiles is the most objects per chunk.
	ChunkFiles int
	// ChunkTimeout bounds one chunk, from table creation to commit.
	ChunkTimeout time.Duration
	// LockWait is how long to wait for a run of the same log type.
	LockWait time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// New returns a Runner.
func New(reg *schema.Registry, bucket *source.Bucket, wh *warehouse.Warehouse, db *loader.Loader, m *metrics.Metrics, log *slog.Logger, opts Options) *Runner {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{reg: reg, bucket: bucket, wh: wh, db: db, metrics: m, log: log, opts: opts}
}

// Request asks for a run.
type Request struct {
	// LogType restricts the run to one log type; empty means all.
	LogType string
	// Trigger says who asked: TriggerSchedule, TriggerBackfill or TriggerCLI.
	Trigger string
	// From and To, both set, name the hour folders to load (a backfill).
	// Both zero means the lookback window ending now.
	From, To time.Time
}

// Outcome is what a run did for one log type.
type Outcome struct {
	LogType       string    `json:"log_type"`
	RunID         int64     `json:"run_id"`
	Status        string    `json:"status"`
	WindowFrom    time.Time `json:"window_from"`
	WindowTo      time.Time `json:"window_to"`
	ObjectsListed int       `json:"objects_listed"`
	ObjectsNew    int       `json:"objects_new"`
	ObjectsLoaded int       `json:"objects_loaded"`
	ObjectsFailed int       `json:"objects_failed"`
	Chunks        int       `json:"chunks"`
	Rows          int64     `json:"rows_loaded"`
	Duplicates    int64     `json:"duplicates_skipped"`
	// FailedObjects names the objects that could not be loaded; they stay
	// out of the manifest and are retried by the next run.
	FailedObjects []string `json:"failed_objects,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// Run runs the request: it takes the locks of every log type it covers (or
// fails with fault.ErrBusy), then loads each log type in turn. It returns
// the outcome of every log type it started, and an error joining the
// failures, each wrapping its fault kind.
func (r *Runner) Run(ctx context.Context, req Request) ([]Outcome, error) {
	names, from, to, err := r.plan(req)
	if err != nil {
		return nil, err
	}
	lock, err := r.db.Lock(ctx, names, r.opts.LockWait)
	if errors.Is(err, fault.ErrBusy) {
		r.metrics.Busy.Inc()
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release(ctx)

	var (
		outs []Outcome
		errs []error
	)
	for _, name := range names {
		out, err := r.runLogType(ctx, name, req.Trigger, from, to)
		outs = append(outs, out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return outs, errors.Join(errs...)
}

// plan validates the request and returns its log types and hour range.
func (r *Runner) plan(req Request) ([]string, time.Time, time.Time, error) {
	names := r.reg.Names()
	if req.LogType != "" {
		if _, err := r.reg.Latest(req.LogType); err != nil {
			return nil, time.Time{}, time.Time{}, fmt.Errorf("%w: %w", fault.ErrInvalid, err)
		}
		names = []string{req.LogType}
	}
	switch req.Trigger {
	case TriggerSchedule, TriggerBackfill, TriggerCLI:
	default:
		return nil, time.Time{}, time.Time{}, fmt.Errorf("%w: unknown trigger %q", fault.ErrInvalid, req.Trigger)
	}
	from, to := req.From, req.To
	switch {
	case from.IsZero() && to.IsZero():
		to = r.opts.Now()
		from = to.Add(-r.opts.Lookback)
	case from.IsZero() || to.IsZero():
		return nil, time.Time{}, time.Time{}, fmt.Errorf("%w: a range needs both from and to", fault.ErrInvalid)
	case to.Before(from):
		return nil, time.Time{}, time.Time{}, fmt.Errorf("%w: range ends (%s) before it starts (%s)", fault.ErrInvalid, to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return names, layout.Hour(from), layout.Hour(to), nil
}

// job is the state of one log type's run.
type job struct {
	logType string
	want    *parquetrow.Schema
	out     Outcome
	bad     []error
	log     *slog.Logger
}

func (r *Runner) runLogType(ctx context.Context, name, trigger string, from, to time.Time) (Outcome, error) {
	j := &job{logType: name, out: Outcome{LogType: name, WindowFrom: from, WindowTo: to, Status: loader.StatusFailed}}
	lt, err := r.reg.Latest(name)
	if err == nil {
		j.want, err = parquetrow.New(lt)
	}
	if err != nil {
		j.out.Error = err.Error()
		return j.out, err
	}
	id, err := r.db.StartRun(ctx, name, trigger, from, to)
	if err != nil {
		r.metrics.Runs.WithLabelValues(name, loader.StatusFailed).Inc()
		j.out.Error = err.Error()
		return j.out, err
	}
	j.out.RunID = id
	j.log = r.log.With("run_id", id, "log_type", name, "trigger", trigger)
	j.log.Info("run started", "from", from, "to", to)

	err = r.load(ctx, j, from, to)
	if ferr := r.db.FinishRun(ctx, id, j.out.ObjectsFailed, err); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		j.out.Error = err.Error()
		j.log.Error("run failed", "error", err, "objects_loaded", j.out.ObjectsLoaded, "objects_failed", j.out.ObjectsFailed)
	} else {
		j.out.Status = loader.StatusSucceeded
		r.metrics.LastSuccess.WithLabelValues(name).Set(float64(r.opts.Now().Unix()))
		j.log.Info("run succeeded", "objects_new", j.out.ObjectsNew, "rows_loaded", j.out.Rows, "duplicates_skipped", j.out.Duplicates)
	}
	r.metrics.Runs.WithLabelValues(name, j.out.Status).Inc()
	return j.out, err
}

// load lists, subtracts the manifest and loads the new objects in chunks.
// A bad object fails the run but not the other objects.
func (r *Runner) load(ctx context.Context, j *job, from, to time.Time) error {
	listing, err := r.bucket.List(ctx, j.logType, from, to)
	if err != nil {
		return err
	}
	if len(listing.Ignored) > 0 {
		j.log.Warn("objects outside the layout are ignored", "count", len(listing.Ignored), "first", listing.Ignored[0])
	}
	loaded, err := r.db.Loaded(ctx, j.logType, from, to)
	if err != nil {
		return err
	}
	var fresh []source.Object
	for _, o := range listing.Objects {
		if !loaded[loader.Key{Name: o.Name, Generation: o.Generation}] {
			fresh = append(fresh, o)
		}
	}
	j.out.ObjectsListed, j.out.ObjectsNew = len(listing.Objects), len(fresh)
	if err := r.db.PlanRun(ctx, j.out.RunID, len(listing.Objects), len(fresh)); err != nil {
		return err
	}
	for start := 0; start < len(fresh); start += r.opts.ChunkFiles {
		end := min(start+r.opts.ChunkFiles, len(fresh))
		good, err := r.inspect(ctx, j, fresh[start:end])
		if err != nil {
			return err
		}
		if len(good) == 0 {
			continue
		}
		if err := r.loadObjects(ctx, j, good); err != nil {
			return err
		}
	}
	if len(j.bad) > 0 {
		return fmt.Errorf("%d of %d new objects could not be loaded and stay unloaded until fixed: %w", len(j.bad), len(fresh), errors.Join(j.bad...))
	}
	return nil
}

// inspectParallelism bounds the concurrent footer reads of inspect.
const inspectParallelism = 8

// inspect reads the footers of objs and returns those that can be loaded;
// the others are recorded as failed. Cloud Storage failing ends the run.
func (r *Runner) inspect(ctx context.Context, j *job, objs []source.Object) ([]source.Object, error) {
	errs := make([]error, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inspectParallelism)
	for i, o := range objs {
		g.Go(func() error {
			errs[i] = r.bucket.Inspect(gctx, o, j.want)
			if errs[i] != nil && !errors.Is(errs[i], fault.ErrBadObject) {
				return errs[i]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var good []source.Object
	for i, o := range objs {
		if errs[i] != nil {
			r.fail(j, o, errs[i])
			continue
		}
		good = append(good, o)
	}
	return good, nil
}

// fail records an object that cannot be loaded.
func (r *Runner) fail(j *job, o source.Object, err error) {
	j.out.ObjectsFailed++
	j.out.FailedObjects = append(j.out.FailedObjects, o.Name)
	j.bad = append(j.bad, err)
	r.metrics.Objects.WithLabelValues(j.logType, "failed").Inc()
	j.log.Error("object not loaded", "object", o.Name, "generation", o.Generation, "error", err)
}

// loadObjects loads objs as one chunk. If the chunk fails because of a bad
// object, it loads each half separately, down to the single bad objects,
// which are recorded and skipped. Any other failure ends the run.
func (r *Runner) loadObjects(ctx context.Context, j *job, objs []source.Object) error {
	err := r.loadChunk(ctx, j, objs)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, fault.ErrBadObject):
		return err
	case len(objs) == 1:
		r.fail(j, objs[0], err)
		return nil
	}
	j.log.Warn("chunk has a bad object, splitting it", "objects", len(objs), "error", err)
	half := len(objs) / 2
	if err := r.loadObjects(ctx, j, objs[:half]); err != nil {
		return err
	}
	return r.loadObjects(ctx, j, objs[half:])
}

func (r *Runner) loadChunk(ctx context.Context, j *job, objs []source.Object) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ChunkTimeout)
	defer cancel()
	uris := make([]string, len(objs))
	entries := make([]loader.Object, len(objs))
	for i, o := range objs {
		uris[i] = r.bucket.URI(o.Name)
		entries[i] = loader.Object{Name: o.Name, Generation: o.Generation, Hour: o.Hour, Size: o.Size}
	}
	res, err := r.wh.Transform(ctx, j.logType, "r"+strconv.FormatInt(j.out.RunID, 10), uris)
	if err != nil {
		return err
	}
	st, err := r.db.LoadChunk(ctx, loader.Chunk{
		RunID:   j.out.RunID,
		LogType: j.logType,
		Objects: entries,
		Open: func(ctx context.Context) (loader.Rows, error) {
			rows, err := res.Read(ctx)
			if err != nil {
				return nil, err
			}
			return rows, nil
		},
	})
	if err != nil {
		return fmt.Errorf("chunk of %d objects from %s: %w", len(objs), objs[0].Name, err)
	}
	j.out.Chunks++
	j.out.ObjectsLoaded += len(objs)
	j.out.Rows += st.Rows
	j.out.Duplicates += st.Duplicates
	path := "direct"
	if st.Staged {
		path = "staged"
	}
	r.metrics.Chunks.WithLabelValues(j.logType, path).Inc()
	r.metrics.ChunkSeconds.WithLabelValues(j.logType).Observe(time.Since(start).Seconds())
	r.metrics.Objects.WithLabelValues(j.logType, "loaded").Add(float64(len(objs)))
	r.metrics.Rows.WithLabelValues(j.logType).Add(float64(st.Rows))
	r.metrics.Duplicates.WithLabelValues(j.logType).Add(float64(st.Duplicates))
	j.log.Info("chunk loaded", "objects", len(objs), "rows", st.Rows, "duplicates", st.Duplicates,
		"staged", st.Staged, "summary_hours", st.Hours, "seconds", time.Since(start).Seconds())
	return nil
}
