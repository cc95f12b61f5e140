// Package tfcheck checks the Terraform files under infra/ without Terraform or its providers:
// every .tf file parses as HCL and is formatted as `terraform fmt` formats it (hclwrite.Format,
// the formatter `terraform fmt` is built on). It lets `make test` catch an unformatted or
// broken file on a machine without the terraform binary; `make lint-infra` runs terraform
// itself where it is installed.
package tfcheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Problem is what is wrong with one file.
type Problem struct {
	// File is the file's path.
	File string
	// Detail says what is wrong: the parser's diagnostics, or that the file needs
	// `terraform fmt`.
	Detail string
}

func (p Problem) String() string { return p.File + ": " + p.Detail }

// Files returns every .tf file under root, sorted, skipping .terraform folders.
func Files(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".tf") {
			files = append(files, path)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// Check parses and format-checks files and returns one Problem per bad file.
func Check(files []string) ([]Problem, error) {
	var problems []Problem
	p := hclparse.NewParser()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if _, diags := p.ParseHCL(src, f); diags.HasErrors() {
			problems = append(problems, Problem{File: f, Detail: diags.Error()})
			continue
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			problems = append(problems, Problem{File: f, Detail: fmt.Sprintf("not formatted: run terraform fmt %s", f)})
		}
	}
	return problems, nil
}
