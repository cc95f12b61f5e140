package provision

import (
	"errors"
	"log/slog"
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

// TestDebianPackagesCheckOnly checks which missing Debian package fails a CheckOnly run:
// PostgreSQL does (the stack needs it), Chromium does not (only the browser tests use it).
// Nothing here runs apt.
func TestDebianPackagesCheckOnly(t *testing.T) {
	pgBase := t.TempDir()
	pgBin := filepath.Join(pgBase, "15", "bin")
	browserDir := t.TempDir()
	for _, p := range []string{filepath.Join(pgBin, "initdb"), filepath.Join(browserDir, "chromium-test")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", browserDir)
	present := filepath.Join(pgBase, "*", "bin", "initdb")
	absent := filepath.Join(t.TempDir(), "*", "bin", "initdb")
	tests := []struct {
		name         string
		glob         string
		chromium     string
		wantPG       string
		wantChromium string
		wantMissing  bool
	}{
		{"both present", present, "chromium-test", pgBin, filepath.Join(browserDir, "chromium-test"), false},
		{"no chromium is fine", present, "no-such-browser", pgBin, "", false},
		{"no postgresql fails", absent, "chromium-test", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, chromium, err := ensureDebianPackages(t.Context(), Options{
				PostgresGlob: tt.glob, ChromiumNames: []string{tt.chromium}, CheckOnly: true,
				Logger: slog.New(slog.DiscardHandler),
			})
			if got := errors.Is(err, ErrMissing); got != tt.wantMissing {
				t.Fatalf("err = %v, want ErrMissing %v", err, tt.wantMissing)
			}
			if pg != tt.wantPG || chromium != tt.wantChromium {
				t.Errorf("= %q, %q; want %q, %q", pg, chromium, tt.wantPG, tt.wantChromium)
			}
		})
	}
}
