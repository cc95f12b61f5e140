// Package svcproc builds Ore and Masora and runs them as real processes on
// the local stack: Ore in poll mode, Masora serving HTTP with a local bearer
// token, and `masora migrate`. Each process can be stopped with SIGTERM or
// killed with SIGKILL, as a crash would, and started again with the same
// configuration. The chaos suite drives the pipeline through it; the demo
// can too.
package svcproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries are the built service binaries.
type Binaries struct {
	Ore, Masora string
}

// Build builds Ore and Masora from the repository at root into binDir.
func Build(ctx context.Context, root, binDir string) (Binaries, error) {
	b := Binaries{Ore: filepath.Join(binDir, "ore"), Masora: filepath.Join(binDir, "masora")}
	for _, t := range []struct{ out, pkg string }{{b.Ore, "./services/ore/cmd/ore"}, {b.Masora, "./services/masora/cmd/masora"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", t.out, t.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	return b, nil
}

// Env is the configuration of a process: environment variables on top of
// the current process's environment.
type Env map[string]string

// With returns a copy of e with kv ("KEY", "value", ...) set.
func (e Env) With(kv ...string) Env {
	out := maps.Clone(e)
	if out == nil {
		out = Env{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func (e Env) environ() []string {
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(e)) {
		env = append(env, k+"="+e[k])
	}
	return env
}

// Proc is a running service process.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // Wait's result, set before done closes
	output *tailBuffer
}

// Start starts bin with args and env; its output goes to logs (nil
// discards) and the last lines are kept for errors.
func Start(bin string, args []string, env Env, logs io.Writer) (*Proc, error) {
	if logs == nil {
		logs = io.Discard
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env.environ()
	tail := &tailBuffer{}
	cmd.Stdout = io.MultiWriter(logs, tail)
	cmd.Stderr = cmd.Stdout
	p := &Proc{name: strings.TrimSpace(filepath.Base(bin) + " " + strings.Join(args, " ")), cmd: cmd, done: make(chan struct{}), output: tail}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Kill kills the process with SIGKILL, as a crash or an OOM kill would,
// and waits until it is gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Dump sends SIGQUIT: a Go program writes every goroutine's stack to its
// output and exits. For diagnosing a process that hangs.
func (p *Proc) Dump() {
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns an error if the process did not exit cleanly.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited with %w after SIGTERM:\n%s", p.name, p.err, p.output.String())
	}
	return nil
}

// Tail returns the last lines the process wrote.
func (p *Proc) Tail() string { return p.output.String() }

// Run runs bin with args and env to completion; the error carries the last
// lines of its output.
func Run(ctx context.Context, bin string, args []string, env Env, logs io.Writer) error {
	if logs == nil {
		logs = io.Discard
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env.environ()
	tail := &tailBuffer{}
	cmd.Stdout = io.MultiWriter(logs, tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail.String())
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last tailBytes bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4096

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailBytes {
		b.buf = b.buf[len(b.buf)-tailBytes:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}
