package quarantine

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	bodies := []string{`{"event_id":"x"}`, "not json <&>", "\xff\xfe invalid utf-8", ""}
	var want []Record
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for i, b := range bodies {
		r := Record{MessageID: string(rune('a' + i)), LogType: "user_action", Reason: "why", ReceivedAt: at,
			Attributes: map[string]string{"log_type": "user_action"}, WriterVersion: "v1"}
		r.SetBody(b)
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if strings.Contains(buf.String(), `\u003c`) {
		t.Errorf("HTML characters were escaped: %s", buf.String())
	}
	var got []Record
	if err := Decode(&buf, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	for i, r := range got {
		b, err := r.OriginalBody()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != bodies[i] {
			t.Errorf("record %d body = %q, want %q", i, b, bodies[i])
		}
	}
	if got[2].Body != "" || got[2].BodyBase64 == "" {
		t.Errorf("invalid UTF-8 kept as %+v, want base64 only", got[2])
	}
}

func TestDecodeErrors(t *testing.T) {
	stop := errors.New("stop")
	tests := []struct {
		name, in string
		fn       func(Record) error
		want     string
	}{
		{"bad line", "{\"message_id\":\"a\"}\nnot json\n", func(Record) error { return nil }, "line 2: not a quarantine record"},
		{"callback error stops", "{}\n{}\n", func(Record) error { return stop }, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode(strings.NewReader(tt.in), tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	r := Record{MessageID: "m", BodyBase64: "!!"}
	if _, err := r.OriginalBody(); err == nil {
		t.Error("OriginalBody of bad base64: no error")
	}
}
