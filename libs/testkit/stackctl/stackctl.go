// Package stackctl operates the local emulator stack that `go run ./tools/cmd/stack up`
// starts: it owns the stack's state file (state.json, next to the env file that stackenv
// owns), reports each component's health, and stops, kills (SIGKILL) and starts one component
// in place — same port, same data, same URLs in the env file — or takes the whole stack down.
//
// The components and what survives a restart of each:
//   - postgres: the stack's throwaway cluster keeps its data directory; a server restarted by
//     hand with pg_ctl is found through its postmaster.pid. A DATABASE_URL server is only
//     checked, never stopped or started.
//   - gcs: fake-gcs-server with its filesystem backend keeps buckets and objects, with their
//     generations.
//   - bigquery: the emulator's database file keeps datasets and tables.
//   - sqs: fauxqs keeps everything in memory: a restart loses every queue and message; Start
//     recreates the stack's default queue and its DLQ, empty, at the same URLs.
//
// Start also recreates the default bucket and dataset when they are missing. Tests reach the
// running stack through stacktest.Control; tools/cmd/stack uses the same code.
package stackctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// Options configure a Stack.
type Options struct {
	// Timeout bounds the wait for a started component to answer (default 60s).
	Timeout time.Duration
	// StopGrace is how long a process group gets between SIGTERM and SIGKILL (default 10s).
	StopGrace time.Duration
	Logger    *slog.Logger
}

// Stack operates the stack recorded in one directory (state.json, env, logs/, data/).
type Stack struct {
	dir  string
	opts Options
	log  *slog.Logger
}

// Open returns the Stack kept in dir (e.g. .stack, or the folder of ORE_MASORA_STACK_ENV).
// It reads nothing yet.
func Open(dir string, opts Options) *Stack {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Stack{dir: dir, opts: opts, log: opts.Logger}
}

// Dir is the stack directory.
func (s *Stack) Dir() string { return s.dir }

// ErrExternal is returned when asked to stop, kill or start a server the stack does not
// manage (PostgreSQL from DATABASE_URL).
var ErrExternal = errors.New("the stack does not manage this server (DATABASE_URL): stop and start it by its own means")

// Stop stops component name gracefully (SIGTERM to its process group, SIGKILL after the
// grace period; pg_ctl stop -m fast for PostgreSQL) and returns once it is gone. Stopping a
// stopped component does nothing. Its port and data stay reserved for Start.
func (s *Stack) Stop(ctx context.Context, name string) error {
	return s.with(func(ss *Session) error { return ss.Stop(ctx, name) })
}

// Kill sends SIGKILL to component name's process group, as a crash would, and returns once
// it is gone. Killing a stopped component does nothing.
func (s *Stack) Kill(ctx context.Context, name string) error {
	return s.with(func(ss *Session) error { return ss.Kill(ctx, name) })
}

// Start starts the stopped components named, in place: the recorded command, on the same
// ports, with the same data. It returns once each answers and has its default resources.
// A running component is only waited for.
func (s *Stack) Start(ctx context.Context, names ...string) error {
	return s.with(func(ss *Session) error { return ss.Start(ctx, names...) })
}

// Restart stops component name gracefully and starts it again in place.
func (s *Stack) Restart(ctx context.Context, name string) error {
	return s.with(func(ss *Session) error {
		if err := ss.Stop(ctx, name); err != nil {
			return err
		}
		return ss.Start(ctx, name)
	})
}

// Down stops every recorded component, deletes the throwaway PostgreSQL cluster and the data
// folder, and removes the state and env files. It never touches a server the stack did not
// start.
func (s *Stack) Down(ctx context.Context) error {
	return s.with(func(ss *Session) error {
		if _, err := ss.State(); errors.Is(err, ErrNoStack) {
			s.log.Info("no stack recorded; nothing to stop", "state", StatePath(s.dir))
			return removeIfExists(EnvPath(s.dir))
		}
		return ss.Down(ctx)
	})
}

// Status reports every recorded component; ErrNoStack when nothing is recorded. It takes no
// lock and changes nothing.
func (s *Stack) Status(ctx context.Context) ([]ComponentStatus, error) {
	st, err := ReadState(s.dir)
	if err != nil {
		return nil, err
	}
	return s.status(ctx, st), nil
}

func (s *Stack) with(fn func(*Session) error) error {
	ss, err := s.Lock()
	if err != nil {
		return err
	}
	defer ss.Close()
	return fn(ss)
}

// Session is a Stack with its directory locked, so that no other command starts or stops
// the same stack meanwhile. Close releases the lock.
type Session struct {
	s      *Stack
	unlock func()
	st     *State
	read   bool
}

// Lock takes the exclusive lock of the stack directory, waiting for another command that
// holds it.
func (s *Stack) Lock() (*Session, error) {
	for _, d := range []string{s.dir, LogDir(s.dir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	f, err := os.OpenFile(lockPath(s.dir), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		s.log.Info("waiting for another stack command to finish", "lock", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
	return &Session{s: s, unlock: func() { f.Close() }}, nil
}

// Close releases the lock.
func (ss *Session) Close() { ss.unlock() }

// State returns the recorded state (read once per session; changes to it are kept by Save);
// ErrNoStack when nothing is recorded.
func (ss *Session) State() (*State, error) {
	if !ss.read {
		st, err := ReadState(ss.s.dir)
		if err != nil && !errors.Is(err, ErrNoStack) {
			return nil, err
		}
		ss.st, ss.read = st, true
	}
	if ss.st == nil {
		return nil, ErrNoStack
	}
	return ss.st, nil
}

// Record replaces the recorded state with st and saves it (a fresh stack).
func (ss *Session) Record(st *State) error {
	ss.st, ss.read = st, true
	return ss.Save()
}

// Save writes the state file.
func (ss *Session) Save() error {
	if ss.st == nil {
		return ErrNoStack
	}
	if err := WriteState(ss.s.dir, ss.st); err != nil {
		return fmt.Errorf("write %s: %w", StatePath(ss.s.dir), err)
	}
	return nil
}

// Status reports every recorded component, and records the live PID of a PostgreSQL server
// restarted by hand.
func (ss *Session) Status(ctx context.Context) ([]ComponentStatus, error) {
	st, err := ss.State()
	if err != nil {
		return nil, err
	}
	list := ss.s.status(ctx, st)
	changed := false
	for _, c := range list {
		if rec := st.Component(c.Name); c.Running && rec.PID != c.PID {
			ss.s.log.Info(c.Name+" runs under another PID than recorded (restarted by hand?); recording it", "was", rec.PID, "now", c.PID)
			rec.PID, changed = c.PID, true
		}
	}
	if changed {
		return list, ss.Save()
	}
	return list, nil
}

// component returns the record of name, or an error naming the known components.
func (ss *Session) component(name string) (*Component, error) {
	st, err := ss.State()
	if err != nil {
		return nil, err
	}
	c := st.Component(name)
	if c == nil {
		return nil, fmt.Errorf("no component %q in %s (components: %s)", name, StatePath(ss.s.dir), strings.Join(Names(), ", "))
	}
	return c, nil
}

// Stop: see Stack.Stop.
func (ss *Session) Stop(ctx context.Context, name string) error {
	return ss.halt(ctx, name, false)
}

// Kill: see Stack.Kill.
func (ss *Session) Kill(ctx context.Context, name string) error {
	return ss.halt(ctx, name, true)
}

func (ss *Session) halt(ctx context.Context, name string, kill bool) error {
	c, err := ss.component(name)
	if err != nil {
		return err
	}
	if c.External {
		return fmt.Errorf("%s: %w", name, ErrExternal)
	}
	verb := map[bool]string{false: "stop", true: "kill"}[kill]
	pgid, running := live(*c)
	if !running {
		ss.s.log.Info(name+" is not running; nothing to "+verb, "pid", c.PID)
		return nil
	}
	if kill {
		if err := killGroup(pgid); err != nil {
			return fmt.Errorf("kill %s: %w", name, err)
		}
		ss.s.log.Info("killed "+name+" (SIGKILL)", "pgid", pgid)
		return nil
	}
	if name == Postgres {
		r, err := newPGRunner(c.Bin)
		if err != nil {
			return err
		}
		ss.s.log.Info("stopping postgres (pg_ctl stop -m fast)", "pgid", pgid, "dir", c.DataDir)
		if err := r.stopCluster(ctx, c.DataDir, c.Log); err != nil {
			ss.s.log.Warn("pg_ctl stop failed; signalling the process group", "error", err)
		}
	}
	killed, err := stopGroup(pgid, ss.s.opts.StopGrace)
	if err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	ss.s.log.Info("stopped "+name, "pgid", pgid, "needed_sigkill", killed)
	return nil
}

// Start: see Stack.Start. The components are launched first and then waited for, so that
// they start side by side.
func (ss *Session) Start(ctx context.Context, names ...string) error {
	children := map[string]*child{}
	for _, name := range names {
		c, err := ss.component(name)
		if err != nil {
			return err
		}
		if c.External {
			continue
		}
		if pgid, running := live(*c); running {
			c.PID = pgid
			continue
		}
		if c.Cmd == nil {
			return fmt.Errorf("%s cannot start in place: %s was written by an older stack command that did not record how to start it (run stack down, then stack up)", name, StatePath(ss.s.dir))
		}
		if name == GCS && c.DataDir != "" {
			removed, err := sweepGCS(c.DataDir)
			if err != nil {
				return fmt.Errorf("gcs: clear half-written objects in %s: %w", c.DataDir, err)
			}
			if len(removed) > 0 {
				ss.s.log.Warn("gcs: removed objects the emulator left half-written when it stopped (an unfinished upload does not exist in GCS either)", "objects", removed)
			}
		}
		for _, p := range []int{c.Port, c.GRPCPort} {
			if p == 0 {
				continue
			}
			if err := portFree(p); err != nil {
				return fmt.Errorf("%s cannot start in place: its port %d is taken (%v); run stack down, then stack up, for a stack on new ports", name, p, err)
			}
		}
		ch, err := startChild(*c.Cmd, c.Log)
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		c.PID = ch.pid
		children[name] = ch
		ss.s.log.Info("started "+name, "pid", c.PID, "port", c.Port, "log", c.Log)
		if err := ss.Save(); err != nil {
			return err
		}
	}
	for _, name := range names {
		c, _ := ss.component(name)
		ss.s.log.Info("waiting for "+name, "url", redactURL(*c))
		check := func(ctx context.Context) error { return check(ctx, *c) }
		if err := waitFor(ctx, children[name], ss.s.opts.Timeout, check); err != nil {
			if c.External {
				return fmt.Errorf("PostgreSQL at DATABASE_URL does not answer: %w (check the server, or unset DATABASE_URL to use a throwaway cluster)", err)
			}
			return fmt.Errorf("%s on port %d: %w\nlast lines of %s:\n%s", name, c.Port, err, c.Log, logTail(c.Log, 20))
		}
		if name == Postgres && !c.External {
			// The server may run under runuser: record the group leader it belongs to.
			if pgid, running := live(*c); running {
				c.PID = pgid
			}
		}
		if err := ss.defaults(ctx, *c, children[name] != nil); err != nil {
			return err
		}
	}
	return ss.Save()
}

// defaults creates the default resources a component serves, when missing.
func (ss *Session) defaults(ctx context.Context, c Component, started bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	switch c.Name {
	case SQS:
		if _, _, err := stackenv.CreateQueues(ctx, stackenv.SQSClient(c.URL), stackenv.QueueName, stackenv.QueueOptions{}); err != nil {
			return err
		}
		if started {
			ss.s.log.Info("sqs keeps queues in memory only: (re)created the default queues, empty; other queues and all messages are gone",
				"queue", stackenv.QueueName, "dlq", stackenv.DLQName)
		}
	case GCS:
		client, err := stackenv.StorageClient(ctx, c.URL)
		if err != nil {
			return err
		}
		defer client.Close()
		return stackenv.CreateBucket(ctx, client, stackenv.Project, stackenv.Bucket)
	case BigQuery:
		return stackenv.CreateDataset(ctx, c.URL, stackenv.Project, stackenv.Dataset)
	}
	return nil
}

// Down stops every component (in reverse start order), deletes their data and removes the
// state and env files. Whatever cannot be stopped stays recorded.
func (ss *Session) Down(ctx context.Context) error {
	st, err := ss.State()
	if err != nil {
		return err
	}
	var errs []error
	var left []Component
	for i := len(st.Components) - 1; i >= 0; i-- {
		c := st.Components[i]
		if c.External {
			ss.s.log.Info("leaving the DATABASE_URL server alone", "component", c.Name)
			continue
		}
		if err := ss.Stop(ctx, c.Name); err != nil {
			errs = append(errs, err)
			left = append(left, c)
			continue
		}
		if err := removeDataDir(ss.s.dir, c); err != nil {
			errs = append(errs, err)
			left = append(left, c)
		}
	}
	if len(errs) > 0 {
		st.Components = left
		return errors.Join(append(errs, ss.Save())...)
	}
	if err := os.RemoveAll(DataDir(ss.s.dir)); err != nil {
		return err
	}
	ss.st = nil
	if err := removeIfExists(EnvPath(ss.s.dir)); err != nil {
		return err
	}
	return removeIfExists(StatePath(ss.s.dir))
}

// removeDataDir deletes a component's recorded data directory after checking that the stack
// made it: a throwaway PostgreSQL cluster, or a folder under DataDir(stackDir).
func removeDataDir(stackDir string, c Component) error {
	if c.DataDir == "" {
		return nil
	}
	if c.Name == Postgres {
		return removeClusterDir(c.DataDir)
	}
	rel, err := filepath.Rel(DataDir(stackDir), c.DataDir)
	if err != nil || !filepath.IsAbs(c.DataDir) || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("refusing to delete %q: not a folder under %s", c.DataDir, DataDir(stackDir))
	}
	return os.RemoveAll(c.DataDir)
}

// live returns the process group of a recorded component and whether it runs. For the
// stack's PostgreSQL cluster it believes the data directory's postmaster.pid before the
// recorded PID, which is stale after a pg_ctl restart.
func live(c Component) (pgid int, running bool) {
	if c.External {
		return 0, true
	}
	if c.Name == Postgres && c.DataDir != "" {
		if _, pgrp, ok := postmasterPID(c.DataDir); ok {
			return pgrp, true
		}
	}
	return c.PID, ours(c.PID, c.Match)
}

// ComponentStatus is one line of Status.
type ComponentStatus struct {
	// Component is the record, with the live PID.
	Component
	// Running is false when the process is gone (always true for external servers).
	Running bool
	// Err is why the component does not answer; nil when healthy.
	Err error
}

// Healthy reports whether the component runs and answers.
func (c ComponentStatus) Healthy() bool { return c.Running && c.Err == nil }

func (s *Stack) status(ctx context.Context, st *State) []ComponentStatus {
	out := make([]ComponentStatus, 0, len(st.Components))
	for _, c := range st.Components {
		cs := ComponentStatus{Component: c}
		if pgid, running := live(c); running {
			cs.Running = true
			if !c.External {
				cs.PID = pgid
			}
			cs.Err = checkOnce(ctx, c)
		} else {
			cs.Err = fmt.Errorf("not running (process %d is gone; see %s)", c.PID, c.Log)
		}
		out = append(out, cs)
	}
	return out
}

func checkOnce(ctx context.Context, c Component) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return check(ctx, c)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
