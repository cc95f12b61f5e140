// Command stack runs the local emulator stack for development and tests: SQS (fauxqs),
// GCS (fake-gcs-server), BigQuery (bigquery-emulator) and PostgreSQL, on free loopback ports.
//
//	go run ./tools/cmd/stack deps|up|down|status|env [flags]
//
// Run `go run ./tools/cmd/stack help` for the details of each command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ore-masora/pipeline/tools/internal/localstack"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

const usage = `usage: go run ./tools/cmd/stack COMMAND [flags]

Runs the local emulator stack that development and tests use instead of the cloud.

Commands:
  deps     install and build what the stack needs (PostgreSQL, fauxqs, emulator binaries)
  up       start the stack (runs deps first) and write .stack/env; a healthy stack is reused
  down     stop what up started and delete its throwaway PostgreSQL cluster
  status   show each component's pid, port and health
  env      print .stack/env (KEY=VALUE lines for tests and shells)

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
	flags   func(fs *flag.FlagSet) func(ctx context.Context, env environment) error
}

// environment is what every command gets: where things are, output and logger.
type environment struct {
	getenv func(string) string
	layout localstack.Layout
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

var commands = map[string]command{
	"deps": {
		summary: "install and build what the stack needs",
		help: `Installs and builds everything the local stack needs; cheap when all is in place:
  - PostgreSQL server binaries: apt-get install postgresql if /usr/lib/postgresql/*/bin/initdb is missing
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
fauxqs (SQS), fake-gcs-server (GCS, in memory), bigquery-emulator (project local-project) and
PostgreSQL (a throwaway cluster in a temp dir, or the server DATABASE_URL names, which is only
checked). Waits until each answers, creates queue ore-events with DLQ ore-events-dlq, bucket
ore-masora-local and dataset ore_masora, then writes .stack/env and prints it.
If a recorded stack is running and healthy, prints its env and starts nothing; if part of it died,
stops the rest and starts afresh. Logs: .stack/logs/NAME.log.`,
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
				_, started, err := st.Up(ctx)
				if err != nil {
					return fmt.Errorf("up: %w", err)
				}
				if started {
					env.logger.Info("stack is up", "env", env.layout.EnvPath())
				}
				return st.WriteEnv(env.stdout)
			}
		},
	},
	"down": {
		summary: "stop what up started",
		help: `Stops only the processes recorded in .stack/state.json (SIGTERM to each process group, SIGKILL
after -grace), stops the throwaway PostgreSQL cluster with pg_ctl stop -m fast and deletes its
directory, and removes .stack/state.json and .stack/env. A DATABASE_URL server is never touched.`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL")
			return func(ctx context.Context, env environment) error {
				st := localstack.New(localstack.Options{Layout: env.layout, StopGrace: *grace, Logger: env.logger})
				if err := st.Down(ctx); err != nil {
					return fmt.Errorf("down: %w", err)
				}
				return nil
			}
		},
	},
	"status": {
		summary: "show each component's pid, port and health",
		help:    `Prints one line per recorded component. Exits 1 if a component is unhealthy, 3 if no stack is recorded.`,
		flags: func(fs *flag.FlagSet) func(context.Context, environment) error {
			return func(ctx context.Context, env environment) error {
				st := localstack.New(localstack.Options{Layout: env.layout, Logger: env.logger})
				list, err := st.Status(ctx)
				if errors.Is(err, localstack.ErrNoStack) {
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
				st := localstack.New(localstack.Options{Layout: env.layout, Logger: env.logger})
				return st.WriteEnv(env.stdout)
			}
		},
	},
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
		fmt.Fprintf(fs.Output(), "usage: go run ./tools/cmd/stack %s [flags]\n\n%s\n\nFlags:\n", name, cmd.help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
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
	env := environment{getenv: getenv, layout: layout, stdout: stdout, stderr: stderr, logger: logger}
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

func printStatus(w io.Writer, list []localstack.ComponentStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tPORT\tHEALTHY\tDETAIL")
	unhealthy := 0
	for _, c := range list {
		pid := fmt.Sprint(c.PID)
		if c.External {
			pid = "external"
		}
		healthy := "yes"
		detail := c.Log
		if c.External {
			detail = "DATABASE_URL server (not managed)"
		}
		if c.GRPCPort != 0 {
			detail = fmt.Sprintf("grpc port %d; %s", c.GRPCPort, detail)
		}
		if !c.Healthy() {
			healthy = "NO"
			detail = c.Err.Error()
			unhealthy++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Name, pid, c.Port, healthy, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unhealthy > 0 {
		fmt.Fprintf(w, "%d component(s) unhealthy: restart with make stack-up\n", unhealthy)
		return exitCode(1)
	}
	return nil
}
