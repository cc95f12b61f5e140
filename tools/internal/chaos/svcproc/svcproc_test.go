package svcproc

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnvWith(t *testing.T) {
	base := Env{"A": "1"}
	got := base.With("B", "2", "A", "3")
	if diff := cmp.Diff(Env{"A": "3", "B": "2"}, got); diff != "" {
		t.Errorf("With (-want +got):\n%s", diff)
	}
	if base["A"] != "1" || len(base) != 1 {
		t.Errorf("With changed its receiver: %v", base)
	}
	env := got.environ()
	if env[len(env)-2] != "A=3" || env[len(env)-1] != "B=2" {
		t.Errorf("environ ends with %v, want the variables sorted, last", env[len(env)-2:])
	}
}

func TestAnswerSucceeded(t *testing.T) {
	ok := RunOutcome{Status: "succeeded"}
	tests := []struct {
		name string
		a    Answer
		want bool
	}{
		{"all succeeded", Answer{Code: http.StatusOK, Runs: []RunOutcome{ok, ok}}, true},
		{"one failed", Answer{Code: http.StatusOK, Runs: []RunOutcome{ok, {Status: "failed"}}}, false},
		{"busy", Answer{Code: http.StatusConflict}, false},
		{"no runs", Answer{Code: http.StatusOK}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Succeeded(); got != tt.want {
			t.Errorf("%s: Succeeded() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProcKillAndStop(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p, err := Start(sh, []string{"-c", "echo started; exec sleep 60"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done, _ := p.Exited(); done {
		t.Fatal("exited at once")
	}
	p.Kill()
	if done, err := p.Exited(); !done || err == nil {
		t.Errorf("after Kill: exited %v, error %v; want exited by a signal", done, err)
	}

	p, err = Start(sh, []string{"-c", "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Tail(), "ready") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop of a process that exits 0 on SIGTERM: %v", err)
	}
	if !strings.Contains(p.Tail(), "bye") {
		t.Errorf("output %q lacks the trap's line", p.Tail())
	}
}
