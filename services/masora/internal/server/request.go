package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Limits of a request. Requests are small JSON objects and an OIDC token.
const (
	// MaxBodyBytes bounds request bodies: a longer one is answered 413.
	MaxBodyBytes = 64 << 10
	// MaxHeaderBytes bounds the request line and headers: longer ones are
	// answered 431 by net/http. An OIDC ID token is about 1 KB.
	MaxHeaderBytes = 64 << 10
	// readHeaderTimeout bounds reading the request line and headers.
	readHeaderTimeout = 10 * time.Second
)

// HTTPServer returns the http.Server of `masora serve` for h on addr, with
// the request limits above.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// runBody is the parameters of /run and /backfill.
type runBody struct {
	LogType string `json:"log_type"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// readBody reads r's body, at most MaxBodyBytes: a longer body is an error
// wrapping *http.MaxBytesError, which Status answers 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("read body (at most %d bytes): %w", MaxBodyBytes, err)
	}
	return body, nil
}

// parseRunBody parses the parameters of /run and /backfill from an
// optional JSON object body and the query: Cloud Scheduler can send
// either. A parameter given in both must have the same value. The log type
// must be a well-formed name (whether it exists is the runner's to say).
// Every error wraps fault.ErrInvalid.
func parseRunBody(body []byte, query url.Values) (runBody, error) {
	var b runBody
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return runBody{}, fmt.Errorf(`%w: body must be a JSON object like {"log_type": "user_action"}: %w`, fault.ErrInvalid, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return runBody{}, fmt.Errorf(`%w: body must be one JSON object like {"log_type": "user_action"}, with nothing after it`, fault.ErrInvalid)
		}
	}
	for _, p := range []struct {
		key string
		dst *string
	}{{"log_type", &b.LogType}, {"from", &b.From}, {"to", &b.To}} {
		vs := query[p.key]
		for _, v := range vs[min(1, len(vs)):] {
			if v != vs[0] {
				return runBody{}, fmt.Errorf("%w: query parameter %s is given twice, %q and %q", fault.ErrInvalid, p.key, vs[0], v)
			}
		}
		switch {
		case len(vs) == 0 || vs[0] == "":
		case *p.dst != "" && *p.dst != vs[0]:
			return runBody{}, fmt.Errorf("%w: %s is %q in the body but %q in the query: give it once", fault.ErrInvalid, p.key, *p.dst, vs[0])
		default:
			*p.dst = vs[0]
		}
	}
	if err := checkLogType(b.LogType); err != nil {
		return runBody{}, err
	}
	return b, nil
}

// checkLogType checks a log_type parameter: empty (every log type) or a
// well-formed log type name.
func checkLogType(s string) error {
	if s != "" && !schema.ValidName(s) {
		return fmt.Errorf("%w: log_type %q is not a log type name (lowercase letters, digits and underscores, starting with a letter, at most 63)", fault.ErrInvalid, s)
	}
	return nil
}

// parseTime parses the from or to of a backfill: RFC 3339. Whether the
// range is one Masora loads is run.CheckRange's to say.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%w: %s is required, RFC 3339, e.g. 2024-05-01T00:00:00Z", fault.ErrInvalid, name)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not RFC 3339, e.g. 2024-05-01T00:00:00Z", fault.ErrInvalid, name, v)
	}
	return t, nil
}

// parseRange parses the from and to of a backfill.
func parseRange(from, to string) (time.Time, time.Time, error) {
	f, err := parseTime("from", from)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	t, err := parseTime("to", to)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return f, t, nil
}
