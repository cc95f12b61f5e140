package run_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
)

// newQuarantineRunner is newRunner with the quarantine pass.
func newQuarantineRunner(t *testing.T, s *masoratest.Stack, db loader.DB, chunkFiles int) (*run.Runner, run.Deps) {
	t.Helper()
	d := newDeps(t, s, db)
	l, err := loader.New(db, s.Registry, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Quarantine = &run.Quarantine{Records: source.New(s.Storage, s.Bucket, masoratest.Prefix), Loader: l}
	return run.New(d, options(chunkFiles)), d
}

// bad returns a quarantine record as Ore writes it.
func bad(id string, at time.Time, logType string, kind quarantine.Kind, reason, body string) quarantine.Record {
	r := quarantine.Record{MessageID: id, LogType: logType, Reason: reason, ReasonKind: kind, ReceivedAt: at,
		Attributes: map[string]string{"log_type": logType}, WriterVersion: "ore-test"}
	r.SetBody(body)
	return r
}

// quarantined is a row of quarantined_messages.
type quarantined struct {
	MessageID, LogType, ReasonKind, Reason string
	Source, EventID, Body, BodyBase64      *string
	ReceivedAt                             time.Time
	WriterVersion                          string
}

func quarantinedRows(t *testing.T, s *masoratest.Stack) []quarantined {
	t.Helper()
	rows, err := s.Pool.Query(t.Context(), `SELECT message_id, log_type, reason_kind, reason, source, event_id, body, body_base64, received_at, writer_version
		FROM quarantined_messages ORDER BY message_id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[quarantined])
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i].ReceivedAt = out[i].ReceivedAt.UTC()
	}
	return out
}

// hourly is a row of quarantine_hourly.
type hourly struct {
	Hour                        time.Time
	LogType, Source, ReasonKind string
	Messages                    int64
}

func quarantineHourly(t *testing.T, s *masoratest.Stack) []hourly {
	t.Helper()
	rows, err := s.Pool.Query(t.Context(), `SELECT hour, log_type, source, reason_kind, messages FROM quarantine_hourly ORDER BY 1, 2, 3, 4`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[hourly])
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i].Hour = out[i].Hour.UTC()
	}
	return out
}

func checkQuarantineSummary(t *testing.T, s *masoratest.Stack) {
	t.Helper()
	if n := s.QuarantineSummaryMismatches(t); n != 0 {
		t.Errorf("quarantine_hourly differs from a recount from quarantined_messages in %d rows", n)
	}
}

func ptr(s string) *string { return &s }

// quarantineFixture is three quarantine objects in two hours, as Ore
// writes them, and the rows they must load: the same message (m2) sits in
// two objects (Ore stopped between upload and delete; SQS redelivered it
// an hour later) and counts once, as first received.
type quarantineFixture struct {
	objects []string
	want    []quarantined
	hourly  []hourly
}

func writeQuarantineFixture(t *testing.T, s *masoratest.Stack) quarantineFixture {
	t.Helper()
	h1, h2 := now.Add(-3*time.Hour).Truncate(time.Hour), now.Add(-2*time.Hour).Truncate(time.Hour)
	at1, at2 := h1.Add(10*time.Minute+123456789*time.Nanosecond), h2.Add(5*time.Minute)
	e1 := uuid.NewString()
	m1 := bad("m1", at1, "user_action", quarantine.KindInvalidFields, "invalid user_action message: channel: is required but missing",
		`{"event_id":"`+e1+`","source":"web-frontend","action":"product_viewed"}`)
	m2 := bad("m2", at1, "user_action", quarantine.KindMalformedJSON, "body is not a JSON object: unexpected end of JSON input", `{"source":"web-frontend",`)
	m3 := bad("m3", at1, "user_action", quarantine.KindInvalidText, "body is not a JSON object: not valid UTF-8", "{\"source\":\"web-frontend\xff\"}")
	// Written by an Ore before reason kinds.
	m4 := bad("m4", at1, "seller_action", "", "invalid seller_action message: stock: must be an integer", `{"source":"seller-dashboard","event_id":17,"stock":"x"}`)
	m5 := bad("m5", at2, "page_view", quarantine.KindUnknownLogType, `unknown log type "page_view" (known: seller_action, user_action)`, `{"source":"mobile-app","event_id":"e5"}`)
	// A NUL escaped in a JSON string, and a NUL byte in a body: Postgres
	// text holds neither.
	m6 := bad("m6", at2, "", quarantine.KindNoLogType, "no log_type message attribute and no log_type string field in the body", `{"source":"x\u0000y","event_id":"e6"}`)
	m7 := bad("m7", at2, "user_action", quarantine.KindMalformedJSON, "body is not a JSON object: invalid character", "a\x00b")
	m2again := m2
	m2again.ReceivedAt = at2
	objs := []string{
		s.WriteQuarantine(t, m1, m2, m3, m4),
		s.WriteQuarantine(t, m5, m2again),
		s.WriteQuarantine(t, m6, m7),
	}
	const wv = "ore-test"
	return quarantineFixture{
		objects: objs,
		want: []quarantined{
			{"m1", "user_action", "invalid_fields", m1.Reason, ptr("web-frontend"), ptr(e1), ptr(m1.Body), nil, at1.Truncate(time.Microsecond), wv},
			{"m2", "user_action", "malformed_json", m2.Reason, nil, nil, ptr(m2.Body), nil, at1.Truncate(time.Microsecond), wv},
			{"m3", "user_action", "invalid_text", m3.Reason, nil, nil, nil, ptr(m3.BodyBase64), at1.Truncate(time.Microsecond), wv},
			{"m4", "seller_action", "unclassified", m4.Reason, ptr("seller-dashboard"), nil, ptr(m4.Body), nil, at1.Truncate(time.Microsecond), wv},
			{"m5", "page_view", "unknown_log_type", m5.Reason, ptr("mobile-app"), ptr("e5"), ptr(m5.Body), nil, at2, wv},
			{"m6", "", "no_log_type", m6.Reason, ptr("x\uFFFDy"), ptr("e6"), ptr(m6.Body), nil, at2, wv},
			{"m7", "user_action", "malformed_json", m7.Reason, nil, nil, nil, ptr("YQBi"), at2, wv},
		},
		hourly: []hourly{
			{h1, "seller_action", "seller-dashboard", "unclassified", 1},
			{h1, "user_action", "", "invalid_text", 1},
			{h1, "user_action", "", "malformed_json", 1},
			{h1, "user_action", "web-frontend", "invalid_fields", 1},
			{h2, "", "x\uFFFDy", "no_log_type", 1},
			{h2, "page_view", "mobile-app", "unknown_log_type", 1},
			{h2, "user_action", "", "malformed_json", 1},
		},
	}
}

// TestRunQuarantine loads quarantine objects, in chunks of one object (the
// repeated message in two chunks) and of all of them (twice in one chunk):
// exact rows, each message once, summary equal to a recount; a rerun loads
// nothing.
func TestRunQuarantine(t *testing.T) {
	for _, chunkFiles := range []int{1, 10} {
		t.Run(map[int]string{1: "one object per chunk", 10: "one chunk"}[chunkFiles], func(t *testing.T) {
			s := masoratest.New(t, masoratest.NoDataset)
			r, d := newQuarantineRunner(t, s, s.Pool, chunkFiles)
			f := writeQuarantineFixture(t, s)
			// A quarantine object outside the lookback, for the backfill.
			old := bad("m0", now.Add(-60*time.Hour), "user_action", quarantine.KindOversize, "body is 300000 bytes, over the 262144 byte limit", "x")
			oldObject := s.WriteQuarantine(t, old)

			outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: run.QuarantineLogType})
			if err != nil {
				t.Fatal(err)
			}
			chunks := map[int]int{1: 3, 10: 1}[chunkFiles]
			want := []ledger.Run{{LogType: "_quarantine", Status: "succeeded", ObjectsListed: 3, ObjectsNew: 3, ObjectsLoaded: 3, ChunksLoaded: chunks, RowsLoaded: 7, DuplicatesSkipped: 1}}
			if diff := cmp.Diff(want, outs, counts); diff != "" {
				t.Errorf("run mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(f.want, quarantinedRows(t, s)); diff != "" {
				t.Errorf("quarantined_messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(f.hourly, quarantineHourly(t, s)); diff != "" {
				t.Errorf("quarantine_hourly (-want +got):\n%s", diff)
			}
			checkQuarantineSummary(t, s)
			for kind, n := range map[string]float64{"invalid_fields": 1, "malformed_json": 2, "invalid_text": 1, "unclassified": 1, "unknown_log_type": 1, "no_log_type": 1} {
				if got := labelledCounter(t, d.Metrics, "masora_quarantined_messages_total", "reason_kind", kind); got != n {
					t.Errorf("masora_quarantined_messages_total{reason_kind=%q} = %v, want %v", kind, got, n)
				}
			}

			t.Log("rerun: nothing new; a run of everything includes the quarantine pass, last")
			outs, err = r.Run(t.Context(), run.Request{Trigger: run.TriggerCLI})
			if err != nil {
				t.Fatal(err)
			}
			want = []ledger.Run{
				{LogType: "seller_action", Status: "succeeded"},
				{LogType: "user_action", Status: "succeeded"},
				{LogType: "_quarantine", Status: "succeeded", ObjectsListed: 3},
			}
			if diff := cmp.Diff(want, outs, counts); diff != "" {
				t.Errorf("rerun mismatch (-want +got):\n%s", diff)
			}

			t.Log("backfill of an older hour")
			outs, err = r.Run(t.Context(), run.Request{Trigger: run.TriggerBackfill, LogType: run.QuarantineLogType, From: now.Add(-61 * time.Hour), To: now.Add(-59 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			want = []ledger.Run{{LogType: "_quarantine", Status: "succeeded", ObjectsListed: 1, ObjectsNew: 1, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 1}}
			if diff := cmp.Diff(want, outs, counts); diff != "" {
				t.Errorf("backfill mismatch (-want +got):\n%s", diff)
			}
			if n := s.Count(t, `SELECT count(*) FROM quarantined_messages`); n != 8 {
				t.Errorf("quarantined_messages has %d rows, want 8", n)
			}
			checkQuarantineSummary(t, s)
			if n := s.Count(t, `SELECT count(*) FROM masora_manifest WHERE log_type = '_quarantine' AND object_name = ANY($1)`, append(f.objects, oldObject)); n != 4 {
				t.Errorf("manifest has %d of the 4 quarantine objects", n)
			}
		})
	}
}

// TestRunQuarantineWithout checks that a runner without the quarantine
// pass refuses a request for it.
func TestRunQuarantineWithout(t *testing.T) {
	f := fakes{bucket: &fakeBucket{}, wh: &fakeWarehouse{}, loader: &fakeLoader{}, ledger: &fakeLedger{}}
	_, err := newFakeRunner(t, f, 10).Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: run.QuarantineLogType})
	if !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("Run(%s) without the quarantine pass: %v, want %v", run.QuarantineLogType, err, fault.ErrInvalid)
	}
}

// TestRunQuarantineCrashSafety aborts the second chunk between its COPY and
// its commit, then reruns: exactly the fixture's rows, once.
func TestRunQuarantineCrashSafety(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	crash := errors.New("simulated crash between COPY and commit")
	chunks := 0
	crashing, _ := newQuarantineRunner(t, s, masoratest.BeforeCommit(s.Pool, func(context.Context) error {
		if chunks++; chunks == 2 {
			return crash
		}
		return nil
	}), 1)
	f := writeQuarantineFixture(t, s)
	outs, err := crashing.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: run.QuarantineLogType})
	if !errors.Is(err, crash) {
		t.Fatalf("Run: %v, want the crash", err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "_quarantine", Status: "failed", ObjectsListed: 3, ObjectsNew: 3, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 4}}, outs, counts); diff != "" {
		t.Errorf("crashed run mismatch (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM quarantined_messages`); n != 4 {
		t.Errorf("after the crash quarantined_messages has %d rows, want the first chunk's 4", n)
	}
	checkQuarantineSummary(t, s)

	rerun, _ := newQuarantineRunner(t, s, s.Pool, 1)
	outs, err = rerun.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: run.QuarantineLogType})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "_quarantine", Status: "succeeded", ObjectsListed: 3, ObjectsNew: 2, ObjectsLoaded: 2, ChunksLoaded: 2, RowsLoaded: 3, DuplicatesSkipped: 1}}, outs, counts); diff != "" {
		t.Errorf("rerun mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(f.want, quarantinedRows(t, s)); diff != "" {
		t.Errorf("quarantined_messages after the rerun (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(f.hourly, quarantineHourly(t, s)); diff != "" {
		t.Errorf("quarantine_hourly after the rerun (-want +got):\n%s", diff)
	}
	checkQuarantineSummary(t, s)
}

// TestRunQuarantineBadObject puts a quarantine object with a malformed line
// in a chunk with good ones: the run fails naming that object and the
// line, the others load, the bad one stays out of the manifest until it is
// fixed.
func TestRunQuarantineBadObject(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	r, _ := newQuarantineRunner(t, s, s.Pool, 10)
	at := now.Add(-time.Hour)
	good1 := s.WriteQuarantine(t, bad("g1", at, "user_action", quarantine.KindInvalidFields, "r", `{"source":"a"}`))
	badName, content := masoratest.Quarantine(t, bad("b1", at, "user_action", quarantine.KindInvalidFields, "r", `{"source":"b"}`))
	s.Put(t, badName, append(content, "{not a record\n"...))
	good2 := s.WriteQuarantine(t, bad("g2", at, "user_action", quarantine.KindMalformedJSON, "r", `{`))

	outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: run.QuarantineLogType})
	if !errors.Is(err, fault.ErrBadObject) || !strings.Contains(err.Error(), badName) || !strings.Contains(err.Error(), "line 2: not a quarantine record") {
		t.Fatalf("Run: %v; want a bad object error naming %s and its line 2", err, badName)
	}
	want := []ledger.Run{{LogType: "_quarantine", Status: "failed", ObjectsListed: 3, ObjectsNew: 3, ObjectsLoaded: 2, ObjectsFailed: 1, ChunksLoaded: 1, RowsLoaded: 2, FailedObjects: []string{badName}}}
	if diff := cmp.Diff(want, outs, counts); diff != "" {
		t.Errorf("run mismatch (-want +got):\n%s", diff)
	}
	var loaded []string
	for _, q := range quarantinedRows(t, s) {
		loaded = append(loaded, q.MessageID)
	}
	if diff := cmp.Diff([]string{"g1", "g2"}, loaded); diff != "" {
		t.Errorf("quarantined messages (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest WHERE object_name = ANY($1)`, []string{good1, good2}); n != 2 {
		t.Errorf("manifest has %d of the 2 good objects", n)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest WHERE object_name = $1`, badName); n != 0 {
		t.Errorf("the bad object is in the manifest")
	}

	t.Log("the object fixed (a new generation): the next run loads it")
	s.Put(t, badName, content)
	outs, err = r.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: run.QuarantineLogType})
	if err != nil {
		t.Fatal(err)
	}
	want = []ledger.Run{{LogType: "_quarantine", Status: "succeeded", ObjectsListed: 3, ObjectsNew: 1, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 1}}
	if diff := cmp.Diff(want, outs, counts); diff != "" {
		t.Errorf("run after the fix mismatch (-want +got):\n%s", diff)
	}
	checkQuarantineSummary(t, s)
}
