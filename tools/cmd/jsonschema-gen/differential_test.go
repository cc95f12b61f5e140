package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

// The differential test: a corpus of bodies is judged by the pipeline's
// validator (schema.LogType.Decode) and by an independent JSON Schema
// validator (santhosh-tekuri/jsonschema, draft 2020-12) over the generated
// documents, once with Go's regexp and once with an ECMA-262 regexp engine
// (what JSON Schema specifies for "pattern"). They must agree on accept or
// reject for every body and log type version, except for the bodies of
// knownDifferences, which must disagree exactly as listed there. The
// documents use no "format", so format assertion plays no part.

// uaPrefix is a valid user_action body without its closing brace: the
// values of the Ore handler's fuzz corpus, so that its bodies appear below.
const uaPrefix = `{"event_id":"123e4567-e89b-12d3-a456-426614174000","occurred_at":"2026-11-26T10:00:00Z","source":"web","action":"product_viewed","channel":"app","user_id":"u1"`

// userActions are the versions the user_action differences apply to.
var userActions = []string{"user_action/v1", "user_action/v2"}

// knownDifference is a body the two validators judge differently, on
// purpose: a rule JSON Schema cannot express (schema.NotExpressible), or
// one the JSON Schema validator's parser hides from it.
type knownDifference struct {
	versions []string // log type versions ("user_action/v2") it applies to
	body     string
	goOK     bool // the pipeline's verdict; the JSON Schema's is the opposite
	why      string
}

var knownDifferences = []knownDifference{
	{userActions, uaPrefix + `,"quantity":1.0}`, false, "int64 literal: JSON Schema's integer accepts 1.0"},
	{userActions, uaPrefix + `,"quantity":1e2}`, false, "int64 literal: JSON Schema's integer accepts 1e2"},
	{userActions, uaPrefix + `,"quantity":100000.0}`, false, "int64 literal: 100000.0 is the maximum, as a number"},
	{userActions, uaPrefix + `,"amount_cents":9.223372036854775807e18}`, false, "int64 literal: the largest int64, written with an exponent"},
	{userActions, uaPrefix + `,"attributes":{"a":"\ud800"}}`, false, "unpaired high surrogate in a json field; the parser makes it U+FFFD (also Ore's fuzz corpus)"},
	{userActions, uaPrefix + `,"attributes":{"a":"x\udc00"}}`, false, "unpaired low surrogate in a json field"},
	{userActions, uaPrefix + `,"attributes":{"\ud800":1}}`, false, "unpaired surrogate in a member name of a json field"},
	{userActions, uaPrefix + `,"zzz":"\ud83d"}`, false, "unpaired surrogate in an unknown field"},
	{userActions, uaPrefix + `,"zzz":["\ud800\u0041"]}`, false, "high surrogate followed by an escape that is not a low one, in an unknown field"},
	{userActions, uaPrefix + `,"\udfff":1}`, false, "unpaired surrogate in an unknown field's name"},
	{userActions, uaPrefix + `,"user_id":"u1"}`, false, "duplicate member: a definition field appears twice (the parser keeps the last)"},
	{userActions, uaPrefix + `,"quantity":-1,"quantity":1}`, false, "duplicate member: the first is out of range, the parser keeps the last"},
	{userActions, uaPrefix + `,"zzz":"\u0000","zzz":"ok"}`, false, "duplicate unknown member: the first holds NUL, the parser keeps the last"},
	{userActions, uaPrefix + `,"log_type":"seller_action","log_type":"user_action"}`, false, "duplicate log_type: the first names another log type, the parser keeps the last"},
	{userActions, padded(uaPrefix, schema.MaxBodyBytes+1), false, "body size: one byte over the limit"},
	{userActions, uaPrefix + ",\"zzz\":\"\xff\"}", false, "invalid UTF-8: the validator's parser (encoding/json) makes it U+FFFD"},
	{[]string{"probe/v1"}, probePrefix + `,"share":-1e-400}`, true, "float64 rounding: -1e-400 is -0, not below the minimum 0"},
	{[]string{"probe/v1"}, probePrefix + `,"ratio":2.5000000000000001}`, true, "float64 rounding: the value is 2.5, the maximum"},
	{[]string{"probe/v1"}, probePrefix + `,"ratio":-1.50000000000000001}`, true, "float64 rounding: the value is -1.5, the minimum"},
}

// probeDefinition is a log type that uses every field type and bound, so
// that the generator's every case is judged, not only those the real log
// types happen to use.
const probeDefinition = `{
  "log_type": "probe", "version": 1, "description": "Every field type.", "table": "probes",
  "fields": [
    {"name": "event_id", "type": "uuid", "required": true, "description": "id"},
    {"name": "occurred_at", "type": "timestamp", "required": true, "description": "when"},
    {"name": "source", "type": "string", "required": true, "max_length": 5, "description": "who"},
    {"name": "kind", "type": "string", "enum": ["a", "é", "x y"], "max_length": 2, "description": "optional enum, one value over max_length"},
    {"name": "count", "type": "int64", "required": true, "min": -5, "max": 5, "description": "bounded integer"},
    {"name": "big", "type": "int64", "min": -1e30, "max": 1e30, "description": "bounds past int64"},
    {"name": "ratio", "type": "float64", "min": -1.5, "max": 2.5, "description": "bounded number"},
    {"name": "share", "type": "float64", "min": 0, "description": "half-bounded number"},
    {"name": "score", "type": "float64", "description": "any finite number"},
    {"name": "flag", "type": "bool", "required": true, "description": "a flag"},
    {"name": "maybe", "type": "bool", "description": "an optional flag"},
    {"name": "payload", "type": "json", "required": true, "description": "a required object"},
    {"name": "free", "type": "string", "description": "unbounded text"}
  ],
  "hourly_summary": {"table": "probe_hourly", "dimensions": ["source"], "distinct": "source", "distinct_column": "sources"}
}`

// probePrefix is a valid probe body without its closing brace.
const probePrefix = `{"event_id":"123e4567-e89b-12d3-a456-426614174000","occurred_at":"2026-11-26T10:00:00Z","source":"s","count":0,"flag":true,"payload":{}`

func probeRegistry(t *testing.T) *schema.Registry {
	t.Helper()
	reg, err := schema.LoadFS(fstest.MapFS{"logtypes/probe/v1.json": {Data: []byte(probeDefinition)}}, "logtypes")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// padded returns the object prefix closed with an unknown "pad" member
// that makes the body exactly size bytes.
func padded(prefix string, size int) string {
	const open, end = `,"pad":"`, `"}`
	return prefix + open + strings.Repeat("x", size-len(prefix)-len(open)-len(end)) + end
}

// judge validates bodies with the JSON Schemas of some log type versions.
type judge struct {
	name    string
	schemas map[string]*jsonschema.Schema // by "name/vN"
}

// newJudge compiles the JSON Schema of each version with engine as the
// "pattern" engine (nil for Go's regexp). The compiler also checks each
// document against the draft 2020-12 meta-schema.
func newJudge(t *testing.T, name string, versions []*schema.LogType, engine jsonschema.RegexpEngine) judge {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if engine != nil {
		c.UseRegexpEngine(engine)
	}
	j := judge{name: name, schemas: make(map[string]*jsonschema.Schema)}
	for _, lt := range versions {
		b, err := lt.JSONSchema()
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", lt, err)
		}
		url := "file:///jsonschema/" + fileName(lt.Name, lt.Version)
		if err := c.AddResource(url, doc); err != nil {
			t.Fatalf("%s: %v", lt, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			t.Fatalf("compile the JSON Schema of %s: %v", lt, err)
		}
		j.schemas[lt.String()] = sch
	}
	return j
}

// accepts parses body as a JSON Schema validator's user does and
// validates it; a body that does not parse is rejected.
func (j judge) accepts(lt *schema.LogType, body []byte) (bool, string) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return false, "parse: " + err.Error()
	}
	if err := j.schemas[lt.String()].Validate(v); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// ecmaEngine compiles patterns with regexp2 in ECMAScript mode.
func ecmaEngine(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecmaRegexp{re}, nil
}

type ecmaRegexp struct{ re *regexp2.Regexp }

func (r ecmaRegexp) MatchString(s string) bool {
	ok, err := r.re.MatchString(s)
	return err == nil && ok
}

func (r ecmaRegexp) String() string { return r.re.String() }

// corpusBody is one body of the corpus, with where it comes from.
type corpusBody struct {
	origin string
	body   []byte
	// only, when set, is the one log type version to judge it against;
	// otherwise it is judged against all.
	only string
}

func TestDifferential(t *testing.T) {
	reg := schema.MustLoad()
	probe := probeRegistry(t)
	var versions []*schema.LogType
	for _, r := range []*schema.Registry{reg, probe} {
		for _, name := range r.Names() {
			vs, err := r.Versions(name)
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, vs...)
		}
	}
	judges := []judge{
		newJudge(t, "JSON Schema, Go regexp", versions, nil),
		newJudge(t, "JSON Schema, ECMA-262 regexp", versions, ecmaEngine),
	}

	known := make(map[string]knownDifference)
	var corpus []corpusBody
	for _, k := range knownDifferences {
		for _, v := range k.versions {
			known[v+"\x00"+k.body] = k
			corpus = append(corpus, corpusBody{"known difference: " + k.why, []byte(k.body), v})
		}
	}
	corpus = append(corpus, fuzzCorpus(t, filepath.Join("..", "..", "..", "libs", "schema", "testdata", "fuzz", "FuzzDecode"))...)
	corpus = append(corpus, fuzzCorpus(t, filepath.Join("..", "..", "..", "services", "ore", "internal", "handler", "testdata", "fuzz", "FuzzHandleMessage"))...)
	corpus = append(corpus, generatedEvents(t, reg, 150)...)
	corpus = append(corpus, generatedEvents(t, probe, 50)...)
	corpus = append(corpus, bodyLevelCases()...)
	for _, lt := range versions {
		corpus = append(corpus, edgeCases(lt)...)
	}

	var judged, accepted, disagreements int
	seen := make(map[string]bool) // known differences met
	for _, c := range corpus {
		for _, lt := range versions {
			if c.only != "" && c.only != lt.String() {
				continue
			}
			_, err := lt.Decode(c.body)
			goOK := err == nil
			judged++
			if goOK {
				accepted++
			}
			k, isKnown := known[lt.String()+"\x00"+string(c.body)]
			for _, j := range judges {
				ok, why := j.accepts(lt, c.body)
				switch {
				case isKnown && goOK == k.goOK && ok != goOK:
					seen[lt.String()+"\x00"+string(c.body)] = true
					disagreements++
				case isKnown:
					t.Errorf("%s, %s (%s): the known difference %q is gone or reversed: pipeline ok = %v (%v), %s ok = %v (%s); update knownDifferences and the documents' $comment",
						lt, c.origin, clip(c.body), k.why, goOK, err, j.name, ok, why)
				case ok != goOK:
					t.Errorf("%s, %s: body %s\npipeline ok = %v (%v)\n%s ok = %v (%s)\nfix the generated JSON Schema, or list the body in knownDifferences with the reason",
						lt, c.origin, clip(c.body), goOK, err, j.name, ok, why)
				}
			}
		}
	}
	for key, k := range known {
		if !seen[key] {
			t.Errorf("known difference %q (%s) was not judged", k.why, strings.SplitN(key, "\x00", 2)[0])
		}
	}
	if accepted == 0 || accepted == judged {
		t.Errorf("%d of %d judgements accept: the corpus must hold both valid and invalid bodies", accepted, judged)
	}
	t.Logf("%d bodies, %d judgements per validator (%d accepted by the pipeline), %d known disagreements seen across %d JSON Schema validators",
		len(corpus), judged, accepted, disagreements, len(judges))
}

func clip(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:300])) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

// fuzzCorpus reads the first []byte or string argument of each file of a
// go test fuzz corpus directory.
func fuzzCorpus(t *testing.T, dir string) []corpusBody {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusBody
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		if lines[0] != "go test fuzz v1" {
			t.Fatalf("%s/%s is not a fuzz corpus file", dir, e.Name())
		}
		for _, l := range lines[1:] {
			lit, ok := strings.CutPrefix(l, "[]byte(")
			if !ok {
				lit, ok = strings.CutPrefix(l, "string(")
			}
			if !ok {
				continue
			}
			s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				t.Fatalf("%s/%s: %v", dir, e.Name(), err)
			}
			out = append(out, corpusBody{origin: "fuzz corpus " + filepath.Base(dir) + "/" + e.Name(), body: []byte(s)})
			break
		}
	}
	if len(out) == 0 {
		t.Fatalf("no bodies in %s", dir)
	}
	return out
}

// generatedEvents returns n realistic events of each log type of reg,
// with optional fields and UTC offsets.
func generatedEvents(t *testing.T, reg *schema.Registry, n int) []corpusBody {
	t.Helper()
	g, err := eventgen.New(reg, eventgen.Options{Seed: 12, OptionalRate: 0.6, Zones: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusBody
	for _, name := range reg.Names() {
		for i := range n {
			ev, err := g.Event(name, i)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, corpusBody{origin: fmt.Sprintf("eventgen %s #%d", name, i), body: ev.Body})
		}
	}
	return out
}

// bodyLevelCases are bodies that are not, or not quite, JSON objects.
func bodyLevelCases() []corpusBody {
	var out []corpusBody
	for _, b := range []string{
		"", " ", "null", "true", "1", `"s"`, "[]", `[` + uaPrefix + `}]`, "{", "}", "{}", " \n\t{}\r\n ",
		uaPrefix + "}", " \n" + uaPrefix + "}\n ", uaPrefix + "} x", uaPrefix + "}}", uaPrefix + "},{}", uaPrefix,
		uaPrefix + `,}`, uaPrefix + `,"quantity":NaN}`, uaPrefix + `,"quantity":Infinity}`, uaPrefix + `,"quantity":+1}`,
		uaPrefix + `,"quantity":01}`, uaPrefix + `,"quantity":.5}`, uaPrefix + `,'zzz':1}`, uaPrefix + "/* c */}",
		"\xef\xbb\xbf" + uaPrefix + "}", uaPrefix + ",\"zzz\":\"a\tb\"}", uaPrefix + ",\"zzz\":\"\\x41\"}",
		padded(uaPrefix, schema.MaxBodyBytes), padded(uaPrefix, schema.MaxBodyBytes-1),
		uaPrefix + `,"zzz":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "}",
		uaPrefix + `,"zzz":` + strings.Repeat(`{"a":`, 100) + `"\u0000"` + strings.Repeat("}", 100) + "}",
		uaPrefix + `,"zzz":1,"zzz":2}`, uaPrefix + `,"zzz":1,"zzz":"\u0000"}`, uaPrefix + `,"log_type":"user_action","log_type":"user_action"}`,
		uaPrefix + `,"quantity":1,"quantity":-1}`,
		`{"log_type":"user_action"}`, `{"log_type":"seller_action"}`,
	} {
		out = append(out, corpusBody{origin: "body-level case", body: []byte(b)})
	}
	return out
}

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

// member is one member of an object body, its name as raw JSON.
type member struct{ key, raw string }

// object renders members as a JSON object.
func object(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.key)
		b.WriteByte(':')
		b.WriteString(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// baseMembers returns a valid body of lt with every field set: bounds
// where the field has them, else ordinary values.
func baseMembers(lt *schema.LogType) []member {
	var ms []member
	for _, f := range lt.Fields {
		var raw string
		switch f.Type {
		case schema.TypeUUID:
			raw = `"123e4567-e89b-12d3-a456-426614174000"`
		case schema.TypeTimestamp:
			raw = `"2026-11-26T10:00:00.5+01:00"`
		case schema.TypeString:
			raw = `"x"`
			if len(f.Enum) > 0 {
				raw = jsonString(f.Enum[0])
			}
		case schema.TypeInt64:
			raw = "1"
			if f.Min != nil && *f.Min > 1 {
				raw = strconv.FormatFloat(math.Ceil(*f.Min), 'f', -1, 64)
			}
			if f.Max != nil && *f.Max < 1 {
				raw = strconv.FormatFloat(math.Floor(*f.Max), 'f', -1, 64)
			}
		case schema.TypeFloat64:
			raw = "0.5"
		case schema.TypeBool:
			raw = "true"
		case schema.TypeJSON:
			raw = `{"k":"v","n":[1,2.5,null,true]}`
		}
		ms = append(ms, member{jsonString(f.Name), raw})
	}
	return ms
}

// with returns ms with the member named key set to raw (appended when
// missing), or removed when raw is "".
func with(ms []member, key, raw string) []member {
	out := make([]member, 0, len(ms)+1)
	found := false
	for _, m := range ms {
		if m.key == key {
			found = true
			if raw != "" {
				out = append(out, member{key, raw})
			}
			continue
		}
		out = append(out, m)
	}
	if !found && raw != "" {
		out = append(out, member{key, raw})
	}
	return out
}

// Values that must be judged alike, by field type. Values that are judged
// differently on purpose are in knownDifferences instead.
var (
	wrongTypes      = []string{"null", "true", "false", "0", "1.5", `"1"`, `""`, "{}", "[]", `["x"]`}
	uuidValues      = []string{`"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11"`, `"0B5F6F1E-3C1A-4E8E-9A57-1D2F0C9B7A11"`, `"0b5f6f1e-3C1A-4e8e-9a57-1d2f0c9b7a11"`, `"00000000-0000-0000-0000-000000000000"`, `"0b5f6f1e3c1a4e8e9a571d2f0c9b7a11"`, `"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1"`, `"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a111"`, `"{0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11}"`, `"urn:uuid:0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11"`, `"0b5f6f1g-3c1a-4e8e-9a57-1d2f0c9b7a11"`, `"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1\n"`, `"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1\u0000"`, `"\u0030b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a11"`, `"0b5f6f1e-3c1a-4e8e-9a57-1d2f0c9b7a1é"`}
	timestampValues = []string{
		`"2026-11-26T10:15:30Z"`, `"2026-11-26T10:15:30+01:00"`, `"2026-11-26T10:15:30-00:00"`, `"2026-11-26T10:15:30.123456789+05:30"`,
		`"2026-11-26T10:15:30.1234567890123-23:59"`, `"2024-02-29T00:00:00Z"`, `"2000-02-29T00:00:00Z"`, `"1900-02-28T00:00:00Z"`,
		`"0001-01-01T00:00:00Z"`, `"9999-12-31T23:59:59+23:59"`, `"2026-11-26T10:15:30"`, `"2026-11-26"`, `"10:15:30Z"`,
		`"2026-11-26T10:15:30+0100"`, `"2026-11-26T10:15:30+01"`, `"2026-11-26t10:15:30Z"`, `"2026-11-26T10:15:30z"`,
		`"2026-11-26 10:15:30Z"`, `"2026-11-26T10:15:30.Z"`, `"2026-11-26T10:15:30,5Z"`, `"2026-11-26T23:59:60Z"`,
		`"2026-12-31T23:59:60Z"`, `"2026-11-26T24:00:00Z"`, `"2026-02-29T00:00:00Z"`, `"1900-02-29T00:00:00Z"`,
		`"2026-11-31T00:00:00Z"`, `"2026-13-01T00:00:00Z"`, `"2026-00-01T00:00:00Z"`, `"2026-11-00T00:00:00Z"`,
		`"0000-01-01T00:00:00Z"`, `"10000-01-01T00:00:00Z"`, `"+2026-11-26T10:15:30Z"`, `"2026-11-26T1:15:30Z"`,
		`"2026-11-26T10:15:30+24:00"`, `"2026-11-26T10:15:30+23:60"`, `"2026-11-26T10:15:30Z\n"`, `" 2026-11-26T10:15:30Z"`,
		`"2026-11-26T10:15:30Z\u0000"`, `"\u0032026-11-26T10:15:30Z"`, `"2026-11-26T10:15:30GMT"`, `"1764150000"`, `1764150000`,
		`"٢٠٢٦-11-26T10:15:30Z"`,
	}
	boolValues = []string{"true", "false", `"true"`, "0", "1"}
	jsonValues = []string{
		"{}", `{"a":"x"}`, `{"a":"\u0000"}`, `{"\u0000":1}`, `{"a":["x",{"b":"\u0000"}]}`, `{"a":"\\u0000"}`,
		`{"a":"\\\u0000"}`, `{"a":"\\\\u0000"}`, `{"a":"\ud83d\ude00"}`, `{"a":"😀"}`, `{"a":"\u00e9\u0001"}`, `{"a":1e400}`,
		`{"a":{"b":{"c":[[[]]]}}}`, `{"a":null}`, `{"a":"x","a":"y"}`, "[]", `"s"`, "1", "true",
	}
	unknownMembers = []member{
		{`"zzz"`, "1"}, {`"zzz"`, `{"a":"\u0000"}`}, {`"\u0000"`, "1"}, {`"a\u0000b"`, `"x"`}, {`"zzz"`, `[1,"\u0000"]`},
		{`"zzz"`, `"\\u0000"`}, {`"zzz"`, `"\ud83d\ude00"`}, {`"zzz"`, "1e400"}, {`"zzz"`, "-0"}, {`"zzz"`, "null"},
		{`"extra_fields"`, `"x"`}, {`"message_id"`, "1"}, {`"Event_id"`, `"x"`}, {`"event_id "`, `"x"`}, {`""`, `""`},
	}
)

// int64Values returns the integer literals to try on an int64 field: its
// bounds and one past them, and the int64 range.
func int64Values(f schema.Field) []string {
	vs := []string{"0", "-0", "1", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"-9223372036854775809", "18446744073709551616", "1e400", "-1e400", "0.5"}
	for _, b := range []*float64{f.Min, f.Max} {
		if b == nil || math.Abs(*b) > 1e18 {
			continue
		}
		n := int64(*b)
		vs = append(vs, strconv.FormatInt(n-1, 10), strconv.FormatInt(n, 10), strconv.FormatInt(n+1, 10))
	}
	return vs
}

// float64Values returns the numbers to try on a float64 field: its bounds
// and just past them, and the edges of the finite float64 range.
func float64Values(f schema.Field) []string {
	limit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 1024), new(big.Int).Lsh(big.NewInt(1), 970))
	below := new(big.Int).Sub(limit, big.NewInt(1))
	vs := []string{"0", "-0", "0.5", "-0.5", "1e308", "-1e308", "1.7976931348623157e308", "-1.7976931348623157e308",
		"1e309", "-1e309", "1e400", below.String(), "-" + below.String(), limit.String(), "-" + limit.String(),
		"5e-324", "1e-400", "123456789012345678901234567890", "1E2"}
	for _, b := range []*float64{f.Min, f.Max} {
		if b == nil {
			continue
		}
		for _, d := range []float64{-1, -0.001, 0, 0.001, 1} {
			vs = append(vs, strconv.FormatFloat(*b+d, 'g', -1, 64))
		}
	}
	return vs
}

// stringValues returns the strings to try on a string field: around its
// max_length counted in code points (not bytes, not UTF-16 units), its
// enum values and near misses, NUL, escapes.
func stringValues(f schema.Field) []string {
	vs := []string{`""`, `"a\u0000b"`, `"\u0000"`, `"\\u0000"`, `"tab\tnew\nline"`, `"\ud800"`, `"x\udc00y"`, `"\u00e9"`, `"\"quoted\""`}
	if n := f.MaxLength; n > 0 {
		for _, k := range []int{n - 1, n, n + 1} {
			vs = append(vs,
				jsonString(strings.Repeat("a", k)),
				`"`+strings.Repeat("é", k)+`"`,            // 2 bytes each
				`"`+strings.Repeat("😀", k)+`"`,            // 4 bytes, 2 UTF-16 units each
				`"`+strings.Repeat(`\ud83d\ude00`, k)+`"`, // the same, escaped
				`"`+strings.Repeat(`\u00e9`, k)+`"`,
			)
		}
	} else {
		vs = append(vs, jsonString(strings.Repeat("long ", 2000)))
	}
	for _, e := range f.Enum {
		vs = append(vs, jsonString(e), jsonString(e+" "), jsonString(strings.ToUpper(e)), jsonString(e+"\x00"))
		if r, size := utf8.DecodeRuneInString(e); size > 0 && r < 0x10000 {
			vs = append(vs, fmt.Sprintf(`"\u%04x%s"`, r, e[size:])) // the same value, escaped
		}
	}
	return vs
}

// edgeCases mutates a valid body of lt field by field, and adds unknown
// members and log_type members. Each is judged against lt only.
func edgeCases(lt *schema.LogType) []corpusBody {
	base := baseMembers(lt)
	var out []corpusBody
	add := func(what string, ms []member) {
		out = append(out, corpusBody{origin: "edge case: " + what, body: object(ms), only: lt.String()})
	}
	add("every field set", base)
	var required []member
	for i, f := range lt.Fields {
		if f.Required {
			required = append(required, base[i])
		}
	}
	add("required fields only", required)
	for _, f := range lt.Fields {
		key := jsonString(f.Name)
		add(f.Name+" missing", with(base, key, ""))
		vs := wrongTypes
		switch f.Type {
		case schema.TypeUUID:
			vs = append(vs, uuidValues...)
		case schema.TypeTimestamp:
			vs = append(vs, timestampValues...)
		case schema.TypeString:
			vs = append(vs, stringValues(f)...)
		case schema.TypeInt64:
			vs = append(vs, int64Values(f)...)
		case schema.TypeFloat64:
			vs = append(vs, float64Values(f)...)
		case schema.TypeBool:
			vs = append(vs, boolValues...)
		case schema.TypeJSON:
			vs = append(vs, jsonValues...)
		}
		for _, v := range vs {
			add(f.Name+" = "+v, with(base, key, v))
		}
		// The same field under an escaped name is the same field.
		escaped := fmt.Sprintf(`"\u%04x%s"`, f.Name[0], f.Name[1:])
		for i, m := range base {
			if m.key == key {
				ms := append([]member(nil), base...)
				ms[i].key = escaped
				add(f.Name+" under the escaped name "+escaped, ms)
			}
		}
	}
	for _, m := range unknownMembers {
		add("unknown member "+m.key+": "+m.raw, append(append([]member(nil), base...), m))
	}
	for _, v := range []string{jsonString(lt.Name), `"other_type"`, `""`, "null", "1", jsonString(strings.ToUpper(lt.Name))} {
		add("log_type = "+v, with(base, `"log_type"`, v))
	}
	return out
}
