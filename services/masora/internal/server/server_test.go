package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/auth/authtest"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
)

const (
	audience = "https://masora.example.run.app"
	sa       = "scheduler@proj.iam.gserviceaccount.com"
	token    = "local-token-0123456789"
)

// idToken returns an ID token of email for the test audience, expiring at expiry.
func idToken(t *testing.T, iss *authtest.Issuer, email string, expiry time.Time) string {
	t.Helper()
	c := authtest.Valid(time.Now(), audience, email)
	c.Expiry = jwt.NewNumericDate(expiry)
	return iss.Sign(t, c)
}

type harness struct {
	s       *masoratest.Stack
	url     string
	iss     *authtest.Issuer
	metrics *metrics.Metrics
}

// newHarness serves Masora over the test's stack. pool, when set, replaces
// the stack's Postgres pool (to make Postgres unreachable); beforeCommit,
// when set, is called before each chunk's commit (masoratest.BeforeCommit).
func newHarness(t *testing.T, beforeCommit func(context.Context) error, pool *pgxpool.Pool, opts ...masoratest.Option) *harness {
	t.Helper()
	s := masoratest.New(t, opts...)
	if pool == nil {
		pool = s.Pool
	}
	var db loader.DB = pool
	if beforeCommit != nil {
		db = masoratest.BeforeCommit(pool, beforeCommit)
	}
	reg := schema.MustLoad()
	l, err := loader.New(db, reg, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lg := ledger.New(pool)
	wh := s.Warehouse(t)
	bucket := source.New(s.Storage, s.Bucket, masoratest.Prefix)
	m := metrics.New()
	log := masoratest.Logger(t)
	runner := run.New(run.Deps{
		Registry: reg, Objects: bucket, Inspector: bucket, Warehouse: wh, Loader: l, Ledger: lg, Metrics: m, Log: log,
	}, run.Options{Lookback: 48 * time.Hour, ChunkFiles: 10, ChunkTimeout: time.Minute})
	iss := authtest.NewIssuer(t)
	a, err := auth.New(t.Context(), auth.Options{
		Token: token, Audience: audience, AllowedEmails: []string{sa},
		Issuer: authtest.GoogleIssuer, JWKSURL: iss.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Deps{
		Runner: runner, History: lg, Auth: a, Metrics: m, Log: log,
		Ready: map[string]server.Checker{"postgres": l, "bigquery": wh, "storage": bucket},
	}))
	t.Cleanup(srv.Close)
	return &harness{s: s, url: srv.URL, iss: iss, metrics: m}
}

type response struct {
	Code int
	Body map[string]any
}

func (h *harness) do(t *testing.T, method, path, bearer, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	} else {
		b = map[string]any{"text": string(raw)}
	}
	return response{resp.StatusCode, b}
}

func writeEvents(t *testing.T, s *masoratest.Stack, n int) {
	t.Helper()
	at := time.Now().UTC().Add(-time.Hour)
	var msgs []masoratest.Message
	for i := range n {
		msgs = append(msgs, masoratest.UserAction{EventID: uuid.New(), OccurredAt: at.Add(-time.Duration(i) * time.Second), Action: "order_placed", Channel: "web", UserID: "u"}.Message(at))
	}
	s.WriteObject(t, "user_action", msgs)
}

func TestAuth(t *testing.T) {
	h := newHarness(t, nil, nil)
	writeEvents(t, h.s, 5)
	tests := []struct {
		name   string
		bearer string
		code   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong static token", "not-the-token-at-all", http.StatusUnauthorized},
		{"garbage ID token", "a.b.c", http.StatusUnauthorized},
		{"expired ID token", idToken(t, h.iss, sa, time.Now().Add(-time.Minute)), http.StatusUnauthorized},
		{"ID token of another service account", idToken(t, h.iss, "other@proj.iam.gserviceaccount.com", time.Now().Add(time.Hour)), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/run", "/backfill", "/runs"} {
				method := http.MethodPost
				if path == "/runs" {
					method = http.MethodGet
				}
				r := h.do(t, method, path, tt.bearer, `{"from":"2024-05-01T00:00:00Z","to":"2024-05-01T01:00:00Z"}`)
				if r.Code != tt.code || r.Body["error"] == nil {
					t.Errorf("%s %s = %d %v, want %d with an error", method, path, r.Code, r.Body, tt.code)
				}
			}
		})
	}
	if n := h.s.Count(t, `SELECT count(*) FROM masora_runs`); n != 0 {
		t.Fatalf("rejected requests started %d runs, want none", n)
	}

	for _, bearer := range []string{idToken(t, h.iss, sa, time.Now().Add(time.Hour)), token} {
		r := h.do(t, http.MethodPost, "/run", bearer, `{"log_type":"user_action"}`)
		if r.Code != http.StatusOK {
			t.Fatalf("POST /run with a valid token = %d %v, want 200", r.Code, r.Body)
		}
	}
	if n := h.s.Count(t, `SELECT count(*) FROM user_actions`); n != 5 {
		t.Errorf("user_actions has %d rows after two authenticated runs, want 5", n)
	}
	if n := h.s.Count(t, `SELECT count(*) FROM masora_runs WHERE status = 'succeeded'`); n != 2 {
		t.Errorf("%d succeeded runs, want 2", n)
	}
}

// TestConcurrentRuns sends two /run at once: one loads, the other gets 409.
func TestConcurrentRuns(t *testing.T) {
	inChunk := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	h := newHarness(t, func(ctx context.Context) error {
		once.Do(func() { close(inChunk) })
		<-release
		return nil
	}, nil)
	writeEvents(t, h.s, 20)

	first := make(chan response, 1)
	go func() { first <- h.do(t, http.MethodPost, "/run", token, "") }()
	<-inChunk // the first run is inside its chunk's transaction
	second := h.do(t, http.MethodPost, "/run", token, "")
	close(release)
	r1 := <-first

	if r1.Code != http.StatusOK {
		t.Errorf("first /run = %d %v, want 200", r1.Code, r1.Body)
	}
	if second.Code != http.StatusConflict || !strings.Contains(second.Body["error"].(string), "in progress") {
		t.Errorf("second /run = %d %v, want 409 saying a run is in progress", second.Code, second.Body)
	}
	if n := h.s.Count(t, `SELECT count(*) FROM user_actions`); n != 20 {
		t.Errorf("user_actions has %d rows, want 20", n)
	}
	if n := h.s.Count(t, `SELECT count(*) FROM masora_runs`); n != 2 {
		t.Errorf("%d runs recorded, want 2 (one per log type of the first /run)", n)
	}
}

func TestEndpoints(t *testing.T) {
	h := newHarness(t, nil, nil)
	writeEvents(t, h.s, 3)

	if r := h.do(t, http.MethodGet, "/healthz", "", ""); r.Code != http.StatusOK {
		t.Errorf("GET /healthz = %d %v", r.Code, r.Body)
	}
	if r := h.do(t, http.MethodGet, "/readyz", "", ""); r.Code != http.StatusOK {
		t.Errorf("GET /readyz = %d %v", r.Code, r.Body)
	}
	bad := []struct {
		method, path, body string
		code               int
	}{
		{http.MethodPost, "/run", `{"log_type":"page_view"}`, http.StatusBadRequest},
		{http.MethodPost, "/run", `{"log_type":`, http.StatusBadRequest},
		{http.MethodPost, "/run", `{"logtype":"user_action"}`, http.StatusBadRequest},
		{http.MethodPost, "/run", `{"from":"2024-05-01T00:00:00Z"}`, http.StatusBadRequest},
		{http.MethodPost, "/backfill", `{}`, http.StatusBadRequest},
		{http.MethodPost, "/backfill", `{"from":"yesterday","to":"2024-05-01T00:00:00Z"}`, http.StatusBadRequest},
		{http.MethodPost, "/backfill", `{"from":"2024-05-02T00:00:00Z","to":"2024-05-01T00:00:00Z"}`, http.StatusBadRequest},
		{http.MethodGet, "/runs?limit=0", ``, http.StatusBadRequest},
		{http.MethodGet, "/run", ``, http.StatusMethodNotAllowed},
	}
	for _, b := range bad {
		if r := h.do(t, b.method, b.path, token, b.body); r.Code != b.code {
			t.Errorf("%s %s %s = %d %v, want %d", b.method, b.path, b.body, r.Code, r.Body, b.code)
		}
	}

	r := h.do(t, http.MethodPost, "/run?log_type=user_action", token, "")
	if r.Code != http.StatusOK {
		t.Fatalf("POST /run = %d %v", r.Code, r.Body)
	}
	runs := r.Body["runs"].([]any)
	got := runs[0].(map[string]any)
	want := map[string]any{"log_type": "user_action", "status": "succeeded", "objects_new": 1.0, "objects_loaded": 1.0, "rows_loaded": 3.0}
	for k, v := range want {
		if !cmp.Equal(v, got[k]) {
			t.Errorf("POST /run outcome %s = %v, want %v", k, got[k], v)
		}
	}

	hour := time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)
	r = h.do(t, http.MethodPost, "/backfill", token, `{"log_type":"user_action","from":"`+hour.Add(-time.Hour).Format(time.RFC3339)+`","to":"`+hour.Format(time.RFC3339)+`"}`)
	if r.Code != http.StatusOK || r.Body["runs"].([]any)[0].(map[string]any)["objects_listed"] != 1.0 {
		t.Errorf("POST /backfill = %d %v, want 200 listing the object", r.Code, r.Body)
	}

	r = h.do(t, http.MethodGet, "/runs?log_type=user_action&limit=5", token, "")
	if r.Code != http.StatusOK || len(r.Body["runs"].([]any)) != 2 {
		t.Errorf("GET /runs = %d %v, want 2 runs", r.Code, r.Body)
	}
	hist := r.Body["runs"].([]any)[0].(map[string]any)
	if hist["trigger"] != "backfill" || hist["status"] != "succeeded" {
		t.Errorf("newest run = %v, want a succeeded backfill", hist)
	}
	id := fmt.Sprint(hist["run_id"])
	if r := h.do(t, http.MethodGet, "/runs/"+id, token, ""); r.Code != http.StatusOK || fmt.Sprint(r.Body["run_id"]) != id {
		t.Errorf("GET /runs/%s = %d %v", id, r.Code, r.Body)
	}
	if r := h.do(t, http.MethodGet, "/runs/99999", token, ""); r.Code != http.StatusNotFound {
		t.Errorf("GET /runs/99999 = %d %v, want 404", r.Code, r.Body)
	}
	if r := h.do(t, http.MethodGet, "/runs/abc", token, ""); r.Code != http.StatusBadRequest {
		t.Errorf("GET /runs/abc = %d %v, want 400", r.Code, r.Body)
	}

	r = h.do(t, http.MethodGet, "/metrics", "", "")
	for _, line := range []string{
		`masora_runs_total{log_type="user_action",status="succeeded"} 2`,
		`masora_rows_loaded_total{log_type="user_action"} 3`,
		`masora_http_requests_total{code="400",route="/run"} 4`,
	} {
		if !strings.Contains(r.Body["text"].(string), line) {
			t.Errorf("GET /metrics lacks %q", line)
		}
	}
}

func TestPostgresDown(t *testing.T) {
	down, err := pgxpool.New(t.Context(), "postgres://masora:pw@127.0.0.1:1/reports?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	h := newHarness(t, nil, down, masoratest.NoDataset)
	r := h.do(t, http.MethodPost, "/run", token, "")
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Body["error"].(string), "127.0.0.1") {
		t.Errorf("POST /run with Postgres down = %d %v, want 503 naming the server", r.Code, r.Body)
	}
	if strings.Contains(r.Body["error"].(string), "pw@") {
		t.Errorf("error shows the password: %v", r.Body["error"])
	}
	r = h.do(t, http.MethodGet, "/readyz", "", "")
	if r.Code != http.StatusServiceUnavailable || r.Body["failed"].(map[string]any)["postgres"] == nil {
		t.Errorf("GET /readyz with Postgres down = %d %v, want 503 naming postgres", r.Code, r.Body)
	}
}
