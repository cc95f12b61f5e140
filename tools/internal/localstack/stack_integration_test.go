package localstack_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

// toolchain returns the stack's programs. Without STACK_REQUIRED=1 it skips the test when
// they are not installed yet, instead of spending minutes building them.
func toolchain(t *testing.T, root string) provision.Toolchain {
	t.Helper()
	binDir, err := provision.BinDir(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	opts := provision.Options{Root: root, BinDir: binDir, CheckOnly: os.Getenv("STACK_REQUIRED") != "1"}
	tc, err := provision.Ensure(t.Context(), opts)
	if errors.Is(err, provision.ErrMissing) {
		t.Skipf("stack programs missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestLifecycle starts a second, private stack in a temp STACK_DIR and checks up (fresh,
// reused, restarted after a crash), status and down.
func TestLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts emulators; skipped with -short")
	}
	cwd, _ := os.Getwd()
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		t.Fatal(err)
	}
	tc := toolchain(t, root)
	layout := localstack.Layout{Root: root, Dir: t.TempDir()}
	st := localstack.New(localstack.Options{
		Layout: layout, Toolchain: tc,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	t.Cleanup(func() {
		if err := st.Down(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	ctx := t.Context()

	vars, started, err := st.Up(ctx)
	if err != nil || !started {
		t.Fatalf("first Up = started %v, %v; want a fresh start", started, err)
	}
	env := map[string]string{}
	for _, v := range vars {
		env[v.Key] = v.Value
	}
	for _, k := range []string{stackenv.KeyAWSRegion, stackenv.KeySQSEndpoint, stackenv.KeySQSQueueURL,
		stackenv.KeySQSDLQURL, stackenv.KeyStorageEmulator, stackenv.KeyGCSBucket, stackenv.KeyBigQueryEndpoint,
		stackenv.KeyBigQueryProject, stackenv.KeyBigQueryDataset, stackenv.KeyDatabaseURL, stackenv.KeyLambdaRIEBin} {
		if env[k] == "" {
			t.Errorf("env lacks %s", k)
		}
	}
	if _, err := os.Stat(layout.EnvPath()); err != nil {
		t.Errorf("env file: %v", err)
	}

	if _, started, err := st.Up(ctx); err != nil || started {
		t.Fatalf("second Up = started %v, %v; want the running stack reused", started, err)
	}

	statuses := status(t, st)
	for _, c := range statuses {
		if !c.Healthy() {
			t.Errorf("%s unhealthy: %v", c.Name, c.Err)
		}
	}
	pgDir := statuses[localstack.Postgres].DataDir
	if pgDir == "" {
		t.Fatal("no PostgreSQL data dir recorded")
	}

	// A crashed component makes the next Up restart the stack.
	oldSQS := statuses[localstack.SQS].PID
	if err := syscall.Kill(-oldSQS, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDead(t, oldSQS)
	if _, started, err := st.Up(ctx); err != nil || !started {
		t.Fatalf("Up after a crash = started %v, %v; want a restart", started, err)
	}
	after := status(t, st)
	if after[localstack.SQS].PID == oldSQS || !after[localstack.SQS].Healthy() {
		t.Errorf("sqs after restart: pid %d (was %d), healthy %v", after[localstack.SQS].PID, oldSQS, after[localstack.SQS].Healthy())
	}
	if _, err := os.Stat(pgDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old PostgreSQL dir %s after restart: %v, want it removed", pgDir, err)
	}

	if err := st.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for _, c := range after {
		if c.PID > 0 && syscall.Kill(c.PID, 0) == nil {
			if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.PID), "stat")); len(b) > 0 && !isZombie(b) {
				t.Errorf("%s pid %d still running after Down", c.Name, c.PID)
			}
		}
	}
	if _, err := os.Stat(after[localstack.Postgres].DataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("PostgreSQL dir after Down: %v, want it removed", err)
	}
	for _, p := range []string{layout.StatePath(), layout.EnvPath()} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Down: %v, want it removed", p, err)
		}
	}
	if _, err := st.Status(ctx); !errors.Is(err, localstack.ErrNoStack) {
		t.Errorf("Status after Down: %v, want ErrNoStack", err)
	}
}

func status(t *testing.T, st *localstack.Stack) map[string]localstack.ComponentStatus {
	t.Helper()
	list, err := st.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	m := map[string]localstack.ComponentStatus{}
	for _, c := range list {
		m[c.Name] = c
	}
	if len(m) != 4 {
		t.Fatalf("Status lists %d components, want 4: %+v", len(m), list)
	}
	return m
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil || isZombie(b) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d still alive after SIGKILL", pid)
}

func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}
