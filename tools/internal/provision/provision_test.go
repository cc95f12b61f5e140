package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinDir(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"ORE_MASORA_CACHE wins", map[string]string{"ORE_MASORA_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c/ore-masora/bin", false},
		{"then XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/ore-masora/bin", false},
		{"then HOME/.cache", map[string]string{"HOME": "/h"}, "/h/.cache/ore-masora/bin", false},
		{"nothing set", map[string]string{}, "", true},
		{"relative", map[string]string{"ORE_MASORA_CACHE": "rel"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BinDir(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("BinDir = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFindPostgresPrefersNewest(t *testing.T) {
	base := t.TempDir()
	for _, v := range []string{"9.6", "15", "13"} {
		bin := filepath.Join(base, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := FindPostgres(filepath.Join(base, "*", "bin", "initdb"))
	if err != nil || got != filepath.Join(base, "15", "bin") {
		t.Errorf("FindPostgres = %q, %v; want the 15 bin dir", got, err)
	}
	got, err = FindPostgres(filepath.Join(t.TempDir(), "*", "bin", "initdb"))
	if err != nil || got != "" {
		t.Errorf("FindPostgres with nothing installed = %q, %v; want empty", got, err)
	}
}

// TestModuleVersions checks that tools/go.mod pins every emulator the stack builds.
func TestModuleVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	versions, err := ModuleVersions(t.Context(), "../..", Binaries)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range Binaries {
		if v := versions[b.Module]; !strings.HasPrefix(v, "v") {
			t.Errorf("%s: version %q", b.Module, v)
		}
	}
	if got := CachedName("aws-lambda-rie", "v0.0.0-2026"); got != "aws-lambda-rie-v0.0.0-2026" {
		t.Errorf("CachedName = %q, want NAME-VERSION", got)
	}
}
