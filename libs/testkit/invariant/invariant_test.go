package invariant_test

import (
	"bytes"
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/schemas"
)

const prefix = "inv"

var (
	hour    = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	ua      = []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"}
	sa      = []string{"00000000-0000-4000-8000-00000000000a"}
	badIDs  = []string{"m-bad-1", "m-bad-2", "m-bad-3"}
	objects = []string{
		layout.DataPath(prefix, "user_action", 2, hour, strings.Repeat("a", layout.NameLen)),
		layout.DataPath(prefix, "user_action", 2, hour, strings.Repeat("b", layout.NameLen)),
		layout.DataPath(prefix, "seller_action", 1, hour, strings.Repeat("c", layout.NameLen)),
	}
)

// fixture is a pipeline output that keeps every invariant: what Ore and
// Masora would leave after publishing 4 user_action events (one of them
// twice), 1 seller_action event and 3 bad messages.
type fixture struct {
	ctx       context.Context
	conn      *pgx.Conn
	bucket    *storage.BucketHandle
	sqs       *sqs.Client
	queue     string
	dlq       string
	published invariant.Published
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := stacktest.Load(t)
	f := &fixture{ctx: t.Context()}
	dsn := stacktest.PostgresSchema(t, env)
	var err error
	if f.conn, err = pgx.Connect(f.ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close(context.Background()) })
	f.bucket = stacktest.StorageClient(t, env).Bucket(stacktest.NewBucket(t, env))
	f.queue, f.dlq = stacktest.NewQueue(t, env)
	f.sqs = stacktest.SQSClient(t, env)

	migrations, err := fs.Glob(schemas.Migrations, "migrations/*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(migrations)
	for _, m := range migrations {
		b, err := fs.ReadFile(schemas.Migrations, m)
		if err != nil {
			t.Fatal(err)
		}
		f.exec(t, string(b))
	}
	at := hour.Add(10 * time.Minute)
	for i, id := range ua {
		action, user, occurred := "product_viewed", "u1", at
		switch i {
		case 2:
			action = "cart_confirmed"
		case 3:
			occurred, user = at.Add(time.Hour), "u2"
		}
		f.exec(t, `INSERT INTO user_actions (event_id, occurred_at, source, action, channel, user_id, message_id, received_at, writer_version)
			VALUES ($1, $2, 'web-frontend', $3, 'web', $4, $5, $2, 'test')`, id, occurred, action, user, "m-"+id)
		f.published.AddEvent("user_action", id)
	}
	f.published.AddEvent("user_action", ua[0]) // a duplicate
	f.exec(t, `INSERT INTO seller_actions (event_id, occurred_at, source, action, seller_id, message_id, received_at, writer_version)
		VALUES ($1, $2, 'seller-dashboard', 'stock_updated', 's1', $3, $2, 'test')`, sa[0], at, "m-"+sa[0])
	f.published.AddEvent("seller_action", strings.ToUpper(sa[0])) // ids compare as UUIDs
	f.exec(t, `INSERT INTO user_action_hourly VALUES
		($1, 'product_viewed', 'web', 2, 1), ($1, 'cart_confirmed', 'web', 1, 1), ($2, 'product_viewed', 'web', 1, 1)`, hour, hour.Add(time.Hour))
	f.exec(t, `INSERT INTO seller_action_hourly VALUES ($1, 'stock_updated', 1, 1)`, hour)

	var runID int64
	if err := f.conn.QueryRow(f.ctx, `INSERT INTO masora_runs (log_type, trigger, window_from, window_to, status, finished_at)
		VALUES ('user_action', 'schedule', $1, $1, 'succeeded', now()) RETURNING run_id`, hour).Scan(&runID); err != nil {
		t.Fatal(err)
	}
	for _, name := range objects {
		gen := f.put(t, name, []byte("parquet"))
		o, err := layout.Parse(prefix, name)
		if err != nil {
			t.Fatal(err)
		}
		f.exec(t, `INSERT INTO masora_manifest (object_name, generation, log_type, hour, size_bytes, run_id) VALUES ($1, $2, $3, $4, 7, $5)`,
			name, gen, o.LogType, hour, runID)
	}
	kinds := []string{"not JSON", "unknown log type", "not JSON"}
	for i, id := range badIDs {
		f.published.AddBad(kinds[i], id)
	}
	// The first bad message sits in two objects: allowed, it counts once.
	f.quarantine(t, strings.Repeat("1", layout.NameLen), badIDs[0], badIDs[1])
	f.quarantine(t, strings.Repeat("2", layout.NameLen), badIDs[0], badIDs[2])
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.conn.Exec(f.ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// put writes an object and returns its generation.
func (f *fixture) put(t *testing.T, name string, data []byte) int64 {
	t.Helper()
	w := f.bucket.Object(name).NewWriter(f.ctx)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Attrs().Generation
}

// quarantine writes a quarantine object holding the given message ids.
func (f *fixture) quarantine(t *testing.T, name string, ids ...string) {
	t.Helper()
	var buf bytes.Buffer
	enc := quarantine.NewEncoder(&buf)
	for _, id := range ids {
		r := quarantine.Record{MessageID: id, LogType: "user_action", Reason: "not JSON", ReceivedAt: hour, WriterVersion: "test"}
		r.SetBody("body of " + id)
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	f.put(t, layout.QuarantinePath(prefix, hour, name), buf.Bytes())
}

func (f *fixture) check(t *testing.T, opts invariant.Options) *invariant.Report {
	t.Helper()
	rep, err := invariant.Check(f.ctx, invariant.Target{
		DB: f.conn, Bucket: f.bucket, Prefix: prefix, SQS: f.sqs, QueueURL: f.queue, DLQURL: f.dlq,
	}, f.published, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

// TestCheckHolds checks a pipeline output that keeps every invariant: no
// violation, and the counts of what was looked at.
func TestCheckHolds(t *testing.T) {
	f := newFixture(t)
	rep := f.check(t, invariant.Options{})
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	want := invariant.Counts{Events: 5, Rows: 5, Bad: 3, QuarantineRecords: 4, QuarantineMessages: 3, QuarantineRepeats: 1,
		DataObjects: 3, QuarantineObjects: 2, ManifestEntries: 3, SummaryRows: 4}
	if diff := cmp.Diff(want, rep.Counts); diff != "" {
		t.Errorf("Counts (-want +got):\n%s", diff)
	}
}

// TestCheckFinds breaks one invariant at a time and expects exactly the
// violations that name it.
func TestCheckFinds(t *testing.T) {
	tests := []struct {
		name  string
		opts  invariant.Options
		spoil func(t *testing.T, f *fixture)
		want  []string // one substring per expected violation
	}{
		{
			name: "a row lost and a row never published",
			spoil: func(t *testing.T, f *fixture) {
				f.exec(t, `DELETE FROM seller_actions`)
				f.exec(t, `UPDATE user_actions SET event_id = '00000000-0000-4000-8000-0000000000ff' WHERE event_id = $1`, ua[1])
				f.exec(t, `DELETE FROM seller_action_hourly`)
			},
			want: []string{
				"rows: 1 of the 1 distinct seller_action events published are not in seller_actions (lost): 00000000-0000-4000-8000-00000000000a",
				"rows: 1 of the 4 distinct user_action events published are not in user_actions (lost): 00000000-0000-4000-8000-000000000002",
				"rows: user_actions holds 1 event ids that were never published as valid user_action events: 00000000-0000-4000-8000-0000000000ff",
			},
		},
		{
			name: "summaries off both ways",
			spoil: func(t *testing.T, f *fixture) {
				f.exec(t, `UPDATE user_action_hourly SET events = 3 WHERE action = 'product_viewed' AND hour = $1`, hour)
				f.exec(t, `DELETE FROM user_action_hourly WHERE action = 'cart_confirmed'`)
				f.exec(t, `INSERT INTO seller_action_hourly VALUES ($1, 'order_shipped', 1, 1)`, hour.Add(5*time.Hour))
			},
			want: []string{
				"summaries: 1 rows of seller_action_hourly (hour action) differ from a recount of seller_actions: 2026-11-30T15Z order_shipped has 1 events, 1 distinct but no row supports it",
				"summaries: 2 rows of user_action_hourly (hour action|channel) differ from a recount of user_actions: " +
					"2026-11-30T10Z cart_confirmed|web missing (rows say 1 events, 1 distinct), 2026-11-30T10Z product_viewed|web has 3 events, 1 distinct; rows say 2, 1",
			},
		},
		{
			name: "quarantine: a bad message missing, an unexpected one",
			spoil: func(t *testing.T, f *fixture) {
				f.published.AddBad("oversize", "m-bad-4")
				f.quarantine(t, strings.Repeat("3", layout.NameLen), "m-valid")
			},
			want: []string{
				"quarantine: 1 messages are in quarantine that were not published as bad messages (a valid message quarantined?): m-valid",
				`quarantine: 1 of 1 bad messages of kind "oversize" are not in quarantine: m-bad-4`,
			},
		},
		{
			name: "manifest: an object never loaded, an entry without object",
			spoil: func(t *testing.T, f *fixture) {
				f.put(t, layout.DataPath(prefix, "user_action", 2, hour, strings.Repeat("d", layout.NameLen)), []byte("x"))
				if err := f.bucket.Object(objects[2]).Delete(f.ctx); err != nil {
					t.Fatal(err)
				}
				f.put(t, prefix+"/user_action/stray.txt", []byte("x"))
			},
			want: []string{
				"manifest: 1 manifest entries name no object in the bucket (name#generation): inv/seller_action/dt=2026-11-30/hour=10/cccccccccccccccccccccccccccccccc.v1.parquet#",
				"manifest: 1 of the 3 data objects in the bucket are not in the manifest (never loaded): inv/user_action/dt=2026-11-30/hour=10/dddddddddddddddddddddddddddddddd.v2.parquet#",
				"manifest: object inv/user_action/stray.txt is not in the pipeline layout",
			},
		},
		{
			name: "a run left running",
			spoil: func(t *testing.T, f *fixture) {
				f.exec(t, `INSERT INTO masora_runs (log_type, trigger, window_from, window_to) VALUES ('seller_action', 'backfill', $1, $1)`, hour)
			},
			want: []string{"runs: run 2 (seller_action, backfill, started "},
		},
		{
			name: "queues: the queue not drained, the DLQ not as expected",
			opts: invariant.Options{DLQMessages: 1},
			spoil: func(t *testing.T, f *fixture) {
				if _, err := f.sqs.SendMessage(f.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.queue), MessageBody: aws.String("{}")}); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{
				"queues: the DLQ holds 0 messages, the scenario expects 1",
				"queues: the queue still holds 1 messages (0 of them in flight)",
			},
		},
		{
			name: "quarantine tables: a message not loaded, a summary not recounted",
			opts: invariant.Options{QuarantineTables: true},
			spoil: func(t *testing.T, f *fixture) {
				for _, id := range badIDs[:2] {
					f.exec(t, `INSERT INTO quarantined_messages (message_id, log_type, reason_kind, reason, received_at, writer_version)
						VALUES ($1, 'user_action', 'not_json', 'not JSON', $2, 'test')`, id, hour.Add(time.Minute))
				}
				f.exec(t, `INSERT INTO quarantine_hourly VALUES ($1, 'user_action', '', 'not_json', 1)`, hour)
			},
			want: []string{
				"manifest: 2 of the 2 quarantine objects in the bucket are not in the manifest (never loaded)",
				"quarantine tables: 1 of the 3 bad messages are not in quarantined_messages: m-bad-3",
				"quarantine tables: 1 rows of quarantine_hourly (hour log_type|source|reason_kind; messages twice) differ from a recount of quarantined_messages: " +
					"2026-11-30T10Z user_action||not_json has 1 events, 1 distinct; rows say 2, 2",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.spoil(t, f)
			rep := f.check(t, tt.opts)
			var got []string
			for _, v := range rep.Violations {
				got = append(got, v.String())
			}
			slices.Sort(got)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("violation %d:\n got %s\nwant %s…", i, got[i], w)
				}
			}
		})
	}
}
