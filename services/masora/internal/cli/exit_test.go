package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"usage", usageError{errors.New("-to is required")}, exitUsage},
		{"invalid request", fmt.Errorf("plan: %w", fault.ErrInvalid), exitUsage},
		{"busy", fmt.Errorf("lock user_action: %w", fault.ErrBusy), exitBusy},
		{"bad objects", fmt.Errorf("user_action: %w", fault.ErrBadObject), exitBadData},
		{"unavailable", fmt.Errorf("connect: %w: %w", fault.ErrUnavailable, errors.New("refused")), exitFailed},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), exitFailed},
		{"not found", fmt.Errorf("run 7: %w", fault.ErrNotFound), exitFailed},
		{"bad objects and unavailable", errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrUnavailable)), exitFailed},
		{"bad objects and busy", errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrBusy)), exitBusy},
		{"misconfigured", fmt.Errorf("create table: %w", fault.ErrMisconfigured), exitUsage},
		{"bad objects and misconfigured", errors.Join(fmt.Errorf("a: %w", fault.ErrBadObject), fmt.Errorf("b: %w", fault.ErrMisconfigured)), exitUsage},
		{"unknown kind", errors.New("bug"), exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	tests := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{"short", "run failed", 80, "run failed"},
		{"exactly max", "abcde", 5, "abcde"},
		{"cut", "abcdef", 5, "abcd…"},
		{"first line only", "line one\nline two", 80, "line one"},
		{"cut first line", "abcdef\nline two", 4, "abc…"},
		{"multi-byte exactly max", "ééééé", 5, "ééééé"},
		{"multi-byte cut at a rune", "éééééé", 5, "éééé…"},
		{"emoji cut at a rune", "ab🙂🙂🙂🙂", 4, "ab🙂…"},
		{"empty", "", 80, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firstLine(tt.s, tt.max)
			if got != tt.want {
				t.Errorf("firstLine(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tt.max {
				t.Errorf("firstLine(%q, %d) = %q: not valid UTF-8 of at most %d characters", tt.s, tt.max, got, tt.max)
			}
		})
	}
}
