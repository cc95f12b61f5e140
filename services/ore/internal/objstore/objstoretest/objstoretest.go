// Package objstoretest is the conformance suite every objstore.Store
// implementation must pass.
package objstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
)

// Harness gives the suite a fresh, empty store and a way to read it back.
type Harness struct {
	// New returns an empty store for one subtest.
	New func(t *testing.T) objstore.Store
	// Read returns the content type and data of an object, or ok=false if
	// there is none.
	Read func(t *testing.T, s objstore.Store, name string) (contentType string, data []byte, ok bool)
}

// Run runs the conformance tests.
func Run(t *testing.T, h Harness) {
	t.Run("CreateThenRead", func(t *testing.T) {
		s := h.New(t)
		created, err := s.Create(t.Context(), "logs/a/x.parquet", "application/vnd.apache.parquet", []byte("one"))
		if err != nil || !created {
			t.Fatalf("Create = %v, %v; want true, nil", created, err)
		}
		ct, data, ok := h.Read(t, s, "logs/a/x.parquet")
		if diff := cmp.Diff([]any{"application/vnd.apache.parquet", "one", true}, []any{ct, string(data), ok}); diff != "" {
			t.Errorf("read back (-want +got):\n%s", diff)
		}
		if _, _, ok := h.Read(t, s, "logs/a/y.parquet"); ok {
			t.Error("an object that was never created can be read")
		}
	})
	t.Run("SecondCreateKeepsFirst", func(t *testing.T) {
		s := h.New(t)
		if _, err := s.Create(t.Context(), "n", "text/plain", []byte("first")); err != nil {
			t.Fatal(err)
		}
		created, err := s.Create(t.Context(), "n", "text/plain", []byte("second"))
		if err != nil || created {
			t.Fatalf("second Create = %v, %v; want false, nil", created, err)
		}
		if _, data, _ := h.Read(t, s, "n"); string(data) != "first" {
			t.Errorf("after a second Create the object holds %q, want %q", data, "first")
		}
	})
	t.Run("ConcurrentCreatesOneWins", func(t *testing.T) {
		s := h.New(t)
		const n = 8
		var wg sync.WaitGroup
		results := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = s.Create(t.Context(), "race", "text/plain", fmt.Appendf(nil, "writer %d", i))
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("writer %d: %v", i, errs[i])
			}
			if results[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d concurrent Creates of one name reported created, want exactly 1", winners)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := h.New(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		created, err := s.Create(ctx, "c", "text/plain", []byte("x"))
		if err == nil || created {
			t.Fatalf("Create with a cancelled context = %v, %v; want an error", created, err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create with a cancelled context: %v, want it to wrap context.Canceled", err)
		}
		if _, _, ok := h.Read(t, s, "c"); ok {
			t.Error("Create with a cancelled context stored the object")
		}
	})
}
