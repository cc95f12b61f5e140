package genfiles_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/tools/internal/genfiles"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name        string
		pattern     string
		before      map[string]string // files in the directory before write
		files       map[string]string // what write is asked to produce
		wantChanged []string
		wantAfter   map[string]string
	}{
		{
			name:        "empty directory",
			pattern:     "*.json",
			files:       map[string]string{"a.json": "A\n", "b.json": "B\n"},
			wantChanged: []string{"a.json", "b.json"},
			wantAfter:   map[string]string{"a.json": "A\n", "b.json": "B\n"},
		},
		{
			name:        "up to date writes nothing",
			pattern:     "*.json",
			before:      map[string]string{"a.json": "A\n"},
			files:       map[string]string{"a.json": "A\n"},
			wantChanged: nil,
			wantAfter:   map[string]string{"a.json": "A\n"},
		},
		{
			name:        "changed content is rewritten, stale json removed, other files kept",
			pattern:     "*.json",
			before:      map[string]string{"a.json": "old\n", "gone.json": "G\n", "README.md": "keep\n", "v.sql": "keep\n", "sub/x.json": "keep\n"},
			files:       map[string]string{"a.json": "A\n", "new.json": "N\n"},
			wantChanged: []string{"a.json", "gone.json", "new.json"},
			wantAfter:   map[string]string{"a.json": "A\n", "new.json": "N\n", "README.md": "keep\n", "v.sql": "keep\n", "sub/x.json": "keep\n"},
		},
		{
			name:        "the old per-log-type schema files are removed",
			pattern:     "*.json",
			before:      map[string]string{"user_action.json": "old\n", "user_action_v1.json": "V1\n"},
			files:       map[string]string{"user_action_v1.json": "V1\n", "user_action_v2.json": "V2\n"},
			wantChanged: []string{"user_action.json", "user_action_v2.json"},
			wantAfter:   map[string]string{"user_action_v1.json": "V1\n", "user_action_v2.json": "V2\n"},
		},
		{
			name:    "nested: new directories made, a removed log type's directory goes, README kept",
			pattern: "*/v*.schema.json",
			before: map[string]string{
				"README.md":              "keep\n",
				"gone/v1.schema.json":    "G\n",
				"a/v1.schema.json":       "old\n",
				"a/notes.md":             "keep\n",
				"kept/v1.schema.json.md": "keep\n",
			},
			files:       map[string]string{"a/v1.schema.json": "A1\n", "b/v1.schema.json": "B1\n", "b/v2.schema.json": "B2\n"},
			wantChanged: []string{"a/v1.schema.json", "b/v1.schema.json", "b/v2.schema.json", "gone/v1.schema.json"},
			wantAfter: map[string]string{
				"README.md":              "keep\n",
				"a/v1.schema.json":       "A1\n",
				"a/notes.md":             "keep\n",
				"b/v1.schema.json":       "B1\n",
				"b/v2.schema.json":       "B2\n",
				"kept/v1.schema.json.md": "keep\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			for n, c := range tt.before {
				p := filepath.Join(dir, filepath.FromSlash(n))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := genfiles.Write(dir, tt.pattern, asBytes(tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantChanged, changed); diff != "" {
				t.Errorf("changed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAfter, readTree(t, dir)); diff != "" {
				t.Errorf("directory after write (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
				t.Errorf("the emptied directory gone/ is still there (stat error %v)", err)
			}
		})
	}
}

func TestWriteRefusesFilesOutsideThePattern(t *testing.T) {
	dir := t.TempDir()
	_, err := genfiles.Write(dir, "*.json", asBytes(map[string]string{"a.sql": "A\n"}))
	if err == nil || !strings.Contains(err.Error(), "a.sql") {
		t.Fatalf("Write of a.sql with pattern *.json: error %v, want one naming a.sql", err)
	}
	if got := readTree(t, dir); len(got) != 0 {
		t.Errorf("Write wrote %v although it failed", got)
	}
}

func TestWriteAll(t *testing.T) {
	base := t.TempDir()
	outs := []genfiles.Output{
		{Dir: "schemas", Pattern: "*.json", Files: asBytes(map[string]string{"a.json": "A\n"})},
		{Dir: "deep/views", Pattern: "*.sql", Files: asBytes(map[string]string{"v.sql": "V\n"})},
	}
	var out bytes.Buffer
	if err := genfiles.WriteAll(base, outs, &out); err != nil {
		t.Fatal(err)
	}
	if err := genfiles.WriteAll(base, outs, &out); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(base, "schemas") + ": 1 files, changed: a.json\n" +
		filepath.Join(base, "deep", "views") + ": 1 files, changed: v.sql\n" +
		filepath.Join(base, "schemas") + ": 1 files, all up to date\n" +
		filepath.Join(base, "deep", "views") + ": 1 files, all up to date\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteAll output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"schemas/a.json": "A\n", "deep/views/v.sql": "V\n"}, readTree(t, base)); diff != "" {
		t.Errorf("files after WriteAll (-want +got):\n%s", diff)
	}
}

func TestReadMissingDirectory(t *testing.T) {
	got, err := genfiles.Read(filepath.Join(t.TempDir(), "none"), "*.json")
	if err != nil || len(got) != 0 {
		t.Errorf("Read of a missing directory = %v, %v; want no files and no error", got, err)
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
		got, err := genfiles.FindRoot(dir)
		if err != nil {
			t.Fatalf("FindRoot(%s): %v", dir, err)
		}
		if got != root {
			t.Errorf("FindRoot(%s) = %s, want %s", dir, got, root)
		}
	}

	outside := t.TempDir()
	if got, err := genfiles.FindRoot(outside); err == nil {
		t.Errorf("FindRoot(%s) = %s, want an error (no go.work above it)", outside, got)
	}
}

func asBytes(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for n, c := range files {
		out[n] = []byte(c)
	}
	return out
}

// readTree returns every file under dir by its slash-separated relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOutDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := genfiles.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ out, rel, want string }{
		{"/tmp/x", "infra/gcp", "/tmp/x"},
		{"", "infra/gcp", filepath.Join(root, "infra", "gcp")},
		{"", "schemas/jsonschema", filepath.Join(root, "schemas", "jsonschema")},
	}
	for _, tt := range tests {
		got, err := genfiles.OutDir(tt.out, tt.rel)
		if err != nil || got != tt.want {
			t.Errorf("OutDir(%q, %q) = %q, %v; want %q", tt.out, tt.rel, got, err, tt.want)
		}
	}
}
