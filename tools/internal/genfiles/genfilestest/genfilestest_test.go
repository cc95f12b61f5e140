package genfilestest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ore-masora/pipeline/tools/internal/genfiles"
	"github.com/ore-masora/pipeline/tools/internal/genfiles/genfilestest"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestCheckCurrent(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "out", "a.json"), []byte("A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		files      map[string][]byte
		wantErrors int
	}{
		{"current", map[string][]byte{"a.json": []byte("A\n")}, 0},
		{"content differs", map[string][]byte{"a.json": []byte("B\n")}, 1},
		{"a file is missing", map[string][]byte{"a.json": []byte("A\n"), "b.json": []byte("B\n")}, 1},
		{"a file is stale", map[string][]byte{}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			genfilestest.CheckCurrent(r, base, []genfiles.Output{{Dir: "out", Pattern: "*.json", Files: tc.files}}, "go run ./gen")
			if len(r.errors) != tc.wantErrors {
				t.Fatalf("CheckCurrent reported %d errors, want %d: %v", len(r.errors), tc.wantErrors, r.errors)
			}
			for _, e := range r.errors {
				if !strings.Contains(e, "run `go run ./gen`") {
					t.Errorf("the error does not say what to run: %s", e)
				}
			}
		})
	}
}
