// Package run owns the orchestration of a Masora run: for each log type,
// take its lock, list the hour folders, subtract the manifest, and load
// what is new chunk by chunk through BigQuery into Postgres, recording the
// run and isolating bad objects so that they do not hold up the others.
// The quarantine objects are a pass of their own in every run, under the
// log type name QuarantineLogType, loaded the same way except that their
// records are read from the bucket rather than through BigQuery.
package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// Triggers, as recorded in the run history.
const (
	TriggerSchedule = "schedule"
	TriggerBackfill = "backfill"
	TriggerCLI      = "cli"
)

// Lister lists the parquet objects of a log type: a *source.Bucket.
type Lister interface {
	// List returns the objects of a log type in the hour folders from the
	// one holding from to the one holding to, both included.
	List(ctx context.Context, logType string, from, to time.Time) (source.Listing, error)
	// URI returns the gs:// URI of an object.
	URI(name string) string
}

// Inspector checks, before BigQuery is involved, that an object can be
// loaded as its log type: a *source.Bucket.
type Inspector interface {
	// Inspect returns the schema of the version of versions (one log
	// type's, oldest first) an object was written with, if it can be
	// loaded as that version; an error wrapping fault.ErrBadObject for one
	// that cannot; another error when the check itself failed.
	Inspect(ctx context.Context, o source.Object, versions []*parquetrow.Schema) (*parquetrow.Schema, error)
}

// Transformer runs a log type's transform over a chunk's objects: a
// *warehouse.Warehouse.
type Transformer interface {
	// Transform runs the transform over a chunk's objects, given by schema
	// version; each external table it creates spans one version. An error
	// that names some of them is a *fault.BadObjectsError of those; no other
	// error may wrap fault.ErrBadObject, so that a misconfiguration never
	// marks objects bad.
	Transform(ctx context.Context, logType, name string, sources []warehouse.Source) (*warehouse.Result, error)
}

// ChunkLoader loads a chunk's rows into Postgres, all or nothing: a
// *loader.Loader.
type ChunkLoader interface {
	LoadChunk(ctx context.Context, c loader.Chunk) (loader.Stats, error)
}

// RunLog is the run state a run reads and records: a *ledger.Ledger.
type RunLog interface {
	// Lock takes the run locks of the log types, or fails with an error
	// wrapping fault.ErrBusy.
	Lock(ctx context.Context, logTypes []string, wait time.Duration) (*ledger.Lock, error)
	// Unlock gives back the locks of lk.
	Unlock(ctx context.Context, lk *ledger.Lock)
	// CheckLock checks that a run still owns its log type's lock; an error
	// wrapping ledger.ErrLockLost says it does not.
	CheckLock(ctx context.Context, runID int64) error
	// Relock takes a run's lost lock again when that is safe; an error
	// wrapping ledger.ErrLockLost says it is not, and the run must stop.
	Relock(ctx context.Context, lk *ledger.Lock, runID int64, logType string) error
	// Heartbeat records that the process running a run is alive.
	Heartbeat(ctx context.Context, runID int64) error
	// Loaded returns the manifest entries of a log type in an hour range.
	Loaded(ctx context.Context, logType string, from, to time.Time) (map[ledger.Key]bool, error)
	// StartRun records the start of a run owned by lk and returns it.
	StartRun(ctx context.Context, lk *ledger.Lock, logType, trigger string, from, to time.Time) (ledger.Started, error)
	// PlanRun records how many objects a run listed and how many were new.
	PlanRun(ctx context.Context, id int64, listed, fresh int) error
	// FinishRun records the end of a run and returns when it finished.
	FinishRun(ctx context.Context, id int64, failedObjects int, runErr error) (*time.Time, error)
}

// QuarantineLogType is the name the quarantine pass runs, locks and is
// recorded under, and that a Request names to load only the quarantine.
const QuarantineLogType = loader.QuarantineLogType

// QuarantineReader reads the records of quarantine objects: a
// *source.Bucket.
type QuarantineReader interface {
	// Records returns a reader of the records of objs, one object after
	// the other; see source.Records.
	Records(ctx context.Context, objs []source.Object) *source.Records
}

// QuarantineLoader loads a chunk of quarantine records into Postgres, all
// or nothing: a *loader.Loader.
type QuarantineLoader interface {
	LoadQuarantine(ctx context.Context, c loader.QuarantineChunk) (loader.QuarantineStats, error)
}

// Quarantine is what the quarantine pass reads and loads with; it lists
// through Deps.Objects.
type Quarantine struct {
	Records QuarantineReader
	Loader  QuarantineLoader
}

// Deps are what a Runner runs with.
type Deps struct {
	// Registry holds the log types.
	Registry *schema.Registry
	// Objects lists the objects and Inspector checks them; both are the
	// bucket in production.
	Objects   Lister
	Inspector Inspector
	// Warehouse transforms each chunk.
	Warehouse Transformer
	// Loader loads each chunk's rows.
	Loader ChunkLoader
	// Ledger takes the locks, reads the manifest and records the runs.
	Ledger RunLog
	// Quarantine, when set, adds the quarantine pass to every run that
	// covers all log types. Production sets it; nil leaves the quarantine
	// alone (tests of the log types' loads).
	Quarantine *Quarantine
	Metrics    *metrics.Metrics
	Log        *slog.Logger
}

// Runner runs loads. It is safe for concurrent use; runs of the same log
// type exclude each other through the ledger's Lock.
type Runner struct {
	d    Deps
	opts Options
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
	// MaxBackfill bounds the range of a request (CheckRange); 0 means
	// DefaultMaxBackfill.
	MaxBackfill time.Duration
	// StorageRead says that results are to be read through the BigQuery
	// Storage Read API (MASORA_BIGQUERY_STORAGE_READ): a result the client
	// reads as pages instead is logged and counted.
	StorageRead bool
	// Attempts is how many times a chunk, and the recording of a run's
	// end, are tried when Postgres fails them transiently (unreachable, the
	// connection broken: pgfault.Transient); 0 means DefaultAttempts.
	Attempts int
	// RetryBackoff is the wait before the second attempt, doubled before
	// each next one up to maxRetryBackoff; 0 means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// HeartbeatInterval is how often a run records that it is alive; 0
	// means ledger.HeartbeatInterval.
	HeartbeatInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxBackfill  = 31 * 24 * time.Hour
	DefaultAttempts     = 5
	DefaultRetryBackoff = time.Second
	// maxRetryBackoff bounds the wait between two attempts.
	maxRetryBackoff = 15 * time.Second
)

// New returns a Runner.
func New(d Deps, opts Options) *Runner {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBackfill == 0 {
		opts.MaxBackfill = DefaultMaxBackfill
	}
	if opts.Attempts == 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = ledger.HeartbeatInterval
	}
	return &Runner{d: d, opts: opts}
}

// Request asks for a run.
type Request struct {
	// LogType restricts the run to one log type, or to the quarantine
	// (QuarantineLogType); empty means all and the quarantine.
	LogType string
	// Trigger says who asked: TriggerSchedule, TriggerBackfill or TriggerCLI.
	Trigger string
	// From and To, both set, name the hour folders to load (a backfill).
	// Both zero means the lookback window ending now.
	From, To time.Time
	// Progress, when set, hears how far the run has got (masora run and
	// backfill print it for the person waiting).
	Progress Progress
}

// Progress hears how many objects a run plans to load and how many it has
// loaded so far. The runs of a request's log types call it one after the
// other.
type Progress interface {
	// Planned adds the new objects a log type's run is about to load.
	Planned(objects int)
	// Loaded counts the objects and rows of a committed chunk.
	Loaded(objects int, rows int64)
	// Failed counts an object that cannot be loaded.
	Failed()
}

// noProgress is the Progress of a request that has none.
type noProgress struct{}

func (noProgress) Planned(int)       {}
func (noProgress) Loaded(int, int64) {}
func (noProgress) Failed()           {}

// Run runs the request: it takes the locks of every log type it covers (or
// fails with fault.ErrBusy), then loads each log type in turn. It returns
// the outcome of every log type it started (as its run history records it), and an error joining the
// failures, each wrapping its fault kind.
func (r *Runner) Run(ctx context.Context, req Request) ([]ledger.Run, error) {
	names, from, to, err := r.plan(req)
	if err != nil {
		return nil, err
	}
	lk, err := r.d.Ledger.Lock(ctx, names, r.opts.LockWait)
	if errors.Is(err, fault.ErrBusy) {
		r.d.Metrics.Busy.Inc()
	}
	if err != nil {
		return nil, err
	}
	defer r.d.Ledger.Unlock(ctx, lk)

	var (
		outs []ledger.Run
		errs []error
	)
	for _, name := range names {
		out, err := r.runLogType(ctx, lk, name, req.Trigger, from, to, cmp.Or[Progress](req.Progress, noProgress{}))
		outs = append(outs, out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return outs, errors.Join(errs...)
}

// plan validates the request and returns its log types and hour range.
func (r *Runner) plan(req Request) ([]string, time.Time, time.Time, error) {
	names := r.d.Registry.Names()
	if r.d.Quarantine != nil {
		names = append(names, QuarantineLogType)
	}
	switch {
	case req.LogType == "":
	case req.LogType == QuarantineLogType && r.d.Quarantine != nil:
		names = []string{req.LogType}
	default:
		if _, err := r.d.Registry.Latest(req.LogType); err != nil {
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
	default:
		if err := CheckRange(from, to, r.opts.MaxBackfill); err != nil {
			return nil, time.Time{}, time.Time{}, err
		}
	}
	return names, layout.Hour(from), layout.Hour(to), nil
}

// epoch is the earliest time a range may start: no data of this pipeline is
// older.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckRange checks the range of a backfill: from 2000-01-01 UTC on, to not before
// from, and spanning at most maxRange (MASORA_BACKFILL_MAX_RANGE). Every
// error wraps fault.ErrInvalid.
func CheckRange(from, to time.Time, maxRange time.Duration) error {
	switch {
	case from.Before(epoch):
		return fmt.Errorf("%w: range starts (%s) before %s: no data of this pipeline is that old", fault.ErrInvalid, from.Format(time.RFC3339), epoch.Format(time.RFC3339))
	case to.Before(from):
		return fmt.Errorf("%w: range ends (%s) before it starts (%s)", fault.ErrInvalid, to.Format(time.RFC3339), from.Format(time.RFC3339))
	case to.Sub(from) > maxRange:
		return fmt.Errorf("%w: range from %s to %s spans %s, more than %s (MASORA_BACKFILL_MAX_RANGE): split it into several backfills",
			fault.ErrInvalid, from.Format(time.RFC3339), to.Format(time.RFC3339), to.Sub(from), maxRange)
	}
	return nil
}

// job is the state of one log type's run.
type job struct {
	logType string
	// lock holds the run lock of the log type.
	lock *ledger.Lock
	// progress hears the objects planned, loaded and failed.
	progress Progress
	// versions are the schemas of the log type's versions, oldest first;
	// version holds the version of each object inspected, by name.
	versions []*parquetrow.Schema
	version  map[string]int
	out      ledger.Run
	bad      []error
	log      *slog.Logger
}

func (r *Runner) runLogType(ctx context.Context, lk *ledger.Lock, name, trigger string, from, to time.Time, progress Progress) (ledger.Run, error) {
	j := &job{logType: name, lock: lk, progress: progress, version: make(map[string]int), out: ledger.Run{LogType: name, Trigger: trigger, WindowFrom: from, WindowTo: to, Status: ledger.StatusFailed}}
	var err error
	if name != QuarantineLogType {
		j.versions, err = r.versionSchemas(name)
	}
	if err != nil {
		j.out.Error = err.Error()
		return j.out, err
	}
	started, err := r.d.Ledger.StartRun(ctx, lk, name, trigger, from, to)
	if err != nil {
		r.d.Metrics.Runs.WithLabelValues(name, ledger.StatusFailed).Inc()
		j.out.Error = err.Error()
		return j.out, err
	}
	j.out.ID, j.out.StartedAt = started.Run.ID, started.Run.StartedAt
	j.log = r.d.Log.With("run_id", j.out.ID, "log_type", name, "trigger", trigger)
	j.log.Info("run started", "from", from, "to", to)
	if len(started.Abandoned) > 0 {
		j.log.Warn("marked runs of this log type abandoned: they were still running, but their processes had been silent for longer than the lease",
			"abandoned_runs", started.Abandoned, "lease", ledger.Lease.String())
	}
	if len(started.Live) > 0 {
		j.log.Warn("runs of this log type are still running in processes that lost the run lock; they stop before their next chunk",
			"running_runs", started.Live)
	}

	stop := r.keepAlive(ctx, j)
	err = r.load(ctx, j, from, to)
	stop()
	finished, ferr := r.finish(ctx, j, err)
	if ferr != nil {
		err = errors.Join(err, ferr)
	}
	j.out.FinishedAt = finished
	if err != nil {
		j.out.Error = err.Error()
		if errors.Is(err, ledger.ErrLockLost) {
			j.log.Error("run stopped before its next chunk: it lost its log type's run lock and could not take it again, so that two runs never load at once; "+
				"its committed chunks stay and the next run loads the rest", "error", err, "objects_loaded", j.out.ObjectsLoaded)
		}
		j.log.Error("run failed", "error", err, "objects_loaded", j.out.ObjectsLoaded, "objects_failed", j.out.ObjectsFailed)
	} else {
		j.out.Status = ledger.StatusSucceeded
		r.d.Metrics.LastSuccess.WithLabelValues(name).Set(float64(r.opts.Now().Unix()))
		j.log.Info("run succeeded", "objects_new", j.out.ObjectsNew, "rows_loaded", j.out.RowsLoaded, "duplicates_skipped", j.out.DuplicatesSkipped)
	}
	r.d.Metrics.Runs.WithLabelValues(name, j.out.Status).Inc()
	return j.out, err
}

// versionSchemas returns the schemas of a log type's versions, oldest first.
func (r *Runner) versionSchemas(name string) ([]*parquetrow.Schema, error) {
	vs, err := r.d.Registry.Versions(name)
	if err != nil {
		return nil, err
	}
	out := make([]*parquetrow.Schema, len(vs))
	for i, lt := range vs {
		if out[i], err = parquetrow.New(lt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keepAlive records every HeartbeatInterval, until stop is called, that
// the run's process is alive, so that no other run marks it abandoned.
func (r *Runner) keepAlive(ctx context.Context, j *job) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(r.opts.HeartbeatInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := r.d.Ledger.Heartbeat(ctx, j.out.ID); err != nil && ctx.Err() == nil {
				j.log.Warn("could not record that the run is alive; another run takes it for dead once it has been silent for the lease",
					"error", err, "lease", ledger.Lease.String())
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// finish records the end of the run, retrying while Postgres is
// unreachable, even when ctx is done.
func (r *Runner) finish(ctx context.Context, j *job, runErr error) (*time.Time, error) {
	var finished *time.Time
	err := r.retry(context.WithoutCancel(ctx), j, "record the end of the run", func(ctx context.Context) error {
		var err error
		finished, err = r.d.Ledger.FinishRun(ctx, j.out.ID, j.out.ObjectsFailed, runErr)
		return err
	})
	if err != nil {
		j.log.Error("could not record the end of the run: the run history shows it running until a later run of the log type marks it abandoned, once it has been silent for the lease",
			"error", err, "run_error", runErr, "lease", ledger.Lease.String())
	}
	return finished, err
}

// retry runs op until it succeeds, fails for good, or has failed
// r.opts.Attempts times: an error of Postgres that is transient
// (pgfault.Transient) is retried after a backoff. When op says that the run
// lost its run lock (ledger.ErrLockLost), the next attempt first takes it
// again, if that is safe (ledger.Relock); if it is not, retry returns that
// error and the run must stop.
func (r *Runner) retry(ctx context.Context, j *job, what string, op func(context.Context) error) error {
	backoff := r.opts.RetryBackoff
	lost := false
	for attempt := 1; ; attempt++ {
		err := func() error {
			if lost {
				if err := r.d.Ledger.Relock(ctx, j.lock, j.out.ID, j.logType); err != nil {
					return err
				}
				lost = false
				j.log.Warn("took the run lock again: it was free and no other run of the log type had started since")
			}
			return op(ctx)
		}()
		wait := true
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ledger.ErrLockLost) && lost:
			return err // Relock refused: another run has the lock or started since.
		case errors.Is(err, ledger.ErrLockLost):
			j.log.Warn("the run lost its run lock; taking it again before going on", "doing", what, "error", err)
			lost, wait = true, false
		case !pgfault.Transient(err):
			return err
		}
		if attempt >= r.opts.Attempts {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		}
		if !wait {
			continue
		}
		j.log.Warn("transient failure (Postgres unreachable or its connection broken), retrying", "doing", what, "attempt", attempt, "attempts", r.opts.Attempts, "backoff", backoff.String(), "error", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// load lists, subtracts the manifest and loads the new objects in chunks.
// A bad object fails the run but not the other objects.
func (r *Runner) load(ctx context.Context, j *job, from, to time.Time) error {
	listing, err := r.d.Objects.List(ctx, j.logType, from, to)
	if err != nil {
		return err
	}
	if len(listing.Ignored) > 0 {
		j.log.Warn("objects outside the layout are ignored", "count", len(listing.Ignored), "first", listing.Ignored[0])
	}
	loaded, err := r.d.Ledger.Loaded(ctx, j.logType, from, to)
	if err != nil {
		return err
	}
	var fresh []source.Object
	for _, o := range listing.Objects {
		if !loaded[ledger.Key{Name: o.Name, Generation: o.Generation}] {
			fresh = append(fresh, o)
		}
	}
	j.out.ObjectsListed, j.out.ObjectsNew = len(listing.Objects), len(fresh)
	if err := r.d.Ledger.PlanRun(ctx, j.out.ID, len(listing.Objects), len(fresh)); err != nil {
		return err
	}
	j.progress.Planned(len(fresh))
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
	if j.logType == QuarantineLogType {
		return objs, nil // checked line by line as they are loaded
	}
	errs := make([]error, len(objs))
	versions := make([]*parquetrow.Schema, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inspectParallelism)
	for i, o := range objs {
		g.Go(func() error {
			versions[i], errs[i] = r.d.Inspector.Inspect(gctx, o, j.versions)
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
		j.version[o.Name] = versions[i].LogType().Version
		good = append(good, o)
	}
	return good, nil
}

// fail records an object that cannot be loaded.
func (r *Runner) fail(j *job, o source.Object, err error) {
	j.out.ObjectsFailed++
	j.out.FailedObjects = append(j.out.FailedObjects, o.Name)
	j.progress.Failed()
	j.bad = append(j.bad, err)
	r.d.Metrics.Objects.WithLabelValues(j.logType, "failed").Inc()
	j.log.Error("object not loaded", "object", o.Name, "generation", o.Generation, "error", err)
}

// loadObjects loads objs as one chunk. If the chunk fails naming its bad
// objects (BigQuery names the file it cannot read), those are recorded and
// the others loaded again. If it fails because of an unnamed bad object
// (Postgres rejects a value), it loads each half separately, down to the
// single bad objects, which are recorded and skipped. Any other failure,
// a misconfiguration say, ends the run and marks no object bad.
func (r *Runner) loadObjects(ctx context.Context, j *job, objs []source.Object) error {
	err := r.loadChunk(ctx, j, objs)
	var named *fault.BadObjectsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &named):
		var rest []source.Object
		for _, o := range objs {
			if slices.Contains(named.URIs, r.d.Objects.URI(o.Name)) {
				r.fail(j, o, err)
			} else {
				rest = append(rest, o)
			}
		}
		switch {
		case len(rest) == len(objs):
			return fmt.Errorf("BigQuery blamed objects outside the chunk (a bug): %v", err)
		case len(rest) == 0:
			return nil
		}
		j.log.Warn("chunk has bad objects, loading the others", "objects", len(objs), "bad", len(objs)-len(rest), "error", err)
		return r.loadObjects(ctx, j, rest)
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
	if j.logType == QuarantineLogType {
		return r.loadQuarantineChunk(ctx, j, objs)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ChunkTimeout)
	defer cancel()
	// Spend no BigQuery work on a chunk of a run that lost its lock; the
	// chunk's transaction checks again.
	if err := r.retry(ctx, j, "check the run lock", func(ctx context.Context) error { return r.d.Ledger.CheckLock(ctx, j.out.ID) }); err != nil {
		return err
	}
	var sources []warehouse.Source // by version, oldest first
	entries := make([]ledger.Object, len(objs))
	for i, o := range objs {
		v := j.version[o.Name]
		k, found := slices.BinarySearchFunc(sources, v, func(s warehouse.Source, v int) int { return s.Version - v })
		if !found {
			sources = slices.Insert(sources, k, warehouse.Source{Version: v})
		}
		sources[k].URIs = append(sources[k].URIs, r.d.Objects.URI(o.Name))
		entries[i] = ledger.Object{Name: o.Name, Generation: o.Generation, Hour: o.Hour, Size: o.Size}
	}
	res, err := r.d.Warehouse.Transform(ctx, j.logType, "r"+strconv.FormatInt(j.out.ID, 10), sources)
	if err != nil {
		return err
	}
	chunk := loader.Chunk{
		RunID:   j.out.ID,
		LogType: j.logType,
		Objects: entries,
		Open: func(ctx context.Context) (loader.Rows, error) {
			rows, err := res.Read(ctx)
			if err != nil {
				return nil, err
			}
			if r.opts.StorageRead && !rows.StorageRead() {
				r.d.Metrics.PagedReads.WithLabelValues(j.logType).Inc()
				r.d.Log.WarnContext(ctx, "the BigQuery client read this chunk's result as pages, not through the Storage Read API: slower, not wrong; "+
					"check that Masora's service account has roles/bigquery.readSessionUser, or set MASORA_BIGQUERY_STORAGE_READ=false",
					"log_type", j.logType, "run_id", j.out.ID)
			}
			return rows, nil
		},
	}
	var st loader.Stats
	err = r.retry(ctx, j, "load the chunk into Postgres", func(ctx context.Context) error {
		var lerr error
		st, lerr = r.d.Loader.LoadChunk(ctx, chunk)
		return lerr
	})
	if err != nil {
		return fmt.Errorf("chunk of %d objects from %s: %w", len(objs), objs[0].Name, err)
	}
	r.chunkLoaded(j, objs, st, start)
	return nil
}

// chunkLoaded counts a committed chunk in its run's outcome and the metrics,
// and logs it.
func (r *Runner) chunkLoaded(j *job, objs []source.Object, st loader.Stats, start time.Time) {
	j.out.ChunksLoaded++
	j.out.ObjectsLoaded += len(objs)
	j.out.RowsLoaded += st.Rows
	j.progress.Loaded(len(objs), st.Rows)
	j.out.DuplicatesSkipped += st.Duplicates
	path := "direct"
	if st.Staged {
		path = "staged"
	}
	r.d.Metrics.Chunks.WithLabelValues(j.logType, path).Inc()
	r.d.Metrics.ChunkSeconds.WithLabelValues(j.logType).Observe(time.Since(start).Seconds())
	r.d.Metrics.Objects.WithLabelValues(j.logType, "loaded").Add(float64(len(objs)))
	r.d.Metrics.Rows.WithLabelValues(j.logType).Add(float64(st.Rows))
	r.d.Metrics.Duplicates.WithLabelValues(j.logType).Add(float64(st.Duplicates))
	j.log.Info("chunk loaded", "objects", len(objs), "rows", st.Rows, "duplicates", st.Duplicates,
		"staged", st.Staged, "summary_hours", st.Hours, "seconds", time.Since(start).Seconds())
}

// loadQuarantineChunk loads a chunk of quarantine objects: their records,
// read from the bucket, into the quarantine tables.
func (r *Runner) loadQuarantineChunk(ctx context.Context, j *job, objs []source.Object) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ChunkTimeout)
	defer cancel()
	entries := make([]ledger.Object, len(objs))
	for i, o := range objs {
		entries[i] = ledger.Object{Name: o.Name, Generation: o.Generation, Hour: o.Hour, Size: o.Size}
	}
	var st loader.QuarantineStats
	err := r.retry(ctx, j, "load the quarantine chunk into Postgres", func(ctx context.Context) error {
		recs := r.d.Quarantine.Records.Records(ctx, objs)
		defer recs.Close()
		var lerr error
		st, lerr = r.d.Quarantine.Loader.LoadQuarantine(ctx, loader.QuarantineChunk{RunID: j.out.ID, Objects: entries, Records: recs})
		return lerr
	})
	if err != nil {
		return fmt.Errorf("chunk of %d quarantine objects from %s: %w", len(objs), objs[0].Name, err)
	}
	for kind, n := range st.Kinds {
		r.d.Metrics.Quarantined.WithLabelValues(kind).Add(float64(n))
	}
	r.chunkLoaded(j, objs, st.Stats, start)
	return nil
}
