package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBodyBytes is the largest message body the pipeline accepts: 1 MiB,
// the SQS message size limit (Amazon SQS message quotas; it was 256 KiB
// before), which Ore and the producer library agree on. SQS counts message
// attributes toward the same limit, so a producer's body must leave room for
// its log_type attribute.
const MaxBodyBytes = 1024 * 1024

// ErrNotJSON is returned (wrapped) for a body that is not a UTF-8 JSON object.
// The error also wraps ErrNotUTF8 or a *SizeError when that is why.
var ErrNotJSON = errors.New("body is not a JSON object")

// ErrNotUTF8 is returned (wrapped, with ErrNotJSON) for a body that is not
// valid UTF-8 text.
var ErrNotUTF8 = errors.New("not valid UTF-8")

// SizeError is returned (wrapped, with ErrNotJSON) for a body over the size
// limit.
type SizeError struct {
	// Size is the body's size and Limit the largest accepted, in bytes.
	Size, Limit int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%d bytes is over the %d byte limit", e.Size, e.Limit)
}

// FieldError says why one field of a body is invalid.
type FieldError struct {
	Field   string
	Problem string
}

func (e FieldError) String() string { return e.Field + ": " + e.Problem }

// ValidationError lists every invalid field of a body.
type ValidationError struct {
	LogType string
	Fields  []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return fmt.Sprintf("invalid %s message: %s", e.LogType, strings.Join(parts, "; "))
}

// Value is one decoded field. Which member is set depends on the field type:
// Str for string, uuid (lower case) and json (JSON text); Int for int64,
// timestamp (UTC microseconds since the Unix epoch) and bool (0 or 1); Float
// for float64.
type Value struct {
	Null  bool
	Str   string
	Int   int64
	Float float64
}

// Event is a decoded, valid message body.
type Event struct {
	// Values holds one value per definition field, in the definition's order.
	Values []Value
	// Extra is a JSON object of the body's fields the definition does not
	// know, or nil when there were none.
	Extra []byte

	seen []bool
}

// Decode validates body against the log type and returns the decoded event.
// The error is a *ValidationError naming every bad field, or wraps ErrNotJSON.
func (lt *LogType) Decode(body []byte) (*Event, error) {
	ev := new(Event)
	if err := lt.DecodeInto(ev, body); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeInto is Decode reusing ev's memory; ev is valid only if the error is nil.
func (lt *LogType) DecodeInto(ev *Event, body []byte) error {
	if err := checkObject(body); err != nil {
		return err
	}
	n := len(lt.Fields)
	if cap(ev.Values) < n {
		ev.Values = make([]Value, n)
		ev.seen = make([]bool, n)
	}
	ev.Values, ev.seen = ev.Values[:n], ev.seen[:n]
	clear(ev.Values)
	clear(ev.seen)
	ev.Extra = nil

	var problems []FieldError
	s := scanner{b: body}
	s.members(func(rawKey, key, raw []byte) {
		idx, known := lt.index[string(key)]
		if !known {
			if string(key) == FieldLogType {
				if name, ok := stringValue(raw); !ok || name != lt.Name {
					problems = append(problems, FieldError{FieldLogType, fmt.Sprintf("says %s, but the message is a %s", clip(raw), lt.Name)})
				}
				return
			}
			ev.Extra = appendMember(ev.Extra, rawKey, raw)
			return
		}
		if ev.seen[idx] {
			problems = append(problems, FieldError{lt.Fields[idx].Name, "appears more than once"})
			return
		}
		ev.seen[idx] = true
		if p := lt.Fields[idx].parse(raw, &ev.Values[idx]); p != "" {
			problems = append(problems, FieldError{lt.Fields[idx].Name, p})
		}
	})
	for i, f := range lt.Fields {
		if !ev.seen[i] {
			ev.Values[i].Null = true
			if f.Required {
				problems = append(problems, FieldError{f.Name, "is required but missing"})
			}
		}
	}
	if ev.Extra != nil {
		ev.Extra = append(ev.Extra, '}')
		if p := checkEscapes(ev.Extra); p != "" {
			problems = append(problems, FieldError{ColExtraFields, "unknown fields " + p})
		}
	}
	if problems != nil {
		return &ValidationError{LogType: lt.Name, Fields: problems}
	}
	return nil
}

// PeekLogType returns the top-level "log_type" string of a JSON object body,
// for messages that lack the log_type message attribute.
func PeekLogType(body []byte) (string, bool) {
	if checkObject(body) != nil {
		return "", false
	}
	var name string
	var found bool
	s := scanner{b: body}
	s.members(func(_, key, raw []byte) {
		if !found && string(key) == FieldLogType {
			name, found = stringValue(raw)
		}
	})
	return name, found
}

func checkObject(body []byte) error {
	if len(body) > MaxBodyBytes {
		return fmt.Errorf("%w: %w", ErrNotJSON, &SizeError{Size: len(body), Limit: MaxBodyBytes})
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: %w", ErrNotJSON, ErrNotUTF8)
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); b[0] != '{' {
		return fmt.Errorf("%w: top level is %s", ErrNotJSON, clip(b))
	}
	return nil
}

// parse decodes one raw JSON value into v and returns a problem, or "".
func (f *Field) parse(raw []byte, v *Value) string {
	if string(raw) == "null" {
		v.Null = true
		if f.Required {
			return "is required but null"
		}
		return ""
	}
	switch f.Type {
	case TypeString, TypeUUID, TypeTimestamp:
		s, ok := stringValue(raw)
		if !ok {
			return "must be a string, got " + clip(raw)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return "must not contain NUL characters"
		}
		return f.parseString(s, v)
	case TypeInt64:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return "must be an integer, got " + clip(raw)
		}
		v.Int = n
		return f.checkRange(float64(n), raw)
	case TypeFloat64:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return "must be a number, got " + clip(raw)
		}
		x, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return "must be a finite number, got " + clip(raw)
		}
		v.Float = x
		return f.checkRange(x, raw)
	case TypeBool:
		switch string(raw) {
		case "true":
			v.Int = 1
		case "false":
			v.Int = 0
		default:
			return "must be true or false, got " + clip(raw)
		}
	case TypeJSON:
		if raw[0] != '{' {
			return "must be a JSON object, got " + clip(raw)
		}
		if p := checkEscapes(raw); p != "" {
			return p
		}
		v.Str = string(raw)
	}
	return ""
}

func (f *Field) parseString(s string, v *Value) string {
	switch f.Type {
	case TypeUUID:
		u, ok := canonicalUUID(s)
		if !ok {
			return fmt.Sprintf("must be a UUID like 123e4567-e89b-12d3-a456-426614174000, got %q", clipString(s))
		}
		v.Str = u
	case TypeTimestamp:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !rfc3339Shape(s) {
			return fmt.Sprintf("must be an RFC 3339 time with a UTC offset, like 2026-11-26T10:00:00+01:00, got %q", clipString(s))
		}
		if t.Year() < 1 || t.Year() > 9999 {
			return fmt.Sprintf("year %d is out of range", t.Year())
		}
		v.Int = t.UnixMicro()
	default:
		if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
			return fmt.Sprintf("must be at most %d characters, got %d", f.MaxLength, utf8.RuneCountInString(s))
		}
		if len(f.Enum) > 0 && !contains(f.Enum, s) {
			return fmt.Sprintf("must be one of %s, got %q", strings.Join(f.Enum, ", "), clipString(s))
		}
		v.Str = s
	}
	return ""
}

// rfc3339Shape reports whether s has the shape RFC 3339 gives a time with an
// offset: 2006-01-02T15:04:05, optionally '.' and one or more digits, then Z
// or ±hh:mm with hh at most 23 and mm at most 59. time.Parse checks the ranges
// of the other parts but also accepts a one-digit hour, a ',' before the
// fraction and offsets of 24 hours or 60 minutes, which RFC 3339 does not
// (go.dev/issue/54580); the JSON Schema of the log type rejects them too.
func rfc3339Shape(s string) bool {
	const head = "0000-00-00T00:00:00"
	if len(s) <= len(head) {
		return false
	}
	for i := 0; i < len(head); i++ {
		if head[i] == '0' && !isDigit(s[i]) || head[i] != '0' && s[i] != head[i] {
			return false
		}
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5]) &&
		(rest[1] < '2' || rest[1] == '2' && rest[2] <= '3') && rest[4] <= '5'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (f *Field) checkRange(x float64, raw []byte) string {
	if f.Min != nil && x < *f.Min {
		return fmt.Sprintf("must be at least %g, got %s", *f.Min, clip(raw))
	}
	if f.Max != nil && x > *f.Max {
		return fmt.Sprintf("must be at most %g, got %s", *f.Max, clip(raw))
	}
	return ""
}

// checkEscapes rejects the \u escapes that Postgres jsonb refuses: NUL and
// unpaired UTF-16 surrogates. Such a value would make every later load of
// its file fail, so it is refused here, where it can be quarantined.
func checkEscapes(raw []byte) string {
	for i := bytes.Index(raw, []byte(`\u`)); i >= 0; {
		// Count the backslashes before to tell an escape from an escaped backslash.
		n := 0
		for j := i - 1; j >= 0 && raw[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			r, _ := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
			switch {
			case r == 0:
				return "must not contain NUL characters (\\u0000)"
			case r >= 0xD800 && r < 0xDC00:
				if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
					return "must not contain unpaired UTF-16 surrogates"
				}
				lo, _ := strconv.ParseUint(string(raw[i+8:i+12]), 16, 32)
				if lo < 0xDC00 || lo > 0xDFFF {
					return "must not contain unpaired UTF-16 surrogates"
				}
				i += 6
			case r >= 0xDC00 && r <= 0xDFFF:
				return "must not contain unpaired UTF-16 surrogates"
			}
		}
		next := bytes.Index(raw[i+2:], []byte(`\u`))
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// canonicalUUID accepts the 8-4-4-4-12 hex form and returns it in lower case.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	lower := true
	for i := 0; i < 36; i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			lower = false
		default:
			return "", false
		}
	}
	if lower {
		return s, true
	}
	return strings.ToLower(s), true
}

// stringValue unquotes a raw JSON string; ok is false if raw is not a string.
func stringValue(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func appendMember(obj, rawKey, raw []byte) []byte {
	if obj == nil {
		obj = append(make([]byte, 0, len(rawKey)+len(raw)+3), '{')
	} else {
		obj = append(obj, ',')
	}
	obj = append(obj, rawKey...)
	obj = append(obj, ':')
	return append(obj, raw...)
}

const clipLen = 40

func clip(raw []byte) string { return clipString(string(raw)) }

func clipString(s string) string {
	if len(s) <= clipLen {
		return s
	}
	cut := clipLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// scanner walks the top-level members of a JSON object that json.Valid has
// already accepted, without building any intermediate values.
type scanner struct {
	b []byte
	i int
}

// members calls fn for each top-level member with the raw quoted key, the
// unquoted key and the raw value.
func (s *scanner) members(fn func(rawKey, key, raw []byte)) {
	s.ws()
	s.i++ // '{'
	for {
		s.ws()
		if s.b[s.i] == '}' {
			return
		}
		ks := s.i
		s.skipString()
		rawKey := s.b[ks:s.i]
		key := rawKey[1 : len(rawKey)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(rawKey, &k) // valid JSON string: cannot fail
			key = []byte(k)
		}
		s.ws()
		s.i++ // ':'
		s.ws()
		vs := s.i
		s.skipValue()
		fn(rawKey, key, s.b[vs:s.i])
		s.ws()
		if s.b[s.i] == ',' {
			s.i++
		}
	}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) skipString() {
	s.i++ // opening quote
	for {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		default:
			s.i++
		}
	}
}

func (s *scanner) skipValue() {
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			s.i++
		}
	}
}
