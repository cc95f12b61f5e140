package run_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// The unit tests of this file run the Runner over in-memory stand-ins of
// its parts; the integration tests of run_test.go run it over the real ones.

// fakeBucket lists objects and inspects them: those in bad fail with their
// error; the others are of the version in version, else the latest.
type fakeBucket struct {
	objects []source.Object
	bad     map[string]error // by object name
	version map[string]int   // by object name
}

func (b *fakeBucket) List(context.Context, string, time.Time, time.Time) (source.Listing, error) {
	return source.Listing{Objects: b.objects}, nil
}

func (b *fakeBucket) URI(name string) string { return "gs://bucket/" + name }

func (b *fakeBucket) Inspect(_ context.Context, o source.Object, versions []*parquetrow.Schema) (*parquetrow.Schema, error) {
	if err := b.bad[o.Name]; err != nil {
		return nil, err
	}
	if v, ok := b.version[o.Name]; ok {
		return versions[v-1], nil
	}
	return versions[len(versions)-1], nil
}

// fakeWarehouse fails a transform over any object in fail with its error,
// as BigQuery fails a whole query over one bad file. An error wrapping
// fault.ErrBadObject comes back as BigQuery's naming the chunk's objects
// that have one (a *fault.BadObjectsError).
type fakeWarehouse struct {
	fail  map[string]error // by URI
	calls int
	// sources are the sources of each transform.
	sources [][]warehouse.Source
}

func (w *fakeWarehouse) Transform(_ context.Context, _, _ string, sources []warehouse.Source) (*warehouse.Result, error) {
	w.calls++
	w.sources = append(w.sources, sources)
	var uris []string
	for _, s := range sources {
		uris = append(uris, s.URIs...)
	}
	var named []string
	for _, u := range uris {
		err := w.fail[u]
		switch {
		case err == nil:
		case errors.Is(err, fault.ErrBadObject):
			named = append(named, u)
		default:
			return nil, err
		}
	}
	if len(named) > 0 {
		return nil, &fault.BadObjectsError{URIs: named, Err: fmt.Errorf("query names %v: %w", named, fault.ErrBadObject)}
	}
	return &warehouse.Result{}, nil
}

// fakeLoader records the chunks it loads, 10 rows per object; a chunk
// with an object in fail fails with its error, as Postgres rejects a whole
// chunk. The first calls fail with the errors of errs, and the first one
// after loseAfter chunks loaded loses the lock of ledger (a Postgres
// restart) and fails as the chunk's check does.
type fakeLoader struct {
	fail      map[string]error // by object name
	chunks    [][]string
	errs      []error
	calls     int
	ledger    *fakeLedger
	loseAfter int
}

func (l *fakeLoader) LoadChunk(_ context.Context, c loader.Chunk) (loader.Stats, error) {
	l.calls++
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return loader.Stats{}, err
	}
	if l.ledger != nil && l.loseAfter > 0 && len(l.chunks) == l.loseAfter {
		l.loseAfter = 0
		l.ledger.lost = true
		return loader.Stats{}, errLost
	}
	var names []string
	for _, o := range c.Objects {
		if err := l.fail[o.Name]; err != nil {
			return loader.Stats{}, err
		}
		names = append(names, o.Name)
	}
	l.chunks = append(l.chunks, names)
	return loader.Stats{Rows: int64(10 * len(names))}, nil
}

// fakeLedger holds the manifest in memory and records the runs. Its
// CheckLock answers lost while lost is true; Relock answers relockErr, else
// clears lost.
type fakeLedger struct {
	loaded    map[ledger.Key]bool
	lockErr   error
	locked    []string
	started   []ledger.Run
	finished  []error // the run error of each FinishRun
	lost      bool
	relockErr error
	relocks   int
	// finishErrs are the errors of the first FinishRuns.
	finishErrs []error
}

// runID is the id of every run the fakeLedger starts.
const runID = 7

func (l *fakeLedger) Lock(_ context.Context, logTypes []string, _ time.Duration) (*ledger.Lock, error) {
	if l.lockErr != nil {
		return nil, l.lockErr
	}
	l.locked = logTypes
	return &ledger.Lock{}, nil
}

func (l *fakeLedger) Unlock(context.Context, *ledger.Lock) { l.locked = nil }

// errLost is what the fakeLedger's CheckLock answers once the lock is lost.
var errLost = fmt.Errorf("run %d: %w: %w", runID, ledger.ErrLockLost, fault.ErrBusy)

func (l *fakeLedger) CheckLock(context.Context, int64) error {
	if l.lost {
		return errLost
	}
	return nil
}

func (l *fakeLedger) Relock(context.Context, *ledger.Lock, int64, string) error {
	l.relocks++
	if l.relockErr != nil {
		return l.relockErr
	}
	l.lost = false
	return nil
}

func (l *fakeLedger) Heartbeat(context.Context, int64) error { return nil }

func (l *fakeLedger) Loaded(context.Context, string, time.Time, time.Time) (map[ledger.Key]bool, error) {
	return l.loaded, nil
}

func (l *fakeLedger) StartRun(_ context.Context, _ *ledger.Lock, logType, trigger string, from, to time.Time) (ledger.Started, error) {
	r := ledger.Run{ID: runID, LogType: logType, Trigger: trigger, WindowFrom: from, WindowTo: to, Status: ledger.StatusRunning, StartedAt: now}
	l.started = append(l.started, r)
	return ledger.Started{Run: r}, nil
}

func (l *fakeLedger) PlanRun(context.Context, int64, int, int) error { return nil }

func (l *fakeLedger) FinishRun(_ context.Context, _ int64, _ int, runErr error) (*time.Time, error) {
	if len(l.finishErrs) > 0 {
		err := l.finishErrs[0]
		l.finishErrs = l.finishErrs[1:]
		return nil, err
	}
	l.finished = append(l.finished, runErr)
	t := now
	return &t, nil
}

// fakes are the stand-ins of one test.
type fakes struct {
	bucket *fakeBucket
	wh     *fakeWarehouse
	loader *fakeLoader
	ledger *fakeLedger
}

func newFakeRunner(t *testing.T, f fakes, chunkFiles int) *run.Runner {
	t.Helper()
	return newFakeRunnerOpts(t, f, options(chunkFiles))
}

func newFakeRunnerOpts(t *testing.T, f fakes, opts run.Options) *run.Runner {
	t.Helper()
	return run.New(run.Deps{
		Registry: schema.MustLoad(), Objects: f.bucket, Inspector: f.bucket, Warehouse: f.wh, Loader: f.loader,
		Ledger: f.ledger, Metrics: metrics.New(), Log: masoratest.Logger(t),
	}, opts)
}

// objectNames returns the names o0 … o(n-1).
func objectNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("o%d", i)
	}
	return out
}

func TestLoadChunks(t *testing.T) {
	bad := fmt.Errorf("gs://bucket/x: %w: not a readable parquet file", fault.ErrBadObject)
	down := fmt.Errorf("create external table: %w: connection refused", fault.ErrUnavailable)
	denied := errors.New("create external table: googleapi: Error 403: Access Denied: Dataset reports")
	misconfigured := fmt.Errorf("create external table: %w: googleapi: Error 404: Not found: Dataset p:reports", fault.ErrMisconfigured)
	uri := func(name string) string { return "gs://bucket/" + name }
	tests := []struct {
		name       string
		objects    int
		chunkFiles int
		loaded     []string
		inspect    map[string]error // by object name
		transform  map[string]error // by URI
		load       map[string]error // by object name
		wantKind   error            // of the run's error; nil with wantErr means no known kind
		wantErr    bool
		want       ledger.Run // counters and failed objects
		wantChunks [][]string
		// wantTransforms counts the transforms: one per chunk tried.
		wantTransforms int
	}{
		{
			name: "all good, in chunks", objects: 8, chunkFiles: 4,
			want:           ledger.Run{Status: "succeeded", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 8, ChunksLoaded: 2, RowsLoaded: 80},
			wantChunks:     [][]string{{"o0", "o1", "o2", "o3"}, {"o4", "o5", "o6", "o7"}},
			wantTransforms: 2,
		},
		{
			name: "objects in the manifest are skipped", objects: 8, chunkFiles: 8, loaded: []string{"o0", "o1"},
			want:           ledger.Run{Status: "succeeded", ObjectsListed: 8, ObjectsNew: 6, ObjectsLoaded: 6, ChunksLoaded: 1, RowsLoaded: 60},
			wantChunks:     [][]string{{"o2", "o3", "o4", "o5", "o6", "o7"}},
			wantTransforms: 1,
		},
		{
			name: "an object BigQuery names is left out, without splitting", objects: 8, chunkFiles: 8,
			transform: map[string]error{uri("o5"): bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 7, ObjectsFailed: 1, ChunksLoaded: 1, RowsLoaded: 70,
				FailedObjects: []string{"o5"}},
			wantChunks:     [][]string{{"o0", "o1", "o2", "o3", "o4", "o6", "o7"}},
			wantTransforms: 2,
		},
		{
			name: "every object BigQuery names is left out", objects: 8, chunkFiles: 8,
			transform: map[string]error{uri("o1"): bad, uri("o6"): bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 6, ObjectsFailed: 2, ChunksLoaded: 1, RowsLoaded: 60,
				FailedObjects: []string{"o1", "o6"}},
			wantChunks:     [][]string{{"o0", "o2", "o3", "o4", "o5", "o7"}},
			wantTransforms: 2,
		},
		{
			name: "a chunk whose every object BigQuery names loads nothing", objects: 2, chunkFiles: 2,
			transform: map[string]error{uri("o0"): bad, uri("o1"): bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 2, ObjectsNew: 2, ObjectsFailed: 2,
				FailedObjects: []string{"o0", "o1"}},
			wantTransforms: 1,
		},
		{
			name: "an object Postgres rejects is isolated", objects: 8, chunkFiles: 8,
			load: map[string]error{"o0": bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 7, ObjectsFailed: 1, ChunksLoaded: 3, RowsLoaded: 70,
				FailedObjects: []string{"o0"}},
			wantChunks:     [][]string{{"o1"}, {"o2", "o3"}, {"o4", "o5", "o6", "o7"}},
			wantTransforms: 7,
		},
		{
			name: "two objects Postgres rejects are isolated", objects: 8, chunkFiles: 8,
			load: map[string]error{"o1": bad, "o6": bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 6, ObjectsFailed: 2, ChunksLoaded: 4, RowsLoaded: 60,
				FailedObjects: []string{"o1", "o6"}},
			wantChunks:     [][]string{{"o0"}, {"o2", "o3"}, {"o4", "o5"}, {"o7"}},
			wantTransforms: 11,
		},
		{
			name: "a bad footer is left out before BigQuery", objects: 4, chunkFiles: 4,
			inspect: map[string]error{"o2": bad}, wantKind: fault.ErrBadObject, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 4, ObjectsNew: 4, ObjectsLoaded: 3, ObjectsFailed: 1, ChunksLoaded: 1, RowsLoaded: 30,
				FailedObjects: []string{"o2"}},
			wantChunks:     [][]string{{"o0", "o1", "o3"}},
			wantTransforms: 1,
		},
		{
			name: "BigQuery unavailable fails the run without splitting", objects: 8, chunkFiles: 8,
			transform: map[string]error{uri("o3"): down}, wantKind: fault.ErrUnavailable, wantErr: true,
			want:           ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8},
			wantTransforms: 1,
		},
		{
			name: "a BigQuery misconfiguration fails the run at once", objects: 8, chunkFiles: 4,
			transform: map[string]error{uri("o0"): misconfigured}, wantKind: fault.ErrMisconfigured, wantErr: true,
			want:           ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8},
			wantTransforms: 1,
		},
		{
			name: "an error of no known kind fails the run without splitting or blaming objects", objects: 8, chunkFiles: 8,
			transform: map[string]error{uri("o0"): denied}, wantErr: true,
			want:           ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8},
			wantTransforms: 1,
		},
		{
			name: "Postgres unavailable after leaving out a named object fails the run", objects: 8, chunkFiles: 8,
			transform: map[string]error{uri("o7"): bad}, load: map[string]error{"o1": down}, wantKind: fault.ErrUnavailable, wantErr: true,
			want:           ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsFailed: 1, FailedObjects: []string{"o7"}},
			wantTransforms: 2,
		},
		{
			name: "Postgres unavailable while splitting fails the run", objects: 8, chunkFiles: 8,
			load: map[string]error{"o0": bad, "o5": down}, wantKind: fault.ErrUnavailable, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 8, ObjectsNew: 8, ObjectsLoaded: 3, ObjectsFailed: 1, ChunksLoaded: 2, RowsLoaded: 30,
				FailedObjects: []string{"o0"}},
			wantChunks:     [][]string{{"o1"}, {"o2", "o3"}},
			wantTransforms: 7,
		},
		{
			name: "Cloud Storage unavailable while inspecting fails the run", objects: 4, chunkFiles: 4,
			inspect: map[string]error{"o1": down}, wantKind: fault.ErrUnavailable, wantErr: true,
			want: ledger.Run{Status: "failed", ObjectsListed: 4, ObjectsNew: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hour := layout.Hour(now.Add(-time.Hour))
			f := fakes{
				bucket: &fakeBucket{bad: tt.inspect},
				wh:     &fakeWarehouse{fail: tt.transform},
				loader: &fakeLoader{fail: tt.load},
				ledger: &fakeLedger{loaded: map[ledger.Key]bool{}},
			}
			for _, name := range objectNames(tt.objects) {
				f.bucket.objects = append(f.bucket.objects, source.Object{Name: name, Generation: 1, Size: 100, Hour: hour})
			}
			for _, name := range tt.loaded {
				f.ledger.loaded[ledger.Key{Name: name, Generation: 1}] = true
			}
			r := newFakeRunner(t, f, tt.chunkFiles)

			outs, err := r.Run(t.Context(), run.Request{LogType: "user_action", Trigger: run.TriggerSchedule})
			if (err != nil) != tt.wantErr || fault.Kind(err) != tt.wantKind {
				t.Fatalf("Run: %v (kind %v), want error %v of kind %v", err, fault.Kind(err), tt.wantErr, tt.wantKind)
			}
			want := tt.want
			want.ID, want.LogType, want.Trigger = runID, "user_action", run.TriggerSchedule
			if diff := cmp.Diff([]ledger.Run{want}, outs, cmpopts.IgnoreFields(ledger.Run{}, "WindowFrom", "WindowTo", "StartedAt", "FinishedAt", "Error")); diff != "" {
				t.Errorf("outcome mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantChunks, f.loader.chunks); diff != "" {
				t.Errorf("chunks loaded mismatch (-want +got):\n%s", diff)
			}
			if f.wh.calls != tt.wantTransforms {
				t.Errorf("%d transforms, want %d", f.wh.calls, tt.wantTransforms)
			}
			if len(f.ledger.finished) != 1 || (f.ledger.finished[0] != nil) != tt.wantErr {
				t.Errorf("FinishRun recorded %v, want one run, failed: %v", f.ledger.finished, tt.wantErr)
			}
			if f.ledger.locked != nil {
				t.Errorf("locks of %v still held after the run", f.ledger.locked)
			}
		})
	}
}

func TestRunRequests(t *testing.T) {
	busy := fmt.Errorf("lock user_action: %w", fault.ErrBusy)
	tests := []struct {
		name     string
		req      run.Request
		lockErr  error
		wantKind error
		// wantStarted are the runs started: log type and window.
		wantStarted []ledger.Run
	}{
		{name: "lookback window of every log type", req: run.Request{Trigger: run.TriggerSchedule},
			wantStarted: []ledger.Run{
				{LogType: "seller_action", Trigger: "schedule", WindowFrom: layout.Hour(now.Add(-48 * time.Hour)), WindowTo: layout.Hour(now)},
				{LogType: "user_action", Trigger: "schedule", WindowFrom: layout.Hour(now.Add(-48 * time.Hour)), WindowTo: layout.Hour(now)},
			}},
		{name: "backfill of a range, to whole hours", req: run.Request{Trigger: run.TriggerBackfill, LogType: "user_action", From: now.Add(-5 * time.Hour), To: now.Add(-2 * time.Hour)},
			wantStarted: []ledger.Run{
				{LogType: "user_action", Trigger: "backfill", WindowFrom: layout.Hour(now.Add(-5 * time.Hour)), WindowTo: layout.Hour(now.Add(-2 * time.Hour))},
			}},
		{name: "log type busy", req: run.Request{Trigger: run.TriggerSchedule}, lockErr: busy, wantKind: fault.ErrBusy},
		{name: "unknown log type", req: run.Request{Trigger: run.TriggerSchedule, LogType: "page_view"}, wantKind: fault.ErrInvalid},
		{name: "unknown trigger", req: run.Request{Trigger: "cron"}, wantKind: fault.ErrInvalid},
		{name: "half a range", req: run.Request{Trigger: run.TriggerBackfill, From: now}, wantKind: fault.ErrInvalid},
		{name: "range backwards", req: run.Request{Trigger: run.TriggerBackfill, From: now, To: now.Add(-time.Hour)}, wantKind: fault.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakes{bucket: &fakeBucket{}, wh: &fakeWarehouse{}, loader: &fakeLoader{}, ledger: &fakeLedger{lockErr: tt.lockErr}}
			outs, err := newFakeRunner(t, f, 10).Run(t.Context(), tt.req)
			if fault.Kind(err) != tt.wantKind {
				t.Fatalf("Run: %v, want an error of kind %v", err, tt.wantKind)
			}
			if tt.wantKind != nil && len(outs) != 0 {
				t.Errorf("Run returned outcomes %+v for a refused request", outs)
			}
			if diff := cmp.Diff(tt.wantStarted, f.ledger.started, cmpopts.IgnoreFields(ledger.Run{}, "ID", "Status", "StartedAt")); diff != "" {
				t.Errorf("runs started mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunkSourcesByVersion checks that a chunk with objects of two schema
// versions reaches the warehouse as one source per version, each listing
// only that version's objects, in one transform and one chunk.
func TestChunkSourcesByVersion(t *testing.T) {
	hour := layout.Hour(now.Add(-time.Hour))
	f := fakes{
		bucket: &fakeBucket{version: map[string]int{"o1": 1, "o4": 1}},
		wh:     &fakeWarehouse{},
		loader: &fakeLoader{},
		ledger: &fakeLedger{loaded: map[ledger.Key]bool{}},
	}
	for _, name := range objectNames(5) {
		f.bucket.objects = append(f.bucket.objects, source.Object{Name: name, Generation: 1, Size: 100, Hour: hour})
	}
	if _, err := newFakeRunner(t, f, 10).Run(t.Context(), run.Request{LogType: "user_action", Trigger: run.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	want := [][]warehouse.Source{{
		{Version: 1, URIs: []string{"gs://bucket/o1", "gs://bucket/o4"}},
		{Version: 2, URIs: []string{"gs://bucket/o0", "gs://bucket/o2", "gs://bucket/o3"}},
	}}
	if diff := cmp.Diff(want, f.wh.sources); diff != "" {
		t.Errorf("transform sources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"o0", "o1", "o2", "o3", "o4"}}, f.loader.chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

// TestRetries checks how a run retries a chunk: transient Postgres errors
// a bounded number of times, a lost lock by taking it again when the
// ledger allows it, and the recording of the run's end.
func TestRetries(t *testing.T) {
	transient := pgfault.Classify("commit chunk", fmt.Errorf("read: %w", io.ErrUnexpectedEOF))
	undefined := pgfault.Classify("copy rows", &pgconn.PgError{Code: "42P01", Message: "relation does not exist"})
	refused := fmt.Errorf("run %d: %w and another run holds it now: %w", runID, ledger.ErrLockLost, fault.ErrBusy)
	tests := []struct {
		name       string
		loadErrs   []error
		loseAfter  int
		relockErr  error
		finishErrs []error
		wantKind   error // of the run's error
		wantLost   bool  // the run's error wraps ledger.ErrLockLost
		wantChunks int
		wantCalls  int // of LoadChunk
		wantRelock int
		wantFailed bool // FinishRun recorded a failure
	}{
		{name: "transient errors are retried", loadErrs: []error{transient, transient},
			wantChunks: 2, wantCalls: 4},
		{name: "attempts are bounded", loadErrs: []error{transient, transient, transient, transient},
			wantKind: fault.ErrUnavailable, wantCalls: 3, wantFailed: true},
		{name: "other errors are not retried", loadErrs: []error{undefined},
			wantKind: nil, wantCalls: 1, wantFailed: true},
		{name: "a lost lock is taken again and the run goes on", loseAfter: 1,
			wantChunks: 2, wantCalls: 3, wantRelock: 1},
		{name: "a lost lock that cannot be taken again stops the run", loseAfter: 1, relockErr: refused,
			wantKind: fault.ErrBusy, wantLost: true, wantChunks: 1, wantCalls: 2, wantRelock: 1, wantFailed: true},
		{name: "a lost lock is retaken while Postgres comes back", loseAfter: 1, relockErr: transient,
			wantKind: fault.ErrUnavailable, wantChunks: 1, wantCalls: 2, wantRelock: 2, wantFailed: true},
		{name: "the end of a failed run is recorded once Postgres is back", loadErrs: []error{undefined}, finishErrs: []error{transient, transient},
			wantCalls: 1, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hour := layout.Hour(now.Add(-time.Hour))
			lg := &fakeLedger{loaded: map[ledger.Key]bool{}, relockErr: tt.relockErr, finishErrs: tt.finishErrs}
			f := fakes{
				bucket: &fakeBucket{},
				wh:     &fakeWarehouse{},
				loader: &fakeLoader{errs: tt.loadErrs, ledger: lg, loseAfter: tt.loseAfter},
				ledger: lg,
			}
			for _, name := range objectNames(4) {
				f.bucket.objects = append(f.bucket.objects, source.Object{Name: name, Generation: 1, Size: 100, Hour: hour})
			}
			opts := options(2)
			opts.Attempts, opts.RetryBackoff = 3, time.Millisecond
			_, err := newFakeRunnerOpts(t, f, opts).Run(t.Context(), run.Request{LogType: "user_action", Trigger: run.TriggerSchedule})
			t.Logf("Run: %v", err)
			if (err != nil) != tt.wantFailed || fault.Kind(err) != tt.wantKind {
				t.Errorf("Run: %v (kind %v), want failed %v, kind %v", err, fault.Kind(err), tt.wantFailed, tt.wantKind)
			}
			if got := errors.Is(err, ledger.ErrLockLost); got != tt.wantLost {
				t.Errorf("Run: %v; wraps ledger.ErrLockLost: %v, want %v", err, got, tt.wantLost)
			}
			got := []int{len(f.loader.chunks), f.loader.calls, lg.relocks}
			if diff := cmp.Diff([]int{tt.wantChunks, tt.wantCalls, tt.wantRelock}, got); diff != "" {
				t.Errorf("chunks loaded, LoadChunk calls, relocks (-want +got):\n%s", diff)
			}
			if len(lg.finished) != 1 || (lg.finished[0] != nil) != tt.wantFailed {
				t.Errorf("FinishRun recorded %v, want one run, failed: %v", lg.finished, tt.wantFailed)
			}
		})
	}
}
