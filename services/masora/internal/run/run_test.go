package run_test

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/schemas"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// now is the fixed clock of these tests.
var now = time.Date(2024, 5, 3, 12, 30, 0, 0, time.UTC)

// newDeps returns the real parts over the test's stack, the loader writing
// through db (the stack's pool, or one wrapped by masoratest.BeforeCommit).
func newDeps(t *testing.T, s *masoratest.Stack, db loader.DB) run.Deps {
	t.Helper()
	l, err := loader.New(db, s.Registry, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bucket := source.New(s.Storage, s.Bucket, masoratest.Prefix)
	return run.Deps{
		Registry: s.Registry, Objects: bucket, Inspector: bucket, Warehouse: s.Warehouse(t), Loader: l,
		Ledger: ledger.New(s.Pool), Metrics: metrics.New(), Log: masoratest.Logger(t),
	}
}

func options(chunkFiles int) run.Options {
	return run.Options{Lookback: 48 * time.Hour, ChunkFiles: chunkFiles, ChunkTimeout: time.Minute, Now: func() time.Time { return now }}
}

func newRunner(t *testing.T, s *masoratest.Stack, db loader.DB, chunkFiles int) (*run.Runner, *ledger.Ledger) {
	t.Helper()
	return run.New(newDeps(t, s, db), options(chunkFiles)), ledger.New(s.Pool)
}

// events returns n user actions occurring in the hour before at, received at at.
func events(n int, at time.Time) ([]masoratest.Message, []string) {
	var msgs []masoratest.Message
	var ids []string
	for i := range n {
		u := masoratest.UserAction{
			EventID: uuid.New(), OccurredAt: at.Add(-time.Duration(i) * time.Minute),
			Action: []string{"product_viewed", "added_to_cart", "order_placed"}[i%3], Channel: []string{"web", "app"}[i%2],
			UserID: []string{"u1", "u2", "u3", "u4"}[i%4],
		}
		msgs = append(msgs, u.Message(at))
		ids = append(ids, u.EventID.String())
	}
	return msgs, ids
}

// redeliver returns msgs as SQS redelivers them: same bodies, new message
// ids, received later.
func redeliver(msgs []masoratest.Message, at time.Time) []masoratest.Message {
	out := make([]masoratest.Message, len(msgs))
	for i, m := range msgs {
		out[i] = masoratest.Message{ID: uuid.NewString(), Body: m.Body, ReceivedAt: at}
	}
	return out
}

func eventIDs(t *testing.T, s *masoratest.Stack, table string) []string {
	t.Helper()
	rows, err := s.Pool.Query(t.Context(), `SELECT event_id::text FROM `+table+` ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func sorted(ids ...[]string) []string {
	var out []string
	for _, s := range ids {
		out = append(out, s...)
	}
	sort.Strings(out)
	return out
}

// counts is the part of a run's outcome these tests check.
var counts = cmpopts.IgnoreFields(ledger.Run{}, "ID", "Trigger", "WindowFrom", "WindowTo", "StartedAt", "FinishedAt", "Error")

func checkSummaries(t *testing.T, s *masoratest.Stack) {
	t.Helper()
	for _, lt := range []string{"user_action", "seller_action"} {
		if n := s.SummaryMismatches(t, lt); n != 0 {
			t.Errorf("%s hourly summary differs from a recomputation in %d rows", lt, n)
		}
	}
}

func TestRun(t *testing.T) {
	s := masoratest.New(t)
	r, l := newRunner(t, s, s.Pool, 1) // one object per chunk: duplicates across chunks
	ctx := t.Context()

	a, aIDs := events(40, now.Add(-2*time.Hour))
	s.WriteObject(t, "user_action", a)
	b, bIDs := events(30, now.Add(-time.Hour))
	s.WriteObject(t, "user_action", append(b, redeliver(a[:5], now.Add(-time.Hour))...))
	sellerEvent := uuid.New()
	s.WriteObject(t, "seller_action", []masoratest.Message{{ID: uuid.NewString(), Body: masoratest.SellerAction(sellerEvent, now.Add(-3*time.Hour), "stock_updated", "s1"), ReceivedAt: now.Add(-3 * time.Hour)}})
	old, oldIDs := events(12, now.Add(-50*time.Hour)) // outside the 48 h lookback
	s.WriteObject(t, "user_action", old)

	t.Log("first run: loads everything in the window")
	outs, err := r.Run(ctx, run.Request{Trigger: run.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Run{
		{LogType: "seller_action", Status: "succeeded", ObjectsListed: 1, ObjectsNew: 1, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 1},
		{LogType: "user_action", Status: "succeeded", ObjectsListed: 2, ObjectsNew: 2, ObjectsLoaded: 2, ChunksLoaded: 2, RowsLoaded: 70, DuplicatesSkipped: 5},
	}
	if diff := cmp.Diff(want, outs, counts); diff != "" {
		t.Errorf("first run mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(aIDs, bIDs), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions after the first run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{sellerEvent.String()}, eventIDs(t, s, "seller_actions")); diff != "" {
		t.Errorf("seller_actions after the first run (-want +got):\n%s", diff)
	}
	checkSummaries(t, s)

	t.Log("second run: nothing new")
	outs, err = r.Run(ctx, run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 2}}, outs, counts); diff != "" {
		t.Errorf("second run mismatch (-want +got):\n%s", diff)
	}

	t.Log("a late file in an old hour folder, with a duplicate inside it and of earlier rows")
	late, lateIDs := events(7, now.Add(-40*time.Hour))
	s.WriteObject(t, "user_action", append(append(late, redeliver(late[:1], now.Add(-40*time.Hour))...), redeliver(b[:2], now.Add(-40*time.Hour))...))
	outs, err = r.Run(ctx, run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 3, ObjectsNew: 1, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 7, DuplicatesSkipped: 2}}, outs, counts); diff != "" {
		t.Errorf("late-file run mismatch (-want +got):\n%s", diff)
	}

	t.Log("backfill of the hours before the lookback, twice")
	for i, wantRows := range []int64{12, 0} {
		outs, err = r.Run(ctx, run.Request{Trigger: run.TriggerBackfill, LogType: "user_action", From: now.Add(-51 * time.Hour), To: now.Add(-49 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(outs) != 1 || outs[0].RowsLoaded != wantRows || outs[0].ObjectsListed != 1 {
			t.Errorf("backfill %d: %+v, want 1 object listed and %d rows", i+1, outs, wantRows)
		}
	}
	if diff := cmp.Diff(sorted(aIDs, bIDs, lateIDs, oldIDs), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions at the end (-want +got):\n%s", diff)
	}
	checkSummaries(t, s)
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`); n != 5 {
		t.Errorf("manifest has %d objects, want 5", n)
	}
	runs, err := l.Runs(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range runs {
		statuses = append(statuses, r.Trigger+"/"+r.LogType+"/"+r.Status)
	}
	wantStatuses := []string{
		"backfill/user_action/succeeded", "backfill/user_action/succeeded", "schedule/user_action/succeeded",
		"schedule/user_action/succeeded", "schedule/user_action/succeeded", "schedule/seller_action/succeeded",
	}
	if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
		t.Errorf("run history mismatch (-want +got):\n%s", diff)
	}
}

// TestRunCrashSafety aborts the second chunk of a run between its COPY and
// its commit, then reruns: exactly the rows of the files, once.
func TestRunCrashSafety(t *testing.T) {
	s := masoratest.New(t)
	crash := errors.New("simulated crash between COPY and commit")
	chunks := 0
	crashing, l := newRunner(t, s, masoratest.BeforeCommit(s.Pool, func(context.Context) error {
		if chunks++; chunks == 2 {
			return crash
		}
		return nil
	}), 2)
	var all []string
	for h := 1; h <= 4; h++ {
		msgs, ids := events(25, now.Add(-time.Duration(h)*time.Hour))
		s.WriteObject(t, "user_action", append(msgs, redeliver(msgs[:3], now.Add(-time.Duration(h)*time.Hour))...))
		all = append(all, ids...)
	}
	outs, err := crashing.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: "user_action"})
	if !errors.Is(err, crash) {
		t.Fatalf("Run: %v, want the crash", err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "failed", ObjectsListed: 4, ObjectsNew: 4, ObjectsLoaded: 2, ChunksLoaded: 1, RowsLoaded: 50}}, outs, counts); diff != "" {
		t.Errorf("crashed run mismatch (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM user_actions`); n != 50 {
		t.Errorf("after the crash user_actions has %d rows, want the first chunk's 50", n)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`); n != 2 {
		t.Errorf("after the crash the manifest has %d objects, want the first chunk's 2", n)
	}
	checkSummaries(t, s)

	rerun, _ := newRunner(t, s, s.Pool, 2)
	outs, err = rerun.Run(t.Context(), run.Request{Trigger: run.TriggerCLI, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 4, ObjectsNew: 2, ObjectsLoaded: 2, ChunksLoaded: 1, RowsLoaded: 50}}, outs, counts); diff != "" {
		t.Errorf("rerun mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(all), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions after the rerun (-want +got):\n%s", diff)
	}
	checkSummaries(t, s)
	runs, err := l.Runs(t.Context(), "user_action", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[1].Status != "failed" || runs[1].RowsLoaded != 50 || runs[0].Status != "succeeded" || runs[0].RowsLoaded != 50 {
		t.Errorf("run history: %+v; want the failed run with 50 rows, then a succeeded one with 50", runs)
	}
}

// TestRunBadObjects loads a window with a corrupt object, an object of the
// wrong schema and one whose data Postgres rejects, among good ones: the
// good ones load, the bad ones are named and stay out of the manifest, and
// once they are fixed the next run loads them.
func TestRunBadObjects(t *testing.T) {
	s := masoratest.New(t)
	r, l := newRunner(t, s, s.Pool, 10)
	hour := now.Add(-3 * time.Hour)
	var good []string
	for i := range 3 {
		msgs, ids := events(10, hour.Add(time.Duration(i)*time.Minute))
		s.WriteObject(t, "user_action", msgs)
		good = append(good, ids...)
	}
	corrupt := "logs/user_action/dt=2024-05-03/hour=09/0000000000000000000000000000000c.v1.parquet"
	s.Put(t, corrupt, []byte("PAR1 but not really a parquet file PAR1"))
	wrong := "logs/user_action/dt=2024-05-03/hour=09/0000000000000000000000000000000e.v1.parquet"
	s.Put(t, wrong, s.Parquet(t, "seller_action", []masoratest.Message{{ID: "m", Body: masoratest.SellerAction(uuid.New(), hour, "stock_updated", "s1"), ReceivedAt: hour}}))
	lt, err := s.Registry.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	attrs := -1
	for i, f := range lt.Fields {
		if f.Name == "attributes" {
			attrs = i
		}
	}
	badJSON, badIDs := events(4, hour.Add(10*time.Minute))
	badName := s.WriteObject(t, "user_action", badJSON, func(ev *schema.Event) {
		ev.Values[attrs] = schema.Value{Str: `{"cut off": `}
	})

	outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if !errors.Is(err, fault.ErrBadObject) {
		t.Fatalf("Run: %v, want an error wrapping %v", err, fault.ErrBadObject)
	}
	t.Logf("Run: %v", err)
	if len(outs) != 1 {
		t.Fatalf("outcomes: %+v", outs)
	}
	wantFailed := []string{corrupt, wrong, badName}
	sort.Strings(wantFailed)
	gotFailed := append([]string(nil), outs[0].FailedObjects...)
	sort.Strings(gotFailed)
	if diff := cmp.Diff(wantFailed, gotFailed); diff != "" {
		t.Errorf("failed objects mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ledger.Run{LogType: "user_action", Status: "failed", ObjectsListed: 6, ObjectsNew: 6, ObjectsLoaded: 3, ObjectsFailed: 3, RowsLoaded: 30},
		outs[0], counts, cmpopts.IgnoreFields(ledger.Run{}, "ChunksLoaded", "FailedObjects")); diff != "" {
		t.Errorf("outcome mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(good), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions mismatch (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest WHERE object_name = ANY($1)`, wantFailed); n != 0 {
		t.Errorf("%d bad objects are in the manifest, want none", n)
	}
	runs, err := l.Runs(t.Context(), "user_action", 1)
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Status != "failed" || runs[0].ObjectsFailed != 3 || runs[0].Error == "" {
		t.Errorf("run history: %+v, want a failed run with 3 failed objects and the error", runs[0])
	}

	t.Log("fix: remove the foreign files, rewrite the bad one")
	s.Delete(t, corrupt)
	s.Delete(t, wrong)
	s.Put(t, badName, s.Parquet(t, "user_action", badJSON))
	outs, err = r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 4, ObjectsNew: 1, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 4}}, outs, counts); diff != "" {
		t.Errorf("run after the fix mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(good, badIDs), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions after the fix (-want +got):\n%s", diff)
	}
	checkSummaries(t, s)
}

func TestRunRefusals(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	r, l := newRunner(t, s, s.Pool, 10)
	ctx := t.Context()
	lk, err := l.Lock(ctx, []string{"seller_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx, lk)
	tests := []struct {
		name string
		req  run.Request
		want error
	}{
		{"log type busy", run.Request{Trigger: run.TriggerSchedule}, fault.ErrBusy},
		{"unknown log type", run.Request{Trigger: run.TriggerSchedule, LogType: "page_view"}, fault.ErrInvalid},
		{"unknown trigger", run.Request{Trigger: "cron"}, fault.ErrInvalid},
		{"half a range", run.Request{Trigger: run.TriggerBackfill, From: now}, fault.ErrInvalid},
		{"range backwards", run.Request{Trigger: run.TriggerBackfill, From: now, To: now.Add(-time.Hour)}, fault.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs, err := r.Run(ctx, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Run: %v, want an error wrapping %v", err, tt.want)
			}
			if len(outs) != 0 {
				t.Errorf("Run returned outcomes %+v for a refused request", outs)
			}
		})
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_runs`); n != 0 {
		t.Errorf("refused requests recorded %d runs, want none", n)
	}
}

// TestRunBigQueryDown runs with BigQuery unreachable: the run fails as
// unavailable, is recorded, loads nothing; with BigQuery back, the next
// run loads everything.
func TestRunBigQueryDown(t *testing.T) {
	s := masoratest.New(t)
	msgs, ids := events(6, now.Add(-time.Hour))
	s.WriteObject(t, "user_action", msgs)

	down, err := bigquery.NewClient(t.Context(), s.Env.BigQueryProject, option.WithEndpoint("http://127.0.0.1:1"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	transforms, err := fs.Sub(schemas.LogTypes, "logtypes")
	if err != nil {
		t.Fatal(err)
	}
	wh, err := warehouse.New(down, s.Registry, transforms, warehouse.Options{Dataset: s.Dataset, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := newDeps(t, s, s.Pool)
	d.Warehouse = wh
	r := run.New(d, options(10))
	outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Run with BigQuery down: %v, want an error wrapping %v", err, fault.ErrUnavailable)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "failed", ObjectsListed: 1, ObjectsNew: 1}}, outs, counts); diff != "" {
		t.Errorf("outcome mismatch (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`) + s.Count(t, `SELECT count(*) FROM user_actions`); n != 0 {
		t.Errorf("a failed run left %d manifest entries and rows, want none", n)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_runs WHERE status = 'failed' AND error LIKE '%dependency unavailable%'`); n != 1 {
		t.Errorf("%d failed runs recorded with the error, want 1", n)
	}

	up, _ := newRunner(t, s, s.Pool, 10)
	if _, err := up.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions after BigQuery came back (-want +got):\n%s", diff)
	}
}

// TestRunMissingDataset runs against a BigQuery dataset that does not
// exist (a wrong BIGQUERY_DATASET): the run fails at once as a
// misconfiguration that says what to check, after one table creation,
// and marks no object bad.
func TestRunMissingDataset(t *testing.T) {
	s := masoratest.New(t)
	for i := range 4 {
		msgs, _ := events(3, now.Add(-time.Hour).Add(time.Duration(i)*time.Minute))
		s.WriteObject(t, "user_action", msgs)
	}
	transforms, err := fs.Sub(schemas.LogTypes, "logtypes")
	if err != nil {
		t.Fatal(err)
	}
	wh, err := warehouse.New(s.BigQuery, s.Registry, transforms, warehouse.Options{Dataset: "no_such_dataset", CallTimeout: 10 * time.Second, KeepTables: true})
	if err != nil {
		t.Fatal(err)
	}
	d := newDeps(t, s, s.Pool)
	d.Warehouse = wh
	outs, err := run.New(d, options(10)).Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	t.Logf("Run: %v", err)
	if !errors.Is(err, fault.ErrMisconfigured) || errors.Is(err, fault.ErrBadObject) {
		t.Fatalf("Run with a missing dataset: %v, want an error wrapping %v only", err, fault.ErrMisconfigured)
	}
	if !strings.Contains(err.Error(), "BIGQUERY_DATASET") {
		t.Errorf("Run: %v, does not say to check BIGQUERY_DATASET", err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "failed", ObjectsListed: 4, ObjectsNew: 4}}, outs, counts); diff != "" {
		t.Errorf("outcome mismatch (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`); n != 0 {
		t.Errorf("a failed run left %d manifest entries, want none", n)
	}
}

// counterValue returns the value of the counter name with label
// log_type=logType in m's registry, 0 when it was never incremented.
func counterValue(t *testing.T, m *metrics.Metrics, name, logType string) float64 {
	t.Helper()
	return labelledCounter(t, m, name, "log_type", logType)
}

// labelledCounter returns the value of the counter name whose label has
// value, 0 if there is none.
func labelledCounter(t *testing.T, m *metrics.Metrics, name, label, value string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRunCountsPagedReads: with the Storage Read API expected but a client
// that reads pages (here the emulator's, which has no read client), every
// chunk's result is counted (and logged) as a fallback; without the
// expectation nothing is.
func TestRunCountsPagedReads(t *testing.T) {
	s := masoratest.New(t)
	a, _ := events(10, now.Add(-2*time.Hour))
	s.WriteObject(t, "user_action", a)
	b, _ := events(10, now.Add(-time.Hour))
	s.WriteObject(t, "user_action", b)

	d := newDeps(t, s, s.Pool)
	opts := options(1) // one object per chunk: two chunks
	opts.StorageRead = true
	if _, err := run.New(d, opts).Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"}); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, d.Metrics, "masora_storage_read_fallbacks_total", "user_action"); got != 2 {
		t.Errorf("masora_storage_read_fallbacks_total = %v, want 2 (one per chunk)", got)
	}

	c, _ := events(10, now.Add(-30*time.Minute))
	s.WriteObject(t, "user_action", c)
	d2 := newDeps(t, s, s.Pool)
	if _, err := run.New(d2, options(1)).Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"}); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, d2.Metrics, "masora_storage_read_fallbacks_total", "user_action"); got != 0 {
		t.Errorf("masora_storage_read_fallbacks_total = %v without MASORA_BIGQUERY_STORAGE_READ, want 0", got)
	}
}
