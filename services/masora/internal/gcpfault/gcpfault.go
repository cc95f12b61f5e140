// Package gcpfault classifies the errors of the Google Cloud clients Masora
// uses (Cloud Storage and BigQuery) into fault kinds: the one definition of
// which of their errors mean "unavailable, retry later" and which mean "the
// objects are bad".
package gcpfault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Classify wraps err with the operation and, for timeouts, network failures
// and server-side errors (HTTP 5xx and 429, BigQuery reasons backendError,
// rateLimitExceeded and internalError), fault.ErrUnavailable. Any other
// error, a misconfiguration say (a missing dataset, a denied permission), is
// wrapped with the operation only.
func Classify(op string, err error) error {
	return classify(op, err, false)
}

// ClassifyObjects is Classify for a call that read the caller's objects
// (an external table over them, a query of that table): there, BigQuery's
// verdicts on the data (HTTP 400 or 404 other than an invalid query,
// reasons invalid and notFound) wrap fault.ErrBadObject.
func ClassifyObjects(op string, err error) error {
	return classify(op, err, true)
}

func classify(op string, err error, objects bool) error {
	var (
		apiErr *googleapi.Error
		bqErr  *bigquery.Error
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
	case errors.As(err, &apiErr):
		switch {
		case apiErr.Code >= 500 || apiErr.Code == http.StatusTooManyRequests:
			return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
		case objects && (apiErr.Code == http.StatusBadRequest || apiErr.Code == http.StatusNotFound) && !hasReason(apiErr, "invalidQuery"):
			return fmt.Errorf("%s: %w: %w", op, fault.ErrBadObject, err)
		}
	case errors.As(err, &bqErr):
		switch {
		case bqErr.Reason == "backendError" || bqErr.Reason == "rateLimitExceeded" || bqErr.Reason == "internalError":
			return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
		case objects && (bqErr.Reason == "invalid" || bqErr.Reason == "notFound"):
			return fmt.Errorf("%s: %w: %w", op, fault.ErrBadObject, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func hasReason(e *googleapi.Error, reason string) bool {
	for _, it := range e.Errors {
		if it.Reason == reason {
			return true
		}
	}
	return false
}

// NotFound reports whether err is a Google API's HTTP 404.
func NotFound(err error) bool {
	var apiErr *googleapi.Error
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusNotFound
}
