package tfcheck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/tools/internal/tfcheck"
)

// TestInfra holds every Terraform file of the repository to HCL syntax and terraform fmt.
func TestInfra(t *testing.T) {
	files, err := tfcheck.Files("../../../infra")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d .tf files under infra/, want both stacks' files: %v", len(files), files)
	}
	problems, err := tfcheck.Check(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.tf", "variable \"a\" {\n  type    = string\n  default = \"x\"\n}\n")
	unformatted := write("unformatted.tf", "variable \"a\" {\n  type = string\n  default = \"x\"\n}\n")
	broken := write("broken.tf", "variable \"a\" {\n  type = \n")
	problems, err := tfcheck.Check([]string{good, unformatted, broken})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, filepath.Base(p.File))
	}
	if diff := cmp.Diff([]string{"unformatted.tf", "broken.tf"}, got); diff != "" {
		t.Errorf("files with problems (-want +got):\n%s\n%v", diff, problems)
	}
}
