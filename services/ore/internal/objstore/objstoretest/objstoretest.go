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

func text(data, key string) objstore.Object {
	return objstore.Object{ContentType: "text/plain", Data: []byte(data), Key: key}
}

// Run runs the conformance tests.
func Run(t *testing.T, h Harness) {
	t.Run("CreateThenRead", func(t *testing.T) {
		s := h.New(t)
		obj := objstore.Object{ContentType: "application/vnd.apache.parquet", Data: []byte("one"), Key: "k1"}
		created, err := s.Create(t.Context(), "logs/a/x.parquet", obj)
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
	// A second Create of a name is "already there" when it is the same
	// object, and an ErrConflict otherwise; the first object stays.
	for _, tc := range []struct {
		name          string
		first, second objstore.Object
		conflict      bool
	}{
		{"SameBytesSameKey", text("first", "k"), text("first", "k"), false},
		{"SameBytesNoKey", text("first", ""), text("first", ""), false},
		{"SameBytesOtherKey", text("first", "k"), text("first", "other"), false},
		{"SameKeyOtherBytes", text("first", "k"), text("second", "k"), false}, // a redelivered batch
		{"OtherKeyOtherBytes", text("first", "k"), text("second", "other"), true},
		{"NoKeyOtherBytes", text("first", ""), text("second", ""), true},
		{"KeyOnlyOnSecond", text("first", ""), text("second", "k"), true},
	} {
		t.Run("SecondCreate/"+tc.name, func(t *testing.T) {
			s := h.New(t)
			if created, err := s.Create(t.Context(), "logs/n", tc.first); err != nil || !created {
				t.Fatalf("first Create = %v, %v; want true, nil", created, err)
			}
			created, err := s.Create(t.Context(), "logs/n", tc.second)
			if created {
				t.Error("second Create reported created")
			}
			if tc.conflict && !errors.Is(err, objstore.ErrConflict) {
				t.Errorf("second Create with other content: %v, want an error wrapping objstore.ErrConflict", err)
			}
			if !tc.conflict && err != nil {
				t.Errorf("second Create of the same object: %v, want already there (false, nil)", err)
			}
			if _, data, _ := h.Read(t, s, "logs/n"); string(data) != "first" {
				t.Errorf("after a second Create the object holds %q, want %q", data, "first")
			}
		})
	}
	t.Run("ConcurrentCreatesOneWins", func(t *testing.T) {
		s := h.New(t)
		const n = 8
		var wg sync.WaitGroup
		results := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = s.Create(t.Context(), "logs/race", text(fmt.Sprintf("writer %d", i), "same messages"))
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
		created, err := s.Create(ctx, "logs/c", text("x", "k"))
		if err == nil || created {
			t.Fatalf("Create with a cancelled context = %v, %v; want an error", created, err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create with a cancelled context: %v, want it to wrap context.Canceled", err)
		}
		if _, _, ok := h.Read(t, s, "logs/c"); ok {
			t.Error("Create with a cancelled context stored the object")
		}
	})
}
