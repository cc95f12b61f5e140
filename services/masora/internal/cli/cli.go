// Package cli is the masora command: its subcommands (serve, run, backfill,
// migrate, status), their flags and help, and the wiring of the service's
// parts from the configuration.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/storage"

	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/logjson"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/config"
	"github.com/ore-masora/pipeline/services/masora/internal/dbconn"
	"github.com/ore-masora/pipeline/services/masora/internal/doctor"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/reportdb"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
)

// Env is the outside world of a command.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitBusy    = 3
	exitBadData = 4
)

type command struct {
	name    string
	summary string
	usage   string // after "masora <name>"
	help    string
	flags   func(fs *flag.FlagSet) func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error
}

var commands = []command{
	{
		name: "serve", summary: "serve the HTTP API (what Cloud Run runs)",
		help: `Serves POST /run, POST /backfill, GET /runs, /healthz, /readyz and /metrics on $PORT.
/run and /backfill need authentication: MASORA_OIDC_AUDIENCE with
MASORA_OIDC_ALLOWED_EMAILS (Cloud Scheduler's OIDC token), or MASORA_AUTH_TOKEN;
without either it refuses to start unless MASORA_INSECURE_LOCAL=true.
SIGTERM stops accepting requests and waits MASORA_SHUTDOWN_TIMEOUT for runs in
flight; a run cut short rolls back its current chunk and the next run redoes it.`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			return serve
		},
	},
	{
		name: "run", summary: "load what is new in the lookback window, once, and exit",
		usage: "[-log-type NAME]",
		help: `Lists the hour folders of the last MASORA_LOOKBACK, loads every parquet object not
yet in the manifest, prints the outcome as JSON and exits: 0 success, 1 failure,
3 another run of the log type is in progress, 4 some objects are bad (the others
are loaded; the bad ones are retried by the next run).`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			logType := fs.String("log-type", "", "load only this log type (default: all)")
			return func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
				return runOnce(ctx, e, cfg, log, run.Request{LogType: *logType, Trigger: run.TriggerCLI})
			}
		},
	},
	{
		name: "backfill", summary: "load a range of hour folders, once, and exit",
		usage: "-from TIME -to TIME [-log-type NAME]",
		help: `Loads every parquet object not yet in the manifest from the hour folders from
-from to -to (RFC 3339, both hours included), e.g.
  masora backfill -from 2024-05-01T00:00:00Z -to 2024-05-03T23:00:00Z
Objects already loaded are skipped, so a backfill can be repeated safely.
Exit codes as for run.`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			logType := fs.String("log-type", "", "load only this log type (default: all)")
			from := fs.String("from", "", "first hour folder, RFC 3339 (required)")
			to := fs.String("to", "", "last hour folder, RFC 3339 (required)")
			return func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
				f, err := parseFlagTime("-from", *from)
				if err != nil {
					return err
				}
				t, err := parseFlagTime("-to", *to)
				if err != nil {
					return err
				}
				return runOnce(ctx, e, cfg, log, run.Request{LogType: *logType, Trigger: run.TriggerBackfill, From: f, To: t})
			}
		},
	},
	{
		name: "migrate", summary: "apply the reporting database migrations",
		help: `Applies the numbered migrations of schemas/migrations (embedded in this binary)
that DATABASE_URL does not have yet, and prints the resulting version. Safe to run
concurrently and repeatedly.`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			return func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
				cc, closeDB, err := connConfig(ctx, cfg)
				if err != nil {
					return err
				}
				defer closeDB()
				st, err := reportdb.Migrate(ctx, cc)
				if err != nil {
					return fmt.Errorf("migrate %s: %w", describeDatabase(cfg), err)
				}
				fmt.Fprintf(e.Stdout, "reporting database at migration %d of %d\n", st.Version, st.Latest)
				return nil
			}
		},
	},
	{
		name: "doctor", summary: "check this deployment: Postgres, bucket, dataset, external tables, auth",
		help: `Runs the checks a team runs right after terraform apply (and after ` + "`ore doctor`" + `, which
writes the probe files), with Masora's own identity and configuration: Postgres answers and its
migrations are at head; the bucket lists; the dataset exists in a location that can read the
bucket; an external table over Ore's probe file of every schema version of every log type can
be created, queried (through the Storage Read API when it is on) and dropped; the
authentication settings are usable. Prints one line per check, each failure with what to fix,
and exits 0 when all pass, 1 when one fails.`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			return func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
				return runDoctor(ctx, e, cfg)
			}
		},
	},
	{
		name: "status", summary: "show the migration version and the recent runs",
		usage: "[-log-type NAME] [-limit N] [-json]",
		help:  `Prints the reporting database's migration version and its recent runs, newest first.`,
		flags: func(fs *flag.FlagSet) func(context.Context, Env, *config.Config, *slog.Logger) error {
			logType := fs.String("log-type", "", "show only this log type's runs")
			limit := fs.Int("limit", 20, "how many runs to show")
			asJSON := fs.Bool("json", false, "print JSON instead of a table")
			return func(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
				return status(ctx, e, cfg, log, *logType, *limit, *asJSON)
			}
		},
	},
}

// envHelp ends every help text: the environment variables, their defaults
// and meaning.
var envHelp = "\nEnvironment (see services/masora/README.md):\n" + config.Usage()

func usage(w io.Writer) {
	fmt.Fprintln(w, "masora loads Ore's parquet files into the reporting Postgres through BigQuery.")
	fmt.Fprintln(w, "\nUsage: masora <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRun `masora <command> -help` for a command's flags.")
	fmt.Fprint(w, envHelp)
}

// Main runs the masora command with args (without the program name) and
// returns the process exit code. ctx is cancelled on SIGTERM.
func Main(ctx context.Context, args []string, e Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(e.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(e.Stderr, "masora: unknown command %q\n\n", args[0])
		usage(e.Stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("masora "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	action := cmd.flags(fs)
	// Parse prints a bad flag's error; the full help goes to stdout, once, on -help.
	fs.Usage = func() {}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.Stdout)
			fmt.Fprintf(e.Stdout, "Usage: masora %s %s\n\n%s\n\n", cmd.name, cmd.usage, cmd.help)
			fmt.Fprintln(e.Stdout, "Flags:")
			fs.PrintDefaults()
			fmt.Fprint(e.Stdout, envHelp)
			return exitOK
		}
		fmt.Fprintf(e.Stderr, "run `masora %s -help` for its flags\n", cmd.name)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "masora %s: unexpected arguments %v\n", cmd.name, fs.Args())
		return exitUsage
	}
	cfg, err := config.Load(e.Getenv)
	if err != nil {
		fmt.Fprintf(e.Stderr, "masora %s: %v\n", cmd.name, err)
		return exitUsage
	}
	log := logjson.New(e.Stderr, cfg.LogLevel)
	if err := action(ctx, e, cfg, log); err != nil {
		log.Error("masora "+cmd.name+" failed", "error", err)
		fmt.Fprintf(e.Stderr, "masora %s: %v\n", cmd.name, err)
		return exitCode(err)
	}
	return exitOK
}

// exitCode maps the error of a command to its exit code: the one place
// that does.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	switch fault.Kind(err) {
	case fault.ErrInvalid, fault.ErrMisconfigured:
		return exitUsage
	case fault.ErrBusy:
		return exitBusy
	case fault.ErrBadObject:
		return exitBadData
	}
	return exitFailed
}

// usageError marks a mistake in the command line or configuration: the
// command exits with exitUsage.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func parseFlagTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, usageError{fmt.Errorf("%s is required (RFC 3339, e.g. 2024-05-01T00:00:00Z)", name)}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%s %q is not RFC 3339 (e.g. 2024-05-01T00:00:00Z)", name, v)}
	}
	return t, nil
}

func runOnce(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger, req run.Request) error {
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	label := "masora run"
	if req.Trigger == run.TriggerBackfill {
		label = "masora backfill"
	}
	p := newRunProgress(e.Stderr, label)
	req.Progress = p
	outs, runErr := a.runner.Run(ctx, req)
	p.r.Finish()
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"runs": outs}); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

func serve(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger) error {
	if err := cfg.CheckServe(); err != nil {
		return usageError{err}
	}
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	handler, err := a.handler(ctx)
	if err != nil {
		return err
	}
	// Requests run on a context of their own, cancelled only when the
	// shutdown grace period is over.
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	srv := server.HTTPServer(net.JoinHostPort("", strconv.Itoa(cfg.Port)), handler)
	srv.BaseContext = func(net.Listener) context.Context { return base }
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("masora serving", "addr", srv.Addr, "config", cfg)
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running after the grace period are cancelled; their current chunks roll back", "error", err)
		cancelRequests()
		srv.Close()
	}
	return nil
}

func status(ctx context.Context, e Env, cfg *config.Config, log *slog.Logger, logType string, limit int, asJSON bool) error {
	db, closeDB, err := database(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	cc, err := dbconn.ConnConfig(db)
	if err != nil {
		return err
	}
	st, err := reportdb.Check(ctx, cc)
	if err != nil {
		return fmt.Errorf("read migration version of %s: %w", describeDatabase(cfg), err)
	}
	pool, err := openPool(ctx, cfg, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	runs, err := ledger.New(pool).Runs(ctx, logType, limit)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"migration": st, "runs": runs})
	}
	dirty := ""
	if st.Dirty {
		dirty = " (DIRTY: a migration failed half way; fix it by hand)"
	}
	fmt.Fprintf(e.Stdout, "migration %d of %d%s\n\n", st.Version, st.Latest, dirty)
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tLOG TYPE\tTRIGGER\tSTATUS\tSTARTED\tOBJECTS NEW/LOADED/FAILED\tROWS\tDUPLICATES\tERROR")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d/%d\t%d\t%d\t%s\n", r.ID, r.LogType, r.Trigger, r.Status,
			r.StartedAt.UTC().Format(time.RFC3339), r.ObjectsNew, r.ObjectsLoaded, r.ObjectsFailed,
			r.RowsLoaded, r.DuplicatesSkipped, firstLine(r.Error, 80))
	}
	return tw.Flush()
}

// firstLine returns the first line of s, cut to at most max characters
// (runes, never splitting one) with an ellipsis when it is longer.
func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// errChecksFailed is the error of a doctor run whose table shows a failure.
var errChecksFailed = errors.New("some checks failed (see the table)")

// runDoctor runs `masora doctor` and prints its table.
func runDoctor(ctx context.Context, e Env, cfg *config.Config) error {
	if err := cfg.CheckPipeline(); err != nil {
		return usageError{err}
	}
	reg, err := schema.Load()
	if err != nil {
		return err
	}
	cc, closeDB, err := connConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	bq, err := newBigQuery(ctx, cfg)
	if err != nil {
		return err
	}
	defer bq.Close()
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("Cloud Storage client: %w", err)
	}
	defer gcs.Close()
	rs := doctor.Run(ctx, doctor.Options{
		Registry: reg, Database: cc,
		Storage: gcs, Bucket: cfg.GCSBucket, Prefix: cfg.GCSPrefix,
		BigQuery: bq, Dataset: cfg.BigQueryDataset, Location: cfg.BigQueryLocation,
		StorageRead: cfg.BigQueryStorageRead, KeepTables: cfg.BigQueryKeepTables, CallTimeout: cfg.BigQueryTimeout,
		AuthToken: cfg.AuthToken != "", InsecureLocal: cfg.InsecureLocal,
		OIDCAudience: cfg.OIDCAudience, AllowedEmails: cfg.OIDCAllowedEmails,
	})
	if err := checks.Write(e.Stdout, rs); err != nil {
		return err
	}
	if !checks.OK(rs) {
		return errChecksFailed
	}
	return nil
}
