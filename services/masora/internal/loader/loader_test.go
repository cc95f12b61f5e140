package loader_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

func newLoader(t testing.TB, p *masoratest.Postgres, opts loader.Options) *loader.Loader {
	t.Helper()
	l, err := loader.New(p.Pool, p.Registry, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startRun(t testing.TB, lg *ledger.Ledger) int64 {
	t.Helper()
	r, err := lg.StartRun(t.Context(), nil, "user_action", "cli", genBase, genBase.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r.Run.ID
}

var objSeq int

func objects(n int) []ledger.Object {
	out := make([]ledger.Object, n)
	for i := range out {
		objSeq++
		out[i] = ledger.Object{Name: fmt.Sprintf("logs/user_action/dt=2024-05-01/hour=10/%032x.parquet", objSeq), Generation: int64(1000 + objSeq), Hour: genBase, Size: 1234}
	}
	return out
}

// state is what a chunk leaves in Postgres.
type state struct {
	Rows, Manifest, SummaryRows, SummaryMismatches int64
	Run                                            ledger.Run
}

func snapshot(t *testing.T, p *masoratest.Postgres, runID int64) state {
	t.Helper()
	r, err := ledger.New(p.Pool).GetRun(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return state{
		Rows:              p.Count(t, `SELECT count(*) FROM user_actions`),
		Manifest:          p.Count(t, `SELECT count(*) FROM masora_manifest`),
		SummaryRows:       p.Count(t, `SELECT count(*) FROM user_action_hourly`),
		SummaryMismatches: p.SummaryMismatches(t, "user_action"),
		Run:               r,
	}
}

// runCounters compares only the counters a chunk changes.
var runCounters = cmpopts.IgnoreFields(ledger.Run{}, "ID", "LogType", "Trigger", "WindowFrom", "WindowTo", "Status", "StartedAt", "FinishedAt", "Error")

func TestLoadChunk(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := newLoader(t, p, loader.Options{})
	runID := startRun(t, ledger.New(p.Pool))

	// 3,000 rows a second apart: hours 10:00 and 11:00 minus a bit.
	first := newUserActions(1, 0, 3000, time.Second)
	st, err := l.LoadChunk(t.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(2), Open: first.open})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loader.Stats{Rows: 3000, Hours: 1, HoursRecomputed: 0}, st); diff != "" {
		t.Errorf("first chunk stats mismatch (-want +got):\n%s", diff)
	}

	// Rows 2,000 to 5,999: the first 1,000 were loaded by the first chunk.
	second := newUserActions(1, 2000, 4000, time.Second)
	st, err = l.LoadChunk(t.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(3), Open: second.open})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loader.Stats{Rows: 3000, Duplicates: 1000, Staged: true, Hours: 2, HoursRecomputed: 2}, st); diff != "" {
		t.Errorf("second chunk stats mismatch (-want +got):\n%s", diff)
	}

	// Rows 6,000 to 8,999: new rows in hour 11, which has rows, and 12, which has none.
	third := newUserActions(1, 6000, 3000, time.Second)
	st, err = l.LoadChunk(t.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(1), Open: third.open})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loader.Stats{Rows: 3000, Hours: 2, HoursRecomputed: 1}, st); diff != "" {
		t.Errorf("third chunk stats mismatch (-want +got):\n%s", diff)
	}
	got := snapshot(t, p, runID)
	want := state{Rows: 9000, Manifest: 6, SummaryRows: got.SummaryRows, Run: ledger.Run{
		ObjectsLoaded: 6, ChunksLoaded: 3, RowsLoaded: 9000, DuplicatesSkipped: 1000,
	}}
	if diff := cmp.Diff(want, got, runCounters); diff != "" {
		t.Errorf("state mismatch (-want +got):\n%s", diff)
	}
	// One summary row per hour, action and channel of the 9,000 rows.
	if want := first.hourlyPairs(0, 9000); got.SummaryRows != want {
		t.Errorf("summary rows = %d, want %d (one per hour, action and channel)", got.SummaryRows, want)
	}

	// Every value arrives as generated, including nulls and JSON: row i is
	// the first of the chunk with an optional column null and attributes.
	i := slices.IndexFunc(first.pool, func(r []bigquery.Value) bool {
		return r[column("attributes")] != nil && (r[column("session_id")] == nil || r[column("currency")] == nil || r[column("app_version")] == nil)
	})
	if i < 0 {
		t.Fatal("no generated row has both a null and attributes")
	}
	type row struct {
		Occurred, Received                    time.Time
		Source, Action, User, Writer, MsgID   string
		Session, Currency, AppVersion, Extras *string
		Quantity, Amount                      *int64
		Attributes                            map[string]any
	}
	var gotRow row
	err = p.Pool.QueryRow(t.Context(), `SELECT occurred_at, source, action, user_id, session_id, quantity, amount_cents, currency, app_version,
		attributes, extra_fields::text, message_id, received_at, writer_version FROM user_actions WHERE event_id = $1`, eventgen.EventID(1, i)).
		Scan(&gotRow.Occurred, &gotRow.Source, &gotRow.Action, &gotRow.User, &gotRow.Session, &gotRow.Quantity, &gotRow.Amount,
			&gotRow.Currency, &gotRow.AppVersion, &gotRow.Attributes, &gotRow.Extras, &gotRow.MsgID, &gotRow.Received, &gotRow.Writer)
	if err != nil {
		t.Fatal(err)
	}
	gen := first.row(i)
	str := func(col string) *string {
		if v, ok := gen[column(col)].(string); ok {
			return &v
		}
		return nil
	}
	num := func(col string) *int64 {
		if v, ok := gen[column(col)].(int64); ok {
			return &v
		}
		return nil
	}
	var attributes map[string]any
	if err := json.Unmarshal([]byte(gen[column("attributes")].(string)), &attributes); err != nil {
		t.Fatal(err)
	}
	wantRow := row{
		Occurred: genBase.Add(time.Duration(i) * time.Second), Received: genBase.Add(time.Duration(i)*time.Second + genReceivedAfter),
		Source: *str("source"), Action: *str("action"), User: *str("user_id"), Writer: genWriter, MsgID: eventgen.EventID(1^0xffff, i),
		Session: str("session_id"), Currency: str("currency"), AppVersion: str("app_version"), Quantity: num("quantity"), Amount: num("amount_cents"),
		Attributes: attributes,
	}
	if diff := cmp.Diff(wantRow, gotRow, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("row %d mismatch (-want +got):\n%s", i, diff)
	}
}

// TestSummaryLimit checks the summary is right when the in-memory summary
// outgrows its limit or is off, and the chunk is recomputed in SQL.
func TestSummaryLimit(t *testing.T) {
	for _, limit := range []int{50, -1} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			p := masoratest.NewPostgres(t)
			l := newLoader(t, p, loader.Options{SummaryLimit: limit})
			runID := startRun(t, ledger.New(p.Pool))
			st, err := l.LoadChunk(t.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(1),
				Open: newUserActions(5, 0, 5000, time.Second).open})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(loader.Stats{Rows: 5000, Hours: 2, HoursRecomputed: 2}, st); diff != "" {
				t.Errorf("stats mismatch (-want +got):\n%s", diff)
			}
			if n := p.SummaryMismatches(t, "user_action"); n != 0 {
				t.Errorf("summary differs from a recomputation in %d rows", n)
			}
		})
	}
}

// TestAbortBeforeCommit aborts chunks at the last moment, after COPY, the
// summaries and the run counters, and checks nothing of them is left; then
// loads them again and checks the counts are exact.
func TestAbortBeforeCommit(t *testing.T) {
	p := masoratest.NewPostgres(t)
	abort := true
	crash := errors.New("simulated crash before commit")
	l, err := loader.New(masoratest.BeforeCommit(p.Pool, func(context.Context) error {
		if abort {
			return crash
		}
		return nil
	}), p.Registry, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runID := startRun(t, ledger.New(p.Pool))
	objs := objects(2)
	fast := loader.Chunk{RunID: runID, LogType: "user_action", Objects: objs, Open: newUserActions(7, 0, 2000, time.Second).open}
	if _, err := l.LoadChunk(t.Context(), fast); !errors.Is(err, crash) {
		t.Fatalf("LoadChunk: %v, want the crash", err)
	}
	empty := state{}
	if diff := cmp.Diff(empty, snapshot(t, p, runID), runCounters); diff != "" {
		t.Fatalf("after the aborted chunk (-want +got):\n%s", diff)
	}

	abort = false
	if _, err := l.LoadChunk(t.Context(), fast); err != nil {
		t.Fatal(err)
	}
	// An overlapping chunk (staged path) aborted, then redone.
	abort = true
	staged := loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(1), Open: newUserActions(7, 1500, 1000, time.Second).open}
	if _, err := l.LoadChunk(t.Context(), staged); !errors.Is(err, crash) {
		t.Fatalf("LoadChunk: %v, want the crash", err)
	}
	abort = false
	st, err := l.LoadChunk(t.Context(), staged)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Staged || st.Duplicates != 500 {
		t.Errorf("redone overlapping chunk: %+v, want staged with 500 duplicates", st)
	}
	want := state{Rows: 2500, Manifest: 3, Run: ledger.Run{ObjectsLoaded: 3, ChunksLoaded: 2, RowsLoaded: 2500, DuplicatesSkipped: 500}}
	got := snapshot(t, p, runID)
	want.SummaryRows = got.SummaryRows
	if diff := cmp.Diff(want, got, runCounters); diff != "" {
		t.Errorf("after the redone chunks (-want +got):\n%s", diff)
	}
}

func TestLoadChunkFailures(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := newLoader(t, p, loader.Options{})
	runID := startRun(t, ledger.New(p.Pool))
	loaded := objects(1)
	if _, err := l.LoadChunk(t.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: loaded, Open: newUserActions(3, 0, 100, time.Second).open}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p, runID)

	broken := func(mutate func(i int, row []bigquery.Value)) func(context.Context) (loader.Rows, error) {
		g := newUserActions(3, 100, 500, time.Second)
		g.mutate = mutate
		return g.open
	}
	readErr := errors.New("connection reset by BigQuery")
	tests := []struct {
		name  string
		chunk loader.Chunk
		want  error
	}{
		{name: "objects already in the manifest", want: fault.ErrBusy,
			chunk: loader.Chunk{Objects: loaded, Open: newUserActions(3, 100, 10, time.Second).open}},
		{name: "required value null", want: fault.ErrBadObject,
			chunk: loader.Chunk{Objects: objects(1), Open: broken(func(i int, row []bigquery.Value) {
				if i == 400 {
					row[5] = nil // user_id
				}
			})}},
		{name: "value of the wrong type", want: fault.ErrBadObject,
			chunk: loader.Chunk{Objects: objects(1), Open: broken(func(i int, row []bigquery.Value) {
				if i == 300 {
					row[10] = "two" // quantity
				}
			})}},
		{name: "not a UUID", want: fault.ErrBadObject,
			chunk: loader.Chunk{Objects: objects(1), Open: broken(func(i int, row []bigquery.Value) {
				if i == 599 {
					row[0] = "not-a-uuid"
				}
			})}},
		{name: "JSON Postgres rejects", want: fault.ErrBadObject,
			chunk: loader.Chunk{Objects: objects(1), Open: broken(func(i int, row []bigquery.Value) {
				if i == 200 {
					row[14] = `{"unterminated": `
				}
			})}},
		{name: "too few columns", want: fault.ErrBadObject,
			chunk: loader.Chunk{Objects: objects(1), Open: func(ctx context.Context) (loader.Rows, error) {
				return rowsFunc(func(dst *[]bigquery.Value) error { *dst = []bigquery.Value{"x"}; return nil }), nil
			}}},
		{name: "result stream fails", want: readErr,
			chunk: loader.Chunk{Objects: objects(1), Open: func(ctx context.Context) (loader.Rows, error) {
				g, _ := newUserActions(3, 100, 500, time.Second).open(ctx)
				n := 0
				return rowsFunc(func(dst *[]bigquery.Value) error {
					if n++; n == 250 {
						return readErr
					}
					return g.Next(dst)
				}), nil
			}}},
		{name: "result cannot be opened", want: readErr,
			chunk: loader.Chunk{Objects: objects(1), Open: func(context.Context) (loader.Rows, error) { return nil, readErr }}},
		{name: "unknown log type", want: fault.ErrInvalid,
			chunk: loader.Chunk{LogType: "page_view", Objects: objects(1), Open: newUserActions(3, 100, 10, time.Second).open}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.chunk.RunID = runID
			if tt.chunk.LogType == "" {
				tt.chunk.LogType = "user_action"
			}
			_, err := l.LoadChunk(t.Context(), tt.chunk)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadChunk: %v, want an error wrapping %v", err, tt.want)
			}
			t.Logf("LoadChunk: %v", err)
			if diff := cmp.Diff(before, snapshot(t, p, runID)); diff != "" {
				t.Errorf("a failed chunk changed the database (-before +after):\n%s", diff)
			}
		})
	}
}

type rowsFunc func(dst *[]bigquery.Value) error

func (f rowsFunc) Next(dst *[]bigquery.Value) error { return f(dst) }

func TestNotReady(t *testing.T) {
	p := masoratest.NewPostgres(t)
	env := p.Env
	ctx := t.Context()
	reg := schema.MustLoad()
	if err := newLoader(t, p, loader.Options{}).Ready(ctx); err != nil {
		t.Fatalf("Ready on a migrated schema: %v", err)
	}

	// A schema without the migrations.
	empty := stacktest.PostgresSchema(t, env)
	pool, err := pgxpool.New(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := loader.New(pool, reg, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(ctx); err == nil {
		t.Error("Ready on an empty schema succeeded, want an error naming the missing tables")
	} else {
		t.Logf("Ready: %v", err)
	}

	// Postgres not listening.
	down, err := pgxpool.New(ctx, "postgres://masora:pw@127.0.0.1:1/reports?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	l, err = loader.New(down, reg, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Ready": func() error { return l.Ready(ctx) },
		"LoadChunk": func() error {
			_, err := l.LoadChunk(ctx, loader.Chunk{RunID: 1, LogType: "user_action", Objects: objects(1), Open: newUserActions(1, 0, 1, time.Second).open})
			return err
		},
		"LoadQuarantine": func() error {
			_, err := l.LoadQuarantine(ctx, loader.QuarantineChunk{RunID: 1, Objects: objects(1)})
			return err
		},
	} {
		if err := f(); !errors.Is(err, fault.ErrUnavailable) {
			t.Errorf("%s with Postgres down: %v, want an error wrapping %v", name, err, fault.ErrUnavailable)
		}
	}
}
