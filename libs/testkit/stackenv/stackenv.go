// Package stackenv owns the local emulator stack's contract with everything
// that uses it: the keys of its env file (.stack/env), how that file is
// written and read, the stack's fixed names (region, credentials, project,
// queue and dead-letter queue, bucket, dataset), and how queues, buckets and
// datasets are created on the emulators.
//
// tools/cmd/stack writes the file with it; the test harness (stacktest) and
// the demo read it. Unlike stacktest it returns errors and never touches a
// testing.T, so the developer tools can use it too.
package stackenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Keys of the env file, in the order Vars lists them.
const (
	KeyAWSRegion          = "AWS_REGION"
	KeyAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	KeyAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	KeySQSEndpoint        = "SQS_ENDPOINT"
	// KeyAWSEndpointURLSQS repeats SQS_ENDPOINT under the name the AWS CLI and
	// SDKs read, so `aws sqs ...` works in a shell that sourced the file.
	KeyAWSEndpointURLSQS = "AWS_ENDPOINT_URL_SQS"
	KeySQSQueueURL       = "SQS_QUEUE_URL"
	KeySQSDLQURL         = "SQS_DLQ_URL"
	KeyStorageEmulator   = "STORAGE_EMULATOR_HOST"
	KeyGCSBucket         = "GCS_BUCKET"
	KeyBigQueryEndpoint  = "BIGQUERY_ENDPOINT"
	KeyBigQueryProject   = "BIGQUERY_PROJECT"
	KeyBigQueryDataset   = "BIGQUERY_DATASET"
	KeyDatabaseURL       = "DATABASE_URL"
	KeyLambdaRIEBin      = "LAMBDA_RIE_BIN"
)

// Env holds the connection settings of a running stack, one field per key of
// the env file.
type Env struct {
	// Path is the env file the settings were read from, if any.
	Path string

	AWSRegion          string // AWS_REGION
	AWSAccessKeyID     string // AWS_ACCESS_KEY_ID
	AWSSecretAccessKey string // AWS_SECRET_ACCESS_KEY
	SQSEndpoint        string // SQS_ENDPOINT (and AWS_ENDPOINT_URL_SQS), e.g. http://127.0.0.1:PORT
	SQSQueueURL        string // SQS_QUEUE_URL of the default queue QueueName
	SQSDLQURL          string // SQS_DLQ_URL of its dead-letter queue DLQName

	StorageEmulatorHost string // STORAGE_EMULATOR_HOST, e.g. http://127.0.0.1:PORT
	GCSBucket           string // GCS_BUCKET, the default bucket

	BigQueryEndpoint string // BIGQUERY_ENDPOINT, e.g. http://127.0.0.1:PORT
	BigQueryProject  string // BIGQUERY_PROJECT
	BigQueryDataset  string // BIGQUERY_DATASET, the default dataset

	DatabaseURL  string // DATABASE_URL of a PostgreSQL superuser
	LambdaRIEBin string // LAMBDA_RIE_BIN, path of the aws-lambda-rie binary
}

// field ties a key of the env file to its Env field: the one table that both
// Vars and Parse read.
type field struct {
	key string
	val *string
}

func (e *Env) fields() []field {
	return []field{
		{KeyAWSRegion, &e.AWSRegion},
		{KeyAWSAccessKeyID, &e.AWSAccessKeyID},
		{KeyAWSSecretAccessKey, &e.AWSSecretAccessKey},
		{KeySQSEndpoint, &e.SQSEndpoint},
		{KeyAWSEndpointURLSQS, &e.SQSEndpoint},
		{KeySQSQueueURL, &e.SQSQueueURL},
		{KeySQSDLQURL, &e.SQSDLQURL},
		{KeyStorageEmulator, &e.StorageEmulatorHost},
		{KeyGCSBucket, &e.GCSBucket},
		{KeyBigQueryEndpoint, &e.BigQueryEndpoint},
		{KeyBigQueryProject, &e.BigQueryProject},
		{KeyBigQueryDataset, &e.BigQueryDataset},
		{KeyDatabaseURL, &e.DatabaseURL},
		{KeyLambdaRIEBin, &e.LambdaRIEBin},
	}
}

// requiredKeys are the keys without which a stack cannot be used.
var requiredKeys = []string{KeyAWSRegion, KeySQSEndpoint, KeyStorageEmulator, KeyBigQueryEndpoint, KeyDatabaseURL}

// Var is one KEY=VALUE line of the env file.
type Var struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Vars returns the env file's lines for e, in key order.
func (e Env) Vars() []Var {
	fs := e.fields()
	vars := make([]Var, len(fs))
	for i, f := range fs {
		vars[i] = Var{Key: f.key, Value: *f.val}
	}
	return vars
}

// Format renders vars as shell-sourceable KEY=VALUE lines. Values that a
// POSIX shell would split or expand are single-quoted.
func Format(w io.Writer, vars []Var) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# Local emulator stack, written by `go run ./tools/cmd/stack up`.")
	fmt.Fprintln(bw, "# Load into a shell with: set -a; . .stack/env; set +a")
	for _, v := range vars {
		fmt.Fprintf(bw, "%s=%s\n", v.Key, shellQuote(v.Value))
	}
	return bw.Flush()
}

func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+,=?", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Write replaces the env file at path atomically with vars.
func Write(path string, vars []Var) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := Format(tmp, vars); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read reads the env file at path. It fails when the file lacks a key that
// every user of the stack needs.
func Read(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Env{}, err
	}
	env, err := Parse(b)
	if err != nil {
		return Env{}, fmt.Errorf("parse %s: %w", path, err)
	}
	env.Path = path
	return env, nil
}

// Parse reads env file content: KEY=VALUE lines as Format writes them (blank
// lines and # comments are ignored, an `export ` prefix is allowed, and a value
// may be single-quoted the way a POSIX shell reads it). Unknown keys are
// ignored; a missing required key is an error.
func Parse(b []byte) (Env, error) {
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
			return Env{}, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, line)
		}
		v, err := unquote(value)
		if err != nil {
			return Env{}, fmt.Errorf("line %d (%s): %w", n, key, err)
		}
		vars[key] = v
	}
	if err := sc.Err(); err != nil {
		return Env{}, err
	}
	var env Env
	for _, f := range env.fields() {
		if v, ok := vars[f.key]; ok {
			*f.val = v
		}
	}
	var missing []string
	for _, k := range requiredKeys {
		if vars[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Env{}, fmt.Errorf("lacks %s", strings.Join(missing, ", "))
	}
	return env, nil
}

// unquote undoes the env file's shell single-quoting: text between single
// quotes is literal, and a backslash-escaped quote outside them is a quote.
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
