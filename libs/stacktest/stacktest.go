// Package stacktest connects integration tests to the local emulator stack that
// `make stack-up` (go run ./tools/cmd/stack up) starts, and gives each test its own queue,
// bucket and PostgreSQL schema, removed when the test ends.
//
// It is a test-only helper package: import it from _test.go files only, never from
// production code. Unlike the rest of libs/, it reads the environment (ORE_MASORA_STACK_ENV,
// STACK_REQUIRED) and fails or skips the calling test instead of returning errors.
//
// A test starts with Load, which skips the test when no stack is running (and with -short),
// or fails it when STACK_REQUIRED=1, as in `make test`:
//
//	env := stacktest.Load(t)
//	queueURL, dlqURL := stacktest.NewQueue(t, env)
//	bucket := stacktest.NewBucket(t, env)
//	dsn := stacktest.PostgresSchema(t, env)
package stacktest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env holds the connection settings of the running stack, one field per key of .stack/env.
type Env struct {
	// Path is the env file the settings were read from.
	Path string

	AWSRegion          string // AWS_REGION
	AWSAccessKeyID     string // AWS_ACCESS_KEY_ID
	AWSSecretAccessKey string // AWS_SECRET_ACCESS_KEY
	SQSEndpoint        string // SQS_ENDPOINT, e.g. http://127.0.0.1:PORT
	SQSQueueURL        string // SQS_QUEUE_URL of the shared default queue ore-events
	SQSDLQURL          string // SQS_DLQ_URL of its dead-letter queue ore-events-dlq

	StorageEmulatorHost string // STORAGE_EMULATOR_HOST, e.g. http://127.0.0.1:PORT
	GCSBucket           string // GCS_BUCKET, the shared default bucket

	BigQueryEndpoint string // BIGQUERY_ENDPOINT, e.g. http://127.0.0.1:PORT
	BigQueryProject  string // BIGQUERY_PROJECT
	BigQueryDataset  string // BIGQUERY_DATASET, the shared default dataset

	DatabaseURL  string // DATABASE_URL of a PostgreSQL superuser
	LambdaRIEBin string // LAMBDA_RIE_BIN, path of the aws-lambda-rie binary
}

// EnvFileVar names the variable that points Load at an env file other than
// <repo root>/.stack/env.
const EnvFileVar = "ORE_MASORA_STACK_ENV"

// RequiredVar, set to 1, makes Load fail instead of skip when no stack is running.
const RequiredVar = "STACK_REQUIRED"

const hint = "run `make stack-up` (or go run ./tools/cmd/stack up) to start the local stack"

// Load reads the env file of the running stack: $ORE_MASORA_STACK_ENV if set, else .stack/env
// in the nearest directory above the working directory that holds go.work. When the file is
// missing it skips the test, or fails it if STACK_REQUIRED=1. With -short it always skips.
func Load(t testing.TB) Env {
	t.Helper()
	if testing.Short() {
		t.Skip("stacktest: integration test skipped with -short (needs the local stack)")
	}
	required := os.Getenv(RequiredVar) == "1"
	path, err := envFilePath()
	if err == nil {
		var env Env
		env, err = readEnvFile(path)
		if err == nil {
			return env
		}
	}
	if required {
		t.Fatalf("stacktest: %v; %s=1 so the stack is required: %s", err, RequiredVar, hint)
	}
	t.Skipf("stacktest: %v; %s", err, hint)
	return Env{}
}

func envFilePath() (string, error) {
	if p := os.Getenv(EnvFileVar); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, ".stack", "env"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s to find .stack/env (set %s)", dir, EnvFileVar)
		}
	}
}

func readEnvFile(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Env{}, fmt.Errorf("no stack env file at %s", path)
	}
	if err != nil {
		return Env{}, err
	}
	vars, err := parseEnv(b)
	if err != nil {
		return Env{}, fmt.Errorf("parse %s: %w", path, err)
	}
	env := Env{
		Path:                path,
		AWSRegion:           vars["AWS_REGION"],
		AWSAccessKeyID:      vars["AWS_ACCESS_KEY_ID"],
		AWSSecretAccessKey:  vars["AWS_SECRET_ACCESS_KEY"],
		SQSEndpoint:         vars["SQS_ENDPOINT"],
		SQSQueueURL:         vars["SQS_QUEUE_URL"],
		SQSDLQURL:           vars["SQS_DLQ_URL"],
		StorageEmulatorHost: vars["STORAGE_EMULATOR_HOST"],
		GCSBucket:           vars["GCS_BUCKET"],
		BigQueryEndpoint:    vars["BIGQUERY_ENDPOINT"],
		BigQueryProject:     vars["BIGQUERY_PROJECT"],
		BigQueryDataset:     vars["BIGQUERY_DATASET"],
		DatabaseURL:         vars["DATABASE_URL"],
		LambdaRIEBin:        vars["LAMBDA_RIE_BIN"],
	}
	var missing []string
	for _, k := range []string{"AWS_REGION", "SQS_ENDPOINT", "STORAGE_EMULATOR_HOST", "BIGQUERY_ENDPOINT", "DATABASE_URL"} {
		if vars[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Env{}, fmt.Errorf("%s lacks %s", path, strings.Join(missing, ", "))
	}
	return env, nil
}

// parseEnv reads KEY=VALUE lines as the stack writes them: blank lines and # comments are
// ignored, and a value may be single-quoted the way a POSIX shell reads it.
func parseEnv(b []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, line)
		}
		v, err := unquote(value)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, key, err)
		}
		vars[key] = v
	}
	return vars, sc.Err()
}

// unquote undoes the env file's shell single-quoting: text between single quotes is literal,
// and a backslash-escaped quote outside them is a quote.
func unquote(s string) (string, error) {
	if !strings.Contains(s, "'") {
		return s, nil
	}
	var out strings.Builder
	for len(s) > 0 {
		switch {
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			out.WriteString(s[1 : 1+end])
			s = s[end+2:]
		case strings.HasPrefix(s, `\'`):
			out.WriteByte('\'')
			s = s[2:]
		default:
			out.WriteByte(s[0])
			s = s[1:]
		}
	}
	return out.String(), nil
}
