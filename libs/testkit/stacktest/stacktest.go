// Package stacktest connects integration tests to the local emulator stack that
// `make stack-up` (go run ./tools/cmd/stack up) starts, and gives each test its own queue,
// bucket and PostgreSQL schema, removed when the test ends.
//
// It is a test-only helper package: import it from _test.go files only, never from
// production code. Unlike the rest of libs/, it reads the environment (ORE_MASORA_STACK_ENV,
// STACK_REQUIRED) and fails or skips the calling test instead of returning errors.
//
// A test starts with Load, which skips the test when no stack is running (and with -short),
// or fails it when STACK_REQUIRED=1, as in `make test`:
//
//	env := stacktest.Load(t)
//	queueURL, dlqURL := stacktest.NewQueue(t, env)
//	bucket := stacktest.NewBucket(t, env)
//	dsn := stacktest.PostgresSchema(t, env)
//
// Control gives fault tests the running stack's components to stop, kill and start again in
// place (see stackctl).
package stacktest

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// Env holds the connection settings of the running stack, one field per key of
// .stack/env (see stackenv).
type Env = stackenv.Env

// EnvFileVar names the variable that points Load at an env file other than
// <repo root>/.stack/env.
const EnvFileVar = "ORE_MASORA_STACK_ENV"

// RequiredVar, set to 1, makes Load fail instead of skip when no stack is running.
const RequiredVar = "STACK_REQUIRED"

const hint = "run `make stack-up` (or go run ./tools/cmd/stack up) to start the local stack"

// Load reads the env file of the running stack: $ORE_MASORA_STACK_ENV if set, else .stack/env
// in the nearest directory above the working directory that holds go.work. When the file is
// missing it skips the test, or fails it if STACK_REQUIRED=1. With -short it always skips.
func Load(t testing.TB) Env {
	t.Helper()
	if testing.Short() {
		t.Skip("stacktest: integration test skipped with -short (needs the local stack)")
	}
	required := os.Getenv(RequiredVar) == "1"
	path, err := envFilePath()
	if err == nil {
		var env Env
		env, err = stackenv.Read(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("no stack env file at %s", path)
		}
		if err == nil {
			return env
		}
	}
	if required {
		t.Fatalf("stacktest: %v; %s=1 so the stack is required: %s", err, RequiredVar, hint)
	}
	t.Skipf("stacktest: %v; %s", err, hint)
	return Env{}
}

// Control returns the controller of the running stack's components (the stack whose env
// file Load reads), for tests that stop, kill (SIGKILL) and start components again in place:
//
//	ctl := stacktest.Control(t)
//	if err := ctl.Kill(t.Context(), stackctl.GCS); err != nil { ... }
//	if err := ctl.Start(t.Context(), stackctl.GCS); err != nil { ... } // same port, same objects
//
// It skips or fails like Load, and logs to the test's output. A fault hits every test that
// uses the stack at that moment: keep such tests out of t.Parallel and in a package of their
// own (go test runs packages side by side), or give them a stack of their own.
func Control(t testing.TB) *stackctl.Stack {
	t.Helper()
	env := Load(t)
	return stackctl.Open(filepath.Dir(env.Path), stackctl.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
}

func envFilePath() (string, error) {
	if p := os.Getenv(EnvFileVar); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, ".stack", "env"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s to find .stack/env (set %s)", dir, EnvFileVar)
		}
	}
}
