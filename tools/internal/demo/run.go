package demo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// Target is where the demo runs: the stack's endpoints and the queue, bucket,
// dataset and database it uses, as the environment variables the services
// read (the keys of .stack/env).
type Target map[string]string

// Options configure Run.
type Options struct {
	// Root is the repository root; the services are built from it.
	Root string
	// BinDir receives the built ore and masora binaries.
	BinDir string
	// Target is the stack and the resources to use.
	Target Target
	// Plan is the stream to publish (see Generate).
	Plan *Plan
	// Progress receives one line per step and count; nil discards.
	Progress io.Writer
	// Logs receives the services' own log lines; nil discards.
	Logs io.Writer
	// DrainTimeout bounds the wait for Ore to drain the queue.
	DrainTimeout time.Duration
	// KeepMasora leaves `masora serve` running when Run returns
	// (Result.Masora), so that a person can open its status page; the
	// caller stops it.
	KeepMasora bool
}

// Result is what the demo observed.
type Result struct {
	// Quarantine holds every message Ore quarantined.
	Quarantine []quarantine.Record
	// FirstRun and SecondRun are Masora's /run answers.
	FirstRun, SecondRun []RunOutcome
	// Report is read back from Postgres after the first run.
	Report *Report
	// ReportAfterSecondRun is read back after the second run.
	ReportAfterSecondRun *Report
	// StatusPage is the link to Masora's status page with its token; it
	// answers while Masora runs.
	StatusPage string
	// Masora is the running Masora with Options.KeepMasora, else nil.
	Masora *Masora
}

// RunOutcome is the part of Masora's /run answer the demo prints.
type RunOutcome struct {
	LogType       string `json:"log_type"`
	Status        string `json:"status"`
	ObjectsLoaded int    `json:"objects_loaded"`
	Rows          int64  `json:"rows_loaded"`
	Duplicates    int64  `json:"duplicates_skipped"`
	Error         string `json:"error"`
}

// StepError names the step of the demo that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q failed: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &StepError{Step: name, Err: err}
}

// Run runs the pipeline once over opts.Plan: build, migrate, publish, Ore in
// poll mode until the queue is drained, Masora /run twice, and the report.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 5 * time.Minute
	}
	say := func(format string, args ...any) { fmt.Fprintf(opts.Progress, "==> "+format+"\n", args...) }

	say("building ore and masora")
	ore, masora, err := build(ctx, opts.Root, opts.BinDir)
	if err := step("build", err); err != nil {
		return nil, err
	}

	say("applying migrations (masora migrate)")
	if err := step("migrate", runCommand(ctx, masora, []string{"migrate"}, opts.Target, opts.Logs)); err != nil {
		return nil, err
	}

	client := stackenv.SQSClient(opts.Target["SQS_ENDPOINT"])
	p := opts.Plan
	say("publishing %d events (%d duplicates) with the producer library, and %d bad messages around it",
		len(p.Valid)+len(p.Duplicates), len(p.Duplicates), len(p.Bad))
	if err := step("publish", publish(ctx, client, opts.Target["SQS_QUEUE_URL"], p, opts.Progress)); err != nil {
		return nil, err
	}

	say("running Ore in poll mode until the queue is drained")
	if err := step("ore", drain(ctx, ore, client, opts)); err != nil {
		return nil, err
	}

	res := &Result{}
	if res.Quarantine, err = ReadQuarantine(ctx, opts.Target); err != nil {
		return nil, step("ore", err)
	}
	say("  %d messages quarantined", len(res.Quarantine))
	say("starting Masora and calling POST /run as Cloud Scheduler would")
	m, err := withMasora(ctx, masora, opts, func(call func() ([]RunOutcome, error)) error {
		var err error
		if res.FirstRun, err = call(); err != nil {
			return fmt.Errorf("first /run: %w", err)
		}
		for _, o := range res.FirstRun {
			say("  %s: %s, %d objects, %d rows loaded, %d duplicates skipped", o.LogType, o.Status, o.ObjectsLoaded, o.Rows, o.Duplicates)
		}
		if res.Report, err = ReadReport(ctx, opts.Target); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		say("calling POST /run again: it must change nothing")
		if res.SecondRun, err = call(); err != nil {
			return fmt.Errorf("second /run: %w", err)
		}
		if res.ReportAfterSecondRun, err = ReadReport(ctx, opts.Target); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		return nil
	})
	if err := step("masora", err); err != nil {
		return nil, err
	}
	res.StatusPage = m.StatusPage()
	if opts.KeepMasora {
		res.Masora = m
	}
	return res, nil
}

func build(ctx context.Context, root, binDir string) (ore, masora string, err error) {
	ore, masora = filepath.Join(binDir, "ore"), filepath.Join(binDir, "masora")
	for out, pkg := range map[string]string{ore: "./services/ore/cmd/ore", masora: "./services/masora/cmd/masora"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return ore, masora, nil
}

// environ is the process environment with the target's variables on top.
func environ(t Target, extra ...string) []string {
	env := os.Environ()
	for k, v := range t {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

func runCommand(ctx context.Context, bin string, args []string, t Target, logs io.Writer) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logs, &out), io.MultiWriter(logs, &out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail(out.String()))
	}
	return nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// publish sends the valid events and their duplicates through the producer
// library, and the bad messages with plain SendMessage calls (the producer
// refuses them, which is the point).
func publish(ctx context.Context, client *sqs.Client, queueURL string, p *Plan, out io.Writer) error {
	prod, err := producer.New(client, producer.Options{QueueURL: queueURL})
	if err != nil {
		return err
	}
	msgs := append(append([]Message(nil), p.Valid...), p.Duplicates...)
	prog := progress.New(progress.Options{Out: out, Label: "    published", Total: int64(len(msgs) + len(p.Bad)), Style: progress.StyleFor(out)})
	defer prog.Finish()
	const chunk = 500
	for i := 0; i < len(msgs); i += chunk {
		evs := make([]producer.Event, 0, chunk)
		for _, m := range msgs[i:min(i+chunk, len(msgs))] {
			evs = append(evs, producer.Event{LogType: m.LogType, Body: m.Body})
		}
		for _, r := range prod.PublishBatch(ctx, evs) {
			if r.Err != nil {
				return fmt.Errorf("event %d (%s): %w", i+r.Index, r.EventID, r.Err)
			}
		}
		prog.Add(int64(len(evs)))
	}
	for _, m := range p.Bad {
		in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(m.Body))}
		if m.LogType != "" {
			in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{
				schema.AttributeLogType: {DataType: aws.String("String"), StringValue: aws.String(m.LogType)},
			}
		}
		if _, err := client.SendMessage(ctx, in); err != nil {
			return fmt.Errorf("send bad message (%s): %w", m.Bad, err)
		}
		prog.Add(1)
	}
	return nil
}

// drain runs Ore in poll mode until the queue has no visible and no
// in-flight messages twice in a row, then stops it with SIGTERM. Its
// progress is the messages gone from the queue.
func drain(ctx context.Context, bin string, client *sqs.Client, opts Options) error {
	queued, _, err := invariant.QueueDepth(ctx, client, opts.Target["SQS_QUEUE_URL"])
	if err != nil {
		return err
	}
	prog := progress.New(progress.Options{Out: opts.Progress, Label: "    messages handled by ore", Total: int64(queued), Style: progress.StyleFor(opts.Progress)})
	defer prog.Finish()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = environ(opts.Target, "ORE_MODE=poll", "ORE_POLL_BATCH_WINDOW=1s", "ORE_POLL_WAIT_TIME=1s")
	cmd.Stdout, cmd.Stderr = opts.Logs, opts.Logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ore: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(opts.DrainTimeout)
	empty := 0
	for empty < 2 {
		select {
		case err := <-exited:
			return fmt.Errorf("ore exited before the queue was drained: %v", err)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(time.Second):
		}
		visible, inFlight, err := invariant.QueueDepth(ctx, client, opts.Target["SQS_QUEUE_URL"])
		if err != nil {
			_ = cmd.Process.Kill()
			return err
		}
		prog.Set(int64(max(0, queued-visible-inFlight)), 0)
		if visible+inFlight == 0 {
			empty++
		} else {
			empty = 0
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("the queue was not drained within %s (%d waiting, %d in flight)", opts.DrainTimeout, visible, inFlight)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("ore did not shut down cleanly: %w", err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		return errors.New("ore did not stop within a minute of SIGTERM")
	}
	return nil
}

// withMasora starts `masora serve` on a free port with a fresh bearer token
// and gives fn a function that calls POST /run with it. It returns the
// server, stopped unless opts.KeepMasora.
func withMasora(ctx context.Context, bin string, opts Options, fn func(call func() ([]RunOutcome, error)) error) (m *Masora, err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = environ(opts.Target, "PORT="+strconv.Itoa(port), "MASORA_AUTH_TOKEN="+token,
		"MASORA_DLQ_URL="+opts.Target["SQS_DLQ_URL"])
	cmd.Stdout, cmd.Stderr = opts.Logs, opts.Logs
	// Interrupted, Masora gets SIGTERM and its grace period, not SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start masora: %w", err)
	}
	m = &Masora{URL: "http://127.0.0.1:" + strconv.Itoa(port), token: token, cmd: cmd, done: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	defer func() {
		if err != nil || !opts.KeepMasora {
			m.Stop()
		}
	}()

	base := m.URL
	if err := waitHealthy(ctx, base+"/healthz", m.done); err != nil {
		return m, err
	}
	call := func() ([]RunOutcome, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/run", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", "Google-Cloud-Scheduler")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("POST /run: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
		return decodeRun(body)
	}
	return m, fn(call)
}

// Masora is the `masora serve` the demo started.
type Masora struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL   string
	token string
	cmd   *exec.Cmd
	done  chan struct{} // closed when it exited
	err   error         // its exit, once done is closed
	stop  sync.Once
}

// StatusPage is the link to its status page that signs in with its token
// (GET /?token=…, which sets the page's session cookie).
func (m *Masora) StatusPage() string { return m.URL + "/?token=" + m.token }

// Done is closed when Masora has exited.
func (m *Masora) Done() <-chan struct{} { return m.done }

// Err is how Masora exited, once Done is closed.
func (m *Masora) Err() error { return m.err }

// Stop stops Masora with SIGTERM, and SIGKILL if it has not exited 30 s
// later.
func (m *Masora) Stop() {
	m.stop.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(30 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
}

// decodeRun reads the per-log-type outcomes from a /run answer.
func decodeRun(body []byte) ([]RunOutcome, error) {
	var answer struct {
		Runs []RunOutcome `json:"runs"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Runs == nil {
		return nil, fmt.Errorf("unexpected /run answer: %s", body)
	}
	return answer.Runs, nil
}

func waitHealthy(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("masora exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("masora did not answer %s within 30s", url)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Report is what the demo reads back from Postgres.
type Report struct {
	// Rows is the row count of each log type's table.
	Rows map[string]int64
	// TopActions are the busiest (hour, action, channel) rows of the
	// user_action hourly summary.
	TopActions []SummaryRow
	// CartsConfirmed and CartsCancelled count those user actions, by channel.
	CartsConfirmed, CartsCancelled map[string]int64
	// Summaries holds every hourly summary row, per log type.
	Summaries map[string]map[HourKey]HourCount
	// Quality is the data-quality summary of the quarantine (see
	// readQuality).
	Quality Quality
}

// SummaryRow is one row of an hourly summary.
type SummaryRow struct {
	Hour     time.Time
	Dims     string
	Events   int64
	Distinct int64
}

// ReadReport reads the report from the target's Postgres.
func ReadReport(ctx context.Context, t Target) (*Report, error) {
	conn, err := pgx.Connect(ctx, t["DATABASE_URL"])
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	defer conn.Close(ctx)
	reg, err := schema.Load()
	if err != nil {
		return nil, err
	}
	r := &Report{
		Rows:           map[string]int64{},
		CartsConfirmed: map[string]int64{},
		CartsCancelled: map[string]int64{},
		Summaries:      map[string]map[HourKey]HourCount{},
	}
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{lt.Table}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", lt.Table, err)
		}
		r.Rows[name] = n
		rows, err := summaryRows(ctx, conn, lt)
		if err != nil {
			return nil, err
		}
		r.Summaries[name] = map[HourKey]HourCount{}
		for _, s := range rows {
			r.Summaries[name][HourKey{Hour: s.Hour, Dims: s.Dims}] = HourCount{Events: s.Events, Distinct: s.Distinct}
		}
		if name == "user_action" {
			r.TopActions = top(rows, 8)
		}
	}
	if r.Quality, err = readQuality(ctx, conn); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT action, channel, count(*) FROM user_actions
		WHERE action IN ('cart_confirmed', 'cart_cancelled') GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("cart outcomes: %w", err)
	}
	for rows.Next() {
		var action, channel string
		var n int64
		if err := rows.Scan(&action, &channel, &n); err != nil {
			return nil, err
		}
		if action == "cart_confirmed" {
			r.CartsConfirmed[channel] = n
		} else {
			r.CartsCancelled[channel] = n
		}
	}
	return r, rows.Err()
}

func summaryRows(ctx context.Context, conn *pgx.Conn, lt *schema.LogType) ([]SummaryRow, error) {
	s := lt.Summary
	dims := make([]string, len(s.Dimensions))
	for i, d := range s.Dimensions {
		dims[i] = pgx.Identifier{d}.Sanitize()
	}
	q := fmt.Sprintf("SELECT hour, concat_ws('|', %s), events, %s FROM %s",
		strings.Join(dims, ", "), pgx.Identifier{s.DistinctColumn}.Sanitize(), pgx.Identifier{s.Table}.Sanitize())
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Table, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SummaryRow, error) {
		var r SummaryRow
		err := row.Scan(&r.Hour, &r.Dims, &r.Events, &r.Distinct)
		r.Hour = r.Hour.UTC()
		return r, err
	})
}

func top(rows []SummaryRow, n int) []SummaryRow {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b SummaryRow) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), a.Hour.Compare(b.Hour))
	})
	return out[:min(n, len(out))]
}

// ReadQuarantine reads every quarantined message under the target's bucket
// and prefix.
func ReadQuarantine(ctx context.Context, t Target) ([]quarantine.Record, error) {
	client, err := stackenv.StorageClient(ctx, t["STORAGE_EMULATOR_HOST"])
	if err != nil {
		return nil, err
	}
	defer client.Close()
	bucket := client.Bucket(t["GCS_BUCKET"])
	prefix := cmp.Or(t["GCS_PREFIX"], layout.DefaultPrefix)
	it := bucket.Objects(ctx, &storage.Query{Prefix: layout.LogTypePrefix(prefix, layout.QuarantineDir)})
	var out []quarantine.Record
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		if _, err := layout.Parse(prefix, attrs.Name); err != nil {
			return nil, err
		}
		r, err := bucket.Object(attrs.Name).NewReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", attrs.Name, err)
		}
		err = quarantine.Decode(r, func(q quarantine.Record) error {
			out = append(out, q)
			return nil
		})
		if err != nil {
			err = fmt.Errorf("%s: %w", attrs.Name, err)
		}
		r.Close()
		if err != nil {
			return nil, err
		}
	}
}
