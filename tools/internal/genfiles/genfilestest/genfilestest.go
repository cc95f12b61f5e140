// Package genfilestest holds the staleness check of generated files, for the
// tests of the generator commands.
package genfilestest

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/tools/internal/genfiles"
)

// CheckCurrent fails t for each output whose committed files under base
// differ from what the generator produces now (outs), telling the reader
// to run regenerate (a command line) from the repository root.
func CheckCurrent(t testing.TB, base string, outs []genfiles.Output, regenerate string) {
	t.Helper()
	for _, o := range outs {
		dir := filepath.Join(base, filepath.FromSlash(o.Dir))
		committed, err := genfiles.Read(dir, o.Pattern)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(asStrings(o.Files), asStrings(committed)); diff != "" {
			t.Errorf("%s is out of date with schemas/logtypes: run `%s` from the repository root and commit the result (-want generated +got committed):\n%s", dir, regenerate, diff)
		}
	}
}

func asStrings(files map[string][]byte) map[string]string {
	out := make(map[string]string, len(files))
	for n, c := range files {
		out[n] = string(c)
	}
	return out
}
