package localstack

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Var is one KEY=VALUE line of the env file.
type Var struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Keys of the env file, in the order they are written.
const (
	KeyAWSRegion          = "AWS_REGION"
	KeyAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	KeyAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	KeySQSEndpoint        = "SQS_ENDPOINT"
	KeyAWSEndpointURLSQS  = "AWS_ENDPOINT_URL_SQS"
	KeySQSQueueURL        = "SQS_QUEUE_URL"
	KeySQSDLQURL          = "SQS_DLQ_URL"
	KeyStorageEmulator    = "STORAGE_EMULATOR_HOST"
	KeyGCSBucket          = "GCS_BUCKET"
	KeyBigQueryEndpoint   = "BIGQUERY_ENDPOINT"
	KeyBigQueryProject    = "BIGQUERY_PROJECT"
	KeyBigQueryDataset    = "BIGQUERY_DATASET"
	KeyDatabaseURL        = "DATABASE_URL"
	KeyLambdaRIEBin       = "LAMBDA_RIE_BIN"
)

// FormatEnv renders vars as shell-sourceable KEY=VALUE lines. Values that a POSIX shell would
// split or expand are single-quoted.
func FormatEnv(w io.Writer, vars []Var) error {
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

// writeEnvFile replaces path atomically.
func writeEnvFile(path string, vars []Var) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := FormatEnv(tmp, vars); err != nil {
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
