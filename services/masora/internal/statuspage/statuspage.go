// Package statuspage is Masora's HTML status page for the people who run
// the pipeline: per log type the freshness of the loaded data, the last runs,
// the rows loaded per hour and the quarantined messages per hour as inline
// SVG charts, the top quarantine reasons, and the dead-letter queue's depth.
// It reads Postgres (the run history, the manifest and the quarantine
// tables) and renders the page with html/template: no JavaScript at all.
// Authentication is the server's; this package only renders the page and
// its login form.
package statuspage

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed templates/*.html
var templates embed.FS

var pageTemplates = template.Must(template.ParseFS(templates, "templates/*.html"))

// Defaults of Options.
const (
	DefaultHours      = 48
	DefaultRuns       = 10
	DefaultTopReasons = 5
	DefaultStaleAfter = 2 * time.Hour
	DefaultRefresh    = time.Minute
	// DefaultDLQTimeout bounds reading the DLQ's depth, so that a queue
	// that does not answer delays the page by at most this much.
	DefaultDLQTimeout = 3 * time.Second
)

// DepthReader reads the number of messages in the dead-letter queue: a
// *dlq.Queue.
type DepthReader interface {
	Depth(ctx context.Context) (int64, error)
}

// DLQ is the dead-letter queue's depth as the page shows it.
type DLQ struct {
	// Known is false when the depth could not be read; Reason says why.
	Known  bool
	Depth  int64
	Reason string
}

// Options configure a Page. Pool and Log are required.
type Options struct {
	// Pool is the reporting Postgres.
	Pool *pgxpool.Pool
	// LogTypes are the defined log types, in the order shown.
	LogTypes []string
	// DLQ reads the dead-letter queue's depth; nil shows it as unknown with
	// DLQUnsetReason.
	DLQ DepthReader
	// DLQUnsetReason says why DLQ is nil.
	DLQUnsetReason string
	// Log receives the errors of reading and rendering.
	Log *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Hours is how many hours the charts cover (DefaultHours).
	Hours int
	// Runs is how many recent runs are listed per log type (DefaultRuns).
	Runs int
	// TopReasons is how many quarantine reasons are listed per log type
	// (DefaultTopReasons).
	TopReasons int
	// StaleAfter marks a log type's freshness stale when its newest loaded
	// hour began longer ago (DefaultStaleAfter: two hourly schedules).
	StaleAfter time.Duration
	// Refresh is how often the browser reloads the page (DefaultRefresh).
	Refresh time.Duration
	// DLQTimeout bounds reading the DLQ's depth (DefaultDLQTimeout).
	DLQTimeout time.Duration
}

// Page serves the status page.
type Page struct{ o Options }

// New returns the page.
func New(o Options) *Page {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Hours = positiveOr(o.Hours, DefaultHours)
	o.Runs = positiveOr(o.Runs, DefaultRuns)
	o.TopReasons = positiveOr(o.TopReasons, DefaultTopReasons)
	o.StaleAfter = positiveOr(o.StaleAfter, DefaultStaleAfter)
	o.Refresh = positiveOr(o.Refresh, DefaultRefresh)
	o.DLQTimeout = positiveOr(o.DLQTimeout, DefaultDLQTimeout)
	return &Page{o: o}
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Read reads everything the page shows, the DLQ's depth included (never an
// error: an unreadable depth is shown as unknown with the reason).
func (p *Page) Read(ctx context.Context) (*Status, error) {
	s, err := read(ctx, p.o.Pool, p.o.Now(), readOptions{
		logTypes: p.o.LogTypes, hours: p.o.Hours, runs: p.o.Runs, topReasons: p.o.TopReasons,
	})
	if err != nil {
		return nil, err
	}
	s.DLQ = p.dlq(ctx)
	return s, nil
}

func (p *Page) dlq(ctx context.Context) DLQ {
	if p.o.DLQ == nil {
		return DLQ{Reason: p.o.DLQUnsetReason}
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.DLQTimeout)
	defer cancel()
	n, err := p.o.DLQ.Depth(ctx)
	if err != nil {
		p.o.Log.Warn("status page: DLQ depth unknown", "error", err)
		return DLQ{Reason: err.Error()}
	}
	return DLQ{Known: true, Depth: n}
}

// ServeHTTP renders the page. The caller has authenticated the request. If
// Postgres cannot be read the page still renders, with the error, as 503.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, err := p.Read(r.Context())
	code := http.StatusOK
	var v pageView
	if err != nil {
		p.o.Log.Error("status page: read Postgres", "error", err)
		code = http.StatusServiceUnavailable
		now := p.o.Now().UTC()
		v = newView(&Status{Now: now, DLQ: p.dlq(r.Context())}, p.viewOptions())
		v.Error = err.Error()
	} else {
		v = newView(s, p.viewOptions())
	}
	p.write(w, code, "page.html", v)
}

func (p *Page) viewOptions() viewOptions {
	return viewOptions{staleAfter: p.o.StaleAfter, refresh: p.o.Refresh}
}

// Login is what the login form shows.
type Login struct {
	// Message says why the form is shown: no session yet, or what was
	// wrong with the token.
	Message string
	// CanLogin is false when no shared token is configured: the form then
	// explains how else to authenticate.
	CanLogin bool
}

// LoginForm renders the form that exchanges the shared token for a session
// cookie (POST /login), with status code.
func (p *Page) LoginForm(w http.ResponseWriter, code int, l Login) {
	p.write(w, code, "login.html", l)
}

// write renders a template into a buffer first, so that a template error
// answers a clean 500.
func (p *Page) write(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		p.o.Log.Error("status page: render", "template", name, "error", err)
		http.Error(w, "the status page could not be rendered; see Masora's log", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// SecurityHeaders sets the headers every answer of the page carries (the
// login redirect too): nothing is cached, no other site may frame it, no
// referrer leaves it (the login link carries the token), and the page may
// load nothing but its own inline style.
func SecurityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}
