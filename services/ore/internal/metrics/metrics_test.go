package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEmitWritesOneEMFLine(t *testing.T) {
	var buf bytes.Buffer
	e := New(&buf, "ore")
	e.now = func() time.Time { return time.UnixMilli(1795689660123) }
	err := e.Emit(Batch{Messages: 10, FilesWritten: 2, FilesExisting: 1, Bytes: 2048, Rows: 9, Quarantined: 1, Failed: 3, Duration: 1500 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want exactly one line, got %q", buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	metric := func(name, unit string) any { return map[string]any{"Name": name, "Unit": unit} }
	want := map[string]any{
		"_aws": map[string]any{
			"Timestamp": 1795689660123.0,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "Ore",
				"Dimensions": []any{[]any{"Service"}},
				"Metrics": []any{metric("Messages", "Count"), metric("FilesWritten", "Count"), metric("FilesExisting", "Count"),
					metric("Bytes", "Bytes"), metric("Rows", "Count"), metric("Quarantined", "Count"), metric("Failed", "Count"),
					metric("DurationMs", "Milliseconds")},
			}},
		},
		"Service": "ore", "Messages": 10.0, "FilesWritten": 2.0, "FilesExisting": 1.0, "Bytes": 2048.0, "Rows": 9.0,
		"Quarantined": 1.0, "Failed": 3.0, "DurationMs": 1.5,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF line (-want +got):\n%s", diff)
	}
}
