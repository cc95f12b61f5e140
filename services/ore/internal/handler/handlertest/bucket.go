package handlertest

import (
	"errors"
	"io"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// ReadBucket returns every object of a bucket, by name.
func ReadBucket(t testing.TB, client *storage.Client, bucket string) map[string][]byte {
	t.Helper()
	ctx := t.Context()
	out := map[string][]byte{}
	it := client.Bucket(bucket).Objects(ctx, nil)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("handlertest: list gs://%s: %v", bucket, err)
		}
		r, err := client.Bucket(bucket).Object(attrs.Name).NewReader(ctx)
		if err != nil {
			t.Fatalf("handlertest: read gs://%s/%s: %v", bucket, attrs.Name, err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("handlertest: read gs://%s/%s: %v", bucket, attrs.Name, err)
		}
		out[attrs.Name] = data
	}
}
