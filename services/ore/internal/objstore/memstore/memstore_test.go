package memstore_test

import (
	"testing"

	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/memstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, objstoretest.Harness{
		New: func(*testing.T) objstore.Store { return memstore.New() },
		Read: func(_ *testing.T, s objstore.Store, name string) (string, []byte, bool) {
			o, ok := s.(*memstore.Store).Get(name)
			return o.ContentType, o.Data, ok
		},
	})
}
