// Package faultproxy is an HTTP reverse proxy on 127.0.0.1 that sits
// between a service and an emulator (GCS, BigQuery) and lets a test act at
// precise moments of the traffic: fail a request, hold its answer back,
// or kill a process once a request went through.
package faultproxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Rule handles one request. It may answer it itself, or call forward to
// send it to the target and answer with the target's response (forward
// writes to w). A nil rule forwards everything.
type Rule func(w http.ResponseWriter, r *http.Request, forward http.Handler)

// Proxy forwards to a target and applies the current rule.
type Proxy struct {
	// URL is the proxy's base URL, http://127.0.0.1:PORT.
	URL string

	srv     *httptest.Server
	forward http.Handler
	mu      sync.Mutex
	rule    Rule
}

// New starts a proxy to target (a base URL such as http://127.0.0.1:4443).
// Close stops it.
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not a base URL", target)
	}
	// The target sees its own host in Host, as a direct client would send
	// it: fake-gcs-server tells XML API reads (GET /<bucket>/<object>) by
	// their Host being its public host.
	// A target that is down (the point of some faults) answers 502, quietly.
	p := &Proxy{forward: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		},
	}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Set replaces the rule; nil forwards everything.
func (p *Proxy) Set(r Rule) {
	p.mu.Lock()
	p.rule = r
	p.mu.Unlock()
}

// Close stops the proxy; requests in progress end.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rule := p.rule
	p.mu.Unlock()
	if rule == nil {
		p.forward.ServeHTTP(w, r)
		return
	}
	rule(w, r, p.forward)
}

// IsGCSUpload reports whether r uploads an object to the GCS JSON API, and
// the object's name.
func IsGCSUpload(r *http.Request) (name string, ok bool) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/upload/") {
		return "", false
	}
	return r.URL.Query().Get("name"), true
}

// Recorder holds a forwarded response until the rule decides to send it.
type Recorder = httptest.ResponseRecorder

// Record forwards r and returns the target's response, not yet sent.
func Record(r *http.Request, forward http.Handler) *Recorder {
	rec := httptest.NewRecorder()
	forward.ServeHTTP(rec, r)
	return rec
}

// Send writes a recorded response to w.
func Send(w http.ResponseWriter, rec *Recorder) {
	for k, vs := range rec.Header() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
