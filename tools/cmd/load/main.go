// Command load is the pipeline's load and freshness run (`make load`): it
// publishes realistic events at a fixed rate for a fixed time through the
// local stack, runs Ore (poll mode) and Masora (`masora serve`, triggered
// on a cadence) as processes, checks every invariant, and prints freshness
// per stage, throughput beside its floors, memory and CPU of every process,
// the requests made and the first bottleneck. Traffic goes only to the
// stack on 127.0.0.1; the run stops by itself.
//
//	go run ./tools/cmd/stack up
//	go run ./tools/cmd/load -rate 500 -duration 60s -window 5s -cadence 30s -figures .load/figures.json
//
// It uses the stack of ORE_MASORA_STACK_ENV (default .stack/env) and makes
// its own queue, bucket and Postgres schema there, named load-<id>. The
// LOAD_* variables (see -help) set the defaults of the flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/load"
	"github.com/ore-masora/pipeline/tools/internal/load/cost"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg load.Config
	vars := load.ConfigVars(&cfg)
	if err := vars.Load(getenv); err != nil {
		return err
	}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events published a second (LOAD_RATE)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to publish (LOAD_DURATION)")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "Ore's batching window (LOAD_ORE_WINDOW)")
	fs.DurationVar(&cfg.Cadence, "cadence", cfg.Cadence, "time between Masora /run triggers (LOAD_CADENCE)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait until every event is in Postgres (LOAD_SETTLE_TIMEOUT)")
	fs.IntVar(&cfg.ChunkFiles, "chunk-files", cfg.ChunkFiles, "MASORA_CHUNK_FILES, 0 for the most the BigQuery emulator takes (LOAD_CHUNK_FILES)")
	fs.IntVar(&cfg.FloorMessages, "floor-messages", cfg.FloorMessages, "messages of each poll-mode floor drain, 0 to skip (LOAD_FLOOR_MESSAGES)")
	fs.IntVar(&cfg.FloorRounds, "floor-rounds", cfg.FloorRounds, "interleaved Ore / receive-delete drains (LOAD_FLOOR_ROUNDS)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the generated events, 0 from the clock (LOAD_SEED)")
	figures := fs.String("figures", "", "write the cost model's figures (JSON) to this file")
	reportPath := fs.String("report", "", "write the whole report (JSON) to this file")
	logsPath := fs.String("logs", "", "write Ore's and Masora's output to this file (default: a temporary file)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: load [flags]\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nenvironment:\n%s", vars.Usage())
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Rate < 1 || cfg.Duration < time.Second || cfg.Cadence < time.Second {
		return fmt.Errorf("want -rate ≥ 1, -duration ≥ 1s and -cadence ≥ 1s")
	}

	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		return err
	}
	envPath := getenv("ORE_MASORA_STACK_ENV")
	if envPath == "" {
		envPath = filepath.Join(root, ".stack", "env")
	}
	st, err := stackenv.Read(envPath)
	if err != nil {
		return fmt.Errorf("read the stack's env file (start it with go run ./tools/cmd/stack up, or set ORE_MASORA_STACK_ENV): %w", err)
	}
	emulators, err := load.StackProcesses(ctx, filepath.Dir(envPath))
	if err != nil {
		return err
	}
	opts := load.Options{Config: cfg, Stack: st, Root: root, Emulators: emulators, Out: stderr}
	name := "load-" + strconv.FormatInt(time.Now().Unix(), 36)
	if err := resources(ctx, st, name, cfg.QueueVisibility(), &opts); err != nil {
		return err
	}
	logs, err := logFile(*logsPath)
	if err != nil {
		return err
	}
	defer logs.Close()
	opts.Logs = logs
	fmt.Fprintf(stderr, "load: queue, bucket and Postgres schema %s on the stack of %s; services' output in %s\n", name, envPath, logs.Name())

	rep, runErr := load.Run(ctx, opts)
	if rep == nil {
		return runErr
	}
	rep.Write(stdout)
	if *reportPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*reportPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *figures != "" {
		if err := cost.WriteFigures(*figures, rep.Figures()); err != nil {
			return err
		}
	}
	return runErr
}

// resources makes the run's queue (and DLQ), bucket and Postgres schema,
// named name, and sets them in opts.
func resources(ctx context.Context, st stackenv.Env, name string, visibility time.Duration, opts *load.Options) error {
	var err error
	opts.QueueURL, opts.DLQURL, err = stackenv.CreateQueues(ctx, stackenv.SQSClient(st.SQSEndpoint), name,
		stackenv.QueueOptions{VisibilityTimeout: visibility, MaxReceiveCount: 10})
	if err != nil {
		return err
	}
	gcs, err := stackenv.StorageClient(ctx, st.StorageEmulatorHost)
	if err != nil {
		return err
	}
	defer gcs.Close()
	if err := stackenv.CreateBucket(ctx, gcs, st.BigQueryProject, name); err != nil {
		return err
	}
	opts.Bucket = name
	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to Postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	schema := strings.ReplaceAll(name, "-", "_") // a search_path needs no quotes
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	opts.DatabaseURL, err = load.SchemaURL(st.DatabaseURL, schema)
	return err
}

func logFile(path string) (*os.File, error) {
	if path == "" {
		return os.CreateTemp("", "load-services-*.log")
	}
	return os.Create(path)
}
