package localstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewLayout(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "services", "ore")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cwd, stackDir string
		want                Layout
	}{
		{"default", sub, "", Layout{Root: root, Dir: filepath.Join(root, ".stack")}},
		{"absolute STACK_DIR", sub, "/tmp/elsewhere", Layout{Root: root, Dir: "/tmp/elsewhere"}},
		{"relative STACK_DIR", sub, "x/../st", Layout{Root: root, Dir: filepath.Join(sub, "st")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewLayout(tt.cwd, tt.stackDir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewLayout (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := NewLayout(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "go.work") {
		t.Errorf("NewLayout outside a repository: err = %v, want one naming go.work", err)
	}
}
