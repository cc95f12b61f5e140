package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

// Options configure a Stack.
type Options struct {
	Layout Layout
	// Toolchain says where the programs are (provision.Ensure finds or builds them);
	// PostgresBin is only needed unless DatabaseURL is set, and LambdaRIE is only passed
	// on to the env file (LAMBDA_RIE_BIN): the stack does not run it. Only a fresh start
	// needs it: components restart in place with the commands the state file records.
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

// Stack brings up the local emulator stack recorded under Layout.Dir. Everything else (status,
// stop, kill and start of a component, down) is done by stackctl on the same directory.
type Stack struct {
	opts Options
	log  *slog.Logger
	ctl  *stackctl.Stack
}

// New returns a Stack.
func New(opts Options) *Stack {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctl := stackctl.Open(opts.Layout.Dir, stackctl.Options{Timeout: opts.Timeout, StopGrace: opts.StopGrace, Logger: opts.Logger})
	return &Stack{opts: opts, log: opts.Logger, ctl: ctl}
}

// Control returns the stackctl.Stack of the same directory.
func (s *Stack) Control() *stackctl.Stack { return s.ctl }

// UpResult says what Up did.
type UpResult struct {
	// Vars are the env file's lines.
	Vars []stackenv.Var
	// Fresh is true when Up started a new stack: new ports, empty queues, bucket, dataset
	// and database.
	Fresh bool
	// Restarted names the components of the recorded stack that Up started again in place
	// (same ports and data) because they were dead or did not answer.
	Restarted []string
}

// Up makes sure the stack runs and returns its env vars. A healthy recorded stack is reused
// as it is. Components of a recorded stack that died or do not answer are started again in
// place, the others are left alone. A fresh stack is started when nothing is recorded, when
// the recorded stack cannot be repaired in place (its state file predates in-place restarts,
// DATABASE_URL changed, a port was taken meanwhile); what is left of the old one is stopped
// first.
func (s *Stack) Up(ctx context.Context) (UpResult, error) {
	ss, err := s.ctl.Lock()
	if err != nil {
		return UpResult{}, err
	}
	defer ss.Close()

	st, err := ss.State()
	switch {
	case errors.Is(err, stackctl.ErrNoStack):
	case err != nil:
		return UpResult{}, err
	default:
		restarted, err := s.repair(ctx, ss, st)
		if err == nil {
			if err := stackenv.Write(s.opts.Layout.EnvPath(), st.Env); err != nil {
				return UpResult{}, fmt.Errorf("write %s: %w", s.opts.Layout.EnvPath(), err)
			}
			return UpResult{Vars: st.Env, Restarted: restarted}, nil
		}
		var ext externalError
		if errors.As(err, &ext) {
			return UpResult{}, err
		}
		s.log.Warn("the recorded stack cannot be repaired in place; stopping what is left of it and starting a fresh one", "reason", err)
		if err := ss.Down(ctx); err != nil {
			return UpResult{}, fmt.Errorf("stop the recorded stack: %w", err)
		}
	}
	vars, err := s.start(ctx, ss)
	if err != nil {
		return UpResult{}, err
	}
	return UpResult{Vars: vars, Fresh: true}, nil
}

// externalError is a DATABASE_URL server that does not answer: starting a fresh stack would
// not help.
type externalError struct{ error }

// repair starts again in place every recorded component that is dead or does not answer,
// and returns their names. An error means the recorded stack cannot be reused.
func (s *Stack) repair(ctx context.Context, ss *stackctl.Session, st *stackctl.State) ([]string, error) {
	if reason := s.incompatible(st); reason != "" {
		return nil, errors.New(reason)
	}
	list, err := ss.Status(ctx)
	if err != nil {
		return nil, err
	}
	var restart []string
	for _, c := range list {
		if c.Healthy() {
			continue
		}
		if c.External {
			return nil, externalError{fmt.Errorf("PostgreSQL at DATABASE_URL does not answer: %w (check the server, or unset DATABASE_URL to use a throwaway cluster)", c.Err)}
		}
		s.log.Warn(c.Name+" is unhealthy; restarting it in place", "problem", c.Err)
		if c.Running {
			if err := ss.Stop(ctx, c.Name); err != nil {
				return nil, err
			}
		}
		restart = append(restart, c.Name)
	}
	if len(restart) == 0 {
		s.log.Info("stack already running and healthy; starting nothing", "state", s.opts.Layout.StatePath())
		return nil, nil
	}
	if err := ss.Start(ctx, restart...); err != nil {
		return nil, err
	}
	return restart, nil
}

// incompatible says why the recorded stack cannot be reused with the current options; "" if
// it can.
func (s *Stack) incompatible(st *stackctl.State) string {
	for _, name := range stackctl.Names() {
		if st.Component(name) == nil {
			return name + " is not recorded"
		}
	}
	pg := st.Component(stackctl.Postgres)
	switch {
	case s.opts.DatabaseURL != "" && (!pg.External || pg.URL != s.opts.DatabaseURL):
		return "DATABASE_URL is set now but the recorded stack does not use it"
	case s.opts.DatabaseURL == "" && pg.External:
		return "the recorded stack uses a DATABASE_URL server but DATABASE_URL is not set now"
	}
	for _, c := range st.Components {
		if !c.External && c.Cmd == nil {
			return "the state file was written by an older stack command that did not record how to restart " + c.Name
		}
	}
	return ""
}

// start starts a fresh stack: every component on new ports with empty data, the default
// resources, the state and env files. On failure it stops whatever it started.
func (s *Stack) start(ctx context.Context, ss *stackctl.Session) (vars []stackenv.Var, err error) {
	l := s.opts.Layout
	if err := s.checkToolchain(); err != nil {
		return nil, err
	}
	// Data left by a stack that is no longer recorded is not ours to keep.
	if err := os.RemoveAll(stackctl.DataDir(l.Dir)); err != nil {
		return nil, err
	}
	ports, err := stackctl.FreePorts(5)
	if err != nil {
		return nil, err
	}
	sqsPort, gcsPort, bqPort, bqGRPCPort, pgPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	logPath := func(name string) string { return filepath.Join(l.LogDir(), name+".log") }
	for _, name := range stackctl.Names() {
		if err := os.WriteFile(logPath(name), nil, 0o644); err != nil {
			return nil, err
		}
	}
	gcsData := filepath.Join(stackctl.DataDir(l.Dir), stackctl.GCS)
	bqData := filepath.Join(stackctl.DataDir(l.Dir), stackctl.BigQuery)
	for _, d := range []string{gcsData, bqData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	sqsURL := fmt.Sprintf("http://127.0.0.1:%d", sqsPort)
	gcsURL := fmt.Sprintf("http://127.0.0.1:%d", gcsPort)
	bqURL := fmt.Sprintf("http://127.0.0.1:%d", bqPort)
	st := &stackctl.State{StartedAt: time.Now().UTC(), Components: []stackctl.Component{
		{
			// SQS: fauxqs under node, in memory.
			Name: stackctl.SQS, Match: "server.mjs", Port: sqsPort, URL: sqsURL, Log: logPath(stackctl.SQS),
			Cmd: &stackctl.Command{Path: s.opts.Node, Args: []string{s.opts.SQSServer, strconv.Itoa(sqsPort)}, Dir: filepath.Dir(s.opts.SQSServer)},
		},
		{
			// GCS: fake-gcs-server, objects on disk so that they survive a restart.
			Name: stackctl.GCS, Match: "fake-gcs-server", Port: gcsPort, URL: gcsURL, Log: logPath(stackctl.GCS), DataDir: gcsData,
			Cmd: &stackctl.Command{Path: s.opts.FakeGCS, Dir: l.Dir, Args: []string{
				"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(gcsPort),
				"-backend", "filesystem", "-filesystem-root", gcsData,
				"-external-url", gcsURL, "-public-host", strings.TrimPrefix(gcsURL, "http://")}},
		},
		{
			// BigQuery: reads load files from the GCS emulator; datasets and tables in a
			// database file so that they survive a restart.
			Name: stackctl.BigQuery, Match: "bigquery-emulator", Port: bqPort, GRPCPort: bqGRPCPort, URL: bqURL,
			Log: logPath(stackctl.BigQuery), DataDir: bqData,
			Cmd: &stackctl.Command{Path: s.opts.BigQuery, Dir: l.Dir, Env: []string{"STORAGE_EMULATOR_HOST=" + gcsURL}, Args: []string{
				"--project=" + stackenv.Project, "--host=127.0.0.1",
				"--port=" + strconv.Itoa(bqPort), "--grpc-port=" + strconv.Itoa(bqGRPCPort),
				"--database=" + filepath.Join(bqData, "bigquery.db")}},
		},
	}}
	if err := ss.Record(st); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		s.log.Warn("start failed; stopping what was started")
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if stopErr := ss.Down(cleanupCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after the failed start: %w", stopErr))
		}
	}()

	// PostgreSQL: the server DATABASE_URL names, or a throwaway cluster.
	if s.opts.DatabaseURL != "" {
		c := stackctl.Component{Name: stackctl.Postgres, External: true, URL: s.opts.DatabaseURL}
		if cfg, err := pgconn.ParseConfig(s.opts.DatabaseURL); err == nil {
			c.Port = int(cfg.Port)
		}
		st.Set(c)
		s.log.Info("using the PostgreSQL server from DATABASE_URL; it will not be stopped by down", "port", c.Port)
	} else {
		s.log.Info("creating a throwaway PostgreSQL cluster")
		c, err := stackctl.NewPostgres(ctx, stackctl.PostgresOptions{Bin: s.opts.PostgresBin, Port: pgPort, Log: logPath(stackctl.Postgres)})
		if err != nil {
			return nil, err
		}
		st.Set(c)
	}
	if err := ss.Save(); err != nil {
		return nil, err
	}
	if err := ss.Start(ctx, stackctl.Names()...); err != nil {
		return nil, err
	}

	// The queues exist now (Start made them); CreateQueues returns their URLs.
	queueURL, dlqURL, err := stackenv.CreateQueues(ctx, stackenv.SQSClient(sqsURL), stackenv.QueueName, stackenv.QueueOptions{})
	if err != nil {
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
		DatabaseURL:         st.Component(stackctl.Postgres).URL,
		LambdaRIEBin:        s.opts.LambdaRIE,
	}.Vars()
	if err := ss.Save(); err != nil {
		return nil, err
	}
	if err := stackenv.Write(l.EnvPath(), st.Env); err != nil {
		return nil, fmt.Errorf("write %s: %w", l.EnvPath(), err)
	}
	return st.Env, nil
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
