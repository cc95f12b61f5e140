package envconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// value is a Value that stores into *p what parse returns.
type value[T any] struct {
	p     *T
	parse func(string) (T, error)
	log   func(T) slog.Value
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v value[T]) LogValue() slog.Value { return v.log(*v.p) }

// String stores the text as it is.
func String(p *string) Value {
	return value[string]{p, func(s string) (string, error) { return s, nil }, slog.StringValue}
}

// Match stores the text if ok accepts it; want describes what ok accepts,
// e.g. "a dataset ID: letters, digits and underscores".
func Match(p *string, ok func(string) bool, want string) Value {
	return value[string]{p, func(s string) (string, error) {
		if !ok(s) {
			return "", errors.New("want " + want)
		}
		return s, nil
	}, slog.StringValue}
}

// Int stores a whole number from lo to hi.
func Int[T ~int | ~int32 | ~int64](p *T, lo, hi T) Value {
	return value[T]{p, func(s string) (T, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < int64(lo) || n > int64(hi) {
			return 0, fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		return T(n), nil
	}, func(n T) slog.Value { return slog.Int64Value(int64(n)) }}
}

// MaxDuration as Duration's hi leaves the duration unbounded above.
const MaxDuration = time.Duration(math.MaxInt64)

// Duration stores a duration (time.ParseDuration: 90s, 2m, 48h) from lo to
// hi.
func Duration(p *time.Duration, lo, hi time.Duration) Value {
	want := fmt.Sprintf("want a duration like 90s or 2m from %s to %s", formatDuration(lo), formatDuration(hi))
	if hi == MaxDuration {
		want = fmt.Sprintf("want a duration like 90s or 2m, at least %s", formatDuration(lo))
	}
	return value[time.Duration]{p, func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			return 0, errors.New(want)
		}
		return d, nil
	}, func(d time.Duration) slog.Value { return slog.StringValue(formatDuration(d)) }}
}

// formatDuration is d.String() without the zero minutes and seconds of
// round durations: 15m, 1h, not 15m0s, 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// Bool stores true or false (strconv.ParseBool: also 1, 0, t, f).
func Bool(p *bool) Value {
	return value[bool]{p, func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, errors.New("want true or false")
		}
		return b, nil
	}, slog.BoolValue}
}

// Enum stores the one of values the text names, ignoring case.
func Enum[T ~string](p *T, values ...T) Value {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	want := "want " + names[0]
	if n := len(names); n > 1 {
		want = "want " + strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	return value[T]{p, func(s string) (T, error) {
		for _, v := range values {
			if strings.EqualFold(s, string(v)) {
				return v, nil
			}
		}
		return "", errors.New(want)
	}, func(v T) slog.Value { return slog.StringValue(string(v)) }}
}

// Level stores a log level: debug, info, warn or error (slog.Level's text,
// so info+2 works too).
func Level(p *slog.Level) Value {
	return value[slog.Level]{p, func(s string) (slog.Level, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(s)); err != nil {
			return 0, errors.New("want debug, info, warn or error")
		}
		return l, nil
	}, func(l slog.Level) slog.Value { return slog.StringValue(l.String()) }}
}

// URL stores an http or https URL with a host. It logs without a password.
func URL(p *string) Value {
	return value[string]{p, func(s string) (string, error) {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", errors.New("want an http or https URL, like https://host:port")
		}
		return s, nil
	}, redactedString}
}

// ConnString stores a connection string, a URL or key=value pairs like
// Postgres takes, as it is. It logs without a password (RedactPassword).
func ConnString(p *string) Value {
	return value[string]{p, func(s string) (string, error) { return s, nil }, redactedString}
}

func redactedString(s string) slog.Value { return slog.StringValue(RedactPassword(s)) }

// List stores comma-separated items, spaces around them and empty ones
// dropped.
func List(p *[]string) Value {
	return value[[]string]{p, func(s string) ([]string, error) {
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return items, nil
	}, func(items []string) slog.Value { return slog.AnyValue(items) }}
}

// Parse stores what parse returns for the text, for types the other
// constructors do not cover; want describes the text parse accepts, e.g.
// "zstd, snappy or none". It logs the value as fmt.Sprint prints it.
func Parse[T any](p *T, parse func(string) (T, error), want string) Value {
	return value[T]{p, func(s string) (T, error) {
		x, err := parse(s)
		if err != nil {
			return x, errors.New("want " + want)
		}
		return x, nil
	}, func(x T) slog.Value { return slog.StringValue(fmt.Sprint(x)) }}
}

// passwordPattern finds the password of a key=value connection string.
var passwordPattern = regexp.MustCompile(`(?i)(password\s*=\s*)('(\\.|[^'])*'|\S+)`)

// RedactPassword returns a connection string, a URL or key=value pairs,
// with its password (the URL's, its password query parameter, or a
// password=... pair) replaced by "xxxxx", fit for logs and errors. A URL
// that does not parse becomes "(unparsable connection URL)".
func RedactPassword(s string) string {
	if !strings.Contains(s, "://") {
		return passwordPattern.ReplaceAllString(s, "${1}xxxxx")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable connection URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
