package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("check: %w", fault.ErrUnauthenticated), http.StatusUnauthorized},
		{fmt.Errorf("check: %w", fault.ErrForbidden), http.StatusForbidden},
		{fmt.Errorf("plan: %w", fault.ErrInvalid), http.StatusBadRequest},
		{fmt.Errorf("lock: %w", fault.ErrBusy), http.StatusConflict},
		{fmt.Errorf("run 7: %w", fault.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("connect: %w: %w", fault.ErrUnavailable, errors.New("refused")), http.StatusServiceUnavailable},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{fmt.Errorf("load: %w", fault.ErrBadObject), http.StatusUnprocessableEntity},
		{errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrUnavailable)), http.StatusServiceUnavailable},
		{fmt.Errorf("create table: %w", fault.ErrMisconfigured), http.StatusInternalServerError},
		{errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrMisconfigured)), http.StatusInternalServerError},
		{fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge},
		{fmt.Errorf("%w: read body: %w", fault.ErrInvalid, &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge},
		{errors.New("bug"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := server.Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
