package stackctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a started process. exited is closed once it has exited; err then holds its status.
type child struct {
	pid    int
	exited chan struct{}
	err    error
}

// startChild starts cmd with stdout and stderr appended to the log file logPath, stdin from
// /dev/null, in a new process group so that it outlives this process and can be stopped as a
// group.
func startChild(cmd Command, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "---- %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), cmd.Path, strings.Join(cmd.Args, " "))
	c := exec.Command(cmd.Path, cmd.Args...)
	c.Dir = cmd.Dir
	c.Env = append(os.Environ(), cmd.Env...)
	c.Stdout = logf
	c.Stderr = logf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	ch := &child{pid: c.Process.Pid, exited: make(chan struct{})}
	go func() {
		ch.err = c.Wait()
		close(ch.exited)
	}()
	return ch, nil
}

// procStat returns the state letter and process group of pid from /proc.
func procStat(pid int) (state byte, pgrp int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	pgrp, err = strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], pgrp, nil
}

// ours reports whether pid is alive (not a zombie), still leads its own process group, and
// runs a command line containing match, so that a recycled PID is never signalled.
func ours(pid int, match string) bool {
	if pid <= 0 {
		return false
	}
	state, pgrp, err := procStat(pid)
	if err != nil || state == 'Z' || state == 'X' || pgrp != pid {
		return false
	}
	if match == "" {
		return true
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	// An empty command line is a process in the middle of exec (a child just started).
	return err == nil && (len(cmdline) == 0 || bytes.Contains(cmdline, []byte(match)))
}

// groupAlive reports whether any live (non-zombie) process is in process group pgid.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		// No /proc: fall back to signal 0, which also counts zombies.
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, err := procStat(pid)
		if err == nil && pgrp == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// stopGroup sends SIGTERM to process group pgid, waits up to grace for it to exit, then
// sends SIGKILL. It reports whether the group had to be killed.
func stopGroup(pgid int, grace time.Duration) (killed bool, err error) {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("SIGTERM process group %d: %w", pgid, err)
	}
	if waitGone(pgid, grace) {
		return false, nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("SIGKILL process group %d: %w", pgid, err)
	}
	if !waitGone(pgid, 5*time.Second) {
		return true, fmt.Errorf("process group %d still alive after SIGKILL", pgid)
	}
	return true, nil
}

// killGroup sends SIGKILL to process group pgid and waits until it is gone.
func killGroup(pgid int) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL process group %d: %w", pgid, err)
	}
	if !waitGone(pgid, 10*time.Second) {
		return fmt.Errorf("process group %d still alive 10s after SIGKILL", pgid)
	}
	return nil
}

// portFree reports whether port on 127.0.0.1 can be listened on now.
func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return l.Close()
}

func waitGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePorts picks n distinct free TCP ports on 127.0.0.1. The listeners are held until all
// are chosen so that no port is picked twice.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitFor polls check until it succeeds, the child exits, or timeout passes.
func waitFor(ctx context.Context, c *child, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		var exited <-chan struct{}
		if c != nil {
			exited = c.exited
		}
		select {
		case <-exited:
			return fmt.Errorf("process %d exited before it answered: %v (last check: %v)", c.pid, c.err, last)
		case <-ctx.Done():
			return fmt.Errorf("no answer within %s: %w", timeout, last)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// logTail returns the last n lines of a log file, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
