package handler_test

import (
	"fmt"
	"io"
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

// TestGCSRedeliveryForbidden delivers a batch twice, a second later, through
// a proxy that turns GCS's 412 for an existing name into the 403 that a
// caller with only roles/storage.objectCreator may get. The second delivery
// makes other bytes (received_at differs) under the same names: both files
// are "already there", nothing fails and the bucket does not change.
func TestGCSRedeliveryForbidden(t *testing.T) {
	env := stacktest.Load(t)
	bucket := stacktest.NewBucket(t, env)
	u, err := url.Parse(env.StorageEmulatorHost)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var forbidden atomic.Int64
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusPreconditionFailed {
			forbidden.Add(1)
			const body = `{"error":{"code":403,"message":"Permission 'storage.objects.delete' denied on resource (or it may not exist).","errors":[{"reason":"forbidden"}]}}`
			resp.Body.Close()
			resp.StatusCode, resp.Status = http.StatusForbidden, "403 Forbidden"
			resp.Body = io.NopCloser(strings.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	defer srv.Close()
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.URL+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	at := now.Add(-time.Minute)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		m("m-1", "user_action", ua(1, at)), m("m-2", "seller_action", sa(2, at)), m("bad", "user_action", `{"event_id":1}`),
	}}
	var first map[string][]byte
	for delivery, received := range []time.Time{now, now.Add(time.Second)} {
		h, err := handler.New(handler.Options{
			Registry:      schema.MustLoad(),
			Store:         gcsstore.New(client, bucket),
			Prefix:        prefix,
			WriterVersion: "test",
			UploadTimeout: 5 * time.Second,
			Now:           func() time.Time { return received },
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Handle(t.Context(), batch)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("delivery %d: Handle = %+v, %v; want no failures", delivery+1, resp, err)
		}
		objs := handlertest.ReadBucket(t, stacktest.StorageClient(t, env), bucket)
		if delivery == 0 {
			first = objs
		} else if diff := cmp.Diff(first, objs); diff != "" {
			t.Errorf("the redelivered batch changed the bucket (-want +got):\n%s", diff)
		}
	}
	if len(first) != 3 {
		t.Errorf("%d objects, want 2 parquet files and 1 quarantine object", len(first))
	}
	if n := forbidden.Load(); n != 3 {
		t.Errorf("%d answers turned into 403, want 3 (every object of the second delivery)", n)
	}
}
