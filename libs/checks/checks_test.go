package checks

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteAndOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		rs       []Result
		text     string
		outcomes map[string]string
	}{
		{
			name:     "all pass",
			rs:       []Result{{Check: "a", OK: true, Detail: "fine"}, {Check: "bb", OK: true, Detail: "also\n  fine"}},
			text:     "CHECK  RESULT  DETAIL\na      pass    fine\nbb     pass    also fine\nall 2 checks passed\n",
			outcomes: map[string]string{"a": "pass", "bb": "pass"},
		},
		{
			name:     "failures with and without a fix",
			rs:       []Result{{Check: "a", OK: true, Detail: "fine"}, {Check: "b", Detail: "broken", Fix: "mend it"}, {Check: "c", Detail: "broken too"}},
			text:     "CHECK  RESULT  DETAIL\na      pass    fine\nb      FAIL    broken\n               fix: mend it\nc      FAIL    broken too\n2 of 3 checks failed\n",
			outcomes: map[string]string{"a": "pass", "b": "FAIL", "c": "FAIL without a fix"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.rs); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.text, buf.String()); diff != "" {
				t.Errorf("Write (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.outcomes, Outcomes(tt.rs)); diff != "" {
				t.Errorf("Outcomes (-want +got):\n%s", diff)
			}
			if got, want := OK(tt.rs), tt.outcomes["b"] == ""; got != want {
				t.Errorf("OK = %v, want %v", got, want)
			}
		})
	}
}
