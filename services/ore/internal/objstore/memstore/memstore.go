// Package memstore is an in-memory objstore.Store for unit tests and
// benchmarks. It is not used by the Ore binary.
package memstore

import (
	"context"
	"slices"
	"sync"
)

// Object is a stored object.
type Object struct {
	ContentType string
	Data        []byte
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

// Create stores a copy of data under name unless name exists.
func (s *Store) Create(ctx context.Context, name, contentType string, data []byte) (bool, error) {
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
	if _, ok := s.objects[name]; ok {
		return false, nil
	}
	s.objects[name] = Object{ContentType: contentType, Data: slices.Clone(data)}
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
