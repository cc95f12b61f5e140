package server_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
)

// zeros is an endless stream of '0'.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestLimits sends requests over a real TCP connection to the http.Server
// `masora serve` runs: oversized bodies and headers get their own status
// (not a dropped connection), and conflicting parameters are refused.
func TestLimits(t *testing.T) {
	a, err := auth.New(t.Context(), auth.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	runner := &fakeRunner{}
	srv := server.HTTPServer("", server.New(server.Deps{Runner: runner, History: &fakeHistory{}, Auth: a, Metrics: metrics.New(), Log: masoratest.Logger(t)}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	tests := []struct {
		name     string
		target   string
		body     io.Reader
		size     int64 // of body
		header   int   // bytes of an extra header
		wantCode int
		wantBody string // in the answer
		wantRun  bool
	}{
		{name: "a 60 MB body", target: "/run", body: zeros{}, size: 60 << 20, wantCode: http.StatusRequestEntityTooLarge, wantBody: "at most 65536 bytes"},
		{name: "a body just over the limit", target: "/run", body: zeros{}, size: server.MaxBodyBytes + 1, wantCode: http.StatusRequestEntityTooLarge},
		{name: "a 2 MB header", target: "/run", header: 2 << 20, wantCode: http.StatusRequestHeaderFieldsTooLarge},
		{name: "a header just over the limit", target: "/run", header: server.MaxHeaderBytes + 4096, wantCode: http.StatusRequestHeaderFieldsTooLarge},
		{name: "a large header within the limit", target: "/run", header: server.MaxHeaderBytes / 2, wantCode: http.StatusOK, wantRun: true},
		{name: "body and query name different log types", target: "/run?log_type=user_action", body: strings.NewReader(`{"log_type":"seller_action"}`),
			size: -1, wantCode: http.StatusBadRequest, wantBody: "in the body but"},
		{name: "a backfill of 1,000 years", target: "/backfill?from=1024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z",
			wantCode: http.StatusBadRequest, wantBody: "before 2000-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner.got = nil
			body := tt.body
			if body != nil && tt.size >= 0 {
				body = io.LimitReader(body, tt.size)
			}
			req, err := http.NewRequestWithContext(t.Context(), "POST", base+tt.target, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.size > 0 {
				req.ContentLength = tt.size
			}
			req.Header.Set("Authorization", "Bearer "+token)
			if tt.header > 0 {
				req.Header.Set("X-Padding", strings.Repeat("p", tt.header))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v, want an answer %d", tt.target, err, tt.wantCode)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || !bytes.Contains(got, []byte(tt.wantBody)) {
				t.Errorf("POST %s = %d %s, want %d mentioning %q", tt.target, resp.StatusCode, got, tt.wantCode, tt.wantBody)
			}
			var want []run.Request
			if tt.wantRun {
				want = []run.Request{{Trigger: run.TriggerSchedule}}
			}
			if diff := cmp.Diff(want, runner.got); diff != "" {
				t.Errorf("runner requests (-want +got):\n%s", diff)
			}
		})
	}
}
