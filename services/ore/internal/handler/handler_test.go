package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/metrics"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/memstore"
)

const prefix = "logs"

// now is the receive time of every batch in these tests: 10:xx UTC.
var now = time.Date(2026, 11, 26, 10, 42, 7, 123456000, time.UTC)

var (
	ua = handlertest.UserAction
	sa = handlertest.SellerAction
	m  = handlertest.Message
)

func newHandler(t testing.TB, store *memstore.Store, logs, emf *bytes.Buffer) *handler.Handler {
	t.Helper()
	opts := handler.Options{
		Registry:      schema.MustLoad(),
		Store:         store,
		Prefix:        prefix,
		WriterVersion: "test",
		Now:           func() time.Time { return now },
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	if emf != nil {
		opts.Metrics = metrics.New(emf, "ore")
	}
	h, err := handler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func objects(s *memstore.Store) map[string][]byte {
	out := map[string][]byte{}
	for _, n := range s.Names() {
		o, _ := s.Get(n)
		out[n] = o.Data
	}
	return out
}

// dataPath is the path of the file of the given messages' rows, written
// with the log type's latest definition, as Ore writes every file.
func dataPath(logType string, ids ...string) string {
	lt, err := schema.MustLoad().Latest(logType)
	if err != nil {
		panic(err)
	}
	return layout.DataPath(prefix, logType, lt.Version, now, layout.Name(ids))
}

func quarantinePath(ids ...string) string {
	return layout.QuarantinePath(prefix, now, layout.Name(ids))
}

// bad is an expected quarantine record: reason must contain the substring.
type bad struct {
	id, logType string
	kind        quarantine.Kind
	reason      string
}

func TestHandle(t *testing.T) {
	at := now.Add(-time.Minute)
	huge := `{"log_type":"user_action","pad":"` + strings.Repeat("x", schema.MaxBodyBytes) + `"}`
	tests := []struct {
		desc       string
		batch      []events.SQSMessage
		fail       func(name string) error
		wantFailed []string
		wantFiles  map[string][]string
		wantBad    []bad
	}{{
		desc:  "empty batch",
		batch: nil,
	}, {
		desc:      "one log type",
		batch:     []events.SQSMessage{m("a", "user_action", ua(1, at)), m("b", "user_action", ua(2, at))},
		wantFiles: map[string][]string{dataPath("user_action", "a", "b"): {"a", "b"}},
	}, {
		desc: "grouped by log type, body field as fallback",
		batch: []events.SQSMessage{
			m("a", "user_action", ua(1, at)),
			m("s1", "seller_action", sa(2, at)),
			m("b", "", strings.Replace(ua(3, at), "{", `{"log_type":"user_action",`, 1)),
			m("s2", "", strings.Replace(sa(4, at), "{", `{"log_type":"seller_action",`, 1)),
		},
		wantFiles: map[string][]string{
			dataPath("user_action", "a", "b"):     {"a", "b"},
			dataPath("seller_action", "s1", "s2"): {"s1", "s2"},
		},
	}, {
		desc: "bad messages are quarantined and acknowledged",
		batch: []events.SQSMessage{
			m("ok", "user_action", ua(1, at)),
			m("notjson", "user_action", `{"event_id":`),
			m("array", "user_action", `[1,2]`),
			m("invalid", "user_action", `{"event_id":"nope"}`),
			m("unknown", "page_view", `{"a":1}`),
			m("nolt", "", `{"a":1}`),
			m("ltnotstring", "", `{"log_type":7}`),
			m("huge", "user_action", huge),
			m("wrongtype", "seller_action", ua(2, at)),
			m("notutf8", "user_action", "{\"a\":\"\xff\"}"),
		},
		wantFiles: map[string][]string{dataPath("user_action", "ok"): {"ok"}},
		wantBad: []bad{
			{"notjson", "user_action", quarantine.KindMalformedJSON, "body is not a JSON object: unexpected end of JSON input"},
			{"array", "user_action", quarantine.KindMalformedJSON, "body is not a JSON object: top level is [1,2]"},
			{"invalid", "user_action", quarantine.KindInvalidFields, "event_id: must be a UUID"},
			{"unknown", "page_view", quarantine.KindUnknownLogType, `unknown log type "page_view" (known: seller_action, user_action)`},
			{"nolt", "", quarantine.KindNoLogType, "no log_type message attribute and no log_type string field in the body"},
			{"ltnotstring", "", quarantine.KindNoLogType, "no log_type message attribute"},
			{"huge", "user_action", quarantine.KindOversize, fmt.Sprintf("body is %d bytes, over the 1048576 byte limit", len(huge))},
			{"wrongtype", "seller_action", quarantine.KindInvalidFields, "invalid seller_action message"},
			{"notutf8", "user_action", quarantine.KindInvalidText, "body is not a JSON object: not valid UTF-8"},
		},
	}, {
		desc: "body size: exactly 1 MiB is written, one byte more is quarantined",
		batch: []events.SQSMessage{
			m("max", "user_action", sized(t, 1, schema.MaxBodyBytes)),
			m("over", "user_action", sized(t, 2, schema.MaxBodyBytes+1)),
		},
		wantFiles: map[string][]string{dataPath("user_action", "max"): {"max"}},
		wantBad:   []bad{{"over", "user_action", quarantine.KindOversize, "body is 1048577 bytes, over the 1048576 byte limit"}},
	}, {
		desc:    "every message bad: no data file",
		batch:   []events.SQSMessage{m("x", "user_action", `{}`)},
		wantBad: []bad{{"x", "user_action", quarantine.KindInvalidFields, "event_id: is required but missing"}},
	}, {
		desc: "one group's upload fails: only its messages are retried",
		batch: []events.SQSMessage{
			m("a", "user_action", ua(1, at)),
			m("s1", "seller_action", sa(2, at)),
			m("b", "user_action", ua(3, at)),
			m("s2", "seller_action", sa(4, at)),
			m("sbad", "seller_action", `{"x":1}`),
		},
		fail:       failUnder(layout.LogTypePrefix(prefix, "seller_action")),
		wantFailed: []string{"s1", "s2"},
		wantFiles:  map[string][]string{dataPath("user_action", "a", "b"): {"a", "b"}},
		wantBad:    []bad{{"sbad", "seller_action", quarantine.KindInvalidFields, "invalid seller_action message"}},
	}, {
		desc: "quarantine upload fails: only the bad messages are retried",
		batch: []events.SQSMessage{
			m("a", "user_action", ua(1, at)),
			m("x", "user_action", `{}`),
			m("y", "", `nope`),
		},
		fail:       failUnder(layout.LogTypePrefix(prefix, layout.QuarantineDir)),
		wantFailed: []string{"x", "y"},
		wantFiles:  map[string][]string{dataPath("user_action", "a"): {"a"}},
	}, {
		desc: "every upload fails: every message is retried, once",
		batch: []events.SQSMessage{
			m("a", "user_action", ua(1, at)),
			m("a", "user_action", ua(1, at)),
			m("x", "user_action", `{}`),
		},
		fail:       func(string) error { return errors.New("GCS is down") },
		wantFailed: []string{"a", "x"},
	}}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			store := memstore.New()
			store.Fail = tt.fail
			h := newHandler(t, store, nil, nil)
			resp, err := h.Handle(t.Context(), events.SQSEvent{Records: tt.batch})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if diff := cmp.Diff(tt.wantFailed, failed); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
			out := handlertest.ReadOutcome(t, prefix, objects(store))
			if diff := cmp.Diff(tt.wantFiles, out.Files, cmpEmpty); diff != "" {
				t.Errorf("parquet files (-want +got):\n%s", diff)
			}
			checkQuarantine(t, tt.batch, tt.wantBad, out.Quarantine)
		})
	}
}

// sized returns user_action event i with its body padded to size bytes.
func sized(t *testing.T, i, size int) string {
	t.Helper()
	if schema.MaxBodyBytes != 1<<20 {
		t.Fatalf("schema.MaxBodyBytes = %d, want SQS's 1 MiB", schema.MaxBodyBytes)
	}
	g, err := eventgen.New(schema.MustLoad(), eventgen.Options{Seed: 1, BodyBytes: size})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := g.Event("user_action", i)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Body) != size {
		t.Fatalf("body of %d bytes, want %d", len(ev.Body), size)
	}
	return string(ev.Body)
}

var cmpEmpty = cmp.FilterValues(func(a, b map[string][]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

func failUnder(p string) func(string) error {
	return func(name string) error {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("injected failure for %s", name)
		}
		return nil
	}
}

// checkQuarantine checks that exactly the wanted messages are in one
// quarantine object named after their ids, each with its reason and
// original body.
func checkQuarantine(t *testing.T, batch []events.SQSMessage, want []bad, got map[string][]quarantine.Record) {
	t.Helper()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("unexpected quarantine: %v", got)
		}
		return
	}
	var ids []string
	for _, w := range want {
		ids = append(ids, w.id)
	}
	recs, ok := got[quarantinePath(ids...)]
	if !ok || len(got) != 1 {
		t.Fatalf("want one quarantine object %s, got %v", quarantinePath(ids...), slices.Sorted(maps.Keys(got)))
	}
	if len(recs) != len(want) {
		t.Fatalf("quarantine holds %d records, want %d", len(recs), len(want))
	}
	bodies := map[string]string{}
	for _, msg := range batch {
		bodies[msg.MessageId] = msg.Body
	}
	for i, w := range want {
		r := recs[i]
		if r.MessageID != w.id || r.LogType != w.logType || r.ReasonKind != w.kind || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("quarantine record %d = %s %q %s %q, want %s %q %s and a reason containing %q", i, r.MessageID, r.LogType, r.ReasonKind, r.Reason, w.id, w.logType, w.kind, w.reason)
		}
		if body, err := r.OriginalBody(); err != nil || string(body) != bodies[w.id] {
			t.Errorf("quarantine record of %s does not hold the original body (%v)", w.id, err)
		}
		if !r.ReceivedAt.Equal(now) || r.WriterVersion != "test" {
			t.Errorf("quarantine record of %s: received_at %v, writer_version %q", w.id, r.ReceivedAt, r.WriterVersion)
		}
	}
}

func TestRetriedBatchWritesNoDuplicate(t *testing.T) {
	store := memstore.New()
	var emf bytes.Buffer
	h := newHandler(t, store, nil, &emf)
	at := now.Add(-time.Minute)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		m("a", "user_action", ua(1, at)), m("b", "user_action", ua(2, at)), m("x", "user_action", `{}`),
	}}
	for range 2 {
		resp, err := h.Handle(t.Context(), batch)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v; want no failures", resp, err)
		}
	}
	// Redelivered in another order: the same objects.
	slices.Reverse(batch.Records)
	if _, err := h.Handle(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	want := []string{quarantinePath("x"), dataPath("user_action", "a", "b")}
	if diff := cmp.Diff(want, store.Names()); diff != "" {
		t.Errorf("objects after three deliveries (-want +got):\n%s", diff)
	}
	var written, existing []int
	for _, l := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
		var b struct{ FilesWritten, FilesExisting int }
		if err := json.Unmarshal([]byte(l), &b); err != nil {
			t.Fatal(err)
		}
		written, existing = append(written, b.FilesWritten), append(existing, b.FilesExisting)
	}
	if diff := cmp.Diff([][]int{{1, 0, 0}, {0, 1, 1}}, [][]int{written, existing}); diff != "" {
		t.Errorf("FilesWritten, FilesExisting per delivery (-want +got):\n%s", diff)
	}
}

func TestParquetContent(t *testing.T) {
	store := memstore.New()
	h := newHandler(t, store, nil, nil)
	at := time.Date(2026, 11, 26, 11, 41, 0, 0, time.FixedZone("CET", 3600))
	batch := handlertest.UserActionBatch(3, at)
	if _, err := h.Handle(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	path := dataPath("user_action", "msg-000000", "msg-000001", "msg-000002")
	if !strings.HasPrefix(path, "logs/user_action/dt=2026-11-26/hour=10/") {
		t.Fatalf("path %s is not in the receive hour's folder", path)
	}
	obj, ok := store.Get(path)
	if !ok {
		t.Fatalf("no object %s; have %v", path, store.Names())
	}
	if obj.ContentType != handler.ContentTypeParquet {
		t.Errorf("content type %q", obj.ContentType)
	}
	lt, _ := schema.MustLoad().Latest("user_action")
	rows := parquetrowtest.Read(t, obj.Data, lt)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	want := wantRow(t, lt, handlertest.Event("user_action", 1, at), "msg-000001")
	if want["order_id"] != nil || want["attributes"] == nil || want["occurred_at"] != at.Add(time.Millisecond).UnixMicro() {
		t.Fatalf("event 1 = %v; the test needs a null, a json field and the generator's time", want)
	}
	if diff := cmp.Diff(want, rows[1]); diff != "" {
		t.Errorf("row 1 (-want +got):\n%s", diff)
	}
	meta := parquetrowtest.Metadata(t, obj.Data)
	if meta[parquetrow.MetaLogType] != "user_action" || meta[parquetrow.MetaLogTypeVersion] != "2" || meta[parquetrow.MetaWriterVersion] != "test" {
		t.Errorf("file metadata %v", meta)
	}
}

// wantRow is the row Ore must write for ev, received in message msgID: its
// fields as parquetrowtest.Read returns them (nil when absent) and lineage.
func wantRow(t *testing.T, lt *schema.LogType, ev eventgen.Event, msgID string) map[string]any {
	t.Helper()
	row := map[string]any{"extra_fields": nil, "message_id": msgID, "received_at": now.UnixMicro(), "writer_version": "test"}
	for _, f := range lt.Fields {
		switch v := ev.Fields[f.Name].(type) {
		case time.Time:
			row[f.Name] = v.UnixMicro()
		case map[string]any:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			row[f.Name] = string(b)
		default:
			row[f.Name] = v
		}
	}
	return row
}

func TestLogsAndMetrics(t *testing.T) {
	store := memstore.New()
	var logs, emf bytes.Buffer
	h := newHandler(t, store, &logs, &emf)
	batch := handlertest.UserActionBatch(4, now)
	batch.Records = append(batch.Records, m("bad", "user_action", `{}`))
	if _, err := h.Handle(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		line = nil
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		if line["msg"] == "batch handled" {
			break
		}
	}
	if line["msg"] != "batch handled" {
		t.Fatalf("no 'batch handled' log line in %s", logs.String())
	}
	for _, k := range []string{"duration_ms", "bytes", "time", "level", "received_at"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %s: %v", k, line)
		}
		delete(line, k)
	}
	wantLog := map[string]any{"msg": "batch handled", "batch_size": 5.0, "files_written": 1.0, "files_existing": 0.0,
		"rows": 4.0, "quarantined": 1.0, "failed": 0.0}
	if diff := cmp.Diff(wantLog, line); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), `"msg":"message quarantined","message_id":"bad"`) {
		t.Errorf("no log line for the quarantined message in %s", logs.String())
	}

	var e map[string]any
	if err := json.Unmarshal(emf.Bytes(), &e); err != nil {
		t.Fatalf("EMF line %q: %v", emf.String(), err)
	}
	var size int
	for _, n := range store.Names() {
		o, _ := store.Get(n)
		size += len(o.Data)
	}
	for k, want := range map[string]float64{"Messages": 5, "FilesWritten": 1, "Rows": 4, "Quarantined": 1, "Failed": 0, "Bytes": float64(size)} {
		if e[k] != want {
			t.Errorf("EMF %s = %v, want %v", k, e[k], want)
		}
	}
}

func TestDeadline(t *testing.T) {
	store := memstore.New()
	h := newHandler(t, store, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Handle(ctx, handlertest.UserActionBatch(2, now)); !errors.Is(err, context.Canceled) {
		t.Errorf("Handle with an ended context = %v, want context.Canceled", err)
	}
	// A deadline too close to upload anything: every message is retried.
	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	resp, err := h.Handle(ctx, handlertest.UserActionBatch(2, now))
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Errorf("Handle near its deadline = %v, %v; want both messages failed", resp, err)
	}
	if len(store.Names()) != 0 {
		t.Errorf("objects written after the deadline: %v", store.Names())
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	tests := []struct {
		opts handler.Options
		want string
	}{
		{handler.Options{Store: memstore.New()}, "a schema registry is required"},
		{handler.Options{Registry: schema.MustLoad()}, "an object store is required"},
	}
	for _, tt := range tests {
		if _, err := handler.New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New = %v, want %q", err, tt.want)
		}
	}
}
