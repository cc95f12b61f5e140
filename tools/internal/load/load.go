// Package load is the pipeline's load and freshness run (`make load`): it
// publishes realistic events at a fixed rate for a fixed time through the
// local stack, with Ore in poll mode and Masora (`masora serve`) triggered
// on a short cadence, both real processes; then it checks with the
// invariant checker that every event is in Postgres exactly once, and
// reports
//
//   - freshness from publish to row visible in Postgres, p50/p95/max, split
//     per stage (queue wait, Ore, pick-up by Masora, load, commit), from
//     the publish time of each event, its row's received_at and loaded_at,
//     its object's creation time in GCS and its run in the manifest;
//   - throughput per stage, each beside its floor measured in the same run
//     (Ore's poll-mode drain beside a plain receive-and-delete loop on the
//     same fauxqs, interleaved; Masora's load rate beside raw CopyFrom);
//   - memory (VmHWM) and CPU of Ore, Masora and each emulator, the requests
//     each proxy counted, and which component was busiest: the first
//     bottleneck, ours or an emulator's;
//   - the figures the cost model (package cost) prices.
//
// Traffic goes only to 127.0.0.1 and the run stops by itself.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/chaos/svcproc"
)

// Prefix is the GCS_PREFIX of a load run's objects.
const Prefix = "load"

// Options are what a run needs besides its Config: the stack and the
// run's own resources on it.
type Options struct {
	Config Config
	// Stack is the local stack's endpoints.
	Stack stackenv.Env
	// QueueURL and DLQURL are the run's queue, Bucket its bucket and
	// DatabaseURL its Postgres database or schema (search_path set), all
	// empty of pipeline data.
	QueueURL, DLQURL, Bucket, DatabaseURL string
	// Root is the repository root (Ore and Masora are built from it).
	Root string
	// Emulators are the stack's processes whose memory and CPU are
	// reported.
	Emulators []Process
	// Out receives progress lines.
	Out io.Writer
	// Logs receives Ore's and Masora's output.
	Logs io.Writer
}

// Run runs the load and returns its report. The error is non-nil when the
// run could not be done or when the invariant checker found a violation
// (then the report is returned too).
func Run(ctx context.Context, opts Options) (*Report, error) {
	cfg := opts.Config
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	rep := &Report{Config: cfg, Started: time.Now().UTC(), LoadBefore: loadAverage(), ChunkFiles: cfg.chunkFiles()}
	reg, err := schema.Load()
	if err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp("", "load-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	fmt.Fprintf(opts.Out, "load: building Ore and Masora\n")
	bins, err := svcproc.Build(ctx, opts.Root, binDir)
	if err != nil {
		return nil, err
	}

	// Every request of the services and the producer goes through a
	// counting proxy: SQS requests, GCS operations and bytes, BigQuery
	// calls and the time the emulator took.
	sqsProxy, sqsTraffic, err := countingProxy(opts.Stack.SQSEndpoint, sqsOperation)
	if err != nil {
		return nil, err
	}
	defer sqsProxy.Close()
	gcsProxy, gcsTraffic, err := countingProxy(opts.Stack.StorageEmulatorHost, gcsOperation)
	if err != nil {
		return nil, err
	}
	defer gcsProxy.Close()
	bqProxy, bqTraffic, err := countingProxy(opts.Stack.BigQueryEndpoint, bigqueryOperation)
	if err != nil {
		return nil, err
	}
	defer bqProxy.Close()

	env := svcproc.Env{
		"AWS_REGION": opts.Stack.AWSRegion, "AWS_ACCESS_KEY_ID": stackenv.AccessKeyID, "AWS_SECRET_ACCESS_KEY": stackenv.SecretAccessKey,
		"SQS_ENDPOINT": sqsProxy.URL, "SQS_QUEUE_URL": opts.QueueURL,
		"STORAGE_EMULATOR_HOST": gcsProxy.URL, "GCS_BUCKET": opts.Bucket, "GCS_PREFIX": Prefix,
		"BIGQUERY_ENDPOINT": bqProxy.URL, "BIGQUERY_PROJECT": opts.Stack.BigQueryProject, "BIGQUERY_DATASET": opts.Stack.BigQueryDataset,
		"DATABASE_URL": opts.DatabaseURL, "LOG_LEVEL": "info",
		"ORE_MODE": "poll", "ORE_POLL_BATCH_WINDOW": cfg.Window.String(), "ORE_POLL_WAIT_TIME": "5s", "ORE_SHUTDOWN_TIMEOUT": "20s",
		// The emulator's memory grows with every table deletion
		// (EMULATORS.md): leave the tables, as the chaos suite does.
		"MASORA_CHUNK_FILES": strconv.Itoa(rep.ChunkFiles), "MASORA_BIGQUERY_KEEP_TABLES": "true",
	}
	if err := svcproc.Migrate(ctx, bins, env, opts.Logs); err != nil {
		return nil, err
	}
	db, err := pgx.Connect(ctx, opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	defer db.Close(context.WithoutCancel(ctx))

	oreLog := &oreLog{}
	masora, err := svcproc.StartMasora(ctx, bins, env, opts.Logs)
	if err != nil {
		return nil, err
	}
	defer masora.Kill()
	ore, err := svcproc.Start(bins.Ore, nil, env, io.MultiWriter(logsOr(opts.Logs), oreLog))
	if err != nil {
		return nil, err
	}
	defer ore.Kill()

	// A service that exits on its own (a configuration it refuses, a
	// crash) ends the run at once with its last lines, instead of a wait
	// for rows that cannot come.
	rctx, watching := watch(ctx, map[string]*svcproc.Proc{"Ore": ore, "Masora": masora.Proc})
	failed := func(err error) error { // a service's exit explains a wait that ended
		if rctx.Err() != nil && ctx.Err() == nil {
			return context.Cause(rctx)
		}
		return err
	}

	procs := append([]Process{{Name: "Ore (poll mode)", Ours: true, PID: ore.Pid()}, {Name: "Masora (serve)", Ours: true, PID: masora.Pid()}}, opts.Emulators...)
	samp := newSampler(procs)
	visible := newVisibilityPoller(rctx, opts.DatabaseURL)
	cadence := startCadence(rctx, masora, cfg.Cadence)

	sqsClient := stackenv.SQSClient(sqsProxy.URL)
	prod, err := producer.New(sqsClient, producer.Options{QueueURL: opts.QueueURL, Registry: reg})
	if err != nil {
		return nil, err
	}
	pub, err := newPublisher(prod, reg, cfg.Seed, time.Now().UTC(), cfg.Rate)
	if err != nil {
		return nil, err
	}
	total := int(cfg.Rate * cfg.Duration.Seconds())
	prog := progress.New(progress.Options{Out: opts.Out, Label: "load: publish", Total: int64(total), Style: progress.StyleFor(opts.Out),
		Detail: func() string { return fmt.Sprintf("%d Masora runs", cadence.triggers.Load()) }})
	pubStart := time.Now()
	err = pub.runAtRate(rctx, cfg.Rate, cfg.Duration, prog)
	prog.Finish()
	rep.Published = Published{Events: int(pub.events.Load()), Seconds: time.Since(pubStart).Seconds(), BodyBytes: pub.bodyBytes}
	if err != nil {
		return nil, failed(err)
	}
	rep.Published.PerSec = float64(rep.Published.Events) / rep.Published.Seconds
	for _, ids := range pub.published.Events {
		rep.Published.Distinct += len(setOfLower(ids))
	}

	// Steady-state request counts: once the queue is drained, before the
	// idle tail of the settle phase adds empty receives.
	direct := stackenv.SQSClient(opts.Stack.SQSEndpoint)
	if err := waitDrained(rctx, direct, opts.QueueURL, 250*time.Millisecond, cfg.Settle); err != nil {
		return nil, failed(err)
	}
	rep.Traffic = map[string]map[string]OpStats{"sqs": sqsTraffic.Snapshot()}
	fmt.Fprintf(opts.Out, "load: queue drained; waiting until Postgres holds all %d events (Masora every %s)\n", rep.Published.Distinct, cfg.Cadence)
	settleErr := waitRows(rctx, db, reg, rep.Published.Distinct, cfg.Settle)
	cadence.stop()
	if rctx.Err() != nil {
		return nil, failed(settleErr)
	}
	// One more run finds nothing new: the fixed cost of a run.
	emptyStart := time.Now()
	a, err := masora.Run(rctx, "")
	rep.Masora.EmptyRunSeconds = time.Since(emptyStart).Seconds()
	if err != nil || !a.Succeeded() {
		return nil, failed(fmt.Errorf("the last /run failed: %v %s", err, a))
	}
	visibleAt := visible.stop()
	rep.Processes, rep.ActiveSeconds = samp.Stop()
	rep.Traffic["gcs"], rep.Traffic["bigquery"] = gcsTraffic.Snapshot(), bqTraffic.Snapshot()
	rep.Traffic["sqs (whole run)"] = sqsTraffic.Snapshot()
	rep.Masora.Triggers, rep.Masora.Conflicts = int(cadence.triggers.Load()), int(cadence.conflicts.Load())
	if err := watching(); err != nil {
		return nil, err
	}
	if err := ore.Stop(30 * time.Second); err != nil {
		return nil, err
	}
	if err := masora.Stop(30 * time.Second); err != nil {
		return nil, err
	}
	rep.Ore = oreLog.figures()

	// The promise first: every event once, nothing else.
	checkEnv := env.With("STORAGE_EMULATOR_HOST", opts.Stack.StorageEmulatorHost, "SQS_ENDPOINT", opts.Stack.SQSEndpoint, "SQS_DLQ_URL", opts.DLQURL)
	target, closeTarget, err := invariant.Connect(ctx, func(k string) string { return checkEnv[k] })
	if err != nil {
		return nil, err
	}
	defer closeTarget()
	target.Registry = reg
	inv, err := invariant.Check(ctx, target, pub.published, invariant.Options{})
	if err != nil {
		return nil, err
	}
	rep.Invariant = inv.String()
	invErr := inv.Err()

	fr, err := analyse(ctx, db, target.Bucket, Prefix, reg, timeline{sentAt: pub.sentAt, visible: visibleAt})
	if err != nil {
		return nil, err
	}
	rep.Stages, rep.Rates, rep.Unattributed, rep.CommitNotSeen = fr.stages, fr.rates, fr.unattributed, fr.notSeen
	if err := rep.Masora.read(ctx, db); err != nil {
		return nil, err
	}
	if rep.Sizes, err = readSizes(ctx, db, reg, pub); err != nil {
		return nil, err
	}

	fmt.Fprintf(opts.Out, "load: floors (raw CopyFrom; %d × %d-message drains, Ore and a receive-delete loop)\n", cfg.FloorRounds, cfg.FloorMessages)
	rows, floorRate, err := copyFloor(ctx, db)
	if err != nil {
		return nil, err
	}
	rep.CopyFloor = rep.Masora.copyFloor(rows, floorRate, rep.Traffic["bigquery"])
	if cfg.FloorMessages > 0 {
		if rep.DrainFloor, err = drainFloor(ctx, opts.Stack, reg, bins, env.With("GCS_BUCKET", opts.Bucket), cfg.FloorMessages, cfg.FloorRounds, opts.Logs); err != nil {
			return nil, err
		}
	}
	rep.Finished = time.Now().UTC()
	rep.LoadAfter = loadAverage()
	rep.Bottlenecks = bottlenecks(rep)
	return rep, errors.Join(settleErr, invErr)
}

// watch returns a context that ends, with a cause naming the service and
// its last lines, when one of procs exits; disarm stops watching (before
// the services are stopped on purpose) and returns that cause, if any.
func watch(ctx context.Context, procs map[string]*svcproc.Proc) (_ context.Context, disarm func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for name, p := range procs {
		wg.Go(func() {
			select {
			case <-p.Done():
				_, err := p.Exited()
				cancel(fmt.Errorf("%s exited during the run (%v):\n%s", name, err, p.Tail()))
			case <-stop:
			}
		})
	}
	return ctx, func() error {
		close(stop)
		wg.Wait()
		err := context.Cause(ctx)
		cancel(nil)
		return err
	}
}

func logsOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func setOfLower(ids []string) map[string]bool {
	s := make(map[string]bool, len(ids))
	for _, id := range ids {
		s[strings.ToLower(id)] = true
	}
	return s
}

// waitRows waits until the row tables hold want rows.
func waitRows(ctx context.Context, db *pgx.Conn, reg *schema.Registry, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	got := 0
	for {
		var err error
		if got, err = countRows(ctx, db, reg); err != nil {
			return err
		}
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, Postgres holds %d of the %d events published", within, got, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func countRows(ctx context.Context, db *pgx.Conn, reg *schema.Registry) (int, error) {
	total := 0
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return 0, err
		}
		var n int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{lt.Table}.Sanitize()).Scan(&n); err != nil {
			return 0, fmt.Errorf("count %s: %w", lt.Table, err)
		}
		total += n
	}
	return total, nil
}

// cadence triggers Masora's /run every interval, as Cloud Scheduler does.
// A trigger while the previous call is still running is sent anyway and
// counted when Masora answers 409.
type cadence struct {
	triggers, conflicts atomic.Int64
	cancel              context.CancelFunc
	wg                  sync.WaitGroup
}

func startCadence(ctx context.Context, m *svcproc.Masora, every time.Duration) *cadence {
	ctx, cancel := context.WithCancel(ctx)
	c := &cadence{cancel: cancel}
	c.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			c.triggers.Add(1)
			c.wg.Go(func() {
				if a, err := m.Run(ctx, ""); err == nil && a.Code == 409 {
					c.conflicts.Add(1)
				}
			})
		}
	})
	return c
}

// stop ends the triggers and waits for the calls in flight.
func (c *cadence) stop() {
	c.cancel()
	c.wg.Wait()
}

// visibilityPoller records when each chunk transaction's loaded_at first
// becomes visible in masora_manifest (a manifest row commits with its
// chunk's rows), every 200 ms.
type visibilityPoller struct {
	mu     sync.Mutex
	seen   map[int64]time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func newVisibilityPoller(ctx context.Context, dsn string) *visibilityPoller {
	ctx, cancel := context.WithCancel(ctx)
	v := &visibilityPoller{seen: map[int64]time.Time{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return // every commit then counts as not seen, at its run's end
		}
		defer conn.Close(context.WithoutCancel(ctx))
		for ctx.Err() == nil {
			rows, err := conn.Query(ctx, `SELECT DISTINCT loaded_at FROM masora_manifest`)
			now := time.Now()
			if err == nil {
				var at time.Time
				_, _ = pgx.ForEachRow(rows, []any{&at}, func() error {
					v.mu.Lock()
					if _, ok := v.seen[at.UnixMicro()]; !ok {
						v.seen[at.UnixMicro()] = now
					}
					v.mu.Unlock()
					return nil
				})
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return v
}

func (v *visibilityPoller) stop() map[int64]time.Time {
	v.cancel()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen
}

// oreLog reads Ore's JSON log lines: one "batch handled" per batch and
// "poller stopped" with its counts.
type oreLog struct {
	mu      sync.Mutex
	partial []byte
	batches []oreBatch
	stopped map[string]any
}

type oreBatch struct {
	Size       int     `json:"batch_size"`
	Rows       int     `json:"rows"`
	Files      int     `json:"files_written"`
	Bytes      int64   `json:"bytes"`
	DurationMs float64 `json:"duration_ms"`
}

func (l *oreLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.line(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}

func (l *oreLog) line(b []byte) {
	var head struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &head) != nil {
		return
	}
	switch head.Message {
	case "batch handled":
		var bt oreBatch
		if json.Unmarshal(b, &bt) == nil {
			l.batches = append(l.batches, bt)
		}
	case "poller stopped":
		_ = json.Unmarshal(b, &l.stopped)
	}
}
