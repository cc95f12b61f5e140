package localstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
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

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if _, err := readState(path); err != ErrNoStack {
		t.Fatalf("readState of a missing file: %v, want ErrNoStack", err)
	}
	want := &State{
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Components: []Component{
			{Name: SQS, PID: 10, Match: "server.mjs", Port: 1, URL: "http://127.0.0.1:1", Log: "/l/sqs.log"},
			{Name: Postgres, External: true, URL: "postgres://x", Port: 5432},
		},
		Env: []stackenv.Var{{Key: "A", Value: "1"}},
	}
	if err := writeState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	got.set(Component{Name: SQS, PID: 11})
	if len(got.Components) != 2 || got.component(SQS).PID != 11 {
		t.Errorf("set replaced wrongly: %+v", got.Components)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Errorf("ports %v: want 5 distinct positive ports", ports)
		}
		seen[p] = true
	}
}

func TestOurs(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Start returns once exec has begun; wait until the new command line is in place.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(b) > 0 {
			break
		}
	}
	if !ours(pid, "sleep") {
		t.Errorf("ours(%d, sleep) = false for a live group leader", pid)
	}
	if ours(pid, "not-this-program") {
		t.Error("ours matched the wrong command line")
	}
	killed, err := stopGroup(pid, 5*time.Second)
	if err != nil || killed {
		t.Errorf("stopGroup = killed %v, %v; want a clean SIGTERM stop", killed, err)
	}
	cmd.Wait()
	if ours(pid, "sleep") {
		t.Error("ours still true after stopGroup")
	}
}

func TestRemoveClusterDirRefusesForeignDirs(t *testing.T) {
	for _, dir := range []string{"/", "/var/lib/postgresql/15/main", "relative/ore-masora-pg-1"} {
		if err := removeClusterDir(dir); err == nil {
			t.Errorf("removeClusterDir(%q): no error", dir)
		}
	}
	dir, err := os.MkdirTemp("", pgDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := removeClusterDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists", dir)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	os.WriteFile(path, []byte("1\n2\n3\n4\n"), 0o644)
	if got := logTail(path, 2); got != "3\n4" {
		t.Errorf("logTail = %q, want %q", got, "3\n4")
	}
}
