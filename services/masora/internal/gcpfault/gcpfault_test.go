package gcpfault_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

func TestClassify(t *testing.T) {
	api := func(code int, reasons ...string) error {
		e := &googleapi.Error{Code: code, Message: http.StatusText(code)}
		for _, r := range reasons {
			e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: r})
		}
		return fmt.Errorf("client: %w", e)
	}
	bq := func(reason string) error { return &bigquery.Error{Reason: reason, Message: reason} }
	tests := []struct {
		name        string
		err         error
		want        error // kind of Classify; nil for none
		wantObjects error // kind of ClassifyObjects; nil for none
	}{
		{"deadline", context.DeadlineExceeded, fault.ErrUnavailable, fault.ErrUnavailable},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, fault.ErrUnavailable, fault.ErrUnavailable},
		{"HTTP 503", api(http.StatusServiceUnavailable), fault.ErrUnavailable, fault.ErrUnavailable},
		{"HTTP 500", api(http.StatusInternalServerError), fault.ErrUnavailable, fault.ErrUnavailable},
		{"HTTP 429", api(http.StatusTooManyRequests), fault.ErrUnavailable, fault.ErrUnavailable},
		{"HTTP 400", api(http.StatusBadRequest, "invalid"), nil, fault.ErrBadObject},
		{"HTTP 404", api(http.StatusNotFound), nil, fault.ErrBadObject},
		{"HTTP 400 invalid query", api(http.StatusBadRequest, "invalidQuery"), nil, nil},
		{"HTTP 403 permission", api(http.StatusForbidden, "accessDenied"), nil, nil},
		{"BigQuery backendError", bq("backendError"), fault.ErrUnavailable, fault.ErrUnavailable},
		{"BigQuery rateLimitExceeded", bq("rateLimitExceeded"), fault.ErrUnavailable, fault.ErrUnavailable},
		{"BigQuery internalError", bq("internalError"), fault.ErrUnavailable, fault.ErrUnavailable},
		{"BigQuery invalid", bq("invalid"), nil, fault.ErrBadObject},
		{"BigQuery notFound", bq("notFound"), nil, fault.ErrBadObject},
		{"BigQuery accessDenied", bq("accessDenied"), nil, nil},
		{"other", errors.New("bug"), nil, nil},
	}
	kinds := []error{fault.ErrUnavailable, fault.ErrBadObject}
	kind := func(err error) error {
		for _, k := range kinds {
			if errors.Is(err, k) {
				return k
			}
		}
		return nil
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gcpfault.Classify("op", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("Classify = %v, does not wrap %v", got, tt.err)
			}
			if k := kind(got); k != tt.want {
				t.Errorf("Classify = %v, kind %v, want %v", got, k, tt.want)
			}
			if k := kind(gcpfault.ClassifyObjects("op", tt.err)); k != tt.wantObjects {
				t.Errorf("ClassifyObjects kind %v, want %v", k, tt.wantObjects)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("delete: %w", &googleapi.Error{Code: http.StatusNotFound}), true},
		{&googleapi.Error{Code: http.StatusForbidden}, false},
		{errors.New("not found"), false},
	}
	for _, tt := range tests {
		if got := gcpfault.NotFound(tt.err); got != tt.want {
			t.Errorf("NotFound(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
