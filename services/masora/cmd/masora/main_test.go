package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyFence keeps Masora out of Ore's runtime: the binary must
// not link aws-lambda-go.
func TestDependencyFence(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps returned only %d packages, want the full graph", len(deps))
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/aws/aws-lambda-go") {
			t.Errorf("masora depends on %s; Lambda code belongs to Ore", p)
		}
	}
}
