package main

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/genfiles"
	"github.com/ore-masora/pipeline/tools/internal/genfiles/genfilestest"
)

// committedDir is schemas/jsonschema seen from this package's directory.
var committedDir = filepath.Join("..", "..", "..", filepath.FromSlash(outDir))

// TestCommittedFilesAreCurrent fails when schemas/jsonschema differs from
// what the definitions in schemas/logtypes generate.
func TestCommittedFilesAreCurrent(t *testing.T) {
	o, err := generate(schema.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	genfilestest.CheckCurrent(t, committedDir, []genfiles.Output{o}, "go run ./tools/cmd/jsonschema-gen")
}

// TestGenerate checks that there is one file per version of each log type,
// holding that version's LogType.JSONSchema.
func TestGenerate(t *testing.T) {
	reg := schema.MustLoad()
	o, err := generate(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string)
	for _, n := range reg.Names() {
		vs, err := reg.Versions(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			b, err := v.JSONSchema()
			if err != nil {
				t.Fatal(err)
			}
			want[n+"/v"+strconv.Itoa(v.Version)+".schema.json"] = string(b)
		}
	}
	got := make(map[string]string)
	for n, b := range o.Files {
		got[n] = string(b)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("generated files (-want +got):\n%s", diff)
	}
}
