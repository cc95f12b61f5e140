// Command demo runs the pipeline end to end on the local stack and prints a
// report read back from Postgres. `make demo` starts the stack, exports
// .stack/env and runs it; see -help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/demo"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
)

const usage = `usage: go run ./tools/cmd/demo [flags]

Runs the pipeline end to end on the running local stack (make stack-up) and
prints a report: publishes a realistic stream of user_action and seller_action
events with the producer library (with duplicates, malformed messages and one
unknown log type), runs Ore in poll mode until the queue is drained, calls
Masora's POST /run as Cloud Scheduler would (bearer token), calls it a second
time to show nothing changes, reads the report back from Postgres, and ends
with the link to Masora's status page (with -keep-masora, Masora keeps
serving it until interrupted).

Each run uses its own queue, GCS prefix and Postgres database (demo_<time>),
so runs never mix; with the stack kept up you can query them afterwards.

Reads the stack's endpoints from the environment (the keys of .stack/env):
AWS_REGION, SQS_ENDPOINT, STORAGE_EMULATOR_HOST, GCS_BUCKET, BIGQUERY_ENDPOINT,
BIGQUERY_PROJECT, BIGQUERY_DATASET, DATABASE_URL. make demo sets them.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "demo FAILED: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	events := fs.Int("events", 3000, "distinct valid events to publish (2% more are duplicates)")
	seed := fs.Uint64("seed", 1, "random seed of the event stream")
	verbose := fs.Bool("v", false, "also print Ore's and Masora's own log lines")
	stays := fs.Bool("stack-stays", false, "the stack stays up after the demo (make demo KEEP=1, or a stack you started): print how to query the run's database")
	keep := fs.Bool("keep-masora", false, "keep Masora serving its status page after the demo, until interrupted (make demo KEEP=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		return err
	}
	stamp := start.UTC().Format("20060102_150405")
	fmt.Fprintf(stdout, "==> preparing queue, GCS prefix and database for run %s\n", stamp)
	target, err := demo.Prepare(ctx, getenv, "demo_"+stamp)
	if err != nil {
		return fmt.Errorf("step %q failed: %w", "prepare", err)
	}
	plan, err := demo.Generate(schema.MustLoad(), demo.GenerateOptions{Events: *events, Seed: *seed, Now: start})
	if err != nil {
		return err
	}
	logs := io.Discard
	if *verbose {
		logs = stderr
	}
	binDir, err := os.MkdirTemp("", "ore-masora-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	res, err := demo.Run(ctx, demo.Options{Root: root, BinDir: binDir, Target: target, Plan: plan, Progress: stdout, Logs: logs, KeepMasora: *keep})
	if err != nil {
		return err
	}
	if res.Masora != nil {
		defer res.Masora.Stop()
	}
	if err := res.Print(stdout, plan); err != nil {
		return fmt.Errorf("step %q failed: %w", "report", err)
	}
	if *stays {
		fmt.Fprintf(stdout, "\nquery it: psql '%s'\n", target["DATABASE_URL"])
	}
	fmt.Fprintf(stdout, "demo OK: %d events through SQS → Ore → GCS → BigQuery → Masora → Postgres in %s\n",
		len(plan.Valid)+len(plan.Duplicates)+len(plan.Bad), time.Since(start).Round(time.Second))
	return statusPage(ctx, stdout, res)
}

// statusPage ends the demo with the link to Masora's status page and, when
// Masora was kept running, serves it until the demo is interrupted.
func statusPage(ctx context.Context, stdout io.Writer, res *demo.Result) error {
	if res.Masora == nil {
		fmt.Fprintf(stdout, "status page: %s (Masora has stopped: `make demo KEEP=1` keeps it and the stack up to open it)\n", res.StatusPage)
		return nil
	}
	fmt.Fprintf(stdout, "status page: %s\n", res.StatusPage)
	fmt.Fprintln(stdout, "Masora serves it until you press Ctrl-C; the stack stays up after that (make stack-down stops it).")
	select {
	case <-ctx.Done():
		return nil
	case <-res.Masora.Done():
		return fmt.Errorf("masora stopped on its own while serving the status page (%v; run with -v to see its log)", res.Masora.Err())
	}
}
