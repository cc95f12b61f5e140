package quarantine

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecode checks that Decode never panics on any object content, and
// that every record it reads encodes and decodes back to itself.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"message_id":"m1","log_type":"user_action","reason":"field action: not one of the enum","received_at":"2026-11-30T10:00:00Z","attributes":{"log_type":"user_action"},"body":"{\"event_id\":1}","writer_version":"v1"}` + "\n"))
	f.Add([]byte(`{"message_id":"m2","reason":"body is not UTF-8","received_at":"2026-11-30T10:00:00.123456789+02:00","body_base64":"//4=","writer_version":"v1"}` + "\r\n{}\n"))
	f.Add([]byte(`{"attributes":{},"received_at":"0000-01-01T00:00:00Z"}`))
	f.Add([]byte("not json\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		if err := Decode(bytes.NewReader(data), func(r Record) error { recs = append(recs, r); return nil }); err != nil {
			return
		}
		var buf bytes.Buffer
		enc := NewEncoder(&buf)
		for i := range recs {
			if err := enc.Encode(&recs[i]); err != nil {
				t.Fatalf("Encode of decoded record %+v: %v", recs[i], err)
			}
		}
		var again []Record
		if err := Decode(&buf, func(r Record) error { again = append(again, r); return nil }); err != nil {
			t.Fatalf("Decode of encoded records %q: %v", buf.Bytes(), err)
		}
		if diff := cmp.Diff(recs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("records of %q do not round-trip (-first +second):\n%s", data, diff)
		}
	})
}

// FuzzBody checks that any message body, UTF-8 or not, comes back exactly
// from an encoded record.
func FuzzBody(f *testing.F) {
	f.Add([]byte(`{"event_id":"x"}`))
	f.Add([]byte("\xff\xfe invalid utf-8"))
	f.Add([]byte("line\nbreak <&> \u2028"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := Record{MessageID: "m", Reason: "r", ReceivedAt: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), WriterVersion: "v"}
		r.SetBody(string(body))
		var buf bytes.Buffer
		if err := NewEncoder(&buf).Encode(&r); err != nil {
			t.Fatal(err)
		}
		var got []Record
		if err := Decode(&buf, func(r Record) error { got = append(got, r); return nil }); err != nil || len(got) != 1 {
			t.Fatalf("Decode of the record of body %q: %d records, %v", body, len(got), err)
		}
		b, err := got[0].OriginalBody()
		if err != nil || !bytes.Equal(b, body) {
			t.Fatalf("OriginalBody = %q, %v; want %q", b, err, body)
		}
	})
}
