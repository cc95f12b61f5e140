package modcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// root is the workspace root: the directory above this package holding go.work.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.work above %s", dir)
		}
	}
}

// TestOneVersionPerDependency holds every module of the workspace to the same
// version of each dependency, so that what `make test` checks with go.work is
// what each module builds alone (GOWORK=off, Docker builds, go get by users).
func TestOneVersionPerDependency(t *testing.T) {
	mods, err := Workspace(t.Context(), root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Mismatches(mods) {
		t.Errorf("%s (align them: go mod edit -require=PATH@VERSION in the lower ones, then go mod tidy)", m)
	}
}

// TestProducerModuleIsLean checks that a producer service that imports
// libs/producer gets only the SQS SDK and the schema contract, none of the
// services' heavy dependencies.
func TestProducerModuleIsLean(t *testing.T) {
	list, err := BuildList(t.Context(), filepath.Join(root(t), "libs", "producer"))
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`bigquery|arrow|pgx|golang-migrate|parquet|cloud\.google\.com|lambda`)
	var bad []string
	for _, p := range list {
		if forbidden.MatchString(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("go list -m all in libs/producer lists %v; the producer module must need only the SQS SDK and the schema contract", bad)
	}
	for _, want := range []string{"github.com/aws/aws-sdk-go-v2/service/sqs", "github.com/ore-masora/pipeline/libs/schema"} {
		if !slices.Contains(list, want) {
			t.Errorf("go list -m all in libs/producer lacks %s: %v", want, list)
		}
	}
}

// TestMakefileListsEveryModule keeps the Makefile's MODULES (what make test,
// make lint and make bench walk) equal to go.work's modules.
func TestMakefileListsEveryModule(t *testing.T) {
	r := root(t)
	mods, err := Workspace(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range mods {
		want = append(want, strings.TrimPrefix(m.Dir, "./"))
	}
	b, err := os.ReadFile(filepath.Join(r, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^MODULES\s*:=\s*(.*)$`).FindSubmatch(b)
	if line == nil {
		t.Fatal("Makefile has no MODULES := line")
	}
	got := strings.Fields(string(line[1]))
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Makefile MODULES vs go.work (-go.work +Makefile):\n%s", diff)
	}
}

func TestMismatches(t *testing.T) {
	mods := []Module{
		{Dir: "./a", Requires: map[string]string{"x": "v1.0.0", "y": "v2.0.0"}},
		{Dir: "./b", Requires: map[string]string{"x": "v1.1.0", "y": "v2.0.0"}},
		{Dir: "./c", Requires: map[string]string{"x": "v1.0.0"}},
	}
	got := Mismatches(mods)
	want := []Mismatch{{Path: "x", Versions: map[string][]string{"v1.0.0": {"./a", "./c"}, "v1.1.0": {"./b"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Mismatches (-want +got):\n%s", diff)
	}
	if s := got[0].String(); s != "x: v1.0.0 in ./a, ./c; v1.1.0 in ./b" {
		t.Errorf("String() = %q", s)
	}
}
