package statuspage_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/statuspage"
)

// perHour returns the 48 hourly values of a chart, with values at the hours
// that many hours before the current one.
func perHour(values map[int]int64) []int64 {
	out := make([]int64, statuspage.DefaultHours)
	for before, n := range values {
		out[len(out)-1-before] = n
	}
	return out
}

// runSummary is what TestRead compares of a run.
type runSummary struct {
	Trigger, Status string
	Rows            int64
	Finished        bool
}

func TestRead(t *testing.T) {
	pg := masoratest.NewPostgres(t)
	now := time.Date(2026, 11, 30, 14, 25, 30, 0, time.UTC)
	insertFixture(t, pg.Pool, now)
	page := statuspage.New(statuspage.Options{
		Pool: pg.Pool, LogTypes: pg.Registry.Names(), Log: masoratest.Logger(t),
		Now: func() time.Time { return now }, DLQUnsetReason: "MASORA_DLQ_URL is not set",
	})
	got, err := page.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if got.Now != now || len(got.Hours) != statuspage.DefaultHours ||
		got.Hours[0] != time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC) || got.Hours[47] != time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC) {
		t.Errorf("Now %s, hours %d from %s to %s; want %s, 48 from 2026-11-28 15:00 to 2026-11-30 14:00",
			got.Now, len(got.Hours), got.Hours[0], got.Hours[len(got.Hours)-1], now)
	}
	if diff := cmp.Diff(statuspage.DLQ{Reason: "MASORA_DLQ_URL is not set"}, got.DLQ); diff != "" {
		t.Errorf("DLQ (-want +got):\n%s", diff)
	}
	if want := []string{"seller_action", "user_action"}; !cmp.Equal(want, pg.Registry.Names()) {
		t.Fatalf("the registry's log types are %v; this test expects %v", pg.Registry.Names(), want)
	}

	// The runs are compared as summaries below.
	var runs [][]runSummary
	for i := range got.LogTypes {
		var rs []runSummary
		for _, r := range got.LogTypes[i].Runs {
			rs = append(rs, runSummary{r.Trigger, r.Status, r.RowsLoaded, r.FinishedAt != nil})
		}
		runs = append(runs, rs)
		got.LogTypes[i].Runs = nil
	}
	want := []statuspage.LogType{
		{Name: "seller_action", Defined: true, RowsPerHour: perHour(nil), QuarantinedPerHour: perHour(nil)},
		{Name: "user_action", Defined: true, NewestHour: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
			RowsPerHour:        perHour(map[int]int64{3: 1200, 2: 800, 1: 0, 0: 50}),
			QuarantinedPerHour: perHour(map[int]int64{2: 5, 1: 4}),
			ReasonKinds:        []statuspage.ReasonCount{{Kind: "invalid_field", Messages: 7}, {Kind: "invalid_json", Messages: 2}},
			TopReasons: []statuspage.ReasonCount{
				{Kind: "invalid_field", Reason: "quantity: want at least 1, got 0", Messages: 4},
				{Kind: "invalid_field", Reason: "user_id: required", Messages: 3},
				{Kind: "invalid_json", Reason: "body is not JSON: unexpected end of input", Messages: 2},
			}},
		{Name: "", RowsPerHour: perHour(nil), QuarantinedPerHour: perHour(map[int]int64{1: 1}),
			ReasonKinds: []statuspage.ReasonCount{{Kind: "no_log_type", Messages: 1}},
			TopReasons:  []statuspage.ReasonCount{{Kind: "no_log_type", Reason: "no log_type message attribute", Messages: 1}}},
		{Name: "mystery_action", RowsPerHour: perHour(nil), QuarantinedPerHour: perHour(map[int]int64{0: 2}),
			ReasonKinds: []statuspage.ReasonCount{{Kind: "unknown_log_type", Messages: 2}},
			TopReasons:  []statuspage.ReasonCount{{Kind: "unknown_log_type", Reason: `unknown log type "mystery_action"`, Messages: 2}}},
	}
	if diff := cmp.Diff(want, got.LogTypes, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("log types (-want +got):\n%s", diff)
	}
	wantRuns := [][]runSummary{nil, {
		{"cli", "running", 50, false},
		{"backfill", "failed", 0, true},
		{"schedule", "succeeded", 800, true},
		{"schedule", "succeeded", 1200, true},
		{"schedule", "succeeded", 999, true},
	}, nil, nil}
	if diff := cmp.Diff(wantRuns, runs); diff != "" {
		t.Errorf("runs, newest first (-want +got):\n%s", diff)
	}
	if lag := got.LogTypes[1].Lag(now); lag != 2*time.Hour+25*time.Minute+30*time.Second {
		t.Errorf("user_action lag = %s, want 2h25m30s", lag)
	}
}

// TestReadLimits checks that Runs and TopReasons bound what is read.
func TestReadLimits(t *testing.T) {
	pg := masoratest.NewPostgres(t)
	now := time.Date(2026, 11, 30, 14, 25, 30, 0, time.UTC)
	insertFixture(t, pg.Pool, now)
	page := statuspage.New(statuspage.Options{
		Pool: pg.Pool, LogTypes: []string{"user_action"}, Log: masoratest.Logger(t),
		Now: func() time.Time { return now }, Runs: 2, TopReasons: 1, Hours: 3,
	})
	got, err := page.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lt := got.LogTypes[0]
	if len(lt.Runs) != 2 || lt.Runs[0].Status != ledger.StatusRunning {
		t.Errorf("runs = %+v, want the 2 newest", lt.Runs)
	}
	if diff := cmp.Diff([]statuspage.ReasonCount{{Kind: "invalid_field", Reason: "quantity: want at least 1, got 0", Messages: 4}}, lt.TopReasons); diff != "" {
		t.Errorf("top reasons (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{800, 0, 50}, lt.RowsPerHour); diff != "" {
		t.Errorf("rows per hour over 3 hours (-want +got):\n%s", diff)
	}
}

// TestPostgresDown checks that the page still renders, with the error, when
// Postgres cannot be read.
func TestPostgresDown(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://masora:pw@127.0.0.1:1/reports?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	page := statuspage.New(statuspage.Options{Pool: pool, LogTypes: []string{"user_action"}, Log: masoratest.Logger(t), DLQ: depth{n: 7}})
	if _, err := page.Read(t.Context()); !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Read with a closed pool = %v, want an error wrapping %v", err, fault.ErrUnavailable)
	}
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, `<p class="banner" id="error">Postgres could not be read: `) ||
		!strings.Contains(body, `<strong id="dlq-depth">7</strong>`) {
		t.Errorf("page with Postgres down = %d:\n%s\nwant 503 with the error and the DLQ's depth", rec.Code, body)
	}
	if strings.Contains(body, "pw") {
		t.Errorf("the page shows the database password:\n%s", body)
	}
}

// depth is a DepthReader answering n, or err.
type depth struct {
	n   int64
	err error
}

func (d depth) Depth(context.Context) (int64, error) { return d.n, d.err }
