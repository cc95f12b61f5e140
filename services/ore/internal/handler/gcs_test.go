package handler_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
)

// failingProxy forwards to fake-gcs-server but answers 503 to every upload
// of an object whose name starts with failPrefix, counting them.
func failingProxy(t *testing.T, target, failPrefix string, failed *atomic.Int64) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/upload/") && strings.HasPrefix(r.URL.Query().Get("name"), failPrefix) {
			failed.Add(1)
			http.Error(w, `{"error":{"code":503,"message":"injected outage"}}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func gcsHandler(t *testing.T, client *storage.Client, bucket string) *handler.Handler {
	t.Helper()
	h, err := handler.New(handler.Options{
		Registry: schema.MustLoad(),
		// Uploads retry until the upload deadline: keep both short.
		Store:         gcsstore.New(client, bucket, storage.WithBackoff(gax.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})),
		Prefix:        prefix,
		WriterVersion: "test",
		UploadTimeout: time.Second,
		Now:           func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGCSFilesAndRetries runs the handler against fake-gcs-server: the
// files land at the layout's paths and read back with Arrow's reader, an
// identical retried batch adds nothing, and a GCS outage for one log type
// fails only that log type's messages.
func TestGCSFilesAndRetries(t *testing.T) {
	env := stacktest.Load(t)
	bucket := stacktest.NewBucket(t, env)
	var failed atomic.Int64
	proxy := failingProxy(t, env.StorageEmulatorHost, layout.LogTypePrefix(prefix, "seller_action"), &failed)
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(proxy+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h := gcsHandler(t, client, bucket)

	at := now.Add(-time.Minute)
	var recs []events.SQSMessage
	var wantUA, wantSA []string
	for i := range 200 {
		id := fmt.Sprintf("m-%03d", i)
		if i%5 == 0 {
			recs = append(recs, m(id, "seller_action", sa(i, at)))
			wantSA = append(wantSA, id)
		} else {
			recs = append(recs, m(id, "user_action", ua(i, at)))
			wantUA = append(wantUA, id)
		}
	}
	recs = append(recs, m("bad", "user_action", `{"event_id":1}`))
	batch := events.SQSEvent{Records: recs}

	var first map[string][]byte
	for delivery := 1; delivery <= 2; delivery++ {
		resp, err := h.Handle(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		var gotFailed []string
		for _, f := range resp.BatchItemFailures {
			gotFailed = append(gotFailed, f.ItemIdentifier)
		}
		if diff := cmp.Diff(wantSA, gotFailed); diff != "" {
			t.Errorf("delivery %d: batch item failures (-want +got):\n%s", delivery, diff)
		}
		objs := handlertest.ReadBucket(t, stacktest.StorageClient(t, env), bucket)
		if delivery == 1 {
			first = objs
		} else if diff := cmp.Diff(first, objs); diff != "" {
			t.Errorf("the retried batch changed the bucket (-want +got):\n%s", diff)
		}
	}
	if n := failed.Load(); n < 2*2 {
		t.Errorf("%d failed upload attempts of seller_action in two deliveries, want the upload retried within each", n)
	}

	uaPath := dataPath("user_action", wantUA...)
	if !strings.HasPrefix(uaPath, "logs/user_action/dt=2026-11-26/hour=10/") {
		t.Fatalf("unexpected path %s", uaPath)
	}
	want := []string{quarantinePath("bad"), uaPath}
	var got []string
	for p := range first {
		got = append(got, p)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("objects (-want +got):\n%s", diff)
	}
	lt, _ := schema.MustLoad().Latest("user_action")
	types := parquetrowtest.ColumnTypes(t, first[uaPath])
	const micros = "INT64 Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"
	for col, want := range map[string]string{"occurred_at": "required " + micros, "received_at": "required " + micros,
		"quantity": "optional INT64 Int(bitWidth=64, isSigned=true)", "event_id": "required BYTE_ARRAY String", "app_version": "optional BYTE_ARRAY String"} {
		if types[col] != want {
			t.Errorf("column %s is %q, want %q", col, types[col], want)
		}
	}
	rows := parquetrowtest.Read(t, first[uaPath], lt)
	if len(rows) != len(wantUA) {
		t.Fatalf("%d rows, want %d", len(rows), len(wantUA))
	}
	if diff := cmp.Diff(wantRow(t, lt, handlertest.Event("user_action", 1, at), wantUA[0]), rows[0]); diff != "" {
		t.Errorf("row 0 (-want +got):\n%s", diff)
	}
}
