package statuspage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// depthFunc is a DepthReader.
type depthFunc func(ctx context.Context) (int64, error)

func (f depthFunc) Depth(ctx context.Context) (int64, error) { return f(ctx) }

// TestDLQ checks that the DLQ's depth never fails the page: unset, failing
// or too slow, it is shown as unknown with the reason.
func TestDLQ(t *testing.T) {
	tests := []struct {
		name   string
		reader DepthReader
		want   DLQ
	}{
		{"unset", nil, DLQ{Reason: "MASORA_DLQ_URL is not set"}},
		{"depth", depthFunc(func(context.Context) (int64, error) { return 42, nil }), DLQ{Known: true, Depth: 42}},
		{"empty", depthFunc(func(context.Context) (int64, error) { return 0, nil }), DLQ{Known: true}},
		{"error", depthFunc(func(context.Context) (int64, error) { return 0, errors.New("AccessDenied: not authorized") }),
			DLQ{Reason: "AccessDenied: not authorized"}},
		{"no answer", depthFunc(func(ctx context.Context) (int64, error) { <-ctx.Done(); return 0, ctx.Err() }),
			DLQ{Reason: "context deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{DLQ: tt.reader, DLQUnsetReason: "MASORA_DLQ_URL is not set", DLQTimeout: 50 * time.Millisecond,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if diff := cmp.Diff(tt.want, p.dlq(t.Context())); diff != "" {
				t.Errorf("DLQ (-want +got):\n%s", diff)
			}
		})
	}
}
