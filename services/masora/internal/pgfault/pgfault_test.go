package pgfault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: code}) }
	tests := []struct {
		name string
		err  error
		want error // nil for no kind
	}{
		{"deadline", context.DeadlineExceeded, fault.ErrUnavailable},
		{"connection exception", pg("08006"), fault.ErrUnavailable},
		{"too many connections", pg("53300"), fault.ErrUnavailable},
		{"admin shutdown", pg("57P01"), fault.ErrUnavailable},
		{"invalid JSON", pg("22P02"), fault.ErrBadObject},
		{"not null", pg("23502"), fault.ErrBadObject},
		{"check violation", pg("23514"), fault.ErrBadObject},
		{"unique violation", pg("23505"), nil},
		{"undefined table", pg("42P01"), nil},
		{"other", errors.New("bug"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pgfault.Classify("op", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("Classify = %v, does not wrap %v", got, tt.err)
			}
			if k := fault.Kind(got); k != tt.want {
				t.Errorf("Classify = %v, kind %v, want %v", got, k, tt.want)
			}
		})
	}
	if !pgfault.UniqueViolation(pg("23505")) || pgfault.UniqueViolation(pg("23502")) {
		t.Error("UniqueViolation does not tell 23505 from 23502")
	}
}

func TestTransient(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection broken mid-answer", fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), true},
		{"connection closed by the server", fmt.Errorf("read: %w", io.EOF), true},
		{"conn closed", fmt.Errorf("exec: %w", pgconn.ErrConnClosed), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"admin shutdown", pg("57P01"), true},
		{"crash shutdown", pg("57P02"), true},
		{"starting up", pg("57P03"), true},
		{"too many connections", pg("53300"), true},
		{"connection failure", pg("08006"), true},
		{"serialization failure", pg("40001"), true},
		{"deadlock", pg("40P01"), true},
		{"empty code", pg(""), false},
		{"unique violation", pg("23505"), false},
		{"invalid JSON", pg("22P02"), false},
		{"undefined table", pg("42P01"), false},
		{"deadline", fmt.Errorf("copy: %w", context.DeadlineExceeded), false},
		{"cancelled", fmt.Errorf("copy: %w", context.Canceled), false},
		{"other", errors.New("bug"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pgfault.Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.want && fault.Kind(pgfault.Classify("op", tt.err)) != fault.ErrUnavailable {
				t.Errorf("Classify(%v) is not %v, although transient", tt.err, fault.ErrUnavailable)
			}
		})
	}
}
