package chaos

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/tools/internal/chaos/svcproc"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

// Stack is the suite's own local stack. The scenarios stop, kill and
// restart its components (Postgres, GCS, BigQuery), which would break any
// other test using the same stack, so the suite never uses the shared one:
// it starts a private stack in a temporary STACK_DIR, with the programs the
// shared stack runs, and takes it down at the end.
type Stack struct {
	Env stackenv.Env
	// Ctl stops, kills and starts one component in place (same port, same
	// data).
	Ctl *stackctl.Stack
	// Bins are Ore and Masora, built from the repository.
	Bins svcproc.Binaries
}

// StartStack starts the suite's stack and builds Ore and Masora. Like stacktest.Load, it skips the
// test when no shared stack runs (so nothing is installed) and with -short,
// and fails it instead with STACK_REQUIRED=1.
func StartStack(t *testing.T) *Stack {
	t.Helper()
	stacktest.Load(t)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		t.Fatal(err)
	}
	binDir, err := provision.BinDir(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := provision.Ensure(t.Context(), provision.Options{Root: root, BinDir: binDir, CheckOnly: true})
	if errors.Is(err, provision.ErrMissing) && os.Getenv(stacktest.RequiredVar) != "1" {
		t.Skipf("chaos: stack programs missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	layout := localstack.Layout{Root: root, Dir: t.TempDir()}
	st := localstack.New(localstack.Options{Layout: layout, Toolchain: tc, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ctl := st.Control()
	t.Cleanup(func() {
		if err := ctl.Down(context.Background()); err != nil {
			t.Errorf("chaos: take the suite's stack down: %v", err)
		}
	})
	if _, err := st.Up(t.Context()); err != nil {
		t.Fatalf("chaos: start the suite's stack: %v", err)
	}
	env, err := stackenv.Read(layout.EnvPath())
	if err != nil {
		t.Fatal(err)
	}
	bins, err := svcproc.Build(t.Context(), root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Stack{Env: env, Ctl: ctl, Bins: bins}
}
