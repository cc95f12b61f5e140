// Package server is Masora's HTTP interface for Cloud Run: the endpoints
// Cloud Scheduler and operators call, their authentication, and the one
// mapping from error kinds to HTTP statuses.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
)

// Checker is a dependency /readyz checks.
type Checker interface {
	Ready(ctx context.Context) error
}

// Runner runs loads: a *run.Runner.
type Runner interface {
	// Run runs the request and returns the outcome of every log type it
	// started; its error wraps the fault kinds of the failures.
	Run(ctx context.Context, req run.Request) ([]ledger.Run, error)
}

// History reads the run history: a *ledger.Ledger.
type History interface {
	// Runs returns the most recent runs, newest first, at most limit, of
	// one log type or of all when logType is empty.
	Runs(ctx context.Context, logType string, limit int) ([]ledger.Run, error)
	// GetRun returns one run, or an error wrapping fault.ErrNotFound.
	GetRun(ctx context.Context, id int64) (ledger.Run, error)
}

// Deps are what the server serves from.
type Deps struct {
	Runner  Runner
	History History
	Auth    *auth.Authenticator
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Ready are checked by /readyz, by name (postgres, bigquery, storage).
	Ready map[string]Checker
	// Page, when set, is served at / (see pageRoutes).
	Page Page
	// MaxBackfill bounds the range of a backfill (run.CheckRange); 0 means
	// run.DefaultMaxBackfill.
	MaxBackfill time.Duration
}

// New returns the HTTP handler:
//
//	POST /run       run now over the lookback window (optional log_type)
//	POST /backfill  run over a range of hour folders (from, to, optional log_type)
//	GET  /runs      recent run history (optional log_type, limit)
//	GET  /runs/{id} one run
//	GET  /healthz   the process is up
//	GET  /readyz    Postgres, BigQuery and Cloud Storage are reachable
//	GET  /metrics   Prometheus metrics
//	GET  /          the status page, when Deps.Page is set (and POST /login)
//
// /run, /backfill and /runs require authentication; the status page
// accepts the same credentials or its session cookie.
func New(d Deps) http.Handler {
	if d.MaxBackfill == 0 {
		d.MaxBackfill = run.DefaultMaxBackfill
	}
	s := &server{d: d}
	mux := http.NewServeMux()
	mux.Handle("POST /run", s.route("/run", s.authed(s.run)))
	mux.Handle("POST /backfill", s.route("/backfill", s.authed(s.backfill)))
	mux.Handle("GET /runs", s.route("/runs", s.authed(s.runs)))
	mux.Handle("GET /runs/{id}", s.route("/runs/{id}", s.authed(s.getRun)))
	mux.Handle("GET /healthz", s.route("/healthz", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	}))
	mux.Handle("GET /readyz", s.route("/readyz", s.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	if d.Page != nil {
		s.pageRoutes(mux)
	}
	return mux
}

type server struct{ d Deps }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route turns a handler's error into its status and a JSON body, logs it
// and counts the request.
func (s *server) route(name string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if err := h(rec, r); err != nil {
			code := Status(err)
			level := slog.LevelWarn
			if code >= 500 {
				level = slog.LevelError
			}
			s.d.Log.Log(r.Context(), level, "request failed", "route", name, "status", code, "error", err)
			if !rec.wrote {
				writeJSON(rec, code, errorBody{Error: err.Error()})
			}
		}
		s.d.Metrics.Requests.WithLabelValues(name, strconv.Itoa(rec.code)).Inc()
	})
}

// Status maps an error to its HTTP status: the one place that does.
func Status(err error) int {
	if errors.As(err, new(*http.MaxBytesError)) {
		return http.StatusRequestEntityTooLarge
	}
	switch fault.Kind(err) {
	case fault.ErrUnauthenticated:
		return http.StatusUnauthorized
	case fault.ErrForbidden:
		return http.StatusForbidden
	case fault.ErrInvalid:
		return http.StatusBadRequest
	case fault.ErrNotFound:
		return http.StatusNotFound
	case fault.ErrBusy:
		return http.StatusConflict
	case fault.ErrUnavailable:
		return http.StatusServiceUnavailable
	case fault.ErrBadObject:
		return http.StatusUnprocessableEntity
	case fault.ErrMisconfigured:
		// The deployment must change; the error says what to check.
		return http.StatusInternalServerError
	}
	return http.StatusInternalServerError
}

func (s *server) authed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.d.Auth.Check(r)
		if err != nil {
			return err
		}
		s.d.Log.Debug("caller authenticated", "method", c.Method, "email", c.Email)
		return h(w, r)
	}
}

type errorBody struct {
	Error string       `json:"error"`
	Runs  []ledger.Run `json:"runs,omitempty"`
}

// decode reads the parameters of /run and /backfill (parseRunBody).
func decode(w http.ResponseWriter, r *http.Request) (runBody, error) {
	body, err := readBody(w, r)
	if err != nil {
		return runBody{}, err
	}
	return parseRunBody(body, r.URL.Query())
}

func (s *server) run(w http.ResponseWriter, r *http.Request) error {
	b, err := decode(w, r)
	if err != nil {
		return err
	}
	if b.From != "" || b.To != "" {
		return fmt.Errorf("%w: /run loads the lookback window; use /backfill for a range", fault.ErrInvalid)
	}
	return s.execute(w, r, run.Request{LogType: b.LogType, Trigger: run.TriggerSchedule})
}

func (s *server) backfill(w http.ResponseWriter, r *http.Request) error {
	b, err := decode(w, r)
	if err != nil {
		return err
	}
	from, to, err := parseRange(b.From, b.To)
	if err != nil {
		return err
	}
	if err := run.CheckRange(from, to, s.d.MaxBackfill); err != nil {
		return err
	}
	return s.execute(w, r, run.Request{LogType: b.LogType, Trigger: run.TriggerBackfill, From: from, To: to})
}

func (s *server) execute(w http.ResponseWriter, r *http.Request, req run.Request) error {
	outs, err := s.d.Runner.Run(r.Context(), req)
	if err != nil {
		code := Status(err)
		level := slog.LevelWarn
		if code >= 500 {
			level = slog.LevelError
		}
		s.d.Log.Log(r.Context(), level, "run request failed", "status", code, "trigger", req.Trigger, "error", err)
		writeJSON(w, code, errorBody{Error: err.Error(), Runs: outs})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": outs})
	return nil
}

// maxRuns bounds /runs?limit=.
const maxRuns = 1000

func (s *server) runs(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRuns {
			return fmt.Errorf("%w: limit %q: want 1 to %d", fault.ErrInvalid, v, maxRuns)
		}
		limit = n
	}
	runs, err := s.d.History.Runs(r.Context(), r.URL.Query().Get("log_type"), limit)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []ledger.Run{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: run id %q is not a number", fault.ErrInvalid, r.PathValue("id"))
	}
	rec, err := s.d.History.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// readyTimeout bounds each readiness check.
const readyTimeout = 5 * time.Second

func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	failed := map[string]string{}
	for name, c := range s.d.Ready {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		if err := c.Ready(ctx); err != nil {
			failed[name] = err.Error()
		}
		cancel()
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// statusRecorder remembers the status written, for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code, r.wrote = code, true
	r.ResponseWriter.WriteHeader(code)
}
