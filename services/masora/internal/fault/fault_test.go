package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

func TestKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"unknown", errors.New("bug"), nil},
		{"wrapped", fmt.Errorf("lock: %w", fault.ErrBusy), fault.ErrBusy},
		{"deadline is unavailable", fmt.Errorf("read: %w", context.DeadlineExceeded), fault.ErrUnavailable},
		{"unavailable before bad object", errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrUnavailable)), fault.ErrUnavailable},
		{"busy before unavailable", errors.Join(fault.ErrUnavailable, fault.ErrBusy), fault.ErrBusy},
		{"invalid before busy", errors.Join(fault.ErrBusy, fault.ErrInvalid), fault.ErrInvalid},
		{"misconfigured before busy and unavailable", errors.Join(fault.ErrUnavailable, fault.ErrBusy, fmt.Errorf("create table: %w", fault.ErrMisconfigured)), fault.ErrMisconfigured},
		{"named objects are bad objects", &fault.BadObjectsError{URIs: []string{"gs://b/o"}, Err: fmt.Errorf("query: %w", fault.ErrBadObject)}, fault.ErrBadObject},
		{"unauthenticated first", errors.Join(fault.ErrInvalid, fault.ErrUnauthenticated), fault.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fault.Kind(tt.err); got != tt.want {
				t.Errorf("Kind(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
