package gcsstore_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/objstoretest"
)

// TestConformance runs the store suite against fake-gcs-server.
func TestConformance(t *testing.T) {
	runConformance(t, proxyOptions{})
}

// TestConformanceForbiddenForExisting runs the suite with every 412 answer
// turned into a 403, which real GCS may answer to a caller with only
// roles/storage.objectCreator: repeated writes are still "already there",
// and other content is still a conflict.
func TestConformanceForbiddenForExisting(t *testing.T) {
	runConformance(t, proxyOptions{forbidExisting: true})
}

func runConformance(t *testing.T, p proxyOptions) {
	env := stacktest.Load(t)
	direct := stacktest.StorageClient(t, env)
	client := direct
	if p != (proxyOptions{}) {
		client = proxyClient(t, env.StorageEmulatorHost, p)
	}
	buckets := map[objstore.Store]string{}
	objstoretest.Run(t, objstoretest.Harness{
		New: func(t *testing.T) objstore.Store {
			bucket := stacktest.NewBucket(t, env)
			s := gcsstore.New(client, bucket)
			buckets[s] = bucket
			return s
		},
		Read: func(t *testing.T, s objstore.Store, name string) (string, []byte, bool) {
			obj := direct.Bucket(buckets[s]).Object(name)
			attrs, err := obj.Attrs(t.Context())
			if errors.Is(err, storage.ErrObjectNotExist) {
				return "", nil, false
			}
			if err != nil {
				t.Fatalf("attrs of %s: %v", name, err)
			}
			r, err := obj.NewReader(t.Context())
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			defer r.Close()
			data, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			return attrs.ContentType, data, true
		},
	})
}

// proxyOptions says what the proxy in front of fake-gcs-server changes.
type proxyOptions struct {
	forbidExisting bool // a 412 answer becomes a 403
	forbidReads    bool // object metadata and media reads get a 403
	forbidUploads  bool // every upload gets a 403
}

// forbidden is the shape of GCS's 403 answer.
const forbidden = `{"error":{"code":403,"message":"ore@p.iam.gserviceaccount.com does not have storage.objects.delete access to the Google Cloud Storage object. Permission 'storage.objects.delete' denied on resource (or it may not exist).","errors":[{"message":"denied","domain":"global","reason":"forbidden"}]}}`

// proxyClient returns a storage client that talks to fake-gcs-server through
// a reverse proxy changing its answers as p says.
func proxyClient(t *testing.T, target string, p proxyOptions) *storage.Client {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if p.forbidExisting && resp.StatusCode == http.StatusPreconditionFailed {
			resp.Body.Close()
			resp.StatusCode = http.StatusForbidden
			resp.Status = "403 Forbidden"
			resp.Body = io.NopCloser(strings.NewReader(forbidden))
			resp.ContentLength = int64(len(forbidden))
			resp.Header.Set("Content-Length", fmt.Sprint(len(forbidden)))
			resp.Header.Set("Content-Type", "application/json; charset=UTF-8")
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := strings.HasPrefix(r.URL.Path, "/upload/")
		read := r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/o/") || strings.HasPrefix(r.URL.Path, "/download/"))
		if (p.forbidUploads && upload) || (p.forbidReads && read) {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, forbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.URL+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// TestPermissionErrors checks what Create says when it cannot tell whether
// the object is already there: each case fails with the 403 wrapped and the
// permission to grant named, never with created=true or a conflict.
func TestPermissionErrors(t *testing.T) {
	env := stacktest.Load(t)
	direct := stacktest.StorageClient(t, env)
	obj := objstore.Object{ContentType: "text/plain", Data: []byte("data"), Key: "k"}
	for _, tc := range []struct {
		name      string
		p         proxyOptions
		exists    bool
		wantErr   string // "" means already there
		wantNoErr bool
	}{
		{name: "403ExistingReadsDenied", p: proxyOptions{forbidExisting: true, forbidReads: true}, exists: true, wantErr: "storage.objects.get"},
		{name: "403NotExisting", p: proxyOptions{forbidUploads: true}, wantErr: "storage.objects.create"},
		{name: "403NotExistingReadsDenied", p: proxyOptions{forbidUploads: true, forbidReads: true}, wantErr: "storage.objects.get"},
		// A 412 proves the object is there, even when it cannot be compared.
		{name: "412ReadsDenied", p: proxyOptions{forbidReads: true}, exists: true, wantNoErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := stacktest.NewBucket(t, env)
			if tc.exists {
				if _, err := gcsstore.New(direct, bucket).Create(t.Context(), "logs/n", obj); err != nil {
					t.Fatal(err)
				}
			}
			created, err := gcsstore.New(proxyClient(t, env.StorageEmulatorHost, tc.p), bucket).Create(t.Context(), "logs/n", obj)
			if created {
				t.Fatal("Create reported created")
			}
			if tc.wantNoErr {
				if err != nil {
					t.Fatalf("Create after a 412: %v, want already there", err)
				}
				return
			}
			var gerr *googleapi.Error
			if err == nil || !errors.As(err, &gerr) || gerr.Code != http.StatusForbidden {
				t.Fatalf("Create = %v, want an error wrapping the 403", err)
			}
			if errors.Is(err, objstore.ErrConflict) {
				t.Errorf("Create = %v, want no conflict: nothing was compared", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Create = %v, want it to name %s", err, tc.wantErr)
			}
			_, aerr := direct.Bucket(bucket).Object("logs/n").Attrs(t.Context())
			if gotExists := aerr == nil; gotExists != tc.exists {
				t.Errorf("object exists = %v after Create, want %v (%v)", gotExists, tc.exists, aerr)
			}
		})
	}
}
