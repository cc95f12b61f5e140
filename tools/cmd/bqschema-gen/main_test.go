package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
)

// committedDir is infra/gcp seen from this package's directory.
var committedDir = filepath.Join("..", "..", "..", filepath.FromSlash(infraDir))

// TestCommittedFilesAreCurrent fails when infra/gcp/schemas or
// infra/gcp/views differs from what the definitions in schemas/logtypes
// generate.
func TestCommittedFilesAreCurrent(t *testing.T) {
	g, err := generate(schema.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		dir, glob string
		want      map[string][]byte
	}{
		{schemaDir, schemaGlob, g.schemas},
		{viewDir, viewGlob, g.views},
	} {
		got := make(map[string]string)
		paths, err := filepath.Glob(filepath.Join(committedDir, d.dir, d.glob))
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
		if diff := cmp.Diff(asStrings(d.want), got); diff != "" {
			t.Errorf("%s/%s is out of date with schemas/logtypes: run `go run ./tools/cmd/bqschema-gen` from the repository root and commit the result (-want generated +got committed):\n%s", infraDir, d.dir, diff)
		}
	}
}

// TestGenerate checks that there is one schema file per version of each
// log type, that each reads back as exactly the schema libs/bqschema gives
// that version, and one view per log type over every version's table.
func TestGenerate(t *testing.T) {
	reg := schema.MustLoad()
	g, err := generate(reg)
	if err != nil {
		t.Fatal(err)
	}
	var wantSchemas, wantViews []string
	for _, n := range reg.Names() {
		vs, err := reg.Versions(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			wantSchemas = append(wantSchemas, n+"_v"+strconv.Itoa(v.Version)+".json")
		}
		wantViews = append(wantViews, n+".sql")
	}
	slices.Sort(wantSchemas)
	if diff := cmp.Diff(wantSchemas, sortedKeys(g.schemas)); diff != "" {
		t.Errorf("schema file names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantViews, sortedKeys(g.views)); diff != "" {
		t.Errorf("view file names (-want +got):\n%s", diff)
	}
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			latest, err := reg.Latest(name)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := reg.Versions(name)
			if err != nil {
				t.Fatal(err)
			}
			view := string(g.views[name+".sql"])
			if !strings.HasSuffix(view, "\n") {
				t.Errorf("%s.sql does not end with a newline", name)
			}
			if got := strings.Count(view, "UNION ALL"); got != len(vs)-1 {
				t.Errorf("%s.sql has %d UNION ALL, want %d:\n%s", name, got, len(vs)-1, view)
			}
			for _, v := range vs {
				file := name + "_v" + strconv.Itoa(v.Version) + ".json"
				want, err := bqschema.Schema(v)
				if err != nil {
					t.Fatal(err)
				}
				content := g.schemas[file]
				if len(content) == 0 || content[len(content)-1] != '\n' {
					t.Errorf("%s does not end with a newline", file)
				}
				got, err := bigquery.SchemaFromJSON(content)
				if err != nil {
					t.Fatalf("%s does not parse as a BigQuery schema: %v", file, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s read back (-want +got):\n%s", file, diff)
				}
				list, err := bqschema.SelectList(v, latest)
				if err != nil {
					t.Fatal(err)
				}
				sel := "SELECT " + list + ", dt, hour\nFROM `${project}.${dataset}." + name + "_v" + strconv.Itoa(v.Version) + "`\n"
				if !strings.Contains(view, sel) {
					t.Errorf("%s.sql lacks the select of version %d:\n%s\nin:\n%s", name, v.Version, sel, view)
				}
			}
			if strings.Count(view, "${") != 2*len(vs) {
				t.Errorf("%s.sql: want only ${project} and ${dataset} as template placeholders, twice per version:\n%s", name, view)
			}
		})
	}
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for n := range m {
			if !yield(n) {
				return
			}
		}
	})
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
			before:      map[string]string{"a.json": "old\n", "gone.json": "G\n", "README.md": "keep\n", "v.sql": "keep\n"},
			files:       map[string]string{"a.json": "A\n", "new.json": "N\n"},
			wantChanged: []string{"a.json", "gone.json", "new.json"},
			wantAfter:   map[string]string{"a.json": "A\n", "new.json": "N\n", "README.md": "keep\n", "v.sql": "keep\n"},
		},
		{
			name:        "the old per-log-type schema files are removed",
			before:      map[string]string{"user_action.json": "old\n", "user_action_v1.json": "V1\n"},
			files:       map[string]string{"user_action_v1.json": "V1\n", "user_action_v2.json": "V2\n"},
			wantChanged: []string{"user_action.json", "user_action_v2.json"},
			wantAfter:   map[string]string{"user_action_v1.json": "V1\n", "user_action_v2.json": "V2\n"},
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
			changed, err := write(dir, "*.json", files)
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
	if _, err := write(dir, "*.json", map[string][]byte{"a.json": []byte("A\n")}); err != nil {
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
