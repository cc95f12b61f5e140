// Command masora loads Ore's parquet files into the reporting Postgres
// through BigQuery: the Cloud Run service (masora serve) and its CLI (run,
// backfill, migrate, status). See services/masora/README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ore-masora/pipeline/services/masora/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
