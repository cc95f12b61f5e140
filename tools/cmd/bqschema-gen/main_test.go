package main

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/genfiles/genfilestest"
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
	genfilestest.CheckCurrent(t, committedDir, g.outputs(), "go run ./tools/cmd/bqschema-gen")
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
