package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

// Options configure a Stack.
type Options struct {
	Layout Layout
	// Toolchain says where the programs are (provision.Ensure finds or builds them);
	// PostgresBin is only needed unless DatabaseURL is set, and LambdaRIE is only passed
	// on to the env file (LAMBDA_RIE_BIN): the stack does not run it. Down and Status need
	// none of it.
	provision.Toolchain
	// DatabaseURL, when set, names a PostgreSQL server to use instead of a throwaway cluster.
	// The stack only checks that it answers, and never stops it.
	DatabaseURL string
	// Timeout bounds the wait for each component to answer (default 60s).
	Timeout time.Duration
	// StopGrace is how long a process group gets between SIGTERM and SIGKILL (default 10s).
	StopGrace time.Duration
	Logger    *slog.Logger
}

// Stack starts, inspects and stops the local emulator stack recorded under Layout.Dir.
type Stack struct {
	opts Options
	log  *slog.Logger
}

// New returns a Stack.
func New(opts Options) *Stack {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Stack{opts: opts, log: opts.Logger}
}

// lock takes an exclusive lock on the stack directory so that two commands never start or
// stop the same stack at once.
func (s *Stack) lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.opts.Layout.LogDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.opts.Layout.LogDir(), err)
	}
	f, err := os.OpenFile(s.opts.Layout.lockPath(), os.O_CREATE|os.O_RDWR, 0o644)
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
	return func() { f.Close() }, nil
}

// Up makes sure the stack runs and returns its env vars. If a recorded stack is running and
// healthy it starts nothing (started is false). If part of a recorded stack has died, it stops
// the rest and starts afresh.
func (s *Stack) Up(ctx context.Context) (vars []stackenv.Var, started bool, err error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()

	st, err := readState(s.opts.Layout.StatePath())
	switch {
	case errors.Is(err, ErrNoStack):
	case err != nil:
		return nil, false, err
	default:
		problems := s.inspect(ctx, st)
		if len(problems) == 0 {
			s.log.Info("stack already running and healthy; starting nothing", "state", s.opts.Layout.StatePath())
			if err := stackenv.Write(s.opts.Layout.EnvPath(), st.Env); err != nil {
				return nil, false, fmt.Errorf("write %s: %w", s.opts.Layout.EnvPath(), err)
			}
			return st.Env, false, nil
		}
		for _, p := range problems {
			s.log.Warn("recorded stack is unhealthy", "problem", p)
		}
		s.log.Info("stopping what is left of the recorded stack, then starting a fresh one")
		if err := s.stop(ctx, st); err != nil {
			return nil, false, fmt.Errorf("stop the unhealthy stack: %w", err)
		}
	}

	vars, err = s.start(ctx)
	if err != nil {
		return nil, false, err
	}
	return vars, true, nil
}

// inspect returns what is wrong with a recorded stack; nil means healthy.
func (s *Stack) inspect(ctx context.Context, st *State) []string {
	var problems []string
	for _, name := range []string{SQS, GCS, BigQuery, Postgres} {
		if st.component(name) == nil {
			problems = append(problems, name+": not recorded")
		}
	}
	if pg := st.component(Postgres); pg != nil {
		switch {
		case s.opts.DatabaseURL != "" && (!pg.External || pg.URL != s.opts.DatabaseURL):
			problems = append(problems, "postgres: DATABASE_URL is set now but the recorded stack does not use it")
		case s.opts.DatabaseURL == "" && pg.External:
			problems = append(problems, "postgres: the recorded stack uses a DATABASE_URL server but DATABASE_URL is not set now")
		}
	}
	for _, c := range st.Components {
		if !c.External && !ours(c.PID, c.Match) {
			problems = append(problems, fmt.Sprintf("%s: process %d is not running", c.Name, c.PID))
			continue
		}
		if err := checkOnce(ctx, c); err != nil {
			problems = append(problems, fmt.Sprintf("%s: not answering on %s: %v", c.Name, redactURL(c), err))
		}
	}
	return problems
}

func checkOnce(ctx context.Context, c Component) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return check(ctx, c)
}

// start starts every component, waits for each, creates the default resources and writes the
// state and env files. On failure it stops whatever it started.
func (s *Stack) start(ctx context.Context) (vars []stackenv.Var, err error) {
	l := s.opts.Layout
	if err := s.checkToolchain(); err != nil {
		return nil, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	sqsPort, gcsPort, bqPort, bqGRPCPort, pgPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	st := &State{StartedAt: time.Now().UTC()}
	save := func() error { return writeState(l.StatePath(), st) }
	defer func() {
		if err == nil {
			return
		}
		s.log.Warn("start failed; stopping what was started")
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if stopErr := s.stop(cleanupCtx, st); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after the failed start: %w", stopErr))
		}
	}()
	if err := save(); err != nil {
		return nil, fmt.Errorf("write %s: %w", l.StatePath(), err)
	}
	children := map[string]*child{}
	logPath := func(name string) string { return filepath.Join(l.LogDir(), name+".log") }
	truncateLog := func(name string) {
		_ = os.WriteFile(logPath(name), nil, 0o644)
	}

	launch := func(spec procSpec, c Component) error {
		truncateLog(spec.name)
		ch, err := startChild(spec)
		if err != nil {
			return fmt.Errorf("start %s: %w", spec.name, err)
		}
		c.PID = ch.pid
		children[c.Name] = ch
		st.set(c)
		s.log.Info("started "+c.Name, "pid", c.PID, "url", c.URL, "log", c.Log)
		return save()
	}

	// SQS: fauxqs under node.
	sqsURL := fmt.Sprintf("http://127.0.0.1:%d", sqsPort)
	if err := launch(procSpec{
		name: SQS, path: s.opts.Node, args: []string{s.opts.SQSServer, strconv.Itoa(sqsPort)},
		dir: filepath.Dir(s.opts.SQSServer), log: logPath(SQS),
	}, Component{Name: SQS, Match: "server.mjs", Port: sqsPort, URL: sqsURL, Log: logPath(SQS)}); err != nil {
		return nil, err
	}

	// GCS: fake-gcs-server, in memory.
	gcsURL := fmt.Sprintf("http://127.0.0.1:%d", gcsPort)
	gcsAddr := fmt.Sprintf("127.0.0.1:%d", gcsPort)
	if err := launch(procSpec{
		name: GCS, path: s.opts.FakeGCS,
		args: []string{"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(gcsPort),
			"-backend", "memory", "-external-url", gcsURL, "-public-host", gcsAddr},
		dir: l.Dir, log: logPath(GCS),
	}, Component{Name: GCS, Match: "fake-gcs-server", Port: gcsPort, URL: gcsURL, Log: logPath(GCS)}); err != nil {
		return nil, err
	}

	// BigQuery: reads load files from the GCS emulator.
	bqURL := fmt.Sprintf("http://127.0.0.1:%d", bqPort)
	if err := launch(procSpec{
		name: BigQuery, path: s.opts.BigQuery,
		args: []string{"--project=" + stackenv.Project, "--host=127.0.0.1",
			"--port=" + strconv.Itoa(bqPort), "--grpc-port=" + strconv.Itoa(bqGRPCPort)},
		env: []string{"STORAGE_EMULATOR_HOST=" + gcsURL},
		dir: l.Dir, log: logPath(BigQuery),
	}, Component{Name: BigQuery, Match: "bigquery-emulator", Port: bqPort, GRPCPort: bqGRPCPort, URL: bqURL, Log: logPath(BigQuery)}); err != nil {
		return nil, err
	}

	// PostgreSQL: the server DATABASE_URL names, or a throwaway cluster.
	if s.opts.DatabaseURL != "" {
		c := Component{Name: Postgres, External: true, URL: s.opts.DatabaseURL}
		if cfg, err := pgconn.ParseConfig(s.opts.DatabaseURL); err == nil {
			c.Port = int(cfg.Port)
		}
		st.set(c)
		if err := save(); err != nil {
			return nil, err
		}
		s.log.Info("using the PostgreSQL server from DATABASE_URL; it will not be stopped by down", "port", c.Port)
	} else {
		if err := s.startPostgres(ctx, st, save, pgPort, logPath(Postgres), children); err != nil {
			return nil, err
		}
	}

	// Wait for each to answer.
	for _, c := range st.Components {
		s.log.Info("waiting for "+c.Name, "url", redactURL(c))
		if err := waitFor(ctx, children[c.Name], s.opts.Timeout, func(ctx context.Context) error { return check(ctx, c) }); err != nil {
			if c.External {
				return nil, fmt.Errorf("PostgreSQL at DATABASE_URL does not answer: %w (check the server, or unset DATABASE_URL to use a throwaway cluster)", err)
			}
			return nil, fmt.Errorf("%s on port %d: %w\nlast lines of %s:\n%s", c.Name, c.Port, err, c.Log, logTail(c.Log, 20))
		}
	}

	// Default resources, through the real SDKs.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	queueURL, dlqURL, err := stackenv.CreateQueues(rctx, stackenv.SQSClient(sqsURL), stackenv.QueueName, stackenv.QueueOptions{})
	if err != nil {
		return nil, err
	}
	gcs, err := stackenv.StorageClient(rctx, gcsURL)
	if err != nil {
		return nil, err
	}
	defer gcs.Close()
	if err := stackenv.CreateBucket(rctx, gcs, stackenv.Project, stackenv.Bucket); err != nil {
		return nil, err
	}
	if err := stackenv.CreateDataset(rctx, bqURL, stackenv.Project, stackenv.Dataset); err != nil {
		return nil, err
	}
	s.log.Info("created default resources", "queue", stackenv.QueueName, "dlq", stackenv.DLQName, "bucket", stackenv.Bucket,
		"dataset", stackenv.Project+"."+stackenv.Dataset)

	st.Env = stackenv.Env{
		AWSRegion:           stackenv.Region,
		AWSAccessKeyID:      stackenv.AccessKeyID,
		AWSSecretAccessKey:  stackenv.SecretAccessKey,
		SQSEndpoint:         sqsURL,
		SQSQueueURL:         queueURL,
		SQSDLQURL:           dlqURL,
		StorageEmulatorHost: gcsURL,
		GCSBucket:           stackenv.Bucket,
		BigQueryEndpoint:    bqURL,
		BigQueryProject:     stackenv.Project,
		BigQueryDataset:     stackenv.Dataset,
		DatabaseURL:         st.component(Postgres).URL,
		LambdaRIEBin:        s.opts.LambdaRIE,
	}.Vars()
	if err := save(); err != nil {
		return nil, err
	}
	if err := stackenv.Write(l.EnvPath(), st.Env); err != nil {
		return nil, fmt.Errorf("write %s: %w", l.EnvPath(), err)
	}
	return st.Env, nil
}

func (s *Stack) startPostgres(ctx context.Context, st *State, save func() error, port int, logPath string, children map[string]*child) error {
	r, err := newPGRunner(s.opts.PostgresBin)
	if err != nil {
		return err
	}
	dir, err := r.makeClusterDir()
	if err != nil {
		return fmt.Errorf("postgres: create cluster directory: %w", err)
	}
	c := Component{Name: Postgres, Match: dir, Port: port, URL: postgresURL(port), Log: logPath, DataDir: dir, Bin: s.opts.PostgresBin}
	st.set(c) // recorded before anything else can fail, so that down removes it
	if err := save(); err != nil {
		return err
	}
	_ = os.WriteFile(logPath, nil, 0o644)
	s.log.Info("creating a throwaway PostgreSQL cluster", "dir", dir)
	if err := r.initCluster(ctx, dir, logPath); err != nil {
		return fmt.Errorf("postgres: %w\nlast lines of %s:\n%s", err, logPath, logTail(logPath, 20))
	}
	ch, err := startChild(r.serverSpec(dir, port, logPath))
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.PID = ch.pid
	children[Postgres] = ch
	st.set(c)
	s.log.Info("started postgres", "pid", c.PID, "url", c.URL, "log", logPath)
	return save()
}

func (s *Stack) checkToolchain() error {
	need := map[string]string{"node": s.opts.Node, "SQS server script": s.opts.SQSServer,
		"fake-gcs-server": s.opts.FakeGCS, "bigquery-emulator": s.opts.BigQuery}
	if s.opts.DatabaseURL == "" {
		need["PostgreSQL bin dir"] = s.opts.PostgresBin
	}
	for what, path := range need {
		if path == "" {
			return fmt.Errorf("%s is unknown: run deps first", what)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: %w (run deps first)", what, err)
		}
	}
	return nil
}

// Down stops the processes recorded in the state file, stops and deletes the throwaway
// PostgreSQL cluster, and removes the state and env files. It never touches a server the
// stack did not start.
func (s *Stack) Down(ctx context.Context) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := readState(s.opts.Layout.StatePath())
	if errors.Is(err, ErrNoStack) {
		s.log.Info("no stack recorded; nothing to stop", "state", s.opts.Layout.StatePath())
		return removeIfExists(s.opts.Layout.EnvPath())
	}
	if err != nil {
		return err
	}
	return s.stop(ctx, st)
}

// stop stops st's components in reverse start order and removes the state and env files.
// Whatever cannot be stopped stays recorded.
func (s *Stack) stop(ctx context.Context, st *State) error {
	var errs []error
	var left []Component
	for i := len(st.Components) - 1; i >= 0; i-- {
		c := st.Components[i]
		if err := s.stopComponent(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.Name, err))
			left = append(left, c)
		}
	}
	l := s.opts.Layout
	if len(errs) > 0 {
		st.Components = left
		if err := writeState(l.StatePath(), st); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	if err := removeIfExists(l.EnvPath()); err != nil {
		return err
	}
	return removeIfExists(l.StatePath())
}

func (s *Stack) stopComponent(ctx context.Context, c Component) error {
	if c.External {
		s.log.Info("leaving the DATABASE_URL server alone", "component", c.Name)
		return nil
	}
	stoppedBy := ""
	if c.Name == Postgres && c.DataDir != "" {
		if _, err := os.Stat(c.DataDir); err == nil {
			r, err := newPGRunner(c.Bin)
			if err != nil {
				return err
			}
			if ours(c.PID, c.Match) {
				s.log.Info("stopping postgres (pg_ctl stop -m fast)", "pid", c.PID, "dir", c.DataDir)
				if err := r.stopCluster(ctx, c.DataDir, c.Log); err != nil {
					s.log.Warn("pg_ctl stop failed; signalling the process group", "error", err)
				} else {
					stoppedBy = "pg_ctl"
				}
			}
		}
	}
	if c.PID > 0 {
		switch {
		case ours(c.PID, c.Match):
			killed, err := stopGroup(c.PID, s.opts.StopGrace)
			if err != nil {
				return err
			}
			s.log.Info("stopped "+c.Name, "pid", c.PID, "needed_sigkill", killed)
		case stoppedBy != "":
			s.log.Info("stopped "+c.Name, "pid", c.PID, "by", stoppedBy)
		default:
			s.log.Info(c.Name+" was not running", "pid", c.PID)
		}
	}
	if c.Name == Postgres && c.DataDir != "" {
		if err := removeClusterDir(c.DataDir); err != nil {
			return err
		}
		s.log.Info("removed PostgreSQL cluster directory", "dir", c.DataDir)
	}
	return nil
}

// ComponentStatus is one line of Status.
type ComponentStatus struct {
	Component
	// Running is false when the recorded process is gone (always true for external servers).
	Running bool
	// Err is why the component does not answer; nil when healthy.
	Err error
}

// Healthy reports whether the component runs and answers.
func (c ComponentStatus) Healthy() bool { return c.Running && c.Err == nil }

// Status reports every recorded component; ErrNoStack when nothing is recorded.
func (s *Stack) Status(ctx context.Context) ([]ComponentStatus, error) {
	st, err := readState(s.opts.Layout.StatePath())
	if err != nil {
		return nil, err
	}
	out := make([]ComponentStatus, 0, len(st.Components))
	for _, c := range st.Components {
		cs := ComponentStatus{Component: c, Running: c.External || ours(c.PID, c.Match)}
		if cs.Running {
			cs.Err = checkOnce(ctx, c)
		} else {
			cs.Err = fmt.Errorf("process %d is not running (see %s)", c.PID, c.Log)
		}
		out = append(out, cs)
	}
	return out, nil
}

// WriteEnv copies the env file of the running stack to w.
func (s *Stack) WriteEnv(w io.Writer) error {
	f, err := os.Open(s.opts.Layout.EnvPath())
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist: start the stack first (make stack-up)", s.opts.Layout.EnvPath())
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func redactURL(c Component) string {
	if c.Name != Postgres {
		return c.URL
	}
	if cfg, err := pgconn.ParseConfig(c.URL); err == nil {
		return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	}
	return "(DATABASE_URL)"
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
