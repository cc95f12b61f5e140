// Package objstore defines where Ore puts the objects it writes: a store that
// creates an object only if no object of that name exists, which makes Ore's
// writes idempotent. Implementations: gcsstore (Google Cloud Storage, and
// fake-gcs-server locally) and memstore (in memory, for tests and benchmarks).
package objstore

import "context"

// Store creates immutable objects.
type Store interface {
	// Create writes an object called name with the given content type and
	// data unless an object of that name already exists. It reports whether
	// it created the object; finding it already there is not an error.
	Create(ctx context.Context, name, contentType string, data []byte) (created bool, err error)
}
