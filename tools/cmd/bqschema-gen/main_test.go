package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
)

// committedDir is infra/gcp/schemas seen from this package's directory.
var committedDir = filepath.Join("..", "..", "..", filepath.FromSlash(schemaDir))

// TestCommittedSchemasAreCurrent fails when infra/gcp/schemas differs from
// what the definitions in schemas/logtypes generate.
func TestCommittedSchemasAreCurrent(t *testing.T) {
	want, err := generate(schema.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string)
	paths, err := filepath.Glob(filepath.Join(committedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(p)] = string(b)
	}
	if diff := cmp.Diff(asStrings(want), got); diff != "" {
		t.Errorf("%s is out of date with schemas/logtypes: run `go run ./tools/cmd/bqschema-gen` from the repository root and commit the result (-want generated +got committed):\n%s", schemaDir, diff)
	}
}

// TestGenerate checks that there is one file per log type and that each
// reads back as exactly the schema libs/bqschema gives its latest version.
func TestGenerate(t *testing.T) {
	reg := schema.MustLoad()
	files, err := generate(reg)
	if err != nil {
		t.Fatal(err)
	}
	var wantNames []string
	for _, n := range reg.Names() {
		wantNames = append(wantNames, n+".json")
	}
	gotNames := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	if diff := cmp.Diff(wantNames, gotNames); diff != "" {
		t.Errorf("file names (-want +got):\n%s", diff)
	}
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			lt, err := reg.Latest(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := bqschema.Schema(lt)
			if err != nil {
				t.Fatal(err)
			}
			content := files[name+".json"]
			if len(content) == 0 || content[len(content)-1] != '\n' {
				t.Errorf("%s.json does not end with a newline", name)
			}
			got, err := bigquery.SchemaFromJSON(content)
			if err != nil {
				t.Fatalf("%s.json does not parse as a BigQuery schema: %v", name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s.json read back (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name        string
		before      map[string]string // files in the directory before write
		files       map[string]string // what write is asked to produce
		wantChanged []string
		wantAfter   map[string]string
	}{
		{
			name:        "empty directory",
			files:       map[string]string{"a.json": "A\n", "b.json": "B\n"},
			wantChanged: []string{"a.json", "b.json"},
			wantAfter:   map[string]string{"a.json": "A\n", "b.json": "B\n"},
		},
		{
			name:        "up to date writes nothing",
			before:      map[string]string{"a.json": "A\n"},
			files:       map[string]string{"a.json": "A\n"},
			wantChanged: nil,
			wantAfter:   map[string]string{"a.json": "A\n"},
		},
		{
			name:        "changed content is rewritten, stale json removed, other files kept",
			before:      map[string]string{"a.json": "old\n", "gone.json": "G\n", "README.md": "keep\n"},
			files:       map[string]string{"a.json": "A\n", "new.json": "N\n"},
			wantChanged: []string{"a.json", "gone.json", "new.json"},
			wantAfter:   map[string]string{"a.json": "A\n", "new.json": "N\n", "README.md": "keep\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "schemas")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for n, c := range tt.before {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files := make(map[string][]byte)
			for n, c := range tt.files {
				files[n] = []byte(c)
			}
			changed, err := write(dir, files)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantChanged, changed); diff != "" {
				t.Errorf("changed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAfter, readDir(t, dir)); diff != "" {
				t.Errorf("directory after write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "infra", "gcp", "schemas")
	if _, err := write(dir, map[string][]byte{"a.json": []byte("A\n")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a.json": "A\n"}, readDir(t, dir)); diff != "" {
		t.Errorf("directory after write (-want +got):\n%s", diff)
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "tools", "cmd", "bqschema-gen")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, nested} {
		got, err := findRoot(dir)
		if err != nil {
			t.Fatalf("findRoot(%s): %v", dir, err)
		}
		if got != root {
			t.Errorf("findRoot(%s) = %s, want %s", dir, got, root)
		}
	}

	outside := t.TempDir()
	if got, err := findRoot(outside); err == nil {
		t.Errorf("findRoot(%s) = %s, want an error (no go.work above it)", outside, got)
	}
}

func asStrings(files map[string][]byte) map[string]string {
	out := make(map[string]string, len(files))
	for n, c := range files {
		out[n] = string(c)
	}
	return out
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
