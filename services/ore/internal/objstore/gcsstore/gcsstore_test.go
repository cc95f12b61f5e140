package gcsstore_test

import (
	"errors"
	"io"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/objstoretest"
)

// TestConformance runs the store suite against fake-gcs-server.
func TestConformance(t *testing.T) {
	env := stacktest.Load(t)
	client := stacktest.StorageClient(t, env)
	buckets := map[objstore.Store]string{}
	objstoretest.Run(t, objstoretest.Harness{
		New: func(t *testing.T) objstore.Store {
			bucket := stacktest.NewBucket(t, env)
			s := gcsstore.New(client, bucket)
			buckets[s] = bucket
			return s
		},
		Read: func(t *testing.T, s objstore.Store, name string) (string, []byte, bool) {
			obj := client.Bucket(buckets[s]).Object(name)
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
