package logjson_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/logjson"
)

func TestFieldNames(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelInfo, "INFO"},
		{slog.LevelWarn, "WARNING"},
		{slog.LevelError, "ERROR"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		logjson.New(&buf, slog.LevelInfo).Log(t.Context(), tt.level, "hello", "n", 1, slog.Group("g", "message", "kept"))
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%q: %v", buf.String(), err)
		}
		delete(got, "time")
		want := map[string]any{"severity": tt.want, "message": "hello", "n": 1.0, "g": map[string]any{"message": "kept"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("level %v (-want +got):\n%s", tt.level, diff)
		}
	}
	var buf bytes.Buffer
	logjson.New(&buf, slog.LevelWarn).Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("an info line passed a warn-level logger: %s", buf.String())
	}
}
