package schema_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
)

// TestJSONSchemaDocument checks the outline of every version's document:
// the dialect, one property per field in the definition's order plus
// log_type, the required fields, and that it is the same every time. That
// it accepts what Decode accepts is the differential test's job
// (tools/cmd/jsonschema-gen), which runs an independent validator.
func TestJSONSchemaDocument(t *testing.T) {
	reg := schema.MustLoad()
	for _, name := range reg.Names() {
		versions, err := reg.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range versions {
			t.Run(lt.String(), func(t *testing.T) {
				b, err := lt.JSONSchema()
				if err != nil {
					t.Fatal(err)
				}
				again, err := lt.JSONSchema()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, again) {
					t.Error("two calls gave different documents")
				}
				if !bytes.HasSuffix(b, []byte("}\n")) {
					t.Error("the document does not end with a newline")
				}
				var doc struct {
					Schema     string                     `json:"$schema"`
					Comment    string                     `json:"$comment"`
					Type       string                     `json:"type"`
					Properties json.RawMessage            `json:"properties"`
					Required   []string                   `json:"required"`
					Defs       map[string]json.RawMessage `json:"$defs"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatalf("the document is not JSON: %v", err)
				}
				var wantProps, wantRequired []string
				for _, f := range lt.Fields {
					wantProps = append(wantProps, f.Name)
					if f.Required {
						wantRequired = append(wantRequired, f.Name)
					}
				}
				wantProps = append(wantProps, schema.FieldLogType)
				if diff := cmp.Diff(wantProps, objectKeys(t, doc.Properties)); diff != "" {
					t.Errorf("properties (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantRequired, doc.Required); diff != "" {
					t.Errorf("required (-want +got):\n%s", diff)
				}
				if doc.Schema != schema.JSONSchemaDraft || doc.Type != "object" {
					t.Errorf("$schema %q, type %q; want %q, object", doc.Schema, doc.Type, schema.JSONSchemaDraft)
				}
				for _, rule := range schema.NotExpressible {
					if !strings.Contains(doc.Comment, rule) {
						t.Errorf("$comment does not state %q", rule)
					}
				}
				if !strings.Contains(doc.Comment, fmt.Sprintf("schemas/logtypes/%s/v%d.json", lt.Name, lt.Version)) {
					t.Errorf("$comment does not name the definition file: %s", doc.Comment)
				}
			})
		}
	}
}

// objectKeys returns the member names of a JSON object, in order.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestTimestampPattern compares TimestampPattern with Decode on every day
// of the years around the leap-year rules (every fourth year, not
// centuries, but every fourth century), with impossible months and days,
// and on times and offsets at and past their bounds.
func TestTimestampPattern(t *testing.T) {
	re := regexp.MustCompile(schema.TimestampPattern)
	lt := userAction(t)
	var years []int
	for _, span := range [][2]int{{0, 12}, {96, 104}, {396, 404}, {1896, 1904}, {1996, 2030}, {2096, 2104}, {2396, 2404}, {9990, 9999}} {
		for y := span[0]; y <= span[1]; y++ {
			years = append(years, y)
		}
	}
	var stamps []string
	for _, y := range years {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				stamps = append(stamps, fmt.Sprintf("%04d-%02d-%02dT10:00:00Z", y, m, d))
			}
		}
	}
	for _, tm := range []string{"00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "9:00:00", "09:0:00", "09:00:0", "09:00:00.", "09:00:00.0", "09:00:00.123456789012", "09:00:00,5"} {
		for _, off := range []string{"Z", "z", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "+23:60", "+0100", "+01", "+1:00", ""} {
			stamps = append(stamps, "2026-11-26T"+tm+off, "2026-11-26t"+tm+off)
		}
	}
	mismatches := 0
	for _, s := range stamps {
		body := strings.Replace(validUserAction, "2026-11-26T10:15:30.123456+01:00", s, 1)
		_, err := lt.Decode([]byte(body))
		if decodeOK, patternOK := err == nil, re.MatchString(s); decodeOK != patternOK {
			t.Errorf("%q: Decode ok = %v (%v), TimestampPattern matches = %v", s, decodeOK, err, patternOK)
			if mismatches++; mismatches > 20 {
				t.Fatal("too many mismatches")
			}
		}
	}
	t.Logf("%d timestamps compared", len(stamps))
}

func TestUUIDPattern(t *testing.T) {
	re := regexp.MustCompile(schema.UUIDPattern)
	lt := userAction(t)
	for _, s := range []string{
		"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11",
		"0B5F6F1E-3C1A-4E8E-9A57-1D2F0C9B7A11",
		"00000000-0000-0000-0000-000000000000",
		"0b5f6f1e3c1a4e8e9a571d2f0c9b7a11",
		"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1",
		"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a111",
		"0b5f6f1e-3c1a-4e8e-9a57_1d2f0c9b7a11",
		"0b5f6f1g-3c1a-4e8e-9a57-1d2f0c9b7a11",
		"{0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11}",
		"urn:uuid:0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11",
		"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1\u00e9",
	} {
		body := strings.Replace(validUserAction, "0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11", s, 1)
		_, err := lt.Decode([]byte(body))
		if decodeOK, patternOK := err == nil, re.MatchString(s); decodeOK != patternOK {
			t.Errorf("%q: Decode ok = %v (%v), UUIDPattern matches = %v", s, decodeOK, err, patternOK)
		}
	}
}
