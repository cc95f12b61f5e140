package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunArguments checks the exit status and messages of the commands that take a
// COMPONENT, and of status and start without a stack. Nothing here starts a process.
func TestRunArguments(t *testing.T) {
	stackDir := t.TempDir()
	getenv := func(k string) string {
		if k == "STACK_DIR" {
			return stackDir
		}
		return ""
	}
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{[]string{"kill"}, 2, "want one COMPONENT argument, one of sqs, gcs, bigquery, postgres"},
		{[]string{"start", "redis"}, 2, `got ["redis"]`},
		{[]string{"stop", "gcs", "sqs"}, 2, "want one COMPONENT argument"},
		{[]string{"status", "gcs"}, 2, "unexpected arguments"},
		{[]string{"restart", "-help"}, 0, "usage: go run ./tools/cmd/stack restart [flags] COMPONENT"},
		{[]string{"help", "kill"}, 0, "SIGKILL"},
		{[]string{"help"}, 0, "start COMPONENT"},
		{[]string{"status"}, 3, "no stack recorded in " + stackDir},
		{[]string{"start", "gcs"}, 1, "no stack recorded in " + stackDir},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, getenv, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Errorf("run(%q) = %d, output:\n%s\nwant %d and output containing %q", tt.args, code, out, tt.wantCode, tt.wantOut)
			}
		})
	}
}
