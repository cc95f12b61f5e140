package stackctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pgDirPrefix starts the name of every throwaway cluster directory; down refuses to delete a
// recorded directory whose name does not start with it.
const pgDirPrefix = "ore-masora-pg-"

// pgRunner runs PostgreSQL programs as the postgres user when this process is root (initdb
// and postgres refuse to run as root).
type pgRunner struct {
	bin    string   // directory with initdb, postgres, pg_ctl
	prefix []string // e.g. runuser -u postgres --
	uid    int
	gid    int
}

func newPGRunner(bin string) (pgRunner, error) {
	r := pgRunner{bin: bin, uid: -1, gid: -1}
	if os.Geteuid() != 0 {
		return r, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return r, fmt.Errorf("running as root, so PostgreSQL must run as the postgres user, but: %w (install the postgresql package, or set DATABASE_URL)", err)
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return r, fmt.Errorf("running as root needs runuser to start PostgreSQL as the postgres user: %w", err)
	}
	r.prefix = []string{runuser, "-u", "postgres", "--"}
	r.uid, _ = strconv.Atoi(u.Uid)
	r.gid, _ = strconv.Atoi(u.Gid)
	return r, nil
}

// command returns the path and arguments that run the PostgreSQL program name with args.
func (r pgRunner) command(name string, args ...string) (string, []string) {
	argv := append(append(append([]string(nil), r.prefix...), filepath.Join(r.bin, name)), args...)
	return argv[0], argv[1:]
}

// run runs a PostgreSQL program to completion with its output appended to logPath.
func (r pgRunner) run(ctx context.Context, dir, logPath, name string, args ...string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	path, argv := r.command(name, args...)
	fmt.Fprintf(logf, "---- %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), path, strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, path, argv...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// makeClusterDir creates an empty directory for a throwaway cluster, owned by the user that
// will run PostgreSQL.
func (r pgRunner) makeClusterDir() (string, error) {
	dir, err := os.MkdirTemp("", pgDirPrefix)
	if err != nil {
		return "", err
	}
	if r.uid >= 0 {
		if err := os.Chown(dir, r.uid, r.gid); err != nil {
			os.Remove(dir)
			return "", fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	return dir, nil
}

// initCluster runs initdb in dir/data with trust auth and superuser postgres.
func (r pgRunner) initCluster(ctx context.Context, dir, logPath string) error {
	return r.run(ctx, dir, logPath, "initdb",
		"-D", filepath.Join(dir, "data"),
		"-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
}

// serverCommand runs postgres on 127.0.0.1:port with its socket in dir. Durability is off:
// the cluster is thrown away, and a SIGKILL of the server keeps what the kernel has cached.
func (r pgRunner) serverCommand(dir string, port int) Command {
	path, argv := r.command("postgres",
		"-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200")
	return Command{Path: path, Args: argv, Dir: dir}
}

// stopCluster stops the cluster in dir with pg_ctl stop -m fast, if it is running.
func (r pgRunner) stopCluster(ctx context.Context, dir, logPath string) error {
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return r.run(ctx, dir, logPath, "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", "30")
}

// postmasterPID returns the PID that the running server of the cluster in dir wrote to
// data/postmaster.pid, whoever started it (the stack, or pg_ctl by hand), and the process
// group it leads or belongs to. ok is false when no live server of that cluster is found.
func postmasterPID(dir string) (pid, pgrp int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, 0, false
	}
	state, pgrp, err := procStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return 0, 0, false
	}
	// A stale file after a crash may name a PID now used by another program.
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), dir) {
		return 0, 0, false
	}
	return pid, pgrp, true
}

// PostgresOptions say where and how NewPostgres makes a throwaway cluster.
type PostgresOptions struct {
	// Bin is the directory with initdb, postgres and pg_ctl.
	Bin  string
	Port int
	// Log receives initdb's output, then the server's.
	Log string
}

// NewPostgres creates a throwaway PostgreSQL cluster (initdb, trust authentication,
// superuser postgres) in a new temporary directory and returns its record, ready for Start.
// When running as root, the cluster belongs to the postgres user, which runs the server.
func NewPostgres(ctx context.Context, opts PostgresOptions) (Component, error) {
	r, err := newPGRunner(opts.Bin)
	if err != nil {
		return Component{}, err
	}
	dir, err := r.makeClusterDir()
	if err != nil {
		return Component{}, fmt.Errorf("postgres: create cluster directory: %w", err)
	}
	if err := r.initCluster(ctx, dir, opts.Log); err != nil {
		_ = removeClusterDir(dir)
		return Component{}, fmt.Errorf("postgres: %w\nlast lines of %s:\n%s", err, opts.Log, logTail(opts.Log, 20))
	}
	cmd := r.serverCommand(dir, opts.Port)
	return Component{Name: Postgres, Match: dir, Port: opts.Port, URL: postgresURL(opts.Port), Log: opts.Log,
		DataDir: dir, Bin: opts.Bin, Cmd: &cmd}, nil
}

// removeClusterDir deletes a throwaway cluster directory recorded in the state file, after
// checking that it is one this package made.
func removeClusterDir(dir string) error {
	if dir == "" {
		return nil
	}
	if !filepath.IsAbs(dir) || !strings.HasPrefix(filepath.Base(dir), pgDirPrefix) {
		return fmt.Errorf("refusing to delete %q: not a directory made by the stack (%s*)", dir, pgDirPrefix)
	}
	return os.RemoveAll(dir)
}

func postgresURL(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}
