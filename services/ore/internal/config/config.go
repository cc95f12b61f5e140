// Package config reads Ore's configuration from the environment, applies the
// documented defaults and validates every value at start-up.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go/compress"

	"github.com/ore-masora/pipeline/libs/envconfig"
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

// Command is what the configuration is loaded for: Ore itself, or one of
// the operator commands, which need other variables.
type Command string

// The commands.
const (
	// CommandService is Ore itself, in lambda or poll mode, and ore doctor.
	CommandService Command = ""
	// CommandReplay is ore replay: it needs the bucket, the queue and its
	// region, whatever the mode.
	CommandReplay Command = "replay"
	// CommandRedrive is ore redrive: it needs the queue and its region,
	// and no bucket.
	CommandRedrive Command = "redrive"
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

	// Compression is the parquet page codec.
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

	// DoctorFunctionTimeout and DoctorBatchingWindow are what ore doctor
	// checks the queue's visibility timeout against.
	DoctorFunctionTimeout time.Duration
	DoctorBatchingWindow  time.Duration

	// LambdaMemoryMB is the Lambda function's memory size; 0 outside Lambda.
	LambdaMemoryMB int
	// MemoryLimit is the Go runtime's soft memory limit in bytes, derived
	// from LambdaMemoryMB; 0 leaves the runtime's own setting (GOMEMLIMIT,
	// or none).
	MemoryLimit int64
}

// memorySharePercent is the part of a Lambda function's memory given to the
// Go heap; the rest is for the runtime, stacks and buffers outside the heap.
const memorySharePercent = 85

// vars is the table of every variable Ore reads, bound to c's fields: Load,
// Usage and LogValue all come from it. The bucket is required except for
// ore redrive.
func (c *Config) vars(cmd Command) envconfig.Vars {
	return envconfig.Vars{
		{Name: "ORE_MODE", Default: string(ModeAuto), Value: envconfig.Enum(&c.Mode, ModeLambda, ModePoll, ModeAuto),
			Doc: "lambda, poll, or auto: lambda when AWS_LAMBDA_RUNTIME_API is set, else poll"},
		{Name: "GCS_BUCKET", Required: cmd != CommandRedrive, Value: envconfig.String(&c.GCSBucket),
			Doc: "bucket the parquet files and quarantine go to (not needed by ore redrive)"},
		envconfig.GCSPrefix(&c.GCSPrefix, layout.DefaultPrefix),
		envconfig.StorageEmulatorHost,
		{Name: "AWS_REGION", Value: envconfig.String(&c.AWSRegion),
			Doc: "AWS region of the queue (required in poll mode and for ore replay/redrive; set by Lambda)"},
		{Name: "SQS_ENDPOINT", Value: envconfig.URL(&c.SQSEndpoint),
			Doc: "SQS endpoint URL; empty for AWS (poll mode, ore doctor/replay/redrive)"},
		{Name: "SQS_QUEUE_URL", Value: envconfig.URL(&c.SQSQueueURL),
			Doc: "queue to consume (required in poll mode and for ore replay/redrive)"},
		envconfig.LogLevel(&c.LogLevel),
		{Name: "ORE_PARQUET_COMPRESSION", Default: "zstd", Value: envconfig.Parse(&c.Compression, parquetrow.ParseCodec, "zstd, snappy, gzip, lz4_raw or none"),
			Doc: "parquet compression: zstd, snappy, gzip, lz4_raw or none"},
		{Name: "ORE_UPLOAD_CONCURRENCY", Default: "4", Value: envconfig.Int(&c.UploadConcurrency, 1, 64),
			Doc: "objects uploaded at once per batch, 1 to 64"},
		{Name: "ORE_UPLOAD_TIMEOUT", Default: "60s", Value: envconfig.Duration(&c.UploadTimeout, time.Second, 15*time.Minute),
			Doc: "deadline of one object upload, retries included, 1s to 15m"},
		{Name: "ORE_POLL_BATCH_SIZE", Default: "10000", Value: envconfig.Int(&c.PollBatchSize, 1, MaxPollBatchSize),
			Doc: "poll mode: most messages per batch, 1 to 10000"},
		{Name: "ORE_POLL_BATCH_WINDOW", Default: "5s", Value: envconfig.Duration(&c.PollBatchWindow, 0, MaxPollBatchWindow),
			Doc: "poll mode: longest wait to fill a batch, 0s to 5m; keep it below the queue's visibility timeout"},
		{Name: "ORE_POLL_MAX_BATCH_BYTES", Default: strconv.Itoa(LambdaPayloadBytes), Value: envconfig.Int(&c.PollMaxBatchBytes, 256<<10, 64<<20),
			Doc: "poll mode: most body bytes per batch (Lambda's 6 MB payload limit by default), 262144 to 67108864"},
		{Name: "ORE_POLL_RECEIVERS", Default: "8", Value: envconfig.Int(&c.PollReceivers, 1, 64),
			Doc: "poll mode: concurrent ReceiveMessage loops, 1 to 64"},
		{Name: "ORE_POLL_HANDLERS", Default: "2", Value: envconfig.Int(&c.PollHandlers, 1, 16),
			Doc: "poll mode: batches handled at once, 1 to 16"},
		{Name: "ORE_POLL_WAIT_TIME", Default: "20s", Value: envconfig.Parse(&c.PollWaitTime, parseWaitTime, "whole seconds from 0s to 20s, like 20s"),
			Doc: "poll mode: ReceiveMessage long poll, whole seconds, 0s to 20s"},
		{Name: "ORE_SHUTDOWN_TIMEOUT", Default: "30s", Value: envconfig.Duration(&c.ShutdownTimeout, time.Second, 15*time.Minute),
			Doc: "poll mode: time to finish in-flight batches after SIGTERM, 1s to 15m"},
		{Name: "ORE_DOCTOR_FUNCTION_TIMEOUT", Default: "60s", Value: envconfig.Duration(&c.DoctorFunctionTimeout, time.Second, 15*time.Minute),
			Doc: "ore doctor: the Lambda function's timeout (infra/aws lambda_timeout_seconds), 1s to 15m"},
		{Name: "ORE_DOCTOR_BATCHING_WINDOW", Default: "5s", Value: envconfig.Duration(&c.DoctorBatchingWindow, 0, MaxPollBatchWindow),
			Doc: "ore doctor: the event source mapping's batching window (infra/aws batching_window_seconds), 0s to 5m"},
		{Name: "AWS_LAMBDA_RUNTIME_API",
			Doc: "set by Lambda: ORE_MODE=auto then means lambda"},
		{Name: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", Value: envconfig.Int(&c.LambdaMemoryMB, 128, 10240),
			Doc: "set by Lambda, in MB: without GOMEMLIMIT, the Go memory limit becomes 85% of it"},
		{Name: "GOMEMLIMIT",
			Doc: "the Go runtime's soft memory limit, e.g. 100MiB (read by the runtime)"},
	}
}

// parseWaitTime parses a long poll wait: SQS takes whole seconds, at most
// MaxPollWaitTime.
func parseWaitTime(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > MaxPollWaitTime || d%time.Second != 0 {
		return 0, errors.New("not whole seconds from 0s to 20s")
	}
	return d, nil
}

// Usage describes every environment variable, its default and meaning.
func Usage() string { return new(Config).vars(CommandService).Usage() }

// Load reads Ore's configuration with getenv (os.Getenv in production) and
// validates it. The error lists every bad or missing value, one a line.
func Load(getenv func(string) string) (Config, error) { return LoadFor(getenv, CommandService) }

// LoadFor is Load for a command: ore replay and ore redrive need the queue
// and its region in any mode, and ore redrive needs no bucket.
func LoadFor(getenv func(string) string, cmd Command) (Config, error) {
	var c Config
	errs := []error{c.vars(cmd).Load(getenv)}
	c.GCSPrefix = strings.Trim(c.GCSPrefix, "/")
	if c.Mode == ModeAuto {
		c.Mode = ModePoll
		if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
			c.Mode = ModeLambda
		}
	}
	if c.LambdaMemoryMB > 0 && getenv("GOMEMLIMIT") == "" {
		c.MemoryLimit = int64(c.LambdaMemoryMB) << 20 * memorySharePercent / 100
	}
	switch {
	case cmd == CommandReplay || cmd == CommandRedrive:
		what := map[Command]string{
			CommandReplay:  "the queue the quarantined messages go back to",
			CommandRedrive: "the queue whose dead-letter queue is moved back into it",
		}[cmd]
		if envconfig.Unset(getenv, "SQS_QUEUE_URL") {
			errs = append(errs, envconfig.Missing("SQS_QUEUE_URL", fmt.Sprintf("for ore %s: set it to %s", cmd, what)))
		}
		if envconfig.Unset(getenv, "AWS_REGION") {
			errs = append(errs, envconfig.Missing("AWS_REGION", fmt.Sprintf("for ore %s: set it to the queue's region", cmd)))
		}
	case c.Mode == ModePoll:
		if envconfig.Unset(getenv, "SQS_QUEUE_URL") {
			errs = append(errs, envconfig.Missing("SQS_QUEUE_URL", "in poll mode: set it to the queue Ore consumes"))
		}
		if envconfig.Unset(getenv, "AWS_REGION") {
			errs = append(errs, envconfig.Missing("AWS_REGION", "in poll mode: set it to the queue's region"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration (see ore --help):\n%w", err)
	}
	return c, nil
}

// LogValue lists the configuration for the start-up log line: every
// variable Ore reads and the memory limit it derives. It holds no secrets:
// credentials come from the cloud SDKs' own sources.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.vars(CommandService).Attrs(), slog.Int64("memory_limit", c.MemoryLimit))...)
}
