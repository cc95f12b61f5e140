package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/tools/internal/chaos/faultproxy"
	"github.com/ore-masora/pipeline/tools/internal/chaos/svcproc"
)

// Pipeline is one scenario's pipeline on the local stack: its own queue
// and DLQ, bucket, Postgres schema and GCS prefix; Ore and Masora run as
// processes that reach GCS (both) and BigQuery (Masora) through fault
// proxies the scenario controls. It records what was published for the
// invariant checker.
type Pipeline struct {
	T    *testing.T
	Ctx  context.Context
	Cfg  Config
	Rand *rand.Rand
	Reg  *schema.Registry
	// Env configures Ore and Masora (the stack's endpoints, the scenario's
	// resources, short timeouts).
	Env svcproc.Env
	// GCS sits between the services and fake-gcs-server, BQ between Masora
	// and the BigQuery emulator.
	GCS, BQ *faultproxy.Proxy
	// SQS, QueueURL and DLQURL are the scenario's queues.
	SQS              *sqs.Client
	QueueURL, DLQURL string
	// Prefix is Ore's GCS_PREFIX.
	Prefix string
	// DatabaseURL is the scenario's Postgres schema (search_path set).
	DatabaseURL string
	// Published is what the scenario published.
	Published invariant.Published
	// Logs receives the services' output (a file shown when the test fails).
	Logs io.Writer
	// Stack is the suite's stack.
	Stack *Stack

	mu    sync.Mutex
	procs []*svcproc.Proc
}

// QueueConfig sets the scenario's queue.
type QueueConfig struct {
	// Visibility is the visibility timeout; MaxReceives the redrive
	// policy's maxReceiveCount.
	Visibility  time.Duration
	MaxReceives int
}

// Visibility is the queue's visibility timeout in every scenario: short, so
// redeliveries come fast, and long enough for fauxqs (EMULATORS.md: ≥ 3–5 s).
const Visibility = 5 * time.Second

// uploadTimeout is Ore's ORE_UPLOAD_TIMEOUT in the scenarios.
const uploadTimeout = 3 * time.Second

// NewPipeline makes a scenario's resources, migrates its schema and starts
// its proxies. Everything is removed when the test ends; services still
// running are killed.
func NewPipeline(t *testing.T, stack *Stack, cfg Config, seed uint64, q QueueConfig) *Pipeline {
	t.Helper()
	env := stack.Env
	p := &Pipeline{
		T: t, Ctx: t.Context(), Cfg: cfg, Rand: rand.New(rand.NewPCG(seed, seed^0xc4a05)), Reg: schema.MustLoad(), Stack: stack,
		SQS: stacktest.SQSClient(t, env), Prefix: "chaos", DatabaseURL: stacktest.PostgresSchema(t, env),
	}
	t.Cleanup(p.killAll)
	if q.Visibility == 0 {
		q.Visibility = Visibility
	}
	if q.MaxReceives == 0 {
		q.MaxReceives = 20
	}
	p.QueueURL, p.DLQURL = stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(q.Visibility), stacktest.MaxReceiveCount(q.MaxReceives))
	bucket := stacktest.NewBucket(t, env)
	var err error
	if p.GCS, err = faultproxy.New(env.StorageEmulatorHost); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.GCS.Close)
	if p.BQ, err = faultproxy.New(env.BigQueryEndpoint); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.BQ.Close)
	p.Logs = logFile(t)
	p.Env = svcproc.Env{
		"AWS_REGION": env.AWSRegion, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"SQS_ENDPOINT": env.SQSEndpoint, "SQS_QUEUE_URL": p.QueueURL,
		"STORAGE_EMULATOR_HOST": p.GCS.URL, "GCS_BUCKET": bucket, "GCS_PREFIX": p.Prefix,
		"BIGQUERY_ENDPOINT": p.BQ.URL, "BIGQUERY_PROJECT": env.BigQueryProject, "BIGQUERY_DATASET": env.BigQueryDataset,
		"DATABASE_URL": p.DatabaseURL, "LOG_LEVEL": "info",
		// Ore: poll mode with one-second windows (svcproc.OrePoll), small
		// batches (a redelivered message lands in another batch than its
		// first), uploads that give up after a few seconds.
		"ORE_POLL_BATCH_SIZE": "40", "ORE_UPLOAD_TIMEOUT": uploadTimeout.String(), "ORE_SHUTDOWN_TIMEOUT": "10s",
		// Masora: small chunks (more commit points to crash between), the
		// emulator's tables left to expire, calls that give up in seconds.
		"MASORA_CHUNK_FILES": strconv.Itoa(max(4, cfg.Events/200)), "MASORA_BIGQUERY_KEEP_TABLES": "true", "MASORA_BIGQUERY_TIMEOUT": "20s",
		"MASORA_SHUTDOWN_TIMEOUT": "5s",
	}
	if err := svcproc.Migrate(p.Ctx, stack.Bins, p.Env, p.Logs); err != nil {
		t.Fatal(err)
	}
	return p
}

// Publish generates and publishes a mix of cfg.Events events.
func (p *Pipeline) Publish(only string) *Mix {
	p.T.Helper()
	mix, err := NewMix(p.Reg, MixOptions{Events: p.Cfg.Events, BadRounds: p.Cfg.BadRounds, Large: 2, Seed: p.Rand.Uint64(), Now: time.Now()})
	if err != nil {
		p.T.Fatal(err)
	}
	if only != "" {
		mix.Only(only)
	}
	if err := mix.Publish(p.Ctx, p.SQS, p.QueueURL, p.Rand, &p.Published); err != nil {
		p.T.Fatal(err)
	}
	p.T.Logf("published %d valid events, %d duplicates, %d bad messages", len(mix.Valid), len(mix.Duplicates), len(mix.Bad))
	return mix
}

// StartOre starts Ore in poll mode with env on top of p.Env.
func (p *Pipeline) StartOre(env ...string) *svcproc.Proc {
	p.T.Helper()
	proc, err := svcproc.StartOre(p.Stack.Bins, p.Env.With(env...), p.Logs)
	if err != nil {
		p.T.Fatal(err)
	}
	p.track(proc)
	return proc
}

// StartMasora starts `masora serve` with env on top of p.Env.
func (p *Pipeline) StartMasora(env ...string) *svcproc.Masora {
	p.T.Helper()
	m, err := svcproc.StartMasora(p.Ctx, p.Stack.Bins, p.Env.With(env...), p.Logs)
	if err != nil {
		p.T.Fatal(err)
	}
	p.track(m.Proc)
	return m
}

func (p *Pipeline) track(proc *svcproc.Proc) {
	p.mu.Lock()
	p.procs = append(p.procs, proc)
	p.mu.Unlock()
}

func (p *Pipeline) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, proc := range p.procs {
		proc.Kill()
	}
}

// Drained waits until the queue has had no visible and no in-flight
// message for a second, or fails the test after within.
func (p *Pipeline) Drained(within time.Duration) {
	p.T.Helper()
	if err := waitFor(p.Ctx, within, 250*time.Millisecond, func() (bool, string, error) {
		visible, hidden, err := invariant.QueueDepth(p.Ctx, p.SQS, p.QueueURL)
		return visible+hidden == 0, fmt.Sprintf("%d waiting, %d in flight", visible, hidden), err
	}, 4); err != nil {
		p.T.Fatalf("queue not drained: %v", err)
	}
}

// Settle calls /run until a run of every log type succeeds and no run is
// left 'running', as Cloud Scheduler calling again would: a 409 (another
// run holds the lock) or a failed run is retried. A run whose process was
// killed stays 'running' until a run starts a lease (ledger.Lease, a
// minute) after its last heartbeat, so after a kill this takes that long.
// It fails the test after within.
func (p *Pipeline) Settle(m *svcproc.Masora, within time.Duration) svcproc.Answer {
	p.T.Helper()
	conn, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(p.Ctx))
	var last svcproc.Answer
	err = waitFor(p.Ctx, within, 2*time.Second, func() (bool, string, error) {
		a, err := m.Run(p.Ctx, "")
		if err != nil {
			return false, err.Error(), nil
		}
		last = a
		if !a.Succeeded() {
			return false, a.String(), nil
		}
		var running int
		if err := conn.QueryRow(p.Ctx, `SELECT count(*) FROM masora_runs WHERE status = 'running'`).Scan(&running); err != nil {
			return false, "", err
		}
		return running == 0, fmt.Sprintf("%d runs of killed processes still 'running' (%s)", running, a), nil
	}, 1)
	if err != nil {
		p.T.Fatalf("Masora did not settle: %v", err)
	}
	return last
}

// Check runs the invariant checker over what was published and fails the
// test with every violation.
func (p *Pipeline) Check(opts invariant.Options) *invariant.Report {
	p.T.Helper()
	rep, err := p.check(p.Published, opts)
	if err != nil {
		p.T.Fatal(err)
	}
	p.T.Logf("checked: %s", rep)
	if err := rep.Err(); err != nil {
		p.T.Error(err)
	}
	return rep
}

// check runs the checker over pub, reading the bucket from the emulator
// itself, not through the fault proxy.
func (p *Pipeline) check(pub invariant.Published, opts invariant.Options) (*invariant.Report, error) {
	env := p.Env.With("STORAGE_EMULATOR_HOST", p.Stack.Env.StorageEmulatorHost, "SQS_DLQ_URL", p.DLQURL)
	t, closeTarget, err := invariant.Connect(p.Ctx, func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	defer closeTarget()
	t.Registry = p.Reg
	return invariant.Check(p.Ctx, t, pub, opts)
}

// within bounds each wait for Ore to drain or Masora to settle: three
// minutes for the small suite, more with more data.
func (p *Pipeline) within() time.Duration {
	return 3*time.Minute + time.Duration(p.Cfg.Events*p.Cfg.Faults)*40*time.Millisecond
}

// waitFor polls cond every interval until it has held `times` times in a
// row, or fails after within with cond's last description.
func waitFor(ctx context.Context, within, interval time.Duration, cond func() (bool, string, error), times int) error {
	deadline := time.Now().Add(within)
	held := 0
	for {
		ok, state, err := cond()
		if err != nil {
			return err
		}
		if ok {
			held++
			if held >= times {
				return nil
			}
		} else {
			held = 0
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not within %s; last: %s", within, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// logFile keeps the services' output in a file, removed when the test
// passes; when it fails the file stays and the test prints its tail.
func logFile(t *testing.T) io.Writer {
	t.Helper()
	f, err := os.CreateTemp("", "chaos-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if !t.Failed() {
			os.Remove(f.Name())
			return
		}
		b, _ := os.ReadFile(f.Name())
		if len(b) > 12000 {
			b = b[len(b)-12000:]
		}
		t.Logf("services' output (kept in %s), last 12 kB:\n%s", f.Name(), b)
	})
	return f
}
