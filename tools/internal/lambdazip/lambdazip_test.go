package lambdazip_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/tools/internal/lambdazip"
)

type entry struct {
	Name     string
	Mode     os.FileMode
	Modified string
	Size     uint64
}

func entries(t *testing.T, b []byte) ([]entry, *zip.Reader) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("read zip: %v", err)
	}
	var got []entry
	for _, f := range zr.File {
		got = append(got, entry{f.Name, f.Mode(), f.Modified.UTC().Format("2006-01-02T15:04:05Z"), f.UncompressedSize64})
	}
	return got, zr
}

// TestWriteIsFixed checks that a zip holds the files in the order given,
// with their modes and the fixed time, and that writing it again gives the
// same bytes.
func TestWriteIsFixed(t *testing.T) {
	files := []lambdazip.File{
		{Name: "bootstrap", Mode: 0o755, Content: bytes.Repeat([]byte("ore "), 1000)},
		{Name: "README", Mode: 0o644, Content: []byte("x")},
	}
	var a, b bytes.Buffer
	if err := lambdazip.Write(&a, files...); err != nil {
		t.Fatal(err)
	}
	if err := lambdazip.Write(&b, files...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two zips of the same files differ")
	}
	got, _ := entries(t, a.Bytes())
	want := []entry{
		{"bootstrap", 0o755, "2000-01-01T00:00:00Z", 4000},
		{"README", 0o644, "2000-01-01T00:00:00Z", 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zip entries (-want +got):\n%s", diff)
	}
}

// TestBuildIsReproducible builds Ore's arm64 Lambda zip twice, as `make
// lambda-zip` does, and requires the same bytes: one executable bootstrap
// for linux/arm64 at the fixed time.
func TestBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Ore twice")
	}
	module, err := filepath.Abs("../../../services/ore")
	if err != nil {
		t.Fatal(err)
	}
	var zips [2][]byte
	for i := range zips {
		out := filepath.Join(t.TempDir(), "ore-lambda-arm64.zip")
		if err := lambdazip.Build(t.Context(), lambdazip.Options{ModuleDir: module, Arch: "arm64", Version: "test", Out: out}); err != nil {
			t.Fatal(err)
		}
		if zips[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(zips[0], zips[1]) {
		t.Fatalf("two builds of the same source differ: sha256 %x and %x", sha256.Sum256(zips[0]), sha256.Sum256(zips[1]))
	}
	got, zr := entries(t, zips[0])
	if len(got) != 1 || got[0].Name != "bootstrap" || got[0].Mode != 0o755 || got[0].Modified != "2000-01-01T00:00:00Z" {
		t.Fatalf("zip entries = %+v, want one bootstrap, mode 0755, at 2000-01-01", got)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("bootstrap machine = %v, want %v", f.Machine, elf.EM_AARCH64)
	}
}

func TestBuildRejectsArch(t *testing.T) {
	err := lambdazip.Build(t.Context(), lambdazip.Options{Arch: "x86_64", Out: filepath.Join(t.TempDir(), "z.zip")})
	if err == nil || err.Error() != `lambda architecture "x86_64": want arm64 or amd64` {
		t.Errorf("Build(x86_64) = %v, want an error naming arm64 and amd64", err)
	}
}
