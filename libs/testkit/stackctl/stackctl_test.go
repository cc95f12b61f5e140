package stackctl

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestPostmasterPID finds a server through its data directory's postmaster.pid, as after a
// pg_ctl restart by hand, and refuses a stale file naming a dead or foreign process.
func TestPostmasterPID(t *testing.T) {
	dir, err := os.MkdirTemp("", pgDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for a postmaster started by pg_ctl: its own process group, the data
	// directory on its command line.
	server := startSleeper(t, "sh", "-c", "sleep 30; true", filepath.Join(dir, "data"))
	foreign := startSleeper(t, "sleep", "30")
	writePID := func(pid int) {
		t.Helper()
		b := []byte(strconv.Itoa(pid) + "\n" + filepath.Join(dir, "data") + "\n")
		if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := Component{Name: Postgres, PID: 1 << 22, Match: dir, DataDir: dir}

	writePID(server)
	if pid, pgrp, ok := postmasterPID(dir); !ok || pid != server || pgrp != server {
		t.Errorf("postmasterPID = %d, %d, %v; want %d, %d, true", pid, pgrp, ok, server, server)
	}
	if pgid, running := live(c); !running || pgid != server {
		t.Errorf("live with a stale recorded PID = %d, %v; want %d, true", pgid, running, server)
	}
	writePID(foreign)
	if _, _, ok := postmasterPID(dir); ok {
		t.Error("postmasterPID accepted a process that does not run this cluster")
	}
	if _, running := live(c); running {
		t.Error("live: running, want stopped when neither postmaster.pid nor the record names a live server")
	}
	os.Remove(filepath.Join(dir, "data", "postmaster.pid"))
	if _, _, ok := postmasterPID(dir); ok {
		t.Error("postmasterPID without a pid file: ok")
	}
}

func startSleeper(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(b) > 0 {
			break
		}
	}
	return pid
}

func TestRemoveDataDirRefusesForeignDirs(t *testing.T) {
	stackDir := t.TempDir()
	inside := filepath.Join(DataDir(stackDir), GCS)
	if err := os.MkdirAll(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Component{
		{Name: GCS, DataDir: "/"},
		{Name: GCS, DataDir: DataDir(stackDir)},
		{Name: BigQuery, DataDir: filepath.Join(stackDir, "..", "elsewhere")},
		{Name: BigQuery, DataDir: "relative/data/bigquery"},
		{Name: Postgres, DataDir: inside},
	} {
		if err := removeDataDir(stackDir, c); err == nil {
			t.Errorf("removeDataDir(%s, %q): no error", c.Name, c.DataDir)
		}
	}
	if err := removeDataDir(stackDir, Component{Name: GCS, DataDir: inside}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inside); !os.IsNotExist(err) {
		t.Errorf("%s still exists", inside)
	}
}

// TestSweepGCS keeps objects with metadata (extended attribute or .metadata file) and the
// buckets' own files, and removes what a killed fake-gcs-server left half-written.
func TestSweepGCS(t *testing.T) {
	root := t.TempDir()
	files := map[string]bool{ // path → kept
		"bucket.bucketMetadata":          true,
		"bucket/logs/a.parquet":          true,
		"bucket/logs/a.parquet.metadata": true,
		"bucket/logs/half.parquet":       false,
		"bucket/logs/.tmp-a.parquet123":  false,
	}
	xattrKept := "bucket/logs/x.parquet"
	for p := range files {
		write(t, filepath.Join(root, p))
	}
	write(t, filepath.Join(root, xattrKept))
	if err := syscall.Setxattr(filepath.Join(root, xattrKept), gcsMetadataXattr, []byte(`{}`), 0); err == nil {
		files[xattrKept] = true
	} else {
		t.Logf("no extended attributes here (%v): the .metadata file case only", err)
		os.Remove(filepath.Join(root, xattrKept))
	}
	removed, err := sweepGCS(root)
	if err != nil {
		t.Fatal(err)
	}
	var wantRemoved []string
	for p, kept := range files {
		_, err := os.Stat(filepath.Join(root, p))
		if kept != (err == nil) {
			t.Errorf("%s: exists %v, want %v", p, err == nil, kept)
		}
		if !kept {
			wantRemoved = append(wantRemoved, p)
		}
	}
	slices.Sort(removed)
	slices.Sort(wantRemoved)
	if diff := cmp.Diff(wantRemoved, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if _, err := sweepGCS(filepath.Join(root, "missing")); err != nil {
		t.Errorf("sweep of a missing root: %v", err)
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}
