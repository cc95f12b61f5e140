// Package fault defines the kinds of failure Masora distinguishes. Packages
// wrap their errors with one of these sentinels (fmt.Errorf("...: %w: %w",
// fault.ErrX, err)); callers decide with errors.Is or Kind, and the HTTP
// server and the CLI each map a Kind to one status or exit code.
package fault

import (
	"context"
	"errors"
)

var (
	// ErrInvalid marks a request that cannot be served as asked: an unknown
	// log type, a malformed time range. Retrying it unchanged fails again.
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthenticated marks a request without valid credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden marks a request with valid credentials of a caller that
	// is not allowed.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound marks a request for something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrMisconfigured marks a failure of the deployment, not of the data:
	// a BigQuery dataset or location that does not exist, a permission the
	// service account lacks, a table definition or transform BigQuery
	// rejects. Every object would fail the same way, so the run stops at
	// once, marks no object bad, and the error says what to check. Retrying
	// unchanged fails again.
	ErrMisconfigured = errors.New("misconfiguration")
	// ErrBusy marks work refused because another run holds the lock of the
	// same log type. Retry later.
	ErrBusy = errors.New("another run of this log type is in progress")
	// ErrUnavailable marks a dependency (Postgres, BigQuery, Cloud Storage)
	// that could not be reached or timed out. Retry later.
	ErrUnavailable = errors.New("dependency unavailable")
	// ErrBadObject marks a parquet object that cannot be loaded as it is:
	// corrupt, vanished, or not matching the log type's schema. The object
	// stays out of the manifest; it is retried on every run until it is
	// fixed or removed.
	ErrBadObject = errors.New("bad parquet object")
)

// kinds are the kinds in precedence order: an error that wraps several
// (errors.Join of the failures of several log types) is of the first.
var kinds = []error{ErrUnauthenticated, ErrForbidden, ErrInvalid, ErrNotFound, ErrMisconfigured, ErrBusy, ErrUnavailable, ErrBadObject}

// Kind returns the kind of err: the first sentinel of this package, in the
// order they are declared, that err wraps. A context.DeadlineExceeded is
// ErrUnavailable. It returns nil for an error of no known kind (a bug, a
// misconfiguration) and for nil. The HTTP status and the CLI exit code are
// both decided from it.
func Kind(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k) || (k == ErrUnavailable && errors.Is(err, context.DeadlineExceeded)) {
			return k
		}
	}
	return nil
}

// BadObjectsError is a failure that a dependency blamed on some objects by
// name (BigQuery naming a file it cannot read): those objects, and only
// those, are bad. It wraps ErrBadObject.
type BadObjectsError struct {
	// URIs are the gs:// URIs of the objects named.
	URIs []string
	// Err is the failure; it wraps ErrBadObject.
	Err error
}

func (e *BadObjectsError) Error() string { return e.Err.Error() }

func (e *BadObjectsError) Unwrap() error { return e.Err }
