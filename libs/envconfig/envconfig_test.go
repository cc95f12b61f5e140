package envconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/envconfig"
)

// config holds one target of each kind.
type config struct {
	Str      string
	Match    string
	Int      int
	Int32    int32
	Duration time.Duration
	Bool     bool
	Mode     mode
	Level    slog.Level
	URL      string
	Conn     string
	List     []string
	Parsed   float64
}

type mode string

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func parseFloat(s string) (float64, error) {
	var f float64
	_, err := fmt.Sscanf(s, "%g", &f)
	return f, err
}

func TestLoad(t *testing.T) {
	tests := []struct {
		desc string
		// value makes the Var's Value, named X, on the config.
		value   func(c *config) envconfig.Value
		def     string
		set     string // X's value; "" is unset
		want    config
		wantErr string
	}{
		{"string default", func(c *config) envconfig.Value { return envconfig.String(&c.Str) }, "d", "",
			config{Str: "d"}, ""},
		{"string set, spaces trimmed", func(c *config) envconfig.Value { return envconfig.String(&c.Str) }, "d", "  v ",
			config{Str: "v"}, ""},
		{"blank is unset", func(c *config) envconfig.Value { return envconfig.String(&c.Str) }, "d", " ",
			config{Str: "d"}, ""},
		{"no default leaves the zero value", func(c *config) envconfig.Value { return envconfig.Int(&c.Int, 1, 9) }, "", "",
			config{}, ""},

		{"match valid", func(c *config) envconfig.Value { return envconfig.Match(&c.Match, isLower, "lower-case letters") }, "", "abc",
			config{Match: "abc"}, ""},
		{"match invalid", func(c *config) envconfig.Value { return envconfig.Match(&c.Match, isLower, "lower-case letters") }, "", "aBc",
			config{}, `X="aBc": want lower-case letters`},

		{"int default", func(c *config) envconfig.Value { return envconfig.Int(&c.Int, 1, 64) }, "4", "",
			config{Int: 4}, ""},
		{"int valid", func(c *config) envconfig.Value { return envconfig.Int(&c.Int, 1, 64) }, "4", "64",
			config{Int: 64}, ""},
		{"int too big", func(c *config) envconfig.Value { return envconfig.Int(&c.Int, 1, 64) }, "4", "65",
			config{}, `X="65": want a whole number from 1 to 64`},
		{"int not a number", func(c *config) envconfig.Value { return envconfig.Int(&c.Int, 1, 64) }, "4", "four",
			config{}, `X="four": want a whole number from 1 to 64`},
		{"int32", func(c *config) envconfig.Value { return envconfig.Int(&c.Int32, 2, 1000) }, "4", "1000",
			config{Int32: 1000}, ""},
		{"int32 too small", func(c *config) envconfig.Value { return envconfig.Int(&c.Int32, 2, 1000) }, "4", "1",
			config{}, `X="1": want a whole number from 2 to 1000`},

		{"duration default", func(c *config) envconfig.Value { return envconfig.Duration(&c.Duration, 0, time.Minute) }, "5s", "",
			config{Duration: 5 * time.Second}, ""},
		{"duration valid", func(c *config) envconfig.Value { return envconfig.Duration(&c.Duration, 0, time.Minute) }, "5s", "1500ms",
			config{Duration: 1500 * time.Millisecond}, ""},
		{"duration out of range", func(c *config) envconfig.Value { return envconfig.Duration(&c.Duration, time.Second, 15*time.Minute) }, "5s", "16m",
			config{}, `X="16m": want a duration like 90s or 2m from 1s to 15m`},
		{"duration without unit", func(c *config) envconfig.Value { return envconfig.Duration(&c.Duration, 0, time.Minute) }, "5s", "5",
			config{}, `X="5": want a duration like 90s or 2m from 0s to 1m`},
		{"duration unbounded above", func(c *config) envconfig.Value {
			return envconfig.Duration(&c.Duration, time.Hour, envconfig.MaxDuration)
		}, "48h", "30m", config{}, `X="30m": want a duration like 90s or 2m, at least 1h`},

		{"bool default", func(c *config) envconfig.Value { return envconfig.Bool(&c.Bool) }, "true", "",
			config{Bool: true}, ""},
		{"bool valid", func(c *config) envconfig.Value { return envconfig.Bool(&c.Bool) }, "true", "false",
			config{}, ""},
		{"bool invalid", func(c *config) envconfig.Value { return envconfig.Bool(&c.Bool) }, "true", "yes",
			config{}, `X="yes": want true or false`},

		{"enum default", func(c *config) envconfig.Value { return envconfig.Enum(&c.Mode, "lambda", "poll", "auto") }, "auto", "",
			config{Mode: "auto"}, ""},
		{"enum ignores case", func(c *config) envconfig.Value { return envconfig.Enum(&c.Mode, "lambda", "poll", "auto") }, "auto", "POLL",
			config{Mode: "poll"}, ""},
		{"enum invalid", func(c *config) envconfig.Value { return envconfig.Enum(&c.Mode, "lambda", "poll", "auto") }, "auto", "batch",
			config{}, `X="batch": want lambda, poll or auto`},

		{"level default", func(c *config) envconfig.Value { return envconfig.Level(&c.Level) }, "info", "",
			config{Level: slog.LevelInfo}, ""},
		{"level valid", func(c *config) envconfig.Value { return envconfig.Level(&c.Level) }, "info", "DEBUG",
			config{Level: slog.LevelDebug}, ""},
		{"level invalid", func(c *config) envconfig.Value { return envconfig.Level(&c.Level) }, "info", "loud",
			config{}, `X="loud": want debug, info, warn or error`},

		{"url default", func(c *config) envconfig.Value { return envconfig.URL(&c.URL) }, "https://example.com/keys", "",
			config{URL: "https://example.com/keys"}, ""},
		{"url valid", func(c *config) envconfig.Value { return envconfig.URL(&c.URL) }, "", "http://127.0.0.1:9050",
			config{URL: "http://127.0.0.1:9050"}, ""},
		{"url without scheme", func(c *config) envconfig.Value { return envconfig.URL(&c.URL) }, "", "127.0.0.1:9050",
			config{}, `X="127.0.0.1:9050": want an http or https URL, like https://host:port`},
		{"url of another scheme", func(c *config) envconfig.Value { return envconfig.URL(&c.URL) }, "", "ftp://h/x",
			config{}, `X="ftp://h/x": want an http or https URL, like https://host:port`},

		{"conn string kept as it is", func(c *config) envconfig.Value { return envconfig.ConnString(&c.Conn) }, "", "host=db password=s",
			config{Conn: "host=db password=s"}, ""},

		{"list", func(c *config) envconfig.Value { return envconfig.List(&c.List) }, "", " a@x, b@x ,,",
			config{List: []string{"a@x", "b@x"}}, ""},
		{"list default", func(c *config) envconfig.Value { return envconfig.List(&c.List) }, "a,b", "",
			config{List: []string{"a", "b"}}, ""},

		{"parse valid", func(c *config) envconfig.Value { return envconfig.Parse(&c.Parsed, parseFloat, "a number like 0.5") }, "1", "0.25",
			config{Parsed: 0.25}, ""},
		{"parse invalid", func(c *config) envconfig.Value { return envconfig.Parse(&c.Parsed, parseFloat, "a number like 0.5") }, "1", "half",
			config{Parsed: 0}, `X="half": want a number like 0.5`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var got config
			vars := envconfig.Vars{{Name: "X", Default: tt.def, Doc: "x", Value: tt.value(&got)}}
			err := vars.Load(getenv(map[string]string{"X": tt.set}))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("Load error = %q, want %q", gotErr, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("loaded (-want +got):\n%s", diff)
			}
		})
	}
}

func isLower(s string) bool { return s == strings.ToLower(s) }

// TestLoadReportsEveryProblem checks that Load goes on past a bad variable
// and reports each one, required ones included, in table order.
func TestLoadReportsEveryProblem(t *testing.T) {
	var c config
	vars := envconfig.Vars{
		{Name: "BUCKET", Required: true, Doc: "bucket the files go to", Value: envconfig.String(&c.Str)},
		{Name: "EMULATOR_HOST", Doc: "read by the storage client"},
		{Name: "CONCURRENCY", Default: "4", Value: envconfig.Int(&c.Int, 1, 64)},
		{Name: "TOKEN", Secret: true, Value: envconfig.Match(&c.Match, func(s string) bool { return len(s) >= 16 }, "at least 16 characters")},
		{Name: "TIMEOUT", Default: "5s", Value: envconfig.Duration(&c.Duration, time.Second, time.Minute)},
	}
	err := vars.Load(getenv(map[string]string{"CONCURRENCY": "0", "TOKEN": "short-secret", "TIMEOUT": "10s"}))
	want := `BUCKET is required: bucket the files go to
CONCURRENCY="0": want a whole number from 1 to 64
TOKEN=[redacted]: want at least 16 characters`
	if err == nil || err.Error() != want {
		t.Fatalf("Load error:\n%v\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), "short-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ee *envconfig.Error
		if !errors.As(e, &ee) {
			t.Fatalf("%v is not an *envconfig.Error", e)
		}
		names = append(names, ee.Name)
	}
	if diff := cmp.Diff([]string{"BUCKET", "CONCURRENCY", "TOKEN"}, names); diff != "" {
		t.Errorf("bad variables (-want +got):\n%s", diff)
	}
	if c.Duration != 10*time.Second {
		t.Errorf("TIMEOUT after other errors = %v, want 10s: Load stopped early", c.Duration)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{envconfig.Invalid("ORE_POLL_WAIT_TIME", "1500ms", "want whole seconds"), `ORE_POLL_WAIT_TIME="1500ms": want whole seconds`},
		{envconfig.Invalid("X", "", "want a value"), `X="": want a value`},
		{envconfig.Missing("SQS_QUEUE_URL", "in poll mode: set it to the queue Ore consumes"),
			"SQS_QUEUE_URL is required in poll mode: set it to the queue Ore consumes"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestUnset(t *testing.T) {
	env := getenv(map[string]string{"SET": "x", "BLANK": " \t"})
	got := map[string]bool{}
	for _, name := range []string{"SET", "BLANK", "ABSENT"} {
		got[name] = envconfig.Unset(env, name)
	}
	if diff := cmp.Diff(map[string]bool{"SET": false, "BLANK": true, "ABSENT": true}, got); diff != "" {
		t.Errorf("Unset (-want +got):\n%s", diff)
	}
}

func TestAttrs(t *testing.T) {
	var c config
	vars := envconfig.Vars{
		{Name: "GCS_BUCKET", Value: envconfig.String(&c.Str)},
		{Name: "STORAGE_EMULATOR_HOST", Doc: "read by the storage client"},
		{Name: "PORT", Default: "8080", Value: envconfig.Int(&c.Int32, 1, 65535)},
		{Name: "LOOKBACK", Default: "48h", Value: envconfig.Duration(&c.Duration, time.Hour, envconfig.MaxDuration)},
		{Name: "KEEP", Default: "false", Value: envconfig.Bool(&c.Bool)},
		{Name: "MODE", Default: "AUTO", Value: envconfig.Enum(&c.Mode, "auto", "poll")},
		{Name: "LOG_LEVEL", Default: "warn", Value: envconfig.Level(&c.Level)},
		{Name: "ENDPOINT", Value: envconfig.URL(&c.URL)},
		{Name: "DATABASE_URL", Value: envconfig.ConnString(&c.Conn)},
		{Name: "EMAILS", Value: envconfig.List(&c.List)},
		{Name: "TOKEN", Secret: true, Value: envconfig.String(&c.Match)},
		{Name: "RATIO", Default: "0.5", Value: envconfig.Parse(&c.Parsed, parseFloat, "a number")},
	}
	if err := vars.Load(getenv(map[string]string{
		"GCS_BUCKET":   "b",
		"ENDPOINT":     "https://u:pw-in-url@h:1/x",
		"DATABASE_URL": "postgres://masora:dbsecret@db:5432/reports?sslmode=disable",
		"EMAILS":       "a@x,b@x",
		"TOKEN":        "tokensecret",
	})); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("start", slog.Any("config", slog.GroupValue(vars.Attrs()...)))
	var got struct{ Config map[string]any }
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"gcs_bucket":   "b",
		"port":         float64(8080),
		"lookback":     "48h",
		"keep":         false,
		"mode":         "auto",
		"log_level":    "WARN",
		"endpoint":     "https://u:xxxxx@h:1/x",
		"database_url": "postgres://masora:xxxxx@db:5432/reports?sslmode=disable",
		"emails":       []any{"a@x", "b@x"},
		"token":        "[redacted]",
		"ratio":        "0.5",
	}
	if diff := cmp.Diff(want, got.Config); diff != "" {
		t.Errorf("logged config (-want +got):\n%s", diff)
	}
	for _, secret := range []string{"tokensecret", "dbsecret", "pw-in-url"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("the log line shows the secret %q: %s", secret, b.String())
		}
	}
}

func TestAttrsUnsetSecret(t *testing.T) {
	var token string
	vars := envconfig.Vars{{Name: "TOKEN", Secret: true, Value: envconfig.String(&token)}}
	if err := vars.Load(getenv(nil)); err != nil {
		t.Fatal(err)
	}
	want := []slog.Attr{slog.String("token", "")}
	if diff := cmp.Diff(want, vars.Attrs(), cmp.Comparer(func(a, b slog.Attr) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Attrs (-want +got):\n%s", diff)
	}
}

func TestUsage(t *testing.T) {
	var c config
	vars := envconfig.Vars{
		{Name: "ORE_MODE", Default: "auto", Doc: "lambda, poll or auto", Value: envconfig.Enum(&c.Mode, "lambda", "poll", "auto")},
		{Name: "GCS_BUCKET", Required: true, Doc: "bucket the files go to", Value: envconfig.String(&c.Str)},
		{Name: "STORAGE_EMULATOR_HOST", Doc: "read by the storage client"},
	}
	want := `VARIABLE               DEFAULT     MEANING
ORE_MODE               auto        lambda, poll or auto
GCS_BUCKET             (required)  bucket the files go to
STORAGE_EMULATOR_HOST              read by the storage client
`
	if diff := cmp.Diff(want, vars.Usage()); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
}

func TestRedactPassword(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://masora:s3cret@db:5432/reports?sslmode=disable", "postgres://masora:xxxxx@db:5432/reports?sslmode=disable"},
		{"postgres://masora@db/reports", "postgres://masora@db/reports"},
		{"postgres://db/reports?password=s3cret&sslmode=disable", "postgres://db/reports?password=xxxxx&sslmode=disable"},
		{"host=db user=masora password=s3cret dbname=reports", "host=db user=masora password=xxxxx dbname=reports"},
		{"host=db PASSWORD = 'se cr\\'et' dbname=reports", "host=db PASSWORD = xxxxx dbname=reports"},
		{"postgres://u:p@[::1", "(unparsable connection URL)"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := envconfig.RedactPassword(tt.in); got != tt.want {
			t.Errorf("RedactPassword(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
