// Package fault defines the kinds of failure Masora distinguishes. Packages
// wrap their errors with one of these sentinels (fmt.Errorf("...: %w: %w",
// fault.ErrX, err)); callers decide with errors.Is, and the HTTP server maps
// each kind to one status in one place.
package fault

import "errors"

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
