// Command stack runs the local emulator stack for development and tests: SQS (fauxqs),
// GCS (fake-gcs-server), BigQuery (bigquery-emulator) and PostgreSQL, on free loopback ports.
//
//	go run ./tools/cmd/stack deps|up|down|status|env [flags]
//	go run ./tools/cmd/stack stop|kill|start|restart [flags] COMPONENT
//
// Run `go run ./tools/cmd/stack help` for the details of each command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

const usage = `usage: go run ./tools/cmd/stack COMMAND [flags]

Runs the local emulator stack that development and tests use instead of the cloud.

Commands:
  deps     install and build what the stack needs (PostgreSQL, Chromium, fauxqs, emulator binaries)
  up       start the stack (runs deps first) and write .stack/env; a healthy stack is reused,
           dead components of it are started again in place
  down     stop what up started and delete its data (throwaway PostgreSQL cluster, GCS objects,
           BigQuery database)
  status   show each component's pid, port, health and data
  env      print .stack/env (KEY=VALUE lines for tests and shells)

  stop COMPONENT      stop one component gracefully (SIGTERM; pg_ctl stop -m fast)
  kill COMPONENT      SIGKILL one component's process group, as a crash would
  start COMPONENT     start a stopped component again in place: same port, same data
  restart COMPONENT   stop, then start in place

COMPONENT is one of sqs, gcs, bigquery, postgres. What survives a restart in place:
  postgres   everything (same data directory); a server restarted by hand with pg_ctl
             stays in the stack. A DATABASE_URL server is never stopped or started.
  gcs        buckets and objects with their generations (fake-gcs-server filesystem backend)
  bigquery   datasets and tables (the emulator's database file)
  sqs        nothing: fauxqs keeps queues and messages in memory. start recreates the
             default queue and its DLQ, empty, at the same URLs; other queues are gone.
The Go API for tests is libs/testkit/stackctl (stacktest.Control).

Run "go run ./tools/cmd/stack COMMAND -help" for a command's flags.

Environment:
  STACK_DIR          where state.json, env and logs/ live (default: <repo root>/.stack)
  ORE_MASORA_CACHE   cache base for built emulators: $ORE_MASORA_CACHE/ore-masora/bin
                     (default base: $XDG_CACHE_HOME, else ~/.cache)
  DATABASE_URL       up: use this PostgreSQL server instead of a throwaway cluster
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its flags and what it does once they are parsed.
type command struct {
	summary string
	help    string
	// component is true for the commands that take one COMPONENT argument.
	component bool
	flags     func(fs *flag.FlagSet) func(ctx context.Context, env environment) error
}

// environment is what every command gets: where things are, output and logger.
type environment struct {
	getenv func(string) string
	layout localstack.Layout
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
	// component is the COMPONENT argument of stop, kill, start and restart.
	component string
}

// control returns the stackctl.Stack of the stack directory.
func (env environment) control(opts stackctl.Options) *stackctl.Stack {
	opts.Logger = env.logger
	return stackctl.Open(env.layout.Dir, opts)
}

// componentCommand builds stop, kill, start and restart: each runs one stackctl method on
// the component named.
func componentCommand(summary, help string, withGrace, withTimeout bool, op func(*stackctl.Stack, context.Context, string) error) command {
	return command{
		summary:   summary,
		help:      help,
		component: true,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			var opts stackctl.Options
			if withGrace {
				fs.DurationVar(&opts.StopGrace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL")
			}
			if withTimeout {
				fs.DurationVar(&opts.Timeout, "timeout", 60*time.Second, "how long to wait for the component to answer")
			}
			return func(ctx context.Context, env environment) error {
				err := op(env.control(opts), ctx, env.component)
				if errors.Is(err, stackctl.ErrNoStack) {
					return fmt.Errorf("no stack recorded in %s: start one with make stack-up", env.layout.Dir)
				}
				return err
			}
		},
	}
}

const inPlaceHelp = `The component keeps its port, so .stack/env stays valid, and its data: postgres its data
directory, gcs its objects (with their generations), bigquery its datasets and tables. sqs
(fauxqs) keeps queues only in memory: it comes back with the default queue and DLQ, empty, at
the same URLs; other queues and all messages are gone. A DATABASE_URL server is refused.`

var commands = map[string]command{
	"deps": {
		summary: "install and build what the stack needs",
		help: `Installs and builds everything the local stack needs; cheap when all is in place:
  - Debian packages, with one apt-get install of those missing (needs root and apt-get):
    postgresql if /usr/lib/postgresql/*/bin/initdb is missing, chromium (for the headless
    browser tests) if no chromium is on PATH
  - the SQS emulator: npm ci in tools/localstack/sqs (skipped while node_modules matches the lock file)
  - fake-gcs-server, bigquery-emulator and aws-lambda-rie: go build at the versions tools/go.mod
    requires, cached as <cache>/ore-masora/bin/NAME-VERSION (a cold bigquery-emulator build takes minutes)`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			return func(ctx context.Context, env environment) error {
				_, err := deps(ctx, env)
				return err
			}
		},
	},
	"up": {
		summary: "start the stack and write .stack/env",
		help: `Runs deps, then starts on 127.0.0.1, each on a free port and in its own process group:
fauxqs (SQS, in memory), fake-gcs-server (GCS, objects in .stack/data/gcs), bigquery-emulator
(project local-project, database .stack/data/bigquery/bigquery.db) and PostgreSQL (a throwaway
cluster in a temp dir, or the server DATABASE_URL names, which is only checked). Waits until
each answers, creates queue ore-events with DLQ ore-events-dlq, bucket ore-masora-local and
dataset ore_masora, then writes .stack/env and prints it.
If a recorded stack is running and healthy, prints its env and starts nothing. If some of its
components died or do not answer, starts only those again in place (same ports and data, see
start). A fresh stack replaces the recorded one only when that cannot work: DATABASE_URL
changed, a port was taken meanwhile, or the state file predates in-place restarts.
Logs: .stack/logs/NAME.log (appended across restarts).`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for each component to answer")
			return func(ctx context.Context, env environment) error {
				tc, err := deps(ctx, env)
				if err != nil {
					return err
				}
				st := localstack.New(localstack.Options{
					Layout:      env.layout,
					Toolchain:   tc,
					DatabaseURL: env.getenv("DATABASE_URL"),
					Timeout:     *timeout,
					Logger:      env.logger,
				})
				res, err := st.Up(ctx)
				if err != nil {
					return fmt.Errorf("up: %w", err)
				}
				switch {
				case res.Fresh:
					env.logger.Info("fresh stack is up", "env", env.layout.EnvPath())
				case len(res.Restarted) > 0:
					env.logger.Info("restarted in place", "components", res.Restarted, "env", env.layout.EnvPath())
				}
				return writeEnv(env)
			}
		},
	},
	"down": {
		summary: "stop what up started",
		help: `Stops only the processes recorded in .stack/state.json (SIGTERM to each process group, SIGKILL
after -grace), stops the throwaway PostgreSQL cluster with pg_ctl stop -m fast (also when it was
restarted by hand with pg_ctl) and deletes its directory, deletes .stack/data (GCS objects,
BigQuery database), and removes .stack/state.json and .stack/env. A DATABASE_URL server is never
touched.`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL")
			return func(ctx context.Context, env environment) error {
				if err := env.control(stackctl.Options{StopGrace: *grace}).Down(ctx); err != nil {
					return fmt.Errorf("down: %w", err)
				}
				return nil
			}
		},
	},
	"status": {
		summary: "show each component's pid, port, health and data",
		help: `Prints one line per recorded component: its process group (for postgres the one of the server
that data/postmaster.pid names, also after a pg_ctl restart by hand), port, state (running,
NOT ANSWERING, STOPPED) and data folder or log. Exits 1 if a component is unhealthy, 3 if no
stack is recorded.`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			return func(ctx context.Context, env environment) error {
				list, err := env.control(stackctl.Options{}).Status(ctx)
				if errors.Is(err, stackctl.ErrNoStack) {
					fmt.Fprintf(env.stdout, "no stack recorded in %s (start one with: make stack-up)\n", env.layout.Dir)
					return exitCode(3)
				}
				if err != nil {
					return err
				}
				return printStatus(env.stdout, list)
			}
		},
	},
	"env": {
		summary: "print .stack/env",
		help:    `Prints the env file of the running stack: KEY=VALUE lines, loadable with: set -a; . .stack/env; set +a`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			return func(ctx context.Context, env environment) error {
				return writeEnv(env)
			}
		},
	},
	"stop": componentCommand("stop one component gracefully",
		"Stops COMPONENT gracefully (SIGTERM to its process group, SIGKILL after -grace; pg_ctl stop -m fast\nfor postgres) and waits until it is gone. Start it again with: stack start COMPONENT.\n"+inPlaceHelp,
		true, false, (*stackctl.Stack).Stop),
	"kill": componentCommand("SIGKILL one component, as a crash would",
		"Sends SIGKILL to COMPONENT's process group and waits until it is gone: a crash fault. Start it\nagain with: stack start COMPONENT (postgres then replays its WAL).\n"+inPlaceHelp,
		false, false, (*stackctl.Stack).Kill),
	"start": componentCommand("start a stopped component again in place",
		"Starts COMPONENT with the command the state file recorded: same program, flags, port and data.\nWaits until it answers and has its default resources (queue and DLQ, bucket, dataset). A running\ncomponent is only waited for.\n"+inPlaceHelp,
		false, true, func(s *stackctl.Stack, ctx context.Context, name string) error { return s.Start(ctx, name) }),
	"restart": componentCommand("stop, then start one component in place",
		"Stops COMPONENT gracefully, then starts it again in place (see stack start -help).\n"+inPlaceHelp,
		true, true, (*stackctl.Stack).Restart),
}

// exitCode is an error that only sets the exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		if len(args) > 1 {
			args = []string{args[1], "-help"}
		} else {
			fmt.Fprint(stdout, usage)
			if len(args) == 0 {
				return 2
			}
			return 0
		}
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "stack: unknown command %q\n\n%s", name, usage)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "log debug detail (commands run)")
	action := cmd.flags(fs)
	fs.Usage = func() {
		args := ""
		if cmd.component {
			args = " COMPONENT"
		}
		fmt.Fprintf(fs.Output(), "usage: go run ./tools/cmd/stack %s [flags]%s\n\n%s\n\nFlags:\n", name, args, cmd.help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var component string
	switch {
	case cmd.component && (fs.NArg() != 1 || !slices.Contains(stackctl.Names(), fs.Arg(0))):
		fmt.Fprintf(stderr, "stack %s: want one COMPONENT argument, one of %s; got %q\n", name, strings.Join(stackctl.Names(), ", "), fs.Args())
		fs.Usage()
		return 2
	case cmd.component:
		component = fs.Arg(0)
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "stack %s: unexpected arguments %q\n", name, fs.Args())
		fs.Usage()
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("cmd", "stack "+name)

	cwd, err := os.Getwd()
	if err != nil {
		logger.Error("cannot read the working directory", "error", err)
		return 1
	}
	layout, err := localstack.NewLayout(cwd, getenv("STACK_DIR"))
	if err != nil {
		logger.Error("cannot find the repository", "error", err)
		return 1
	}
	env := environment{getenv: getenv, layout: layout, stdout: stdout, stderr: stderr, logger: logger, component: component}
	if err := action(ctx, env); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		// Printed plainly, not through the logger: it may carry the tail of a log file.
		fmt.Fprintf(stderr, "stack %s failed: %v\n", name, err)
		return 1
	}
	return 0
}

// deps installs and builds the stack's programs.
func deps(ctx context.Context, env environment) (provision.Toolchain, error) {
	binDir, err := provision.BinDir(env.getenv)
	if err != nil {
		return provision.Toolchain{}, err
	}
	start := time.Now()
	tc, err := provision.Ensure(ctx, provision.Options{
		Root:   env.layout.Root,
		BinDir: binDir,
		Logger: env.logger,
		Output: env.stderr,
	})
	if err != nil {
		return provision.Toolchain{}, err
	}
	env.logger.Info("deps ready", "took", time.Since(start).Round(time.Millisecond), "bin_dir", binDir)
	return tc, nil
}

// writeEnv copies the env file of the running stack to stdout.
func writeEnv(env environment) error {
	b, err := os.ReadFile(env.layout.EnvPath())
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist: start the stack first (make stack-up)", env.layout.EnvPath())
	}
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(b)
	return err
}

func printStatus(w io.Writer, list []stackctl.ComponentStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tPORT\tSTATE\tDETAIL")
	var unhealthy []string
	for _, c := range list {
		pid := fmt.Sprint(c.PID)
		state := "running"
		detail := c.Log
		if c.DataDir != "" {
			detail = "data " + c.DataDir
		}
		switch {
		case c.External:
			pid = "external"
			detail = "DATABASE_URL server (not managed)"
		case c.Name == stackctl.SQS:
			detail = "in memory (lost on restart); log " + c.Log
		}
		if c.GRPCPort != 0 {
			detail = fmt.Sprintf("grpc port %d; %s", c.GRPCPort, detail)
		}
		switch {
		case !c.Running:
			pid, state, detail = "-", "STOPPED", c.Err.Error()
		case c.Err != nil:
			state, detail = "NOT ANSWERING", c.Err.Error()
		}
		if !c.Healthy() {
			unhealthy = append(unhealthy, c.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Name, pid, c.Port, state, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unhealthy) > 0 {
		fmt.Fprintf(w, "%d component(s) unhealthy: start them again in place with make stack-up (or go run ./tools/cmd/stack start %s)\n",
			len(unhealthy), unhealthy[0])
		return exitCode(1)
	}
	return nil
}
