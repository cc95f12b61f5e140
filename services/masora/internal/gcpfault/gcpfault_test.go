package gcpfault_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

func TestClassify(t *testing.T) {
	const (
		obj   = "gs://b/logs/user_action/dt=2024-05-01/hour=10/abc.parquet"
		other = "gs://b/logs/user_action/dt=2024-05-01/hour=10/def.parquet"
	)
	uris := []string{obj, other}
	api := func(code int, reason, msg string) error {
		e := &googleapi.Error{Code: code, Message: msg}
		if reason != "" {
			e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: reason, Message: msg})
		}
		return fmt.Errorf("client: %w", e)
	}
	bq := func(reason, msg string) error { return &bigquery.Error{Reason: reason, Message: msg} }
	tests := []struct {
		name        string
		err         error
		want        error    // kind of Classify; nil for none
		wantObjects error    // kind of ClassifyObjects; nil for none
		wantNamed   []string // the objects ClassifyObjects blames
	}{
		{name: "deadline", err: context.DeadlineExceeded, want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "network", err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}, want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "HTTP 503", err: api(http.StatusServiceUnavailable, "backendError", "Error encountered during execution. Retrying may solve the problem."), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "HTTP 500", err: api(http.StatusInternalServerError, "", "Internal Server Error"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "HTTP 429", err: api(http.StatusTooManyRequests, "", "Too Many Requests"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "403 rateLimitExceeded", err: api(http.StatusForbidden, "rateLimitExceeded", "Exceeded rate limits: too many table update operations for this table."), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "403 quotaExceeded", err: api(http.StatusForbidden, "quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned."), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "403 accessDenied", err: api(http.StatusForbidden, "accessDenied", "Access Denied: Dataset p:reports: Permission bigquery.tables.create denied on dataset p:reports (or it may not exist)."), want: fault.ErrMisconfigured, wantObjects: fault.ErrMisconfigured},
		{name: "403 accessDenied naming an object is still a permission", err: api(http.StatusForbidden, "accessDenied", "Access Denied: File "+obj+": Access Denied"), want: fault.ErrMisconfigured, wantObjects: fault.ErrMisconfigured},
		{name: "404 dataset", err: api(http.StatusNotFound, "notFound", "Not found: Dataset p:reports"), wantObjects: fault.ErrMisconfigured},
		{name: "404 dataset in location", err: api(http.StatusNotFound, "notFound", "Not found: Dataset p:reports was not found in location EU"), wantObjects: fault.ErrMisconfigured},
		{name: "404 naming an object", err: api(http.StatusNotFound, "notFound", "Not found: Files "+obj), wantObjects: fault.ErrBadObject, wantNamed: []string{obj}},
		{name: "404 naming an object as /bigstore", err: api(http.StatusNotFound, "notFound", "Not found: Files /bigstore/"+strings.TrimPrefix(other, "gs://")+"."), wantObjects: fault.ErrBadObject, wantNamed: []string{other}},
		{name: "400 naming two objects", err: api(http.StatusBadRequest, "invalid", "Error while reading table: t, error message: Parquet column 'x' ... File: "+obj+"; File: "+other), wantObjects: fault.ErrBadObject, wantNamed: []string{obj, other}},
		{name: "400 naming a longer object name is not a name", err: api(http.StatusBadRequest, "invalid", "Failed to read "+obj+"2"), wantObjects: fault.ErrMisconfigured},
		{name: "400 invalid table definition", err: api(http.StatusBadRequest, "invalid", "Invalid field name \"a-b\"."), wantObjects: fault.ErrMisconfigured},
		{name: "400 invalid query", err: api(http.StatusBadRequest, "invalidQuery", "Unrecognized name: app_versio at [28:3]"), wantObjects: fault.ErrMisconfigured},
		{name: "BigQuery backendError", err: bq("backendError", "retry"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "BigQuery rateLimitExceeded", err: bq("rateLimitExceeded", "slow down"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "BigQuery quotaExceeded", err: bq("quotaExceeded", "quota"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "BigQuery internalError", err: bq("internalError", "oops"), want: fault.ErrUnavailable, wantObjects: fault.ErrUnavailable},
		{name: "BigQuery invalid naming an object", err: bq("invalid", "Error while reading data, error message: corrupt footer. File: "+obj), wantObjects: fault.ErrBadObject, wantNamed: []string{obj}},
		{name: "BigQuery invalid naming nothing", err: bq("invalid", "Error while reading data"), wantObjects: fault.ErrMisconfigured},
		{name: "BigQuery notFound", err: bq("notFound", "Not found: Table p:reports.t"), wantObjects: fault.ErrMisconfigured},
		{name: "BigQuery accessDenied", err: bq("accessDenied", "Access Denied: BigQuery BigQuery: Permission denied while getting Drive credentials."), want: fault.ErrMisconfigured, wantObjects: fault.ErrMisconfigured},
		{name: "other", err: errors.New("bug")},
	}
	kinds := []error{fault.ErrMisconfigured, fault.ErrUnavailable, fault.ErrBadObject}
	kind := func(err error) error {
		for _, k := range kinds {
			if errors.Is(err, k) {
				return k
			}
		}
		return nil
	}
	checks := gcpfault.Checks{NotFound: "the dataset", Denied: "the roles", Invalid: "the definition", InvalidQuery: "the SQL"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gcpfault.Classify("op", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("Classify = %v, does not wrap %v", got, tt.err)
			}
			if k := kind(got); k != tt.want {
				t.Errorf("Classify = %v, kind %v, want %v", got, k, tt.want)
			}
			got = gcpfault.ClassifyObjects("op", tt.err, uris, checks)
			if !errors.Is(got, tt.err) {
				t.Errorf("ClassifyObjects = %v, does not wrap %v", got, tt.err)
			}
			if k := kind(got); k != tt.wantObjects {
				t.Errorf("ClassifyObjects = %v, kind %v, want %v", got, k, tt.wantObjects)
			}
			var named *fault.BadObjectsError
			if errors.As(got, &named) {
				if diff := cmp.Diff(tt.wantNamed, named.URIs); diff != "" {
					t.Errorf("ClassifyObjects blames (-want +got):\n%s", diff)
				}
			} else if tt.wantNamed != nil {
				t.Errorf("ClassifyObjects = %v, blames no object, want %v", got, tt.wantNamed)
			}
			if tt.wantObjects == fault.ErrBadObject && named == nil {
				t.Errorf("ClassifyObjects = %v: a bad object that is not a *fault.BadObjectsError", got)
			}
			if tt.wantObjects == fault.ErrMisconfigured && !strings.Contains(got.Error(), "check the ") {
				t.Errorf("ClassifyObjects = %q, does not say what to check", got)
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
