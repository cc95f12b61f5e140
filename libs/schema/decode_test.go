package schema_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

const validUserAction = `{
  "event_id": "0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11",
  "occurred_at": "2026-11-26T10:15:30.123456+01:00",
  "source": "web-frontend",
  "action": "added_to_cart",
  "channel": "whatsapp",
  "user_id": "u-42",
  "session_id": "s-1",
  "product_id": "p-9",
  "cart_id": "c-7",
  "quantity": 2,
  "amount_cents": 1999,
  "currency": "EUR",
  "attributes": {"campaign": "black-friday", "nested": {"a": [1, 2, "x\"y"]}}
}`

func userAction(t testing.TB) *schema.LogType {
	t.Helper()
	lt, err := schema.MustLoad().Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

// value returns the decoded value of the named field.
func value(t *testing.T, lt *schema.LogType, ev *schema.Event, name string) schema.Value {
	t.Helper()
	for i, f := range lt.Fields {
		if f.Name == name {
			return ev.Values[i]
		}
	}
	t.Fatalf("no field %s", name)
	return schema.Value{}
}

func TestDecodeValid(t *testing.T) {
	lt := userAction(t)
	ev, err := lt.Decode([]byte(validUserAction))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	occurred := time.Date(2026, 11, 26, 9, 15, 30, 123456000, time.UTC)
	want := map[string]schema.Value{
		"event_id":     {Str: "0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11"},
		"occurred_at":  {Int: occurred.UnixMicro()},
		"source":       {Str: "web-frontend"},
		"action":       {Str: "added_to_cart"},
		"channel":      {Str: "whatsapp"},
		"user_id":      {Str: "u-42"},
		"session_id":   {Str: "s-1"},
		"product_id":   {Str: "p-9"},
		"cart_id":      {Str: "c-7"},
		"order_id":     {Null: true},
		"quantity":     {Int: 2},
		"amount_cents": {Int: 1999},
		"currency":     {Str: "EUR"},
		"app_version":  {Null: true},
		"attributes":   {Str: `{"campaign": "black-friday", "nested": {"a": [1, 2, "x\"y"]}}`},
	}
	got := map[string]schema.Value{}
	for i, f := range lt.Fields {
		got[f.Name] = ev.Values[i]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded values (-want +got):\n%s", diff)
	}
	if ev.Extra != nil {
		t.Errorf("Extra = %s, want nil", ev.Extra)
	}
}

func TestDecodeKeepsUnknownFields(t *testing.T) {
	lt := userAction(t)
	body := strings.Replace(validUserAction, `"source"`, `"experiment": {"id": 7}, "ab_group": "b", "log_type": "user_action", "source"`, 1)
	ev, err := lt.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	var extra map[string]any
	if err := json.Unmarshal(ev.Extra, &extra); err != nil {
		t.Fatalf("Extra is not JSON: %v (%s)", err, ev.Extra)
	}
	want := map[string]any{"experiment": map[string]any{"id": 7.0}, "ab_group": "b"}
	if diff := cmp.Diff(want, extra); diff != "" {
		t.Errorf("Extra (-want +got):\n%s", diff)
	}
}

func TestDecodeNormalises(t *testing.T) {
	lt := userAction(t)
	body := strings.NewReplacer(
		"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11", "0B5F6F1E-3C1A-4E8E-9A57-1D2F0C9B7A11",
		`"u-42"`, `"u-\u00e9"`,
	).Replace(validUserAction)
	ev, err := lt.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got := value(t, lt, ev, "event_id").Str; got != "0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11" {
		t.Errorf("event_id = %q, want lower case", got)
	}
	if got := value(t, lt, ev, "user_id").Str; got != "u-é" {
		t.Errorf("user_id = %q, want the unescaped string", got)
	}
}

// TestDecodeInvalid checks that every bad field is named with its reason.
func TestDecodeInvalid(t *testing.T) {
	lt := userAction(t)
	set := func(field, raw string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(validUserAction), &m); err != nil {
			t.Fatal(err)
		}
		if raw == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(raw)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name string
		body string
		want []schema.FieldError
	}{
		{"missing required", set("user_id", ""), []schema.FieldError{{"user_id", "is required but missing"}}},
		{"null required", set("event_id", "null"), []schema.FieldError{{"event_id", "is required but null"}}},
		{"bad uuid", set("event_id", `"not-a-uuid"`), []schema.FieldError{{"event_id", `must be a UUID like 123e4567-e89b-12d3-a456-426614174000, got "not-a-uuid"`}}},
		{"timestamp without offset", set("occurred_at", `"2026-11-26T10:15:30"`), []schema.FieldError{{"occurred_at", `must be an RFC 3339 time with a UTC offset, like 2026-11-26T10:00:00+01:00, got "2026-11-26T10:15:30"`}}},
		{"timestamp as number", set("occurred_at", `1764150000`), []schema.FieldError{{"occurred_at", "must be a string, got 1764150000"}}},
		{"enum", set("channel", `"fax"`), []schema.FieldError{{"channel", `must be one of web, app, whatsapp, got "fax"`}}},
		{"too long", set("currency", `"EURO"`), []schema.FieldError{{"currency", "must be at most 3 characters, got 4"}}},
		{"float for int", set("quantity", `1.5`), []schema.FieldError{{"quantity", "must be an integer, got 1.5"}}},
		{"string for int", set("quantity", `"2"`), []schema.FieldError{{"quantity", `must be an integer, got "2"`}}},
		{"below min", set("quantity", `-1`), []schema.FieldError{{"quantity", "must be at least 0, got -1"}}},
		{"above max", set("quantity", `100001`), []schema.FieldError{{"quantity", "must be at most 100000, got 100001"}}},
		{"attributes not object", set("attributes", `[1,2]`), []schema.FieldError{{"attributes", "must be a JSON object, got [1,2]"}}},
		{"attributes with NUL", set("attributes", `{"a":"x\u0000y"}`), []schema.FieldError{{"attributes", `must not contain NUL characters (\u0000)`}}},
		{"attributes with lone surrogate", set("attributes", `{"a":"\ud800x"}`), []schema.FieldError{{"attributes", "must not contain unpaired UTF-16 surrogates"}}},
		{"string with NUL", set("user_id", `"a\u0000"`), []schema.FieldError{{"user_id", "must not contain NUL characters"}}},
		{"unknown field with NUL", set("zzz", `"\u0000"`), []schema.FieldError{{"extra_fields", `unknown fields must not contain NUL characters (\u0000)`}}},
		{"wrong log_type in body", set("log_type", `"seller_action"`), []schema.FieldError{{"log_type", `says "seller_action", but the message is a user_action`}}},
		{
			"several at once",
			`{"event_id":"x","source":7,"action":"danced","channel":"web","user_id":"u","occurred_at":"yesterday"}`,
			[]schema.FieldError{
				{"event_id", `must be a UUID like 123e4567-e89b-12d3-a456-426614174000, got "x"`},
				{"source", "must be a string, got 7"},
				{"action", `must be one of product_viewed, product_searched, added_to_cart, removed_from_cart, cart_confirmed, cart_cancelled, order_placed, payment_failed, got "danced"`},
				{"occurred_at", `must be an RFC 3339 time with a UTC offset, like 2026-11-26T10:00:00+01:00, got "yesterday"`},
			},
		},
		{"duplicate key", `{"user_id":"a","user_id":"b"}`, nil}, // checked below: names user_id twice + missing fields
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lt.Decode([]byte(tc.body))
			var verr *schema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Decode error = %v, want a *ValidationError", err)
			}
			if tc.want == nil {
				if !strings.Contains(err.Error(), "user_id: appears more than once") {
					t.Errorf("error %q does not report the duplicate key", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, verr.Fields, cmpopts.SortSlices(func(a, b schema.FieldError) bool { return a.Field < b.Field })); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(err.Error(), "invalid user_action message: ") {
				t.Errorf("error %q does not name the log type", err)
			}
		})
	}
}

// TestDecodeTimestamp checks which occurred_at strings are RFC 3339 times
// with an offset. time.Parse alone accepted a one-digit hour, a ',' before
// the fraction and offsets of 24 hours or 60 minutes; the JSON Schema of the
// log type rejects them, and so must the validator.
func TestDecodeTimestamp(t *testing.T) {
	lt := userAction(t)
	tests := []struct {
		ts     string
		wantOK bool
	}{
		{"2026-11-26T10:15:30Z", true},
		{"2026-11-26T10:15:30+01:00", true},
		{"2026-11-26T10:15:30-00:00", true},
		{"2026-11-26T10:15:30.5Z", true},
		{"2026-11-26T10:15:30.1234567890123+23:59", true}, // digits past nanoseconds are dropped
		{"2024-02-29T00:00:00Z", true},
		{"2000-02-29T00:00:00Z", true},
		{"0001-01-01T00:00:00Z", true},
		{"9999-12-31T23:59:59-23:59", true},
		{"2026-11-26T10:15:30", false},       // no offset
		{"2026-11-26T10:15:30+0100", false},  // offset without ':'
		{"2026-11-26t10:15:30Z", false},      // lower case t
		{"2026-11-26T10:15:30z", false},      // lower case z
		{"2026-11-26 10:15:30Z", false},      // space for T
		{"2026-11-26T10:15:30.Z", false},     // '.' without digits
		{"2026-11-26T23:59:60Z", false},      // leap second
		{"2026-11-26T24:00:00Z", false},      // hour 24
		{"2026-02-29T00:00:00Z", false},      // not a leap year
		{"1900-02-29T00:00:00Z", false},      // centuries are not leap years
		{"2026-11-31T00:00:00Z", false},      // November has 30 days
		{"0000-01-01T00:00:00Z", false},      // year 0
		{"2026-11-26T1:15:30Z", false},       // one-digit hour: time.Parse accepts it
		{"2026-11-26T10:15:30,5Z", false},    // ',' before the fraction: time.Parse accepts it
		{"2026-11-26T10:15:30+24:00", false}, // offset hour 24: time.Parse accepts it
		{"2026-11-26T10:15:30-24:00", false}, // offset hour 24: time.Parse accepts it
		{"2026-11-26T10:15:30+23:60", false}, // offset minute 60: time.Parse accepts it
		{"2026-11-26T10:15:30Z\n", false},    // trailing newline
		{"\u0032026-11-26T10:15:30Z", true},  // escaped in JSON: the same string
	}
	for _, tc := range tests {
		t.Run(tc.ts, func(t *testing.T) {
			body := strings.Replace(validUserAction, "2026-11-26T10:15:30.123456+01:00", tc.ts, 1)
			_, err := lt.Decode([]byte(body))
			if gotOK := err == nil; gotOK != tc.wantOK {
				t.Errorf("Decode with occurred_at %q: error %v, want ok = %v", tc.ts, err, tc.wantOK)
			}
		})
	}
}

func TestDecodeNotJSON(t *testing.T) {
	lt := userAction(t)
	tests := []struct {
		name, body, wantIn string
	}{
		{"empty", ``, "unexpected end of JSON input"},
		{"truncated", `{"event_id": "a`, "unexpected end of JSON input"},
		{"array", `[1,2]`, "top level is [1,2]"},
		{"string", `"hello"`, `top level is "hello"`},
		{"trailing garbage", `{} x`, "invalid character 'x'"},
		{"invalid utf8", "{\"a\":\"\xff\"}", "not valid UTF-8"},
		{"oversize", `{"a":"` + strings.Repeat("x", schema.MaxBodyBytes) + `"}`, "over the 1048576 byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lt.Decode([]byte(tc.body))
			if !errors.Is(err, schema.ErrNotJSON) {
				t.Fatalf("Decode error = %v, want ErrNotJSON", err)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not contain %q", err, tc.wantIn)
			}
			var size *schema.SizeError
			if got, want := errors.As(err, &size), tc.name == "oversize"; got != want {
				t.Errorf("error %q: is a *SizeError = %v, want %v", err, got, want)
			}
			if got, want := errors.Is(err, schema.ErrNotUTF8), tc.name == "invalid utf8"; got != want {
				t.Errorf("error %q: wraps ErrNotUTF8 = %v, want %v", err, got, want)
			}
		})
	}
}

// TestDecodeBodySizeBoundary: a valid body of exactly MaxBodyBytes (1 MiB,
// the SQS limit) decodes; one byte more is refused with the sizes named.
func TestDecodeBodySizeBoundary(t *testing.T) {
	if schema.MaxBodyBytes != 1<<20 {
		t.Fatalf("MaxBodyBytes = %d, want 1 MiB (1048576), the SQS message size limit", schema.MaxBodyBytes)
	}
	reg := schema.MustLoad()
	lt := userAction(t)
	for _, tc := range []struct {
		size    int
		wantErr string
	}{
		{schema.MaxBodyBytes, ""},
		{schema.MaxBodyBytes + 1, "body is not a JSON object: 1048577 bytes is over the 1048576 byte limit"},
	} {
		g, err := eventgen.New(reg, eventgen.Options{Seed: 1, BodyBytes: tc.size})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := g.Event("user_action", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Body) != tc.size {
			t.Fatalf("generated body is %d bytes, want %d", len(ev.Body), tc.size)
		}
		_, err = lt.Decode(ev.Body)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%d-byte body: Decode error %v, want none", tc.size, err)
		case tc.wantErr != "" && (!errors.Is(err, schema.ErrNotJSON) || err.Error() != tc.wantErr):
			t.Errorf("%d-byte body: Decode error %v, want ErrNotJSON %q", tc.size, err, tc.wantErr)
		}
	}
}

func TestDecodeIntoReuse(t *testing.T) {
	lt := userAction(t)
	var ev schema.Event
	if err := lt.DecodeInto(&ev, []byte(strings.Replace(validUserAction, `"attributes"`, `"x": 1, "attributes"`, 1))); err != nil {
		t.Fatal(err)
	}
	minimal := `{"event_id":"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a12","occurred_at":"2026-11-26T10:00:00Z","source":"s","action":"product_viewed","channel":"app","user_id":"u"}`
	if err := lt.DecodeInto(&ev, []byte(minimal)); err != nil {
		t.Fatal(err)
	}
	for i, f := range lt.Fields {
		if !f.Required && !ev.Values[i].Null {
			t.Errorf("%s = %+v after reuse, want null", f.Name, ev.Values[i])
		}
	}
	if ev.Extra != nil {
		t.Errorf("Extra = %s after reuse, want nil", ev.Extra)
	}
}

func TestPeekLogType(t *testing.T) {
	tests := []struct {
		body   string
		want   string
		wantOK bool
	}{
		{`{"log_type":"seller_action","x":{"log_type":"no"}}`, "seller_action", true},
		{`{"x":{"log_type":"nested"}}`, "", false},
		{`{"log_type":7}`, "", false},
		{`not json`, "", false},
	}
	for _, tc := range tests {
		got, ok := schema.PeekLogType([]byte(tc.body))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("PeekLogType(%s) = %q, %v; want %q, %v", tc.body, got, ok, tc.want, tc.wantOK)
		}
	}
}

// FuzzDecode checks the decoder never panics and agrees with encoding/json on
// what is a UTF-8 JSON object, and that every accepted event's unknown fields and
// json fields are valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validUserAction))
	f.Add([]byte(`{"event_id":"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11","occurred_at":"2026-11-26T10:00:00Z","source":"s","action":"product_viewed","channel":"app","user_id":"u","k\u0041":"\ud83d\ude00"}`))
	f.Add([]byte(`{"a":[{"b":"}"}],"c":"\\\""}`))
	lt := userAction(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := lt.Decode(body)
		var probe map[string]json.RawMessage
		isObject := len(body) <= schema.MaxBodyBytes && utf8.Valid(body) && json.Unmarshal(body, &probe) == nil
		if errors.Is(err, schema.ErrNotJSON) == isObject {
			t.Fatalf("ErrNotJSON = %v but encoding/json object decode ok = %v for %q", err, isObject, body)
		}
		if err != nil {
			return
		}
		if ev.Extra != nil && !json.Valid(ev.Extra) {
			t.Fatalf("Extra %q is not valid JSON", ev.Extra)
		}
		for i, f := range lt.Fields {
			if f.Type == schema.TypeJSON && !ev.Values[i].Null && !json.Valid([]byte(ev.Values[i].Str)) {
				t.Fatalf("%s = %q is not valid JSON", f.Name, ev.Values[i].Str)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	lt := userAction(b)
	body := []byte(validUserAction)
	var ev schema.Event
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := lt.DecodeInto(&ev, body); err != nil {
			b.Fatal(err)
		}
	}
}
