// Package gcpfault classifies the errors of the Google Cloud clients Masora
// uses (Cloud Storage and BigQuery) into fault kinds: the one definition of
// which of their errors mean "unavailable, retry later", which mean "the
// deployment is wrong, fix it" and which mean "these objects are bad".
//
// The rules follow BigQuery's documented error reasons
// (https://cloud.google.com/bigquery/docs/error-messages), not what an
// emulator answers:
//   - transient: timeouts, network failures, HTTP 5xx and 429, reasons
//     backendError, internalError, rateLimitExceeded, jobRateLimitExceeded
//     and quotaExceeded (BigQuery answers the last three with 403);
//   - bad objects: an error of a call over the caller's objects whose
//     message names some of them (ClassifyObjects); only those are bad;
//   - misconfiguration: any other 4xx answer (notFound: dataset, table or
//     location; accessDenied; invalid: a rejected table definition;
//     invalidQuery: a transform BigQuery cannot run), with a message that
//     says what to check.
package gcpfault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// transientReasons are the BigQuery error reasons that mean "retry later".
var transientReasons = []string{"backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded", "quotaExceeded"}

// Checks say what to look at when BigQuery rejects a call for a reason that
// is not the data's. Each names the configuration the caller used, e.g.
// `BIGQUERY_DATASET "reports" in project "p" (BIGQUERY_PROJECT)`.
type Checks struct {
	// NotFound: a dataset, table or job that BigQuery cannot find, usually
	// a wrong project, dataset or location.
	NotFound string
	// Denied: a permission the credentials lack.
	Denied string
	// Invalid: a request BigQuery rejects as malformed (the external table
	// definition).
	Invalid string
	// InvalidQuery: SQL BigQuery cannot run.
	InvalidQuery string
}

// Classify wraps err with the operation and its fault kind:
// fault.ErrUnavailable for timeouts, network failures and transient
// answers; fault.ErrMisconfigured for a permission denied (HTTP 401 or 403
// other than a rate or quota limit). Any other error is wrapped with the
// operation only.
func Classify(op string, err error) error {
	e := inspect(err)
	switch {
	case e.transient:
		return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
	case e.code == http.StatusUnauthorized || e.code == http.StatusForbidden || e.hasReason("accessDenied"):
		return fmt.Errorf("%s: %w: %w (check the credentials and the IAM roles of the service account)", op, fault.ErrMisconfigured, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ClassifyObjects is Classify for a BigQuery call over the objects at uris
// (creating an external table over them, querying it):
//   - transient answers wrap fault.ErrUnavailable;
//   - a permission denied wraps fault.ErrMisconfigured with checks.Denied,
//     even when it names an object (Masora cannot read the bucket);
//   - any other answer whose message names some of uris (as gs://b/o,
//     /bigstore/b/o or b/o) is a *fault.BadObjectsError of those;
//   - any other 4xx wraps fault.ErrMisconfigured, with the check of its
//     reason: it would fail the same way for every object.
func ClassifyObjects(op string, err error, uris []string, checks Checks) error {
	e := inspect(err)
	switch {
	case e.transient:
		return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
	case e.code == http.StatusUnauthorized || e.code == http.StatusForbidden || e.hasReason("accessDenied") || e.hasReason("billingNotEnabled"):
		return misconfigured(op, err, checks.Denied)
	}
	if named := e.named(uris); len(named) > 0 {
		return &fault.BadObjectsError{URIs: named, Err: fmt.Errorf("%s: %w: BigQuery names %s: %w", op, fault.ErrBadObject, strings.Join(named, ", "), err)}
	}
	switch {
	case e.hasReason("invalidQuery"):
		return misconfigured(op, err, checks.InvalidQuery)
	case e.code == http.StatusNotFound || e.hasReason("notFound"):
		return misconfigured(op, err, checks.NotFound)
	case e.code >= 400 && e.code < 500 || e.hasReason("invalid"):
		return misconfigured(op, err, checks.Invalid)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func misconfigured(op string, err error, check string) error {
	if check == "" {
		return fmt.Errorf("%s: %w: %w", op, fault.ErrMisconfigured, err)
	}
	return fmt.Errorf("%s: %w: %w; check %s", op, fault.ErrMisconfigured, err, check)
}

// apiError is what classification needs of an error: its HTTP status (0 if
// none), BigQuery reasons and the texts that may name objects.
type apiError struct {
	code      int
	reasons   []string
	texts     []string
	transient bool
}

func inspect(err error) apiError {
	var (
		e      apiError
		apiErr *googleapi.Error
		bqErr  *bigquery.Error
		netErr net.Error
	)
	if errors.As(err, &apiErr) {
		e.code = apiErr.Code
		e.texts = append(e.texts, apiErr.Message, apiErr.Body)
		for _, it := range apiErr.Errors {
			e.reasons = append(e.reasons, it.Reason)
			e.texts = append(e.texts, it.Message)
		}
	}
	if errors.As(err, &bqErr) {
		e.reasons = append(e.reasons, bqErr.Reason)
		e.texts = append(e.texts, bqErr.Message, bqErr.Location)
	}
	e.transient = errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) ||
		e.code >= 500 || e.code == http.StatusTooManyRequests ||
		slices.ContainsFunc(e.reasons, func(r string) bool { return slices.Contains(transientReasons, r) })
	return e
}

func (e apiError) hasReason(r string) bool { return slices.Contains(e.reasons, r) }

// named returns the URIs of uris that the error's texts name, as gs://b/o,
// /bigstore/b/o (how BigQuery's messages sometimes spell a Cloud Storage
// object) or b/o.
func (e apiError) named(uris []string) []string {
	var out []string
	for _, u := range uris {
		path, ok := strings.CutPrefix(u, "gs://")
		if !ok || path == "" {
			continue
		}
		if slices.ContainsFunc(e.texts, func(t string) bool { return mentions(t, path) }) {
			out = append(out, u)
		}
	}
	return out
}

// mentions reports whether text contains path as a whole object path: not
// followed by another character of an object name.
func mentions(text, path string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], path)
		if j < 0 {
			return false
		}
		end := i + j + len(path)
		if end == len(text) || !isNameChar(text[end]) {
			return true
		}
		// A full stop ends a sentence, not the name, unless a name
		// character follows it.
		if text[end] == '.' && (end+1 == len(text) || !isNameChar(text[end+1])) {
			return true
		}
		i += j + 1
	}
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/' || c == '='
}

// NotFound reports whether err is a Google API's HTTP 404.
func NotFound(err error) bool {
	var apiErr *googleapi.Error
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusNotFound
}
