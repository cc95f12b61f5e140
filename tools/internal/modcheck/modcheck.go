// Package modcheck reads the repository's Go module graph (go.work and each
// module's go.mod) through the go command, so that tests can hold the module
// map to its rules: one version of every dependency across the modules, and a
// producer module that links only what producers need.
package modcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Module is one module of the workspace.
type Module struct {
	// Dir is the module's directory relative to the workspace root, as go.work
	// names it (e.g. "./libs/producer").
	Dir string
	// Path is the module path.
	Path string
	// Requires maps each required module path to its version.
	Requires map[string]string
}

// Workspace returns the modules go.work at root uses, in go.work order.
func Workspace(ctx context.Context, root string) ([]Module, error) {
	var work struct {
		Use []struct{ DiskPath string }
	}
	if err := goJSON(ctx, root, &work, "work", "edit", "-json"); err != nil {
		return nil, err
	}
	mods := make([]Module, 0, len(work.Use))
	for _, u := range work.Use {
		var mod struct {
			Module  struct{ Path string }
			Require []struct{ Path, Version string }
		}
		if err := goJSON(ctx, filepath.Join(root, u.DiskPath), &mod, "mod", "edit", "-json"); err != nil {
			return nil, err
		}
		m := Module{Dir: u.DiskPath, Path: mod.Module.Path, Requires: map[string]string{}}
		for _, r := range mod.Require {
			m.Requires[r.Path] = r.Version
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// Mismatch is a dependency that two or more modules require at different
// versions.
type Mismatch struct {
	Path string
	// Versions maps each version to the module directories requiring it.
	Versions map[string][]string
}

func (m Mismatch) String() string {
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(m.Versions)) {
		parts = append(parts, fmt.Sprintf("%s in %s", v, strings.Join(m.Versions[v], ", ")))
	}
	return m.Path + ": " + strings.Join(parts, "; ")
}

// Mismatches returns every dependency required at more than one version,
// sorted by path.
func Mismatches(mods []Module) []Mismatch {
	byPath := map[string]map[string][]string{}
	for _, m := range mods {
		for p, v := range m.Requires {
			if byPath[p] == nil {
				byPath[p] = map[string][]string{}
			}
			byPath[p][v] = append(byPath[p][v], m.Dir)
		}
	}
	var out []Mismatch
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		if len(byPath[p]) > 1 {
			out = append(out, Mismatch{Path: p, Versions: byPath[p]})
		}
	}
	return out
}

// BuildList returns the module paths of `go list -m all` in dir with the
// workspace turned off: the module's own build list, as a user of that module
// alone would get it.
func BuildList(ctx context.Context, dir string) ([]string, error) {
	out, err := goOutput(ctx, dir, []string{"GOWORK=off"}, "list", "-m", "-f", "{{.Path}}", "all")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

func goJSON(ctx context.Context, dir string, v any, args ...string) error {
	out, err := goOutput(ctx, dir, nil, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("go %s in %s: %w", strings.Join(args, " "), dir, err)
	}
	return nil
}

func goOutput(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
