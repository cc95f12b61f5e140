package stackctl

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(dir); err != ErrNoStack {
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
	if err := WriteState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	got.Set(Component{Name: SQS, PID: 11})
	if len(got.Components) != 2 || got.Component(SQS).PID != 11 {
		t.Errorf("set replaced wrongly: %+v", got.Components)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(5)
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
