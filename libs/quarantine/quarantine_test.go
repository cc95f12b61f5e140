package quarantine

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	bodies := []string{`{"event_id":"x"}`, "not json <&>", "\xff\xfe invalid utf-8", ""}
	var want []Record
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for i, b := range bodies {
		r := Record{MessageID: string(rune('a' + i)), LogType: "user_action", Reason: "why", ReasonKind: KindInvalidFields, ReceivedAt: at,
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
	const rec = `{"message_id":"a","received_at":"2026-11-30T10:00:00Z"}` + "\n"
	tests := []struct {
		name, in  string
		fn        func(Record) error
		want      string
		malformed bool
	}{
		{"bad line", rec + "not json\n", func(Record) error { return nil }, "line 2: not a quarantine record", true},
		{"not an object", "[1]\n", func(Record) error { return nil }, "line 1: not a quarantine record", true},
		{"no message id", `{"received_at":"2026-11-30T10:00:00Z"}`, func(Record) error { return nil }, "line 1: not a quarantine record: no message_id", true},
		{"no receive time", rec + rec + `{"message_id":"b"}`, func(Record) error { return nil }, "line 3: not a quarantine record: no received_at", true},
		{"line too long", rec + strings.Repeat("x", MaxLine+1), func(Record) error { return nil }, "line 2: not a quarantine record: longer than", true},
		{"callback error stops", rec + rec, func(Record) error { return stop }, "stop", false},
		{"read error", "", nil, "read quarantine lines: boom", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tt.in)
			if tt.fn == nil {
				r, tt.fn = iotest.ErrReader(errors.New("boom")), func(Record) error { return nil }
			}
			err := Decode(r, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode error = %v, want one containing %q", err, tt.want)
			}
			if got := errors.Is(err, ErrMalformed); got != tt.malformed {
				t.Errorf("Decode error %v wraps ErrMalformed = %v, want %v", err, got, tt.malformed)
			}
		})
	}
	r := Record{MessageID: "m", BodyBase64: "!!"}
	if _, err := r.OriginalBody(); err == nil {
		t.Error("OriginalBody of bad base64: no error")
	}
}

func TestReaderRecordsWithoutKind(t *testing.T) {
	// A line as Ore wrote it before reason kinds existed.
	const old = `{"message_id":"m1","log_type":"user_action","reason":"invalid user_action message: channel: is required but missing","received_at":"2026-11-30T10:00:00.123456789Z","body":"{}","writer_version":"v0"}`
	d := NewReader(strings.NewReader(old + "\n"))
	rec, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if rec.ReasonKind != "" || rec.Kind() != KindUnclassified {
		t.Errorf("record without reason_kind: ReasonKind %q, Kind() %q; want empty and %q", rec.ReasonKind, rec.Kind(), KindUnclassified)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the last record = %v, want io.EOF", err)
	}
	rec.ReasonKind = KindInvalidFields
	if rec.Kind() != KindInvalidFields {
		t.Errorf("Kind() = %q, want %q", rec.Kind(), KindInvalidFields)
	}
}

func TestKindOf(t *testing.T) {
	reg := schema.MustLoad()
	lt, err := reg.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want Kind
	}{
		{"invalid fields", `{"event_id":"not a uuid"}`, KindInvalidFields},
		{"not JSON", `{"event_id":`, KindMalformedJSON},
		{"not an object", `[1,2]`, KindMalformedJSON},
		{"not UTF-8", "{\"a\":\"\xff\"}", KindInvalidText},
		{"oversize", `{"a":"` + strings.Repeat("x", schema.MaxBodyBytes) + `"}`, KindOversize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lt.Decode([]byte(tt.body))
			if got := KindOf(err); got != tt.want {
				t.Errorf("KindOf(%v) = %q, want %q", err, got, tt.want)
			}
		})
	}
	if got := KindOf(errors.New("something else")); got != KindUnclassified {
		t.Errorf("KindOf(another error) = %q, want %q", got, KindUnclassified)
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		name, body string
		want       Origin
	}{
		{"both", `{"source":"web","event_id":"e1","x":1}`, Origin{Source: "web", EventID: "e1"}},
		{"source only", `{"source":"web","event_id":7}`, Origin{Source: "web"}},
		{"escaped", `{"source":"w\u00e9b"}`, Origin{Source: "wéb"}},
		{"not strings", `{"source":{"a":1},"event_id":null}`, Origin{}},
		{"not an object", `["web"]`, Origin{}},
		{"not JSON", `source=web`, Origin{}},
		{"empty", ``, Origin{}},
		{"not UTF-8", "{\"source\":\"\xff\"}", Origin{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			r.SetBody(tt.body)
			if diff := cmp.Diff(tt.want, r.Origin()); diff != "" {
				t.Errorf("Origin of %q (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}
