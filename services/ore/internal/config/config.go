// Package config reads Ore's configuration from the environment, applies the
// documented defaults and validates every value at start-up.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parquet-go/parquet-go/compress"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
)

// Mode says how Ore receives batches.
type Mode string

// The run modes.
const (
	// ModeAuto is ModeLambda when AWS_LAMBDA_RUNTIME_API is set, else ModePoll.
	ModeAuto Mode = "auto"
	// ModeLambda serves invocations of the Lambda runtime API.
	ModeLambda Mode = "lambda"
	// ModePoll receives from SQS itself, like a Lambda event source mapping.
	ModePoll Mode = "poll"
)

// Limits of the event source mapping that poll mode emulates.
const (
	MaxPollBatchSize   = 10000
	MaxPollBatchWindow = 300 * time.Second
	// MaxPollWaitTime is SQS's longest long poll.
	MaxPollWaitTime = 20 * time.Second
	// LambdaPayloadBytes is Lambda's synchronous invoke payload limit, which
	// also bounds an event source mapping's batch.
	LambdaPayloadBytes = 6 * 1024 * 1024
)

// Config is Ore's configuration.
type Config struct {
	// Mode is the run mode, resolved: never ModeAuto.
	Mode Mode

	AWSRegion   string
	SQSEndpoint string
	SQSQueueURL string

	GCSBucket string
	GCSPrefix string

	LogLevel slog.Level

	// CompressionName and Compression are the parquet page codec.
	CompressionName   string
	Compression       compress.Codec
	UploadConcurrency int
	UploadTimeout     time.Duration

	PollBatchSize     int
	PollBatchWindow   time.Duration
	PollMaxBatchBytes int
	PollReceivers     int
	PollHandlers      int
	PollWaitTime      time.Duration
	ShutdownTimeout   time.Duration

	// MemoryLimit is the Go runtime's soft memory limit in bytes, derived
	// from the Lambda function's memory size; 0 leaves the runtime's own
	// setting (GOMEMLIMIT, or none).
	MemoryLimit int64
}

// memorySharePercent is the part of a Lambda function's memory given to the
// Go heap; the rest is for the runtime, stacks and buffers outside the heap.
const memorySharePercent = 85

// variable documents one environment variable.
type variable struct {
	name, def, doc string
}

// variables lists every variable Load reads, with its default; Usage prints
// this table.
var variables = []variable{
	{"ORE_MODE", "auto", "lambda, poll, or auto: lambda when AWS_LAMBDA_RUNTIME_API is set, else poll"},
	{"GCS_BUCKET", "", "bucket the parquet files and quarantine go to (required)"},
	{"GCS_PREFIX", layout.DefaultPrefix, "object name prefix inside the bucket"},
	{"STORAGE_EMULATOR_HOST", "", "http://host:port of a GCS emulator; unset for Google Cloud Storage (read by the storage client)"},
	{"AWS_REGION", "", "AWS region of the queue (required in poll mode; set by Lambda)"},
	{"SQS_ENDPOINT", "", "SQS endpoint URL; empty for AWS (poll mode)"},
	{"SQS_QUEUE_URL", "", "queue to consume (required in poll mode)"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"ORE_PARQUET_COMPRESSION", "zstd", "parquet compression: zstd, snappy, gzip, lz4_raw or none"},
	{"ORE_UPLOAD_CONCURRENCY", "4", "objects uploaded at once per batch, 1 to 64"},
	{"ORE_UPLOAD_TIMEOUT", "60s", "deadline of one object upload, retries included"},
	{"ORE_POLL_BATCH_SIZE", "10000", "poll mode: most messages per batch, 1 to 10000"},
	{"ORE_POLL_BATCH_WINDOW", "5s", "poll mode: longest wait to fill a batch, 0s to 300s; keep it below the queue's visibility timeout"},
	{"ORE_POLL_MAX_BATCH_BYTES", "6291456", "poll mode: most body bytes per batch (Lambda's 6 MB payload limit by default)"},
	{"ORE_POLL_RECEIVERS", "8", "poll mode: concurrent ReceiveMessage loops, 1 to 64"},
	{"ORE_POLL_HANDLERS", "2", "poll mode: batches handled at once, 1 to 16"},
	{"ORE_POLL_WAIT_TIME", "20s", "poll mode: ReceiveMessage long poll, whole seconds, 0s to 20s"},
	{"ORE_SHUTDOWN_TIMEOUT", "30s", "poll mode: time to finish in-flight batches after SIGTERM"},
	{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "", "set by Lambda: without GOMEMLIMIT, the Go memory limit becomes 85% of it"},
}

// Usage describes every environment variable, its default and meaning.
func Usage() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range variables {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, v.def, v.doc)
	}
	tw.Flush()
	return b.String()
}

// reader reads variables, applying defaults and collecting one error per bad value.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) str(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	for _, v := range variables {
		if v.name == name {
			return v.def
		}
	}
	panic("config: undocumented variable " + name)
}

func (r *reader) fail(name, value, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, value, fmt.Sprintf(format, args...)))
}

func (r *reader) intIn(name string, lo, hi int) int {
	s := r.str(name)
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		r.fail(name, s, "want a whole number from %d to %d", lo, hi)
	}
	return n
}

func (r *reader) durationIn(name string, lo, hi time.Duration) time.Duration {
	s := r.str(name)
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		r.fail(name, s, "want a duration like 5s or 2m from %s to %s", lo, hi)
	}
	return d
}

// Load reads the configuration with getenv (os.Getenv in production) and
// validates it. The error lists every bad or missing value.
func Load(getenv func(string) string) (Config, error) {
	r := &reader{getenv: getenv}
	c := Config{
		AWSRegion:         r.str("AWS_REGION"),
		SQSEndpoint:       r.str("SQS_ENDPOINT"),
		SQSQueueURL:       r.str("SQS_QUEUE_URL"),
		GCSBucket:         r.str("GCS_BUCKET"),
		GCSPrefix:         strings.Trim(r.str("GCS_PREFIX"), "/"),
		CompressionName:   strings.ToLower(r.str("ORE_PARQUET_COMPRESSION")),
		UploadConcurrency: r.intIn("ORE_UPLOAD_CONCURRENCY", 1, 64),
		UploadTimeout:     r.durationIn("ORE_UPLOAD_TIMEOUT", time.Second, 15*time.Minute),
		PollBatchSize:     r.intIn("ORE_POLL_BATCH_SIZE", 1, MaxPollBatchSize),
		PollBatchWindow:   r.durationIn("ORE_POLL_BATCH_WINDOW", 0, MaxPollBatchWindow),
		PollMaxBatchBytes: r.intIn("ORE_POLL_MAX_BATCH_BYTES", 256*1024, 64*1024*1024),
		PollReceivers:     r.intIn("ORE_POLL_RECEIVERS", 1, 64),
		PollHandlers:      r.intIn("ORE_POLL_HANDLERS", 1, 16),
		PollWaitTime:      r.durationIn("ORE_POLL_WAIT_TIME", 0, MaxPollWaitTime),
		ShutdownTimeout:   r.durationIn("ORE_SHUTDOWN_TIMEOUT", time.Second, 15*time.Minute),
	}

	switch m := Mode(strings.ToLower(r.str("ORE_MODE"))); m {
	case ModeLambda, ModePoll:
		c.Mode = m
	case ModeAuto:
		c.Mode = ModePoll
		if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
			c.Mode = ModeLambda
		}
	default:
		r.fail("ORE_MODE", string(m), "want lambda, poll or auto")
	}

	if c.GCSBucket == "" {
		r.errs = append(r.errs, errors.New("GCS_BUCKET is required: set it to the bucket Ore writes to"))
	}
	if s := r.str("LOG_LEVEL"); c.LogLevel.UnmarshalText([]byte(s)) != nil {
		r.fail("LOG_LEVEL", s, "want debug, info, warn or error")
	}
	codec, err := parquetrow.ParseCodec(c.CompressionName)
	if err != nil {
		r.fail("ORE_PARQUET_COMPRESSION", c.CompressionName, "want zstd, snappy, gzip, lz4_raw or none")
	}
	c.Compression = codec
	if c.PollWaitTime%time.Second != 0 {
		r.fail("ORE_POLL_WAIT_TIME", c.PollWaitTime.String(), "SQS takes whole seconds")
	}

	if mb := r.str("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"); mb != "" && getenv("GOMEMLIMIT") == "" {
		n, err := strconv.Atoi(mb)
		if err != nil || n < 128 {
			r.fail("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb, "want the function's memory in MB, at least 128")
		}
		c.MemoryLimit = int64(n) << 20 * memorySharePercent / 100
	}

	if c.Mode == ModePoll {
		if c.SQSQueueURL == "" {
			r.errs = append(r.errs, errors.New("SQS_QUEUE_URL is required in poll mode: set it to the queue Ore consumes"))
		}
		if c.AWSRegion == "" {
			r.errs = append(r.errs, errors.New("AWS_REGION is required in poll mode: set it to the queue's region"))
		}
	}
	if err := errors.Join(r.errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration (see ore --help):\n%w", err)
	}
	return c, nil
}

// LogValue lists the configuration for the start-up log line. It holds no
// secrets: credentials come from the cloud SDKs' own sources.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("mode", string(c.Mode)),
		slog.String("gcs_bucket", c.GCSBucket),
		slog.String("gcs_prefix", c.GCSPrefix),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("parquet_compression", c.CompressionName),
		slog.Int("upload_concurrency", c.UploadConcurrency),
		slog.String("upload_timeout", c.UploadTimeout.String()),
		slog.Int64("memory_limit", c.MemoryLimit),
	}
	if c.Mode == ModePoll {
		attrs = append(attrs,
			slog.String("aws_region", c.AWSRegion),
			slog.String("sqs_endpoint", c.SQSEndpoint),
			slog.String("sqs_queue_url", c.SQSQueueURL),
			slog.Int("poll_batch_size", c.PollBatchSize),
			slog.String("poll_batch_window", c.PollBatchWindow.String()),
			slog.Int("poll_max_batch_bytes", c.PollMaxBatchBytes),
			slog.Int("poll_receivers", c.PollReceivers),
			slog.Int("poll_handlers", c.PollHandlers),
			slog.String("poll_wait_time", c.PollWaitTime.String()),
			slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		)
	}
	return slog.GroupValue(attrs...)
}
