// Package envconfig owns reading a service's configuration from environment
// variables. A service declares each variable once, in a table of Vars: its
// name, default, meaning, whether it is required or secret, and a typed Value
// that parses and checks it into a field of the service's Config. From that
// one table come Load, which fills the Config and reports every bad variable
// in one error, Usage, the table `--help` prints, and Attrs, the attributes
// of the start-up log line with secrets and passwords redacted.
//
// Every problem reads the same way, as an *Error: NAME="value": want ...
// for a bad value, NAME is required ...: ... for a missing one. A service's
// rules across variables (one required with another, or in some mode) report
// with Invalid and Missing, in the same format.
//
// The package never reads the environment itself: Load takes getenv.
package envconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
)

// A Var is one environment variable of a service.
type Var struct {
	// Name is the variable, e.g. GCS_BUCKET.
	Name string
	// Default is the text Load parses when the variable is unset or blank,
	// written as one would set it. Empty means no default: the target keeps
	// its zero value.
	Default string
	// Doc says what the variable means, for Usage and for the error when a
	// Required variable is unset.
	Doc string
	// Required makes Load report the variable when it is unset or blank.
	Required bool
	// Secret keeps the value out of errors and logs: both show [redacted].
	Secret bool
	// Value parses the text into the service's Config. Nil documents a
	// variable that another reader (an SDK, the Go runtime) takes: Usage
	// lists it, Load and Attrs skip it.
	Value Value
}

// A Value is the typed target of a Var: String, Int, Duration and the other
// constructors of this package make Values that store into a field.
type Value interface {
	// Set parses s and stores it in the target. Its error says what is
	// expected, e.g. "want a whole number from 1 to 64".
	Set(s string) error
	// LogValue returns the target's value for the log line, any password
	// redacted.
	LogValue() slog.Value
}

// Vars is a service's table of variables.
type Vars []Var

// redacted stands for a secret in errors and logs.
const redacted = "[redacted]"

// Load fills every Value of vs from getenv (os.Getenv in production), or
// from its Default when the variable is unset or blank; surrounding spaces
// are ignored. It returns nil or the errors.Join of one *Error per bad or
// missing variable, in table order.
func (vs Vars) Load(getenv func(string) string) error {
	var errs []error
	for _, v := range vs {
		if v.Value == nil {
			continue
		}
		s := strings.TrimSpace(getenv(v.Name))
		if s == "" {
			if v.Required {
				errs = append(errs, &Error{Name: v.Name, Problem: "is required: " + v.Doc})
				continue
			}
			s = v.Default
		}
		if s == "" {
			continue
		}
		if err := v.Value.Set(s); err != nil {
			shown := strconv.Quote(s)
			if v.Secret {
				shown = redacted
			}
			errs = append(errs, &Error{Name: v.Name, Value: shown, Problem: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// Unset reports whether getenv gives the variable name no value, blank
// counting as none, as Load does. Rules that need a variable in some case
// test it rather than the target, which a bad value also leaves empty.
func Unset(getenv func(string) string, name string) bool {
	return strings.TrimSpace(getenv(name)) == ""
}

// Usage returns the table of variables for `--help`: name, default (or
// "(required)") and meaning, one line each.
func (vs Vars) Usage() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range vs {
		def := v.Default
		if v.Required {
			def = "(required)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, def, v.Doc)
	}
	tw.Flush()
	return b.String()
}

// Attrs returns one attribute per variable Load reads, keyed by its name in
// lower case, for the start-up log line. A Secret shows as [redacted] when
// it is set and empty otherwise; URLs and connection strings show without
// their password.
func (vs Vars) Attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, len(vs))
	for _, v := range vs {
		if v.Value == nil {
			continue
		}
		val := v.Value.LogValue()
		if v.Secret && val.String() != "" {
			val = slog.StringValue(redacted)
		}
		attrs = append(attrs, slog.Attr{Key: strings.ToLower(v.Name), Value: val})
	}
	return attrs
}

// An Error is what is wrong with one variable.
type Error struct {
	// Name is the variable.
	Name string
	// Value is the variable's text as the message shows it: quoted, or
	// [redacted] for a secret; empty when the variable is unset.
	Value string
	// Problem says what is wrong and what is expected.
	Problem string
}

// Error reads NAME="value": problem, or NAME problem when it is unset.
func (e *Error) Error() string {
	if e.Value == "" {
		return e.Name + " " + e.Problem
	}
	return e.Name + "=" + e.Value + ": " + e.Problem
}

// Invalid reports that the variable name has a value it cannot take, for a
// rule Load cannot check alone; want says what it can take, e.g. "want at
// most MASORA_CHUNK_TIMEOUT". value must not be a secret.
func Invalid(name, value, want string) error {
	return &Error{Name: name, Value: strconv.Quote(value), Problem: want}
}

// Missing reports that the variable name is unset although it is needed;
// why says when and what for, e.g. "in poll mode: set it to the queue Ore
// consumes", giving "SQS_QUEUE_URL is required in poll mode: ...".
func Missing(name, why string) error {
	return &Error{Name: name, Problem: "is required " + why}
}
