package config_test

import (
	"encoding/json"
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
		LogLevel: slog.LevelInfo, UploadConcurrency: 4, UploadTimeout: time.Minute,
		PollBatchSize: 10000, PollBatchWindow: 5 * time.Second, PollMaxBatchBytes: 6 << 20, PollReceivers: 8,
		PollHandlers: 2, PollWaitTime: 20 * time.Second, ShutdownTimeout: 30 * time.Second,
		DoctorFunctionTimeout: time.Minute, DoctorBatchingWindow: 5 * time.Second,
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
		want []string // the lines after the first; nil: no error
	}{
		{map[string]string{}, []string{
			"GCS_BUCKET is required: bucket the parquet files and quarantine go to (not needed by ore redrive)",
			"SQS_QUEUE_URL is required in poll mode: set it to the queue Ore consumes",
			"AWS_REGION is required in poll mode: set it to the queue's region",
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda"}, nil},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "batch", "LOG_LEVEL": "loud", "ORE_PARQUET_COMPRESSION": "lzo"}, []string{
			`ORE_MODE="batch": want lambda, poll or auto`,
			`LOG_LEVEL="loud": want debug, info, warn or error`,
			`ORE_PARQUET_COMPRESSION="lzo": want zstd, snappy, gzip, lz4_raw or none`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "SQS_QUEUE_URL": "sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "eu-west-1"}, []string{
			`SQS_QUEUE_URL="sqs.us-east-1.amazonaws.com/1/q": want an http or https URL, like https://host:port`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "ORE_UPLOAD_CONCURRENCY": "0", "ORE_UPLOAD_TIMEOUT": "soon"}, []string{
			`ORE_UPLOAD_CONCURRENCY="0": want a whole number from 1 to 64`,
			`ORE_UPLOAD_TIMEOUT="soon": want a duration like 90s or 2m from 1s to 15m`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "ORE_POLL_BATCH_SIZE": "10001", "ORE_POLL_BATCH_WINDOW": "301s",
			"ORE_POLL_WAIT_TIME": "1500ms", "ORE_POLL_RECEIVERS": "x", "ORE_POLL_MAX_BATCH_BYTES": "1000"}, []string{
			`ORE_POLL_BATCH_SIZE="10001": want a whole number from 1 to 10000`,
			`ORE_POLL_BATCH_WINDOW="301s": want a duration like 90s or 2m from 0s to 5m`,
			`ORE_POLL_MAX_BATCH_BYTES="1000": want a whole number from 262144 to 67108864`,
			`ORE_POLL_RECEIVERS="x": want a whole number from 1 to 64`,
			`ORE_POLL_WAIT_TIME="1500ms": want whole seconds from 0s to 20s, like 20s`,
		}},
		{map[string]string{"GCS_BUCKET": "b", "ORE_MODE": "lambda", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, []string{
			`AWS_LAMBDA_FUNCTION_MEMORY_SIZE="lots": want a whole number from 128 to 10240`,
		}},
	}
	for _, tt := range tests {
		_, err := config.Load(getenv(tt.env))
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		var want []string
		if tt.want != nil {
			want = append([]string{"invalid configuration (see ore --help):"}, tt.want...)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load(%v) error lines (-want +got):\n%s", tt.env, diff)
		}
	}
}

func TestLoadForCommands(t *testing.T) {
	tests := []struct {
		cmd  config.Command
		env  map[string]string
		want []string // the lines after the first; nil: no error
	}{
		{config.CommandReplay, map[string]string{}, []string{
			"GCS_BUCKET is required: bucket the parquet files and quarantine go to (not needed by ore redrive)",
			"SQS_QUEUE_URL is required for ore replay: set it to the queue the quarantined messages go back to",
			"AWS_REGION is required for ore replay: set it to the queue's region",
		}},
		// Lambda mode does not excuse the queue.
		{config.CommandReplay, map[string]string{"GCS_BUCKET": "b", "AWS_LAMBDA_RUNTIME_API": "x", "AWS_REGION": "eu-west-1"}, []string{
			"SQS_QUEUE_URL is required for ore replay: set it to the queue the quarantined messages go back to",
		}},
		{config.CommandReplay, map[string]string{"GCS_BUCKET": "b", "SQS_QUEUE_URL": "http://q", "AWS_REGION": "eu-west-1"}, nil},
		{config.CommandRedrive, map[string]string{}, []string{
			"SQS_QUEUE_URL is required for ore redrive: set it to the queue whose dead-letter queue is moved back into it",
			"AWS_REGION is required for ore redrive: set it to the queue's region",
		}},
		{config.CommandRedrive, map[string]string{"SQS_QUEUE_URL": "http://q", "AWS_REGION": "eu-west-1"}, nil},
	}
	for _, tt := range tests {
		_, err := config.LoadFor(getenv(tt.env), tt.cmd)
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		var want []string
		if tt.want != nil {
			want = append([]string{"invalid configuration (see ore --help):"}, tt.want...)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("LoadFor(%v, %q) error lines (-want +got):\n%s", tt.env, tt.cmd, diff)
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

func TestLogValue(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{
		"GCS_BUCKET": "b", "SQS_QUEUE_URL": "http://q/1/events", "AWS_REGION": "eu-west-1", "SQS_ENDPOINT": "http://sqs:4566",
		"ORE_PARQUET_COMPRESSION": "snappy", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "200",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("ore starting", "config", c)
	var got struct{ Config map[string]any }
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ore_mode": "poll", "gcs_bucket": "b", "gcs_prefix": "logs", "aws_region": "eu-west-1",
		"sqs_endpoint": "http://sqs:4566", "sqs_queue_url": "http://q/1/events", "log_level": "INFO",
		"ore_parquet_compression": "SNAPPY", "ore_upload_concurrency": 4.0, "ore_upload_timeout": "1m",
		"ore_poll_batch_size": 10000.0, "ore_poll_batch_window": "5s", "ore_poll_max_batch_bytes": 6291456.0,
		"ore_poll_receivers": 8.0, "ore_poll_handlers": 2.0, "ore_poll_wait_time": "20s", "ore_shutdown_timeout": "30s",
		"aws_lambda_function_memory_size": 200.0, "memory_limit": float64(200 << 20 * 85 / 100),
		"ore_doctor_function_timeout": "1m", "ore_doctor_batching_window": "5s",
	}
	if diff := cmp.Diff(want, got.Config); diff != "" {
		t.Errorf("logged configuration (-want +got):\n%s", diff)
	}
}
