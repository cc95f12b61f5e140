// Command ore turns SQS log messages into parquet files on GCS. It runs as an
// AWS Lambda function behind an SQS event source mapping (lambda mode) or as
// a long-running consumer that polls the queue itself (poll mode); both call
// the same handler. Configuration comes from the environment: ore --help
// lists it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/logjson"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/ore/internal/config"
	"github.com/ore-masora/pipeline/services/ore/internal/doctor"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/metrics"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
	"github.com/ore-masora/pipeline/services/ore/internal/poller"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the VCS revision is used.
var version string

const usage = `ore: SQS log messages to parquet files on GCS.

Usage: ore [--help]
       ore doctor   check this deployment: credentials, a probe write, the queue
                    (run it right after terraform apply; exit status 1 on a failure)
       ore replay   send quarantined messages back to the queue (ore replay -help)
       ore redrive  move the dead-letter queue's messages back to the queue
                    (ore redrive -help)

Modes (ORE_MODE):
  lambda  serve the Lambda runtime API (build with -tags lambda.norpc, binary
          named bootstrap, runtime provided.al2023)
  poll    receive from SQS_QUEUE_URL like a Lambda event source mapping,
          until SIGTERM or SIGINT

Environment:
%s
See services/ore/README.md for deployment, quarantine and replay.
`

func main() {
	flag.Usage = func() { fmt.Fprintf(flag.CommandLine.Output(), usage, config.Usage()) }
	flag.Parse()
	var err error
	switch {
	case flag.NArg() == 0:
		err = run()
	case flag.Arg(0) == "doctor" && flag.NArg() == 1:
		var ok bool
		ok, err = doctorRun(os.Stdout)
		if err == nil && !ok {
			os.Exit(1)
		}
	case flag.Arg(0) == "replay" || flag.Arg(0) == "redrive":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		cmd := map[string]func(context.Context, []string, cmdIO) int{"replay": replayMain, "redrive": redriveMain}[flag.Arg(0)]
		code := cmd(ctx, flag.Args()[1:], cmdIO{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
		stop()
		os.Exit(code)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ore: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	log := logjson.New(os.Stdout, cfg.LogLevel)
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	ver := buildVersion()
	log.Info("ore starting", "version", ver, "config", cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	reg, err := schema.Load()
	if err != nil {
		return fmt.Errorf("load log type definitions: %w", err)
	}
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("create GCS client: %w", err)
	}
	defer gcs.Close()
	h, err := handler.New(handler.Options{
		Registry:          reg,
		Store:             gcsstore.New(gcs, cfg.GCSBucket),
		Prefix:            cfg.GCSPrefix,
		WriterVersion:     "ore " + ver,
		Codec:             cfg.Compression,
		UploadConcurrency: cfg.UploadConcurrency,
		UploadTimeout:     cfg.UploadTimeout,
		Logger:            log,
		Metrics:           metrics.New(os.Stdout, "ore"),
	})
	if err != nil {
		return err
	}

	switch cfg.Mode {
	case config.ModeLambda:
		lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
		return nil
	case config.ModePoll:
		client, err := poller.NewSQSClient(ctx, cfg.AWSRegion, cfg.SQSEndpoint)
		if err != nil {
			return err
		}
		p, err := poller.New(client, h.Handle, poller.Options{
			QueueURL:        cfg.SQSQueueURL,
			BatchSize:       cfg.PollBatchSize,
			BatchWindow:     cfg.PollBatchWindow,
			MaxBatchBytes:   cfg.PollMaxBatchBytes,
			Receivers:       cfg.PollReceivers,
			Handlers:        cfg.PollHandlers,
			WaitTime:        cfg.PollWaitTime,
			ShutdownTimeout: cfg.ShutdownTimeout,
			Logger:          log,
		})
		if err != nil {
			return err
		}
		_, err = p.Run(ctx)
		return err
	}
	return errors.New("no run mode") // config.Load resolves the mode
}

// doctorRun runs the checks of `ore doctor` with Ore's configuration and
// identity and prints the table to w. It reports whether all passed; the
// error is for a configuration that does not load.
func doctorRun(w io.Writer) (bool, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return false, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	reg, err := schema.Load()
	if err != nil {
		return false, err
	}
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return false, fmt.Errorf("create GCS client: %w", err)
	}
	defer gcs.Close()
	opts := doctor.Options{
		EmulatorHost:    os.Getenv("STORAGE_EMULATOR_HOST"),
		Store:           gcsstore.New(gcs, cfg.GCSBucket),
		Bucket:          cfg.GCSBucket,
		Prefix:          cfg.GCSPrefix,
		QueueURL:        cfg.SQSQueueURL,
		FunctionTimeout: cfg.DoctorFunctionTimeout,
		BatchingWindow:  cfg.DoctorBatchingWindow,
		Registry:        reg,
		WriterVersion:   "ore " + buildVersion(),
	}
	if cfg.SQSQueueURL != "" {
		if opts.SQS, err = poller.NewSQSClient(ctx, cfg.AWSRegion, cfg.SQSEndpoint); err != nil {
			return false, err
		}
	}
	rs := doctor.Run(ctx, opts)
	if err := checks.Write(w, rs); err != nil {
		return false, err
	}
	return checks.OK(rs), nil
}

// buildVersion returns version, or the VCS revision the binary was built
// from, or "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
