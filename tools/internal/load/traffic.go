package load

import (
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ore-masora/pipeline/tools/internal/chaos/faultproxy"
)

// OpStats count the requests of one kind that went through a proxy.
type OpStats struct {
	Requests int64 `json:"requests"`
	// BytesIn is what the clients sent, BytesOut what the emulator answered.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// Seconds is the sum of the requests' durations: for an emulator that
	// serves one request at a time (BigQuery), its busy time.
	Seconds float64 `json:"seconds"`
}

// traffic counts what goes through a counting proxy, by operation.
type traffic struct {
	classify func(*http.Request) string
	mu       sync.Mutex
	ops      map[string]*OpStats
}

// countingProxy starts a faultproxy to target whose rule forwards every
// request and counts it under the operation classify names.
func countingProxy(target string, classify func(*http.Request) string) (*faultproxy.Proxy, *traffic, error) {
	p, err := faultproxy.New(target)
	if err != nil {
		return nil, nil, err
	}
	t := &traffic{classify: classify, ops: map[string]*OpStats{}}
	p.Set(t.rule)
	return p, t, nil
}

func (t *traffic) rule(w http.ResponseWriter, r *http.Request, forward http.Handler) {
	op := t.classify(r)
	body := &countingReader{r: r.Body}
	if r.Body != nil {
		r.Body = body
	}
	cw := &countingWriter{ResponseWriter: w}
	start := time.Now()
	forward.ServeHTTP(cw, r)
	d := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.ops[op]
	if s == nil {
		s = &OpStats{}
		t.ops[op] = s
	}
	s.Requests++
	s.BytesIn += body.n
	s.BytesOut += cw.n
	s.Seconds += d.Seconds()
}

// Snapshot returns the counts so far.
func (t *traffic) Snapshot() map[string]OpStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]OpStats, len(t.ops))
	for k, v := range maps.All(t.ops) {
		out[k] = *v
	}
	return out
}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Flush passes on flushes (streamed answers).
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// sqsOperation names an SQS JSON-protocol request by its action
// (X-Amz-Target: AmazonSQS.ReceiveMessage → ReceiveMessage).
func sqsOperation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		_, op, _ := strings.Cut(t, ".")
		return op
	}
	return r.Method + " other"
}

// GCS operations, by price class.
const (
	gcsInsert = "insert (class A)"
	gcsList   = "list (class A)"
	gcsRead   = "read (class B)"
	gcsGet    = "metadata (class B)"
)

// gcsOperation names a GCS JSON or XML API request by what it costs.
func gcsOperation(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/upload/"):
		return gcsInsert
	case r.Method != http.MethodGet:
		return r.Method + " other"
	case strings.HasPrefix(p, "/storage/v1/b/") && strings.HasSuffix(p, "/o"):
		return gcsList
	case strings.HasPrefix(p, "/download/") || r.URL.Query().Get("alt") == "media":
		return gcsRead
	case strings.HasPrefix(p, "/storage/v1/b/"):
		return gcsGet
	default: // XML API object read: GET /<bucket>/<object>
		return gcsRead
	}
}

// BigQuery operations Masora makes.
const (
	bqTableInsert = "tables.insert"
	bqJobInsert   = "jobs.insert"
	bqResults     = "jobs.getQueryResults"
)

// bigqueryOperation names a BigQuery REST request.
func bigqueryOperation(r *http.Request) string {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/tables"):
		return bqTableInsert
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/jobs"):
		return bqJobInsert
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/queries"):
		return "jobs.query"
	case r.Method == http.MethodGet && strings.Contains(p, "/queries/"):
		return bqResults
	case r.Method == http.MethodGet && strings.Contains(p, "/jobs/"):
		return "jobs.get"
	case r.Method == http.MethodDelete && strings.Contains(p, "/tables/"):
		return "tables.delete"
	}
	return r.Method + " other"
}
