// Package objstore defines where Ore puts the objects it writes: a store that
// creates an object only if no object of that name exists, which makes Ore's
// writes idempotent. Implementations: gcsstore (Google Cloud Storage, and
// fake-gcs-server locally) and memstore (in memory, for tests and benchmarks).
package objstore

import (
	"context"
	"errors"
)

// Object is what Create writes.
type Object struct {
	ContentType string
	Data        []byte
	// Key says what Data stands for, when two writes of the same thing can
	// differ in bytes: Ore's files carry the time the batch was received, so
	// a redelivered batch gives other bytes under the same name. Two Creates
	// of one name with the same non-empty Key are the same write; so are two
	// with the same bytes.
	Key string
}

// ErrConflict means an object of that name exists with other content: a
// different Key, or, without keys, different bytes. It is never overwritten.
var ErrConflict = errors.New("an object of that name exists with other content")

// Store creates immutable objects.
type Store interface {
	// Create writes an object called name unless an object of that name
	// already exists. It reports whether it created the object. Finding the
	// same object already there (the same non-empty Key, or the same bytes)
	// is not an error; finding other content there is an error wrapping
	// ErrConflict, and the existing object is kept.
	Create(ctx context.Context, name string, obj Object) (created bool, err error)
}
