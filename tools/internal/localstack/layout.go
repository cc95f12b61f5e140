// Package localstack brings up the local emulator stack that development and tests use
// instead of the cloud: an SQS emulator (fauxqs), a GCS emulator (fake-gcs-server), a BigQuery
// emulator (goccy/bigquery-emulator) and PostgreSQL (a throwaway cluster, or the server
// DATABASE_URL names). A fresh start puts each on a free loopback port in its own process
// group, waits until each answers, creates the default queue, bucket and dataset, and records
// in the state file how each was started; a later up reuses a healthy stack and starts dead
// components again in place. Operating the recorded stack (status, stop, kill, start, down)
// belongs to libs/testkit/stackctl, which tests use too.
package localstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
)

// Layout is where the stack keeps its files.
type Layout struct {
	// Root is the repository root: the directory holding go.work.
	Root string
	// Dir holds state.json, env, lock, logs/ and data/ (default Root/.stack).
	Dir string
}

// StatePath is the state file of the running stack.
func (l Layout) StatePath() string { return stackctl.StatePath(l.Dir) }

// EnvPath is the shell-sourceable file of connection settings.
func (l Layout) EnvPath() string { return stackctl.EnvPath(l.Dir) }

// LogDir holds one log file per component.
func (l Layout) LogDir() string { return stackctl.LogDir(l.Dir) }

// FindRoot walks up from dir to the first directory that holds a go.work file.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "go.work")); err == nil && st.Mode().IsRegular() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work in %s or any parent: run this from inside the repository", dir)
		}
	}
}

// NewLayout finds the repository root from cwd; stackDir (from STACK_DIR) overrides the
// default Root/.stack and may be relative to cwd.
func NewLayout(cwd, stackDir string) (Layout, error) {
	root, err := FindRoot(cwd)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Root: root, Dir: filepath.Join(root, ".stack")}
	if stackDir != "" {
		if !filepath.IsAbs(stackDir) {
			stackDir = filepath.Join(cwd, stackDir)
		}
		l.Dir = filepath.Clean(stackDir)
	}
	if l.Dir == "" {
		return Layout{}, errors.New("empty stack directory")
	}
	return l, nil
}
