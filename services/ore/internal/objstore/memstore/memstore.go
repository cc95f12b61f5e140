// Package memstore is an in-memory objstore.Store for unit tests and
// benchmarks. It is not used by the Ore binary.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
)

// Object is a stored object.
type Object struct {
	ContentType string
	Data        []byte
	Key         string
}

// Store keeps objects in memory. It is safe for concurrent use.
type Store struct {
	// Fail, when set, is called before each Create; an error it returns is
	// returned by Create, and nothing is stored.
	Fail func(name string) error

	mu      sync.Mutex
	objects map[string]Object
}

// New returns an empty store.
func New() *Store { return &Store{objects: map[string]Object{}} }

// Create stores a copy of obj under name unless name exists.
func (s *Store) Create(ctx context.Context, name string, obj objstore.Object) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if s.Fail != nil {
		if err := s.Fail(name); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.objects[name]; ok {
		if (obj.Key != "" && old.Key == obj.Key) || bytes.Equal(old.Data, obj.Data) {
			return false, nil
		}
		return false, fmt.Errorf("create %s: %w (key %q, want %q)", name, objstore.ErrConflict, old.Key, obj.Key)
	}
	s.objects[name] = Object{ContentType: obj.ContentType, Data: slices.Clone(obj.Data), Key: obj.Key}
	return true, nil
}

// Get returns the object called name.
func (s *Store) Get(name string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[name]
	return o, ok
}

// Names returns the names of the stored objects, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.objects))
	for n := range s.objects {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Reset removes every object.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.objects)
}
