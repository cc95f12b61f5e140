package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
)

// The unit tests of this file serve in-memory stand-ins of the runner and
// the run history; the integration tests of server_test.go serve the real
// ones over the local stack.

// fakeRunner answers every request with outs and err, and records it.
type fakeRunner struct {
	outs []ledger.Run
	err  error
	got  []run.Request
}

func (f *fakeRunner) Run(_ context.Context, req run.Request) ([]ledger.Run, error) {
	f.got = append(f.got, req)
	return f.outs, f.err
}

// fakeHistory holds runs, newest first.
type fakeHistory struct {
	runs []ledger.Run
	err  error
}

func (f *fakeHistory) Runs(_ context.Context, logType string, limit int) ([]ledger.Run, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []ledger.Run
	for _, r := range f.runs {
		if (logType == "" || r.LogType == logType) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeHistory) GetRun(_ context.Context, id int64) (ledger.Run, error) {
	for _, r := range f.runs {
		if r.ID == id {
			return r, nil
		}
	}
	return ledger.Run{}, fmt.Errorf("run %d: %w", id, fault.ErrNotFound)
}

type checker struct{ err error }

func (c checker) Ready(context.Context) error { return c.err }

var (
	t0       = time.Date(2024, 5, 3, 12, 0, 0, 0, time.UTC)
	finished = t0.Add(90 * time.Second)
	// loaded is a run as the runner answers it and the history keeps it.
	loaded = ledger.Run{
		ID: 7, LogType: "user_action", Trigger: "schedule", WindowFrom: t0.Add(-48 * time.Hour), WindowTo: t0,
		Status: "succeeded", StartedAt: t0.Add(time.Minute), FinishedAt: &finished,
		ObjectsListed: 3, ObjectsNew: 2, ObjectsLoaded: 2, ChunksLoaded: 1, RowsLoaded: 30, DuplicatesSkipped: 1,
	}
	// loadedJSON is loaded's one JSON shape.
	loadedJSON = `{"run_id": 7, "log_type": "user_action", "trigger": "schedule",
		"window_from": "2024-05-01T12:00:00Z", "window_to": "2024-05-03T12:00:00Z", "status": "succeeded",
		"started_at": "2024-05-03T12:01:00Z", "finished_at": "2024-05-03T12:01:30Z",
		"objects_listed": 3, "objects_new": 2, "objects_loaded": 2, "objects_failed": 0,
		"chunks_loaded": 1, "rows_loaded": 30, "duplicates_skipped": 1}`
	seller = ledger.Run{ID: 6, LogType: "seller_action", Trigger: "cli", Status: "failed", WindowFrom: t0, WindowTo: t0, StartedAt: t0, Error: "boom"}
)

// serve answers one request with fakes behind the handler.
func serve(t *testing.T, opts auth.Options, d server.Deps, method, target, bearer, body string) (int, any) {
	t.Helper()
	a, err := auth.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	d.Auth, d.Metrics, d.Log = a, metrics.New(), masoratest.Logger(t)
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	server.New(d).ServeHTTP(rec, req)
	var got any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, target, rec.Body, err)
		}
	}
	return rec.Code, got
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("want body %s: %v", s, err)
	}
	return v
}

func TestHandlers(t *testing.T) {
	from, to := "2024-05-01T00:00:00Z", "2024-05-01T05:00:00Z"
	parse := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tokenOnly := auth.Options{Token: token}
	tests := []struct {
		name           string
		method, target string
		body           string
		runner         fakeRunner
		history        fakeHistory
		wantCode       int
		// wantReqs are the requests the runner got.
		wantReqs []run.Request
		// wantBody is the whole JSON answer; when empty, wantError is in
		// the answer's error.
		wantBody  string
		wantError string
	}{
		{name: "run", method: "POST", target: "/run", runner: fakeRunner{outs: []ledger.Run{loaded}},
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerSchedule}},
			wantBody: `{"runs": [` + loadedJSON + `]}`},
		{name: "run of one log type, in the body", method: "POST", target: "/run", body: `{"log_type":"user_action"}`,
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerSchedule, LogType: "user_action"}}, wantBody: `{"runs": null}`},
		{name: "run of one log type, in the query", method: "POST", target: "/run?log_type=user_action",
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerSchedule, LogType: "user_action"}}, wantBody: `{"runs": null}`},
		{name: "run of one log type, in the body and the query", method: "POST", target: "/run?log_type=user_action", body: `{"log_type":"user_action"}`,
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerSchedule, LogType: "user_action"}}, wantBody: `{"runs": null}`},
		{name: "run with body and query naming different log types", method: "POST", target: "/run?log_type=user_action", body: `{"log_type":"seller_action"}`,
			wantCode: 400, wantError: `log_type is "seller_action" in the body but "user_action" in the query`},
		{name: "run with the log type twice in the query", method: "POST", target: "/run?log_type=user_action&log_type=seller_action",
			wantCode: 400, wantError: "given twice"},
		{name: "run with a malformed log type", method: "POST", target: "/run?log_type=User%20Action",
			wantCode: 400, wantError: "not a log type name"},
		{name: "run with two JSON objects", method: "POST", target: "/run", body: `{"log_type":"user_action"}{"log_type":"seller_action"}`,
			wantCode: 400, wantError: "nothing after it"},
		{name: "run with a range", method: "POST", target: "/run", body: `{"from":"` + from + `"}`,
			wantCode: 400, wantError: "use /backfill"},
		{name: "run with bad JSON", method: "POST", target: "/run", body: `{"log_type":`,
			wantCode: 400, wantError: "body must be a JSON object"},
		{name: "run with an unknown field", method: "POST", target: "/run", body: `{"logtype":"user_action"}`,
			wantCode: 400, wantError: "unknown field"},
		{name: "run refused as invalid", method: "POST", target: "/run?log_type=page_view",
			runner:   fakeRunner{err: fmt.Errorf("%w: unknown log type %q", fault.ErrInvalid, "page_view")},
			wantCode: 400, wantReqs: []run.Request{{Trigger: run.TriggerSchedule, LogType: "page_view"}}, wantError: "unknown log type"},
		{name: "run busy", method: "POST", target: "/run",
			runner:   fakeRunner{err: fmt.Errorf("lock user_action: %w", fault.ErrBusy)},
			wantCode: 409, wantReqs: []run.Request{{Trigger: run.TriggerSchedule}}, wantError: "in progress"},
		{name: "run with bad objects answers the outcomes too", method: "POST", target: "/run",
			runner:   fakeRunner{outs: []ledger.Run{loaded}, err: fmt.Errorf("user_action: %w", fault.ErrBadObject)},
			wantCode: 422, wantReqs: []run.Request{{Trigger: run.TriggerSchedule}},
			wantBody: `{"error": "user_action: bad parquet object", "runs": [` + loadedJSON + `]}`},
		{name: "run with a dependency down", method: "POST", target: "/run",
			runner:   fakeRunner{err: fmt.Errorf("connect: %w", fault.ErrUnavailable)},
			wantCode: 503, wantReqs: []run.Request{{Trigger: run.TriggerSchedule}}, wantError: "dependency unavailable"},
		{name: "backfill", method: "POST", target: "/backfill", body: `{"log_type":"user_action","from":"` + from + `","to":"` + to + `"}`,
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerBackfill, LogType: "user_action", From: parse(from), To: parse(to)}},
			wantBody: `{"runs": null}`},
		{name: "backfill in the query", method: "POST", target: "/backfill?from=" + from + "&to=" + to,
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerBackfill, From: parse(from), To: parse(to)}}, wantBody: `{"runs": null}`},
		{name: "backfill without from", method: "POST", target: "/backfill", body: `{"to":"` + to + `"}`,
			wantCode: 400, wantError: "from is required"},
		{name: "backfill without to", method: "POST", target: "/backfill", body: `{"from":"` + from + `"}`,
			wantCode: 400, wantError: "to is required"},
		{name: "backfill with a bad time", method: "POST", target: "/backfill", body: `{"from":"yesterday","to":"` + to + `"}`,
			wantCode: 400, wantError: "not RFC 3339"},
		{name: "backfill of the longest range", method: "POST", target: "/backfill", body: `{"from":"2024-05-01T00:00:00Z","to":"2024-06-01T00:00:00Z"}`,
			wantCode: 200, wantReqs: []run.Request{{Trigger: run.TriggerBackfill, From: parse("2024-05-01T00:00:00Z"), To: parse("2024-06-01T00:00:00Z")}},
			wantBody: `{"runs": null}`},
		{name: "backfill of 1,000 years", method: "POST", target: "/backfill", body: `{"from":"1024-05-01T00:00:00Z","to":"2024-05-01T00:00:00Z"}`,
			wantCode: 400, wantError: "before 2000-01-01T00:00:00Z"},
		{name: "backfill longer than the maximum", method: "POST", target: "/backfill", body: `{"from":"2024-05-01T00:00:00Z","to":"2024-06-01T01:00:00Z"}`,
			wantCode: 400, wantError: "MASORA_BACKFILL_MAX_RANGE"},
		{name: "backfill in year 0000", method: "POST", target: "/backfill", body: `{"from":"0000-01-01T00:00:00Z","to":"0000-01-01T05:00:00Z"}`,
			wantCode: 400, wantError: "no data of this pipeline is that old"},
		{name: "backfill backwards", method: "POST", target: "/backfill", body: `{"from":"` + to + `","to":"` + from + `"}`,
			wantCode: 400, wantError: "ends (2024-05-01T00:00:00Z) before it starts"},
		{name: "backfill with body and query naming different ranges", method: "POST", target: "/backfill?from=2024-05-01T01:00:00Z", body: `{"from":"` + from + `","to":"` + to + `"}`,
			wantCode: 400, wantError: "in the body but"},
		{name: "runs", method: "GET", target: "/runs", history: fakeHistory{runs: []ledger.Run{loaded, seller}},
			wantCode: 200, wantBody: `{"runs": [` + loadedJSON + `, {"run_id": 6, "log_type": "seller_action", "trigger": "cli",
				"window_from": "2024-05-03T12:00:00Z", "window_to": "2024-05-03T12:00:00Z", "status": "failed",
				"started_at": "2024-05-03T12:00:00Z", "objects_listed": 0, "objects_new": 0, "objects_loaded": 0,
				"objects_failed": 0, "chunks_loaded": 0, "rows_loaded": 0, "duplicates_skipped": 0, "error": "boom"}]}`},
		{name: "runs of a log type, limited", method: "GET", target: "/runs?log_type=seller_action&limit=1", history: fakeHistory{runs: []ledger.Run{loaded, seller, seller}},
			wantCode: 200, wantBody: `{"runs": [{"run_id": 6, "log_type": "seller_action", "trigger": "cli",
				"window_from": "2024-05-03T12:00:00Z", "window_to": "2024-05-03T12:00:00Z", "status": "failed",
				"started_at": "2024-05-03T12:00:00Z", "objects_listed": 0, "objects_new": 0, "objects_loaded": 0,
				"objects_failed": 0, "chunks_loaded": 0, "rows_loaded": 0, "duplicates_skipped": 0, "error": "boom"}]}`},
		{name: "no runs yet", method: "GET", target: "/runs", wantCode: 200, wantBody: `{"runs": []}`},
		{name: "runs limit 0", method: "GET", target: "/runs?limit=0", wantCode: 400, wantError: "want 1 to 1000"},
		{name: "runs limit too big", method: "GET", target: "/runs?limit=1001", wantCode: 400, wantError: "want 1 to 1000"},
		{name: "runs limit not a number", method: "GET", target: "/runs?limit=ten", wantCode: 400, wantError: "want 1 to 1000"},
		{name: "runs with Postgres down", method: "GET", target: "/runs", history: fakeHistory{err: fmt.Errorf("read run history: %w", fault.ErrUnavailable)},
			wantCode: 503, wantError: "read run history"},
		{name: "one run", method: "GET", target: "/runs/7", history: fakeHistory{runs: []ledger.Run{loaded}},
			wantCode: 200, wantBody: loadedJSON},
		{name: "unknown run", method: "GET", target: "/runs/8", history: fakeHistory{runs: []ledger.Run{loaded}},
			wantCode: 404, wantError: "run 8: not found"},
		{name: "run id not a number", method: "GET", target: "/runs/abc", wantCode: 400, wantError: `run id "abc" is not a number`},
		{name: "wrong method", method: "GET", target: "/run", wantCode: 405},
		{name: "health", method: "GET", target: "/healthz", wantCode: 200, wantBody: `{"status": "ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := server.Deps{Runner: &tt.runner, History: &tt.history}
			code, got := serve(t, tokenOnly, d, tt.method, tt.target, token, tt.body)
			if code != tt.wantCode {
				t.Errorf("%s %s = %d %v, want %d", tt.method, tt.target, code, got, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantReqs, tt.runner.got); diff != "" {
				t.Errorf("runner requests mismatch (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantBody != "":
				if diff := cmp.Diff(decodeJSON(t, tt.wantBody), got); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			case tt.wantError != "":
				body, _ := got.(map[string]any)
				if msg, _ := body["error"].(string); !strings.Contains(msg, tt.wantError) {
					t.Errorf("error %q, want it to mention %q", msg, tt.wantError)
				}
			}
		})
	}
}

// TestAuthRequired checks which credentials each route needs, with a
// bearer token configured and in insecure local mode.
func TestAuthRequired(t *testing.T) {
	tokenOnly := auth.Options{Token: token}
	insecure := auth.Options{InsecureLocal: true}
	routes := []struct{ method, target string }{
		{"POST", "/run"}, {"POST", "/backfill?from=2024-05-01T00:00:00Z&to=2024-05-01T01:00:00Z"}, {"GET", "/runs"}, {"GET", "/runs/7"},
	}
	tests := []struct {
		name     string
		opts     auth.Options
		bearer   string
		wantCode int
	}{
		{"token", tokenOnly, token, http.StatusOK},
		{"no token", tokenOnly, "", http.StatusUnauthorized},
		{"wrong token", tokenOnly, "not-the-token-at-all", http.StatusUnauthorized},
		{"insecure local without a token", insecure, "", http.StatusOK},
		{"insecure local with any token", insecure, "anything", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rt := range routes {
				runner := &fakeRunner{}
				d := server.Deps{Runner: runner, History: &fakeHistory{runs: []ledger.Run{loaded}}}
				code, got := serve(t, tt.opts, d, rt.method, rt.target, tt.bearer, "")
				if code != tt.wantCode {
					t.Errorf("%s %s = %d %v, want %d", rt.method, rt.target, code, got, tt.wantCode)
				}
				if tt.wantCode != http.StatusOK && len(runner.got) > 0 {
					t.Errorf("%s %s ran %v without authentication", rt.method, rt.target, runner.got)
				}
			}
			// Probes and metrics need no credentials.
			for _, target := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, got := serve(t, tt.opts, server.Deps{}, "GET", target, "", ""); code != http.StatusOK {
					t.Errorf("GET %s without credentials = %d %v, want 200", target, code, got)
				}
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name     string
		ready    map[string]server.Checker
		wantCode int
		wantBody string
	}{
		{"all ready", map[string]server.Checker{"postgres": checker{}, "bigquery": checker{}, "storage": checker{}},
			200, `{"status": "ready"}`},
		{"postgres down", map[string]server.Checker{"postgres": checker{down}, "bigquery": checker{}, "storage": checker{}},
			503, `{"status": "unavailable", "failed": {"postgres": "connection refused"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, got := serve(t, auth.Options{Token: token}, server.Deps{Ready: tt.ready}, "GET", "/readyz", "", "")
			if code != tt.wantCode {
				t.Errorf("GET /readyz = %d, want %d", code, tt.wantCode)
			}
			if diff := cmp.Diff(decodeJSON(t, tt.wantBody), got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
