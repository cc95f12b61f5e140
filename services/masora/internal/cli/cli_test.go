package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/cli"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(ctx context.Context, env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := cli.Main(ctx, args, cli.Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"no command", env, nil, 2, "Commands:"},
		{"help", env, []string{"--help"}, 0, "backfill"},
		{"unknown command", env, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"run help", env, []string{"run", "-help"}, 0, "Usage: masora run [-log-type NAME]"},
		{"backfill help", env, []string{"backfill", "--help"}, 0, "-from TIME -to TIME"},
		{"serve help", env, []string{"serve", "-h"}, 0, "MASORA_INSECURE_LOCAL"},
		{"migrate help", env, []string{"migrate", "-help"}, 0, "migrations"},
		{"status help", env, []string{"status", "-help"}, 0, "-limit"},
		{"unknown flag", env, []string{"run", "-loggtype", "x"}, 2, "flag provided but not defined"},
		{"extra argument", env, []string{"status", "now"}, 2, "unexpected arguments"},
		{"no DATABASE_URL", map[string]string{}, []string{"migrate"}, 2, "DATABASE_URL is required"},
		{"bad setting", map[string]string{"DATABASE_URL": "postgres://h/db", "MASORA_LOOKBACK": "two days"}, []string{"run"}, 2, "MASORA_LOOKBACK"},
		{"run without BigQuery settings", env, []string{"run"}, 2, "BIGQUERY_PROJECT is required"},
		{"backfill without -to", env, []string{"backfill", "-from", "2024-05-01T00:00:00Z"}, 2, "-to is required"},
		{"backfill with a bad time", env, []string{"backfill", "-from", "May 1", "-to", "2024-05-01T00:00:00Z"}, 2, "not RFC 3339"},
		{"serve without auth", env, []string{"serve"}, 2, "no authentication"},
		{"migrate with Postgres down", env, []string{"migrate"}, 1, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t.Context(), tt.env, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Errorf("masora %v = exit %d\nstdout: %s\nstderr: %s\nwant exit %d mentioning %q", tt.args, r.code, r.stdout, r.stderr, tt.code, tt.want)
			}
		})
	}
}

// TestHelpOnceOnStdout checks that a command's -help prints its help once, on
// stdout, and nothing on stderr.
func TestHelpOnceOnStdout(t *testing.T) {
	for _, cmd := range []string{"run", "backfill", "serve", "migrate", "status"} {
		for _, flag := range []string{"-h", "-help", "--help"} {
			r := run(t.Context(), nil, cmd, flag)
			if r.code != 0 || r.stderr != "" || strings.Count(r.stdout, "Usage: masora "+cmd) != 1 {
				t.Errorf("masora %s %s = exit %d, want exit 0 with the usage once on stdout\nstdout: %s\nstderr: %s", cmd, flag, r.code, r.stdout, r.stderr)
			}
		}
	}
}

func TestMigrateAndStatus(t *testing.T) {
	env := map[string]string{"DATABASE_URL": stacktest.PostgresSchema(t, stacktest.Load(t))}
	// Both commands report the database at the newest migration this build embeds.
	atHead := regexp.MustCompile(`migration ([1-9][0-9]*) of ([0-9]+)`)
	head := func(out string) bool {
		m := atHead.FindStringSubmatch(out)
		return m != nil && m[1] == m[2]
	}
	for range 2 {
		if r := run(t.Context(), env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "reporting database at migration") || !head(r.stdout) {
			t.Fatalf("masora migrate = exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	r := run(t.Context(), env, "status")
	if r.code != 0 || !head(r.stdout) || !strings.Contains(r.stdout, "RUN  LOG TYPE") {
		t.Errorf("masora status = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// stackEnv is the environment of masora over a test's stack.
func stackEnv(t *testing.T, s *masoratest.Stack) map[string]string {
	t.Setenv("STORAGE_EMULATOR_HOST", s.Env.StorageEmulatorHost) // read by the storage client itself
	return map[string]string{
		"DATABASE_URL":      s.DSN,
		"BIGQUERY_PROJECT":  s.Env.BigQueryProject,
		"BIGQUERY_DATASET":  s.Dataset,
		"BIGQUERY_ENDPOINT": s.Env.BigQueryEndpoint,
		"GCS_BUCKET":        s.Bucket,
		"GCS_PREFIX":        masoratest.Prefix,
		"MASORA_AUTH_TOKEN": "cli-test-token-0123456789",
		// Spare the emulator table deletions (see masoratest.NoDataset).
		"MASORA_BIGQUERY_KEEP_TABLES": "true",
		"LOG_LEVEL":                   "warn",
	}
}

func TestRunAndServe(t *testing.T) {
	s := masoratest.New(t)
	env := stackEnv(t, s)
	at := time.Now().UTC().Add(-2 * time.Hour)
	var msgs []masoratest.Message
	for i := range 8 {
		msgs = append(msgs, masoratest.UserAction{EventID: uuid.New(), OccurredAt: at.Add(-time.Duration(i) * time.Minute), Action: "cart_confirmed", Channel: "whatsapp", UserID: "u"}.Message(at))
	}
	s.WriteObject(t, "user_action", msgs)

	r := run(t.Context(), env, "run", "-log-type", "user_action")
	var out struct {
		Runs []struct {
			Status string `json:"status"`
			Rows   int    `json:"rows_loaded"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || len(out.Runs) != 1 || out.Runs[0].Rows != 8 {
		t.Fatalf("masora run = exit %d, %v\nstdout: %s\nstderr: %s\nwant exit 0 and 8 rows", r.code, err, r.stdout, r.stderr)
	}
	// The person waiting sees the progress and its summary on stderr.
	if summary := regexp.MustCompile(`masora run objects: finished: 1/1 done, 0 failed in [^,]+, [0-9.]+/s; 8 rows\n`); !summary.MatchString(r.stderr) {
		t.Errorf("masora run stderr = %q, want the progress summary %q", r.stderr, summary)
	}
	r = run(t.Context(), env, "status", "-json")
	if r.code != 0 || !strings.Contains(r.stdout, `"trigger": "cli"`) || !strings.Contains(r.stdout, `"rows_loaded": 8`) {
		t.Errorf("masora status -json = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t.Context(), env, "run", "-log-type", "page_view")
	if r.code != 2 || !strings.Contains(r.stderr, "unknown log type") {
		t.Errorf("masora run -log-type page_view = exit %d\n%s", r.code, r.stderr)
	}

	// serve until cancelled, as on SIGTERM.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	env["PORT"] = strconv.Itoa(port)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() { done <- run(ctx, env, "serve") }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz = %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/run", nil)
	req.Header.Set("Authorization", "Bearer "+env["MASORA_AUTH_TOKEN"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /run = %d, want 200", resp.StatusCode)
	}
	stop()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("masora serve exited %d after shutdown\n%s", r.code, r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("masora serve did not stop after its context was cancelled")
	}
}

// TestDoctorCommand runs `masora doctor` on the stack before `ore doctor`
// wrote its probe files: the table says what to run, and the exit code is 1.
func TestDoctorCommand(t *testing.T) {
	s := masoratest.New(t)
	r := run(t.Context(), stackEnv(t, s), "doctor")
	for _, want := range []string{"postgres migrations at head    pass", "bucket lists", "run `ore doctor` first", "checks failed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("masora doctor output lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	if r.code != 1 {
		t.Errorf("masora doctor = exit %d, want 1 (a check fails)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
