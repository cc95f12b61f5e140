package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/services/ore/internal/config"
)

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := config.Load(getenv(map[string]string{
		"GCS_BUCKET": "b", "SQS_QUEUE_URL": "http://q", "AWS_REGION": "eu-west-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Mode: config.ModePoll, AWSRegion: "eu-west-1", SQSQueueURL: "http://q", GCSBucket: "b", GCSPrefix: "logs",
		LogLevel: slog.LevelInfo, CompressionName: "zstd", UploadConcurrency: 4, UploadTimeout: time.Minute,
		PollBatchSize: 10000, PollBatchWindow: 5 * time.Second, PollMaxBatchBytes: 6 << 20, PollReceivers: 8,
		PollHandlers: 2, PollWaitTime: 20 * time.Second, ShutdownTimeout: 30 * time.Second,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(config.Config{}, "Compression")); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if got.Compression == nil || got.Compression.String() != "ZSTD" {
		t.Errorf("default compression %v, want ZSTD", got.Compression)
	}
}

func TestLoad(t *testing.T) {
	base := map[string]string{"GCS_BUCKET": "b", "SQS_QUEUE_URL": "http://q", "AWS_REGION": "eu-west-1"}
	tests := []struct {
		desc  string
		env   map[string]string
		check func(config.Config) any
		want  any
	}{
		{"lambda when the runtime API is set", map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "SQS_QUEUE_URL": "", "AWS_REGION": ""},
			func(c config.Config) any { return c.Mode }, config.ModeLambda},
		{"poll forced under Lambda", map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "ORE_MODE": "POLL"},
			func(c config.Config) any { return c.Mode }, config.ModePoll},
		{"prefix slashes trimmed", map[string]string{"GCS_PREFIX": "/a/b/"},
			func(c config.Config) any { return c.GCSPrefix }, "a/b"},
		{"codec", map[string]string{"ORE_PARQUET_COMPRESSION": "Snappy"},
			func(c config.Config) any { return c.Compression.String() }, "SNAPPY"},
		{"durations and numbers", map[string]string{"ORE_POLL_BATCH_WINDOW": "0s", "ORE_POLL_WAIT_TIME": "1s", "ORE_POLL_BATCH_SIZE": "10", "LOG_LEVEL": "debug"},
			func(c config.Config) any {
				return []any{c.PollBatchWindow, c.PollWaitTime, c.PollBatchSize, c.LogLevel}
			},
			[]any{time.Duration(0), time.Second, 10, slog.LevelDebug}},
		{"memory limit from the Lambda memory size", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"},
			func(c config.Config) any { return c.MemoryLimit }, int64(256<<20) * 85 / 100},
		{"GOMEMLIMIT wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOMEMLIMIT": "100MiB"},
			func(c config.Config) any { return c.MemoryLimit }, int64(0)},
	}
	for _, tt := range tests {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tt.env {
			env[k] = v
		}
		c, err := config.Load(getenv(env))
		if err != nil {
			t.Errorf("%s: %v", tt.desc, err)
			continue
		}
		if diff := cmp.Diff(tt.want, tt.check(c)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.desc, diff)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{}, []string{
			"GCS_BUCKET is required", "SQS_QUEUE_URL is required in poll mode", "AWS_REGION is required in poll mode",
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda"}, nil},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "batch", "LOG_LEVEL": "loud", "ORE_PARQUET_COMPRESSION": "lzo"}, []string{
			`ORE_MODE="batch": want lambda, poll or auto`,
			`LOG_LEVEL="loud": want debug, info, warn or error`,
			`ORE_PARQUET_COMPRESSION="lzo": want zstd, snappy, gzip, lz4_raw or none`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "ORE_UPLOAD_CONCURRENCY": "0", "ORE_UPLOAD_TIMEOUT": "soon"}, []string{
			`ORE_UPLOAD_CONCURRENCY="0": want a whole number from 1 to 64`,
			`ORE_UPLOAD_TIMEOUT="soon": want a duration like 5s or 2m from 1s to 15m0s`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "ORE_POLL_BATCH_SIZE": "10001", "ORE_POLL_BATCH_WINDOW": "301s",
			"ORE_POLL_WAIT_TIME": "1500ms", "ORE_POLL_RECEIVERS": "x", "ORE_POLL_MAX_BATCH_BYTES": "1000"}, []string{
			`ORE_POLL_BATCH_SIZE="10001": want a whole number from 1 to 10000`,
			`ORE_POLL_BATCH_WINDOW="301s": want a duration like 5s or 2m from 0s to 5m0s`,
			`ORE_POLL_WAIT_TIME="1.5s": SQS takes whole seconds`,
			`ORE_POLL_RECEIVERS="x": want a whole number from 1 to 64`,
			`ORE_POLL_MAX_BATCH_BYTES="1000": want a whole number from 262144 to 67108864`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, []string{
			`AWS_LAMBDA_FUNCTION_MEMORY_SIZE="lots": want the function's memory in MB`,
		}},
	}
	for _, tt := range tests {
		_, err := config.Load(getenv(tt.env))
		if tt.want == nil {
			if err != nil {
				t.Errorf("Load(%v): %v", tt.env, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Load(%v) succeeded, want errors %q", tt.env, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), "see ore --help") {
			t.Errorf("error %q does not point to --help", err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%v) = %q, want it to say %q", tt.env, err, w)
			}
		}
		if got := strings.Count(err.Error(), "\n"); got != len(tt.want) {
			t.Errorf("Load(%v) = %q: %d lines of problems, want %d", tt.env, err, got, len(tt.want))
		}
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	u := config.Usage()
	for _, v := range []string{"ORE_MODE", "GCS_BUCKET", "GCS_PREFIX", "SQS_QUEUE_URL", "ORE_POLL_BATCH_WINDOW", "ORE_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(u, v) {
			t.Errorf("Usage lacks %s", v)
		}
	}
}
