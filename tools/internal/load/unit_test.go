package load

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestOperations(t *testing.T) {
	tests := []struct {
		classify     func(*http.Request) string
		method, path string
		header       string
		want         string
	}{
		{gcs, "POST", "/upload/storage/v1/b/bk/o?uploadType=multipart&name=x", "", gcsInsert},
		{gcs, "GET", "/storage/v1/b/bk/o?prefix=load%2F", "", gcsList},
		{gcs, "GET", "/storage/v1/b/bk/o/load%2Fx.parquet", "", gcsGet},
		{gcs, "GET", "/storage/v1/b/bk/o/load%2Fx.parquet?alt=media", "", gcsRead},
		{gcs, "GET", "/download/storage/v1/b/bk/o/x?alt=media", "", gcsRead},
		{gcs, "GET", "/bk/load/x.parquet", "", gcsRead},
		{gcs, "DELETE", "/storage/v1/b/bk/o/x", "", "DELETE other"},
		{bq, "POST", "/bigquery/v2/projects/p/datasets/d/tables", "", bqTableInsert},
		{bq, "POST", "/bigquery/v2/projects/p/jobs", "", bqJobInsert},
		{bq, "GET", "/bigquery/v2/projects/p/queries/job1", "", bqResults},
		{bq, "GET", "/bigquery/v2/projects/p/jobs/job1", "", "jobs.get"},
		{sqsOp, "POST", "/", "AmazonSQS.ReceiveMessage", "ReceiveMessage"},
		{sqsOp, "POST", "/", "", "POST other"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.header != "" {
			r.Header.Set("X-Amz-Target", tc.header)
		}
		if got := tc.classify(r); got != tc.want {
			t.Errorf("%s %s (%s) = %q, want %q", tc.method, tc.path, tc.header, got, tc.want)
		}
	}
}

// Short names for the classifiers in the table.
var (
	gcs   = gcsOperation
	bq    = bigqueryOperation
	sqsOp = sqsOperation
)

func TestOreLogFigures(t *testing.T) {
	var l oreLog
	log := `{"severity":"INFO","message":"ore starting"}
{"severity":"INFO","message":"batch handled","batch_size":100,"rows":100,"files_written":2,"bytes":5000,"duration_ms":15}
not json
{"severity":"INFO","message":"batch handled","batch_size":300,"rows":300,"files_written":2,"bytes":15000,"duration_ms":35}
{"severity":"INFO","message":"poller stopped","received":400,"receive_retries":0}
`
	// Written in pieces that cut lines, as a pipe delivers them.
	for len(log) > 0 {
		n := min(17, len(log))
		if _, err := l.Write([]byte(log[:n])); err != nil {
			t.Fatal(err)
		}
		log = log[n:]
	}
	got := l.figures()
	// Two points: 15 ms at 100, 35 ms at 300 → 5 ms + 0.1 ms/event.
	want := OreFigures{Batches: 2, Rows: 400, Files: 4, Bytes: 20000, BusyMs: 50, FixedMs: 5, MsPerEvent: 0.1,
		Stopped: map[string]any{"severity": "INFO", "message": "poller stopped", "received": 400.0, "receive_retries": 0.0}}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 0)); diff != "" {
		t.Errorf("figures (-want +got):\n%s", diff)
	}
}

func TestSummarise(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 … 1, unsorted
	}
	got := summarise("s", xs)
	want := Latency{Stage: "s", Events: 100, P50: 51, P95: 96, Max: 100}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarise (-want +got):\n%s", diff)
	}
	if got := summarise("empty", nil); got != (Latency{Stage: "empty"}) {
		t.Errorf("summarise(nil) = %+v", got)
	}
}

func TestChunkFiles(t *testing.T) {
	tests := []struct {
		cfg  Config
		want int
	}{
		{Config{Rate: 500, Window: 5 * time.Second}, 16},  // 2,500 rows a batch
		{Config{Rate: 2000, Window: 5 * time.Second}, 4},  // 10,000
		{Config{Rate: 40, Window: time.Second}, 100},      // capped at Masora's default
		{Config{Rate: 50000, Window: 5 * time.Second}, 1}, // never 0
		{Config{Rate: 2000, Window: 5 * time.Second, ChunkFiles: 7}, 7},
	}
	for _, tc := range tests {
		if got := tc.cfg.chunkFiles(); got != tc.want {
			t.Errorf("%+v: chunkFiles() = %d, want %d", tc.cfg, got, tc.want)
		}
	}
}

func TestQueueVisibility(t *testing.T) {
	tests := []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{Window: 5 * time.Second}, 30 * time.Second},
		{Config{Window: 30 * time.Second}, 70 * time.Second},
		{Config{Window: 30 * time.Second, Visibility: 45 * time.Second}, 45 * time.Second},
	}
	for _, tc := range tests {
		if got := tc.cfg.QueueVisibility(); got != tc.want {
			t.Errorf("%+v: QueueVisibility() = %s, want %s", tc.cfg, got, tc.want)
		}
	}
}

func TestSchemaURL(t *testing.T) {
	got, err := SchemaURL("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "load_x")
	if err != nil || !strings.Contains(got, "search_path=load_x") || !strings.Contains(got, "sslmode=disable") {
		t.Errorf("SchemaURL = %q, %v", got, err)
	}
	if _, err := SchemaURL("host=127.0.0.1 user=postgres", "s"); err == nil {
		t.Error("SchemaURL of a keyword/value string: want an error")
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := ConfigVars(&c).Load(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	want := Config{Rate: 500, Duration: time.Minute, Window: 5 * time.Second, Cadence: 30 * time.Second, Settle: 5 * time.Minute,
		FloorMessages: 20000, FloorRounds: 2}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	bad := map[string]string{"LOAD_RATE": "0", "LOAD_CADENCE": "10ms"}
	if err := ConfigVars(&c).Load(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), "LOAD_RATE") || !strings.Contains(err.Error(), "LOAD_CADENCE") {
		t.Errorf("bad values: %v, want errors naming LOAD_RATE and LOAD_CADENCE", err)
	}
}
