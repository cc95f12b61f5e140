// Command bqschema-gen writes the BigQuery schema of every log type to
// infra/gcp/schemas/<log_type>.json: the schema of the permanent external
// tables that infra/gcp creates for analysts. The files are derived from the
// shared definitions in schemas/logtypes (the latest version of each log type,
// through libs/bqschema) and are never edited by hand. After changing or
// adding a definition, run from the repository root
//
//	go run ./tools/cmd/bqschema-gen
//
// and commit the result; a test in this package fails while the committed
// files differ from what it generates. JSON files in the directory that
// belong to no log type are removed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
)

// schemaDir is where the files go, relative to the repository root.
const schemaDir = "infra/gcp/schemas"

func main() {
	out := flag.String("out", "", "directory to write <log_type>.json to (default: "+schemaDir+" of the repository that holds the working directory)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./tools/cmd/bqschema-gen [-out DIR]\n\n"+
			"Writes the BigQuery schema of each log type in schemas/logtypes to %s/<log_type>.json.\n\n", schemaDir)
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bqschema-gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if out == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		root, err := findRoot(wd)
		if err != nil {
			return err
		}
		out = filepath.Join(root, schemaDir)
	}
	reg, err := schema.Load()
	if err != nil {
		return err
	}
	files, err := generate(reg)
	if err != nil {
		return err
	}
	changed, err := write(out, files)
	if err != nil {
		return err
	}
	if len(changed) == 0 {
		fmt.Printf("%s: %d schemas, all up to date\n", out, len(files))
		return nil
	}
	fmt.Printf("%s: %d schemas, changed: %s\n", out, len(files), strings.Join(changed, ", "))
	return nil
}

// generate returns the file name and content of each log type's schema: the
// JSON of bigquery.Schema.ToJSONFields for its latest version, indented, with
// a final newline.
func generate(reg *schema.Registry) (map[string][]byte, error) {
	files := make(map[string][]byte)
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		s, err := bqschema.Schema(lt)
		if err != nil {
			return nil, fmt.Errorf("BigQuery schema of %s: %w", lt, err)
		}
		raw, err := s.ToJSONFields()
		if err != nil {
			return nil, fmt.Errorf("BigQuery schema of %s to JSON: %w", lt, err)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, fmt.Errorf("indent BigQuery schema of %s: %w", lt, err)
		}
		buf.WriteByte('\n')
		files[name+".json"] = buf.Bytes()
	}
	return files, nil
}

// write makes dir hold exactly files among its *.json files: it writes those
// whose content differs, removes the other *.json files and leaves anything
// else alone. It returns the names it wrote or removed, sorted.
func write(dir string, files map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	existing, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, path := range existing {
		name := filepath.Base(path)
		if _, ok := files[name]; ok {
			continue
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale schema: %w", err)
		}
		changed = append(changed, name)
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		old, err := os.ReadFile(path)
		if err == nil && bytes.Equal(old, content) {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return nil, err
		}
		changed = append(changed, name)
	}
	slices.Sort(changed)
	return changed, nil
}

// findRoot returns the nearest directory at or above dir that holds go.work:
// the repository root.
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.work in %s or above: run from inside the repository, or pass -out", dir)
		}
		d = parent
	}
}
