package faultproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ore-masora/pipeline/tools/internal/chaos/faultproxy"
)

func TestProxy(t *testing.T) {
	var hits []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("X-Target", "yes")
		io.WriteString(w, "from target")
	}))
	defer target.Close()
	p, err := faultproxy.New(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	get := func(method, path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL+path, strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("X-Target")
	}

	if code, body, _ := get("GET", "/a"); code != 200 || body != "from target" {
		t.Errorf("no rule: %d %q, want the target's answer", code, body)
	}
	var uploads []string
	p.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		name, ok := faultproxy.IsGCSUpload(r)
		if !ok {
			http.Error(w, "refused", http.StatusServiceUnavailable)
			return
		}
		uploads = append(uploads, name)
		rec := faultproxy.Record(r, forward)
		faultproxy.Send(w, rec)
	})
	if code, _, _ := get("GET", "/b"); code != http.StatusServiceUnavailable {
		t.Errorf("rule refusing: %d, want 503", code)
	}
	code, body, header := get("POST", "/upload/storage/v1/b/bk/o?uploadType=multipart&name=logs%2Fx.parquet")
	if code != 200 || body != "from target" || header != "yes" {
		t.Errorf("recorded and sent: %d %q header %q, want the target's answer", code, body, header)
	}
	if len(uploads) != 1 || uploads[0] != "logs/x.parquet" {
		t.Errorf("uploads seen %v, want [logs/x.parquet]", uploads)
	}
	p.Set(nil)
	get("GET", "/c")
	want := []string{"GET /a", "POST /upload/storage/v1/b/bk/o?uploadType=multipart&name=logs%2Fx.parquet", "GET /c"}
	if strings.Join(hits, ",") != strings.Join(want, ",") {
		t.Errorf("target saw %v, want %v", hits, want)
	}
}
