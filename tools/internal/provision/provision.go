// Package provision installs and builds what the local emulator stack needs on a fresh
// machine: the PostgreSQL server binaries and Chromium for the headless browser tests (Debian
// packages, installed only when missing), the SQS emulator (npm package
// fauxqs, installed with npm ci from a committed lock file) and the Go emulators pinned by the
// tools module (fake-gcs-server, bigquery-emulator, aws-lambda-rie), built once into a cache
// directory keyed by module version.
package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Binary is a Go program the stack builds from a module that the tools module requires.
type Binary struct {
	// Name is the program name, and the stem of the cached file name.
	Name string
	// Module is the module path whose required version names the build.
	Module string
	// Package is the import path of the main package.
	Package string
}

// Binaries are the Go programs that Ensure builds. Their versions come from tools/go.mod.
var Binaries = []Binary{
	{Name: "fake-gcs-server", Module: "github.com/fsouza/fake-gcs-server", Package: "github.com/fsouza/fake-gcs-server"},
	{Name: "bigquery-emulator", Module: "github.com/goccy/bigquery-emulator", Package: "github.com/goccy/bigquery-emulator/cmd/bigquery-emulator"},
	{Name: "aws-lambda-rie", Module: "github.com/aws/aws-lambda-runtime-interface-emulator", Package: "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"},
}

// SQSDir is the directory, relative to the repository root, of the npm package that runs
// the SQS emulator.
const SQSDir = "tools/localstack/sqs"

// Options configure Ensure.
type Options struct {
	// Root is the repository root (the directory holding go.work).
	Root string
	// BinDir is where built binaries are cached; see BinDir.
	BinDir string
	// PostgresGlob finds initdb; empty means /usr/lib/postgresql/*/bin/initdb.
	PostgresGlob string
	// ChromiumNames are the executables, looked up on PATH, that count as an installed
	// Chromium; empty means chromium (what Debian's chromium package installs).
	ChromiumNames []string
	// Logger receives progress messages.
	Logger *slog.Logger
	// Output receives the output of the commands Ensure runs (apt-get, npm, go build).
	Output io.Writer
	// CheckOnly makes Ensure install and build nothing: it fails, naming the first missing
	// piece, unless everything is already in place.
	CheckOnly bool
}

// ErrMissing is wrapped by the errors of Ensure with CheckOnly for a piece that is missing.
var ErrMissing = errors.New("not installed (run: go run ./tools/cmd/stack deps)")

// Toolchain says where the stack's programs are once Ensure has succeeded.
type Toolchain struct {
	// PostgresBin is the directory with initdb, postgres and pg_ctl.
	PostgresBin string
	// Chromium is the headless browser the browser tests drive; the stack does not run it.
	// Empty with CheckOnly when it is not installed (the stack does not need it).
	Chromium string
	// Node is the node executable; SQSServer the script it runs.
	Node      string
	SQSServer string
	// Go-built emulators.
	FakeGCS   string
	BigQuery  string
	LambdaRIE string
}

// BinDir returns the directory for cached binaries:
// ${ORE_MASORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/ore-masora/bin.
func BinDir(getenv func(string) string) (string, error) {
	base := getenv("ORE_MASORA_CACHE")
	if base == "" {
		base = getenv("XDG_CACHE_HOME")
	}
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot choose a cache directory: set ORE_MASORA_CACHE, XDG_CACHE_HOME or HOME")
		}
		base = filepath.Join(home, ".cache")
	}
	if !filepath.IsAbs(base) {
		return "", fmt.Errorf("cache directory %q must be an absolute path (from ORE_MASORA_CACHE, XDG_CACHE_HOME or HOME)", base)
	}
	return filepath.Join(base, "ore-masora", "bin"), nil
}

// CachedName is the file name of a cached binary: NAME-VERSION.
func CachedName(name, version string) string {
	return name + "-" + version
}

// Ensure installs or builds every missing piece and reports where each lives. It is cheap
// when everything is already there. Errors name the step that failed.
func Ensure(ctx context.Context, opts Options) (Toolchain, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	var tc Toolchain
	var err error
	if tc.PostgresBin, tc.Chromium, err = ensureDebianPackages(ctx, opts); err != nil {
		return Toolchain{}, fmt.Errorf("deps step debian packages: %w", err)
	}
	if tc.Node, tc.SQSServer, err = ensureSQS(ctx, opts); err != nil {
		return Toolchain{}, fmt.Errorf("deps step sqs (npm ci in %s): %w", SQSDir, err)
	}
	paths, err := ensureBinaries(ctx, opts)
	if err != nil {
		return Toolchain{}, err
	}
	tc.FakeGCS = paths["fake-gcs-server"]
	tc.BigQuery = paths["bigquery-emulator"]
	tc.LambdaRIE = paths["aws-lambda-rie"]
	return tc, nil
}

// FindPostgres returns the bin directory of the newest PostgreSQL server found by glob
// (a pattern matching initdb executables), or "" if there is none.
func FindPostgres(glob string) (string, error) {
	matches, err := filepath.Glob(glob)
	if err != nil {
		return "", fmt.Errorf("bad glob %q: %w", glob, err)
	}
	// Prefer the highest major version: /usr/lib/postgresql/<major>/bin/initdb.
	sort.Slice(matches, func(i, j int) bool {
		return majorOf(matches[i]) > majorOf(matches[j])
	})
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return filepath.Dir(m), nil
		}
	}
	return "", nil
}

func majorOf(initdb string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(initdb))), 64)
	if err != nil {
		return -1
	}
	return v
}

// debianPackage is a Debian package the stack installs when find does not find it.
type debianPackage struct {
	name string
	// find returns the installed program's path, or "" when it is missing.
	find func() (string, error)
	// where says what find looks for, for messages.
	where string
	// optional packages are not needed by the stack itself: CheckOnly does not fail
	// without them.
	optional bool
}

// ensureDebianPackages finds PostgreSQL's bin directory and Chromium, and installs the
// missing ones with a single apt-get install. Nothing runs apt when both are there, so the
// step stays quick however big the packages are.
func ensureDebianPackages(ctx context.Context, opts Options) (postgresBin, chromium string, err error) {
	glob := opts.PostgresGlob
	if glob == "" {
		glob = "/usr/lib/postgresql/*/bin/initdb"
	}
	names := opts.ChromiumNames
	if len(names) == 0 {
		names = []string{"chromium"}
	}
	pkgs := []debianPackage{
		{name: "postgresql", where: glob, find: func() (string, error) { return FindPostgres(glob) }},
		{name: "chromium", where: strings.Join(names, " or ") + " on PATH", optional: true,
			find: func() (string, error) { return findExecutable(names), nil }},
	}
	found := make([]string, len(pkgs))
	var missing []string
	for i, p := range pkgs {
		if found[i], err = p.find(); err != nil {
			return "", "", err
		}
		switch {
		case found[i] != "":
			opts.Logger.Info(p.name+" present", "path", found[i])
		case opts.CheckOnly && !p.optional:
			return "", "", fmt.Errorf("%s (%s): %w", p.name, p.where, ErrMissing)
		case !opts.CheckOnly:
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		if err := aptInstall(ctx, opts, missing); err != nil {
			return "", "", err
		}
		for i, p := range pkgs {
			if found[i] != "" {
				continue
			}
			if found[i], err = p.find(); err != nil {
				return "", "", err
			}
			if found[i] == "" {
				return "", "", fmt.Errorf("apt-get installed %s but nothing matches %s", p.name, p.where)
			}
			opts.Logger.Info(p.name+" installed", "path", found[i])
		}
	}
	return found[0], found[1], nil
}

// aptInstall installs Debian packages with apt-get, waiting for another apt or dpkg run to
// release its lock rather than failing.
func aptInstall(ctx context.Context, opts Options, pkgs []string) error {
	list := strings.Join(pkgs, " ")
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing and not running as root: install with `sudo apt-get install -y %s`, then run deps again", list, list)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s missing and apt-get is not available: install them by hand (PostgreSQL server binaries; a Chromium browser on PATH)", list)
	}
	opts.Logger.Info("installing with apt-get (a first install of chromium takes a few minutes)", "packages", list)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	lock := []string{"-o", "DPkg::Lock::Timeout=600"}
	if err := run(ctx, opts, "", env, "apt-get", append(lock, "update")...); err != nil {
		return err
	}
	return run(ctx, opts, "", env, "apt-get", append(append(lock, "install", "-y", "--no-install-recommends"), pkgs...)...)
}

// findExecutable returns the path of the first of names found on PATH, or "".
func findExecutable(names []string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// stampName is written into node_modules after a successful npm ci; it holds a hash of the
// lock file and the node version so that a later run can skip npm ci.
const stampName = ".ore-masora-npm-ci.sha256"

func ensureSQS(ctx context.Context, opts Options) (node, script string, err error) {
	dir := filepath.Join(opts.Root, SQSDir)
	script = filepath.Join(dir, "server.mjs")
	if _, err := os.Stat(script); err != nil {
		return "", "", fmt.Errorf("SQS server script missing: %w", err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", errors.New("node not found on PATH: install Node.js 20 or newer")
	}
	version, err := output(ctx, "", node, "--version")
	if err != nil {
		return "", "", fmt.Errorf("node --version: %w", err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", "", fmt.Errorf("read lock file: %w", err)
	}
	sum := sha256.Sum256(append(lock, []byte("\nnode "+strings.TrimSpace(version))...))
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", stampName)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		opts.Logger.Info("sqs emulator (fauxqs) installed, node_modules up to date", "dir", dir)
		return node, script, nil
	}
	if opts.CheckOnly {
		return "", "", fmt.Errorf("node_modules of %s: %w", dir, ErrMissing)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", "", errors.New("npm not found on PATH: install npm (it comes with Node.js)")
	}
	opts.Logger.Info("installing sqs emulator (fauxqs) with npm ci", "dir", dir)
	start := time.Now()
	if err := run(ctx, opts, dir, nil, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("write %s: %w", stamp, err)
	}
	opts.Logger.Info("npm ci done", "took", time.Since(start).Round(time.Millisecond))
	return node, script, nil
}

func ensureBinaries(ctx context.Context, opts Options) (map[string]string, error) {
	toolsDir := filepath.Join(opts.Root, "tools")
	versions, err := ModuleVersions(ctx, toolsDir, Binaries)
	if err != nil {
		return nil, fmt.Errorf("deps step versions (go list -m in %s): %w", toolsDir, err)
	}
	if !opts.CheckOnly {
		if err := os.MkdirAll(opts.BinDir, 0o755); err != nil {
			return nil, fmt.Errorf("deps step cache dir: %w", err)
		}
	}
	paths := make(map[string]string, len(Binaries))
	for _, b := range Binaries {
		v := versions[b.Module]
		out := filepath.Join(opts.BinDir, CachedName(b.Name, v))
		paths[b.Name] = out
		if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
			opts.Logger.Info("binary cached", "name", b.Name, "version", v, "path", out)
			continue
		}
		if opts.CheckOnly {
			return nil, fmt.Errorf("%s %s at %s: %w", b.Name, v, out, ErrMissing)
		}
		if err := buildBinary(ctx, opts, toolsDir, b, v, out); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// buildBinary builds b at version v into out. Several deps runs on one machine (one per
// worktree) share the cache: a lock file makes them build each binary once, the others
// waiting and then finding it, and each builds into a file of its own before the rename.
func buildBinary(ctx context.Context, opts Options, toolsDir string, b Binary, v, out string) error {
	lock, err := os.OpenFile(out+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("deps step build %s: %w", b.Name, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		opts.Logger.Info("waiting for another deps run that builds "+b.Name, "lock", lock.Name())
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("deps step build %s: lock %s: %w", b.Name, lock.Name(), err)
		}
	}
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		opts.Logger.Info("binary cached by another deps run", "name", b.Name, "version", v, "path", out)
		return nil
	}
	opts.Logger.Info("building "+b.Name+" (a first build can take several minutes)", "version", v, "path", out)
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	if err := run(ctx, opts, toolsDir, nil, "go", "build", "-o", tmp, b.Package); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("deps step build %s %s (go build %s in %s): %w", b.Name, v, b.Package, toolsDir, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("deps step build %s: %w", b.Name, err)
	}
	opts.Logger.Info("built "+b.Name, "version", v, "took", time.Since(start).Round(time.Second))
	return nil
}

// ModuleVersions asks the go command, run in dir, which version of each binary's module the
// build list selects.
func ModuleVersions(ctx context.Context, dir string, bins []Binary) (map[string]string, error) {
	args := []string{"list", "-m", "-f", "{{.Path}} {{.Version}}"}
	for _, b := range bins {
		args = append(args, b.Module)
	}
	out, err := output(ctx, dir, "go", args...)
	if err != nil {
		return nil, err
	}
	versions := make(map[string]string, len(bins))
	for line := range strings.Lines(out) {
		path, version, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && version != "" {
			versions[path] = version
		}
	}
	for _, b := range bins {
		if versions[b.Module] == "" {
			return nil, fmt.Errorf("no version for %s in the tools module: add it with a tool directive (go get -tool %s)", b.Module, b.Package)
		}
	}
	return versions, nil
}

func run(ctx context.Context, opts Options, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = opts.Output
	cmd.Stderr = opts.Output
	opts.Logger.Debug("run", "cmd", cmd.String(), "dir", dir)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(append([]string{name}, args...), " "), err)
	}
	return nil
}

func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
