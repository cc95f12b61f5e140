// Package masoratest gives Masora's integration tests their own slice of
// the local stack (a bucket, a migrated Postgres schema, a BigQuery dataset)
// and writes fixture parquet objects exactly as Ore writes them, through
// libs/parquetrow and libs/layout. Import it from tests only.
package masoratest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/schemas"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/reportdb"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// Prefix is the layout prefix the fixtures use.
const Prefix = layout.DefaultPrefix

// Postgres is one test's migrated Postgres schema.
type Postgres struct {
	Env      stacktest.Env
	Registry *schema.Registry
	// DSN connects to the test's schema (its search_path).
	DSN  string
	Pool *pgxpool.Pool
}

// NewPostgres creates and migrates a Postgres schema for the calling test,
// dropped when it ends. It skips the test when the stack is not running
// (see stacktest.Load).
func NewPostgres(t testing.TB) *Postgres {
	t.Helper()
	env := stacktest.Load(t)
	p := &Postgres{Env: env, Registry: schema.MustLoad(), DSN: stacktest.PostgresSchema(t, env)}
	if _, err := reportdb.Migrate(t.Context(), ConnConfig(t, p.DSN)); err != nil {
		t.Fatalf("masoratest: migrate: %v", err)
	}
	pool, err := pgxpool.New(t.Context(), p.DSN)
	if err != nil {
		t.Fatalf("masoratest: Postgres pool: %v", err)
	}
	t.Cleanup(pool.Close)
	p.Pool = pool
	return p
}

// ConnConfig parses dsn, a pgx connection string, into the connection
// configuration reportdb and the doctor take.
func ConnConfig(t testing.TB, dsn string) *pgx.ConnConfig {
	t.Helper()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("masoratest: parse %s: %v", dsn, err)
	}
	return cc
}

// BeforeCommit returns pool as a loader.DB that calls hook just before each
// of the loader's transactions commits, once a chunk's manifest entries,
// rows, summaries and run counters are written. An error from hook aborts
// the transaction instead, as a crash at that moment would; hook may also
// block, to hold a chunk open.
func BeforeCommit(pool *pgxpool.Pool, hook func(ctx context.Context) error) loader.DB {
	return hookedDB{Pool: pool, hook: hook}
}

type hookedDB struct {
	*pgxpool.Pool
	hook func(ctx context.Context) error
}

func (d hookedDB) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return hookedTx{Tx: tx, hook: d.hook}, nil
}

type hookedTx struct {
	pgx.Tx
	hook func(ctx context.Context) error
}

func (t hookedTx) Commit(ctx context.Context) error {
	if err := t.hook(ctx); err != nil {
		return fmt.Errorf("before commit: %w", err)
	}
	return t.Tx.Commit(ctx)
}

// Stack is one test's resources on the local stack.
type Stack struct {
	*Postgres
	Bucket   string
	Storage  *storage.Client
	BigQuery *bigquery.Client
	Dataset  string
}

// Option changes what New sets up.
type Option func(*options)

type options struct{ noDataset bool }

// NoDataset makes New skip creating the BigQuery dataset, for tests that
// never reach BigQuery. The shared bigquery-emulator's memory grows with
// every operation until its SQL engine fails (seen at about 5 GB RSS), so
// tests spare it.
func NoDataset(o *options) { o.noDataset = true }

// New sets up the calling test's resources, removed when it ends. It skips
// the test when the stack is not running (see stacktest.Load).
func New(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	s := &Stack{Postgres: NewPostgres(t)}
	env := s.Env
	ctx := t.Context()

	s.Bucket = stacktest.NewBucket(t, env)
	s.Storage = stacktest.StorageClient(t, env)

	bq, err := bigquery.NewClient(ctx, env.BigQueryProject,
		option.WithEndpoint(env.BigQueryEndpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("masoratest: BigQuery client: %v", err)
	}
	t.Cleanup(func() { bq.Close() })
	s.BigQuery = bq
	s.Dataset = stacktest.UniqueName(t, "d")
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.noDataset {
		return s
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The dataset is left behind: every table deletion makes the emulator
	// rebuild its whole SQL catalog, which is what grows its memory until
	// it fails. Its name is unique; the emulator goes with the stack.
	if err := bq.Dataset(s.Dataset).Create(cctx, &bigquery.DatasetMetadata{Location: stackenv.DatasetLocation}); err != nil {
		t.Fatalf("masoratest: create BigQuery dataset %s: %v", s.Dataset, err)
	}
	return s
}

// Warehouse returns a warehouse over the test's dataset that leaves its
// external tables to expire, sparing the emulator their deletion.
func (s *Stack) Warehouse(t testing.TB) *warehouse.Warehouse {
	t.Helper()
	transforms, err := fs.Sub(schemas.LogTypes, "logtypes")
	if err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.New(s.BigQuery, s.Registry, transforms, warehouse.Options{
		Dataset: s.Dataset, CallTimeout: 30 * time.Second, KeepTables: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Logger returns a logger writing to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Message is one SQS message as Ore received it.
type Message struct {
	ID         string
	Body       []byte
	ReceivedAt time.Time
}

// UserAction is the fields of a user_action event that tests vary.
type UserAction struct {
	EventID    uuid.UUID
	OccurredAt time.Time
	Action     string
	Channel    string
	UserID     string
}

// Body returns the event's message body.
func (u UserAction) Body() []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"occurred_at":%q,"source":"web-frontend","action":%q,"channel":%q,"user_id":%q,"quantity":2,"attributes":{"ab":"b"},"unknown_field":1}`,
		u.EventID, u.OccurredAt.Format(time.RFC3339Nano), u.Action, u.Channel, u.UserID)
}

// SellerAction returns the body of a seller_action event.
func SellerAction(eventID uuid.UUID, occurredAt time.Time, action, sellerID string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"occurred_at":%q,"source":"seller-dashboard","action":%q,"seller_id":%q,"stock":3}`,
		eventID, occurredAt.Format(time.RFC3339Nano), action, sellerID)
}

// Message returns the event as a message received at receivedAt.
func (u UserAction) Message(receivedAt time.Time) Message {
	return Message{ID: uuid.NewString(), Body: u.Body(), ReceivedAt: receivedAt}
}

// Parquet returns the parquet file Ore writes for the messages, decoded
// with the latest version of the log type. Each mutate function may change
// the decoded events before they are written, to make files Ore would not.
func (s *Stack) Parquet(t testing.TB, logType string, msgs []Message, mutate ...func(ev *schema.Event)) []byte {
	t.Helper()
	lt, err := s.Registry.Latest(logType)
	if err != nil {
		t.Fatal(err)
	}
	return ParquetVersion(t, lt, msgs, mutate...)
}

// ParquetVersion is Parquet for one version of a log type, as an Ore that
// knew only that version wrote it.
func ParquetVersion(t testing.TB, lt *schema.LogType, msgs []Message, mutate ...func(ev *schema.Event)) []byte {
	t.Helper()
	ps, err := parquetrow.New(lt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := parquetrow.NewWriter(&buf, ps, parquetrow.WriterOptions{WriterVersion: "masoratest"})
	for _, m := range msgs {
		ev, err := lt.Decode(m.Body)
		if err != nil {
			t.Fatalf("masoratest: fixture message %s: %v", m.ID, err)
		}
		for _, f := range mutate {
			f(ev)
		}
		if err := w.Write(ev, parquetrow.Lineage{MessageID: m.ID, ReceivedAt: m.ReceivedAt, WriterVersion: "masoratest"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WriteObject writes the messages as one parquet object of the log type's
// latest version in the hour folder of the first message's receipt, named
// as Ore names it, and returns the object's name.
func (s *Stack) WriteObject(t testing.TB, logType string, msgs []Message, mutate ...func(ev *schema.Event)) string {
	t.Helper()
	lt, err := s.Registry.Latest(logType)
	if err != nil {
		t.Fatal(err)
	}
	name := ObjectName(lt.Name, lt.Version, msgs)
	s.Put(t, name, s.Parquet(t, logType, msgs, mutate...))
	return name
}

// ObjectName returns the name Ore gives the object of the messages' rows
// written with version of the log type: in the hour folder of the first
// message's receipt, named after the message ids.
func ObjectName(logType string, version int, msgs []Message) string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return layout.DataPath(Prefix, logType, version, msgs[0].ReceivedAt, layout.Name(ids))
}

// Put writes an object with the given content.
func (s *Stack) Put(t testing.TB, name string, content []byte) {
	t.Helper()
	w := s.Storage.Bucket(s.Bucket).Object(name).NewWriter(t.Context())
	if _, err := io.Copy(w, bytes.NewReader(content)); err != nil {
		t.Fatalf("masoratest: write gs://%s/%s: %v", s.Bucket, name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("masoratest: write gs://%s/%s: %v", s.Bucket, name, err)
	}
}

// Delete removes an object.
func (s *Stack) Delete(t testing.TB, name string) {
	t.Helper()
	if err := s.Storage.Bucket(s.Bucket).Object(name).Delete(t.Context()); err != nil {
		t.Fatalf("masoratest: delete gs://%s/%s: %v", s.Bucket, name, err)
	}
}

// Count returns the result of a count query on the test's schema.
func (s *Postgres) Count(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.Pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("masoratest: %s: %v", query, err)
	}
	return n
}

// SummaryMismatches returns how many rows of the log type's hourly summary
// differ from a recomputation from its row table (rows missing on either
// side count too): 0 when the summary is right.
func (s *Postgres) SummaryMismatches(t testing.TB, logType string) int64 {
	t.Helper()
	lt, err := s.Registry.Latest(logType)
	if err != nil {
		t.Fatal(err)
	}
	sum := lt.Summary
	dims := strings.Join(sum.Dimensions, ", ")
	stored := fmt.Sprintf(`SELECT hour, %s, events, %s FROM %s`, dims, sum.DistinctColumn, sum.Table)
	recomputed := fmt.Sprintf(`SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', %s, count(*), count(DISTINCT %s)
		FROM %s GROUP BY 1, %s`, dims, sum.Distinct, lt.Table, dims)
	return s.Count(t, fmt.Sprintf(`SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) AS d`,
		stored, recomputed, recomputed, stored))
}

// Quarantine returns the quarantine object Ore writes for the records,
// encoded by libs/quarantine, and its name: in the hour folder of the
// first record's receipt, named after the message ids.
func Quarantine(t testing.TB, recs ...quarantine.Record) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	enc := quarantine.NewEncoder(&buf)
	ids := make([]string, len(recs))
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			t.Fatal(err)
		}
		ids[i] = recs[i].MessageID
	}
	return layout.QuarantinePath(Prefix, recs[0].ReceivedAt, layout.Name(ids)), buf.Bytes()
}

// WriteQuarantine writes the records as one quarantine object, as Ore
// writes them (see Quarantine), and returns the object's name.
func (s *Stack) WriteQuarantine(t testing.TB, recs ...quarantine.Record) string {
	t.Helper()
	name, content := Quarantine(t, recs...)
	s.Put(t, name, content)
	return name
}

// QuarantineSummaryMismatches returns how many rows of quarantine_hourly
// differ from a recount from quarantined_messages (rows missing on either
// side count too): 0 when the summary is right.
func (s *Postgres) QuarantineSummaryMismatches(t testing.TB) int64 {
	t.Helper()
	const (
		stored    = `SELECT hour, log_type, source, reason_kind, messages FROM quarantine_hourly`
		recounted = `SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', log_type, coalesce(source, ''), reason_kind, count(*)
			FROM quarantined_messages GROUP BY 1, 2, 3, 4`
	)
	return s.Count(t, fmt.Sprintf(`SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) AS d`,
		stored, recounted, recounted, stored))
}
