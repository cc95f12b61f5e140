// Package genfiles writes the files the repository derives from the log type
// definitions in schemas/logtypes (the BigQuery schemas and views of
// infra/gcp, the JSON Schemas of schemas/jsonschema): generated, committed and
// never edited by hand. A generator command builds the content in memory and
// hands it to WriteAll; its staleness test compares the same content with the
// committed files through genfilestest.CheckCurrent.
package genfiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Output is the generated files of one directory.
type Output struct {
	// Dir is the directory, relative to the base directory given to
	// WriteAll or Read, slash-separated.
	Dir string
	// Pattern selects the generated files among the directory's files: a
	// path.Match pattern of their slash-separated paths relative to Dir,
	// e.g. "*.json" or "*/v*.schema.json". Files it does not match, such
	// as a README, are left alone.
	Pattern string
	// Files is the content of the generated files by their path relative
	// to Dir; every path matches Pattern.
	Files map[string][]byte
}

// WriteAll writes each output under base (see Write) and prints one line per
// output to w: how many files it has and which changed.
func WriteAll(base string, outs []Output, w io.Writer) error {
	for _, o := range outs {
		dir := filepath.Join(base, filepath.FromSlash(o.Dir))
		changed, err := Write(dir, o.Pattern, o.Files)
		if err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
		if len(changed) == 0 {
			fmt.Fprintf(w, "%s: %d files, all up to date\n", dir, len(o.Files))
			continue
		}
		fmt.Fprintf(w, "%s: %d files, changed: %s\n", dir, len(o.Files), strings.Join(changed, ", "))
	}
	return nil
}

// Write makes dir hold exactly files among its files whose path matches
// pattern: it writes those whose content differs (creating directories as
// needed), removes the other matching files and the directories that
// leaves empty, and leaves anything else alone. It returns the paths it
// wrote or removed, sorted.
func Write(dir, pattern string, files map[string][]byte) ([]string, error) {
	for name := range files {
		if ok, err := path.Match(pattern, name); err != nil || !ok {
			return nil, fmt.Errorf("generated file %s does not match the pattern %q of its directory", name, pattern)
		}
	}
	existing, err := Read(dir, pattern)
	if err != nil {
		return nil, err
	}
	var changed []string
	for name := range existing {
		if _, ok := files[name]; ok {
			continue
		}
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return nil, fmt.Errorf("remove stale generated file: %w", err)
		}
		if err := removeEmptyParents(dir, name); err != nil {
			return nil, err
		}
		changed = append(changed, name)
	}
	for name, content := range files {
		if old, ok := existing[name]; ok && bytes.Equal(old, content) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return nil, err
		}
		changed = append(changed, name)
	}
	slices.Sort(changed)
	return changed, nil
}

// removeEmptyParents removes the directories between dir and the file name
// (relative to dir) that are empty, deepest first; dir itself stays.
func removeEmptyParents(dir, name string) error {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		p := filepath.Join(dir, filepath.FromSlash(d))
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// Read returns the content of the files under dir whose slash-separated
// path relative to dir matches pattern, by that path. A missing dir holds
// no files.
func Read(dir, pattern string) (map[string][]byte, error) {
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if ok, err := path.Match(pattern, name); err != nil || !ok {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[name] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read generated files of %s: %w", dir, err)
	}
	return files, nil
}

// FindRoot returns the nearest directory at or above dir that holds go.work:
// the repository root.
func FindRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.work in %s or above: run from inside the repository", dir)
		}
		d = parent
	}
}

// OutDir returns the directory a generator writes to: out when a -out flag
// set it, else rel (a slash-separated path) under the repository root that
// holds the working directory.
func OutDir(out, rel string) (string, error) {
	if out != "" {
		return out, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := FindRoot(wd)
	if err != nil {
		return "", fmt.Errorf("%w, or pass -out", err)
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}
