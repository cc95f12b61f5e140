package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// JSONSchemaDraft is the dialect of the documents JSONSchema returns.
const JSONSchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// Patterns of the JSON Schema documents, in the syntax common to ECMA-262
// (what JSON Schema specifies), Go's RE2 and Python's re. They match the
// strings Decode accepts for the field type; each is anchored with ^ and $.
const (
	// NoNULPattern matches a string without the NUL character (U+0000).
	NoNULPattern = `^[^\x00]*$`
	// UUIDPattern matches a UUID in the 8-4-4-4-12 hex form, either case.
	UUIDPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// TimestampPattern matches an RFC 3339 time with an offset, upper case T
	// and Z, years 0001 to 9999, days that exist (leap years included), no
	// leap second, and a fraction of any number of digits.
	TimestampPattern = `^` + datePattern + timePattern + offsetPattern + `$`

	yearPattern     = `(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)`
	datePattern     = `(?:` + yearPattern + `-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))` + `|` + leapYearPattern + `-02-29)`
	leapYearPattern = `(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)`
	timePattern     = `T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?`
	offsetPattern   = `(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])`
)

// NotExpressible lists, in words, the rules Decode enforces that a JSON
// Schema cannot: they are about the JSON text, while JSON Schema sees the
// value a parser made of it. Every document JSONSchema returns says them
// in its root "$comment".
var NotExpressible = []string{
	fmt.Sprintf("the body is at most %d bytes of UTF-8 JSON text", MaxBodyBytes),
	"a field of the definition appears at most once (a JSON parser keeps one of duplicate members without a word)",
	"an int64 field is an integer literal: no fraction or exponent, so 1.0 and 1e2 are refused although JSON Schema's integer accepts them",
	`strings in json fields and unknown fields, member names included, hold no unpaired UTF-16 surrogate escape such as \ud800 (Postgres jsonb refuses them; parsers replace or keep them)`,
}

// jsonSchemaNode is one JSON Schema (sub)document. The field order is the
// order of the keywords in the output.
type jsonSchemaNode struct {
	Schema               string                     `json:"$schema,omitempty"`
	Title                string                     `json:"title,omitempty"`
	Description          string                     `json:"description,omitempty"`
	Comment              string                     `json:"$comment,omitempty"`
	Ref                  string                     `json:"$ref,omitempty"`
	Type                 any                        `json:"type,omitempty"` // a type name or a list of them
	Const                string                     `json:"const,omitempty"`
	Enum                 []any                      `json:"enum,omitempty"`
	Pattern              string                     `json:"pattern,omitempty"`
	MinLength            int                        `json:"minLength,omitempty"`
	MaxLength            int                        `json:"maxLength,omitempty"`
	Minimum              json.Number                `json:"minimum,omitempty"`
	Maximum              json.Number                `json:"maximum,omitempty"`
	ExclusiveMinimum     json.Number                `json:"exclusiveMinimum,omitempty"`
	ExclusiveMaximum     json.Number                `json:"exclusiveMaximum,omitempty"`
	Not                  *jsonSchemaNode            `json:"not,omitempty"`
	AnyOf                []*jsonSchemaNode          `json:"anyOf,omitempty"`
	Properties           jsonSchemaProperties       `json:"properties,omitempty"`
	Required             []string                   `json:"required,omitempty"`
	PropertyNames        *jsonSchemaNode            `json:"propertyNames,omitempty"`
	AdditionalProperties *jsonSchemaNode            `json:"additionalProperties,omitempty"`
	Items                *jsonSchemaNode            `json:"items,omitempty"`
	Defs                 map[string]*jsonSchemaNode `json:"$defs,omitempty"`
}

// jsonSchemaProperties is "properties" in the definition's field order.
type jsonSchemaProperties []jsonSchemaProperty

type jsonSchemaProperty struct {
	name   string
	schema *jsonSchemaNode
}

// MarshalJSON writes the properties as one object, in order.
func (ps jsonSchemaProperties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(p.name)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		s, err := json.Marshal(p.schema)
		if err != nil {
			return nil, err
		}
		b.Write(s)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// jsonDef is the name, in "$defs", of the schema of json field values and
// unknown fields.
const jsonDef = "nul_free_json"

// float64Limit is the smallest magnitude that does not parse as a finite
// float64: 2^1024 - 2^970, half an ULP above math.MaxFloat64.
var float64Limit = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 1024), new(big.Int).Lsh(big.NewInt(1), 970)).String()

// JSONSchema returns a JSON Schema (draft 2020-12) of a message body of this
// log type version, indented, with a final newline: for producers that
// validate in another language what Decode will accept. It accepts exactly
// the bodies Decode accepts, except for the rules in NotExpressible, which
// its root "$comment" states.
func (lt *LogType) JSONSchema() ([]byte, error) {
	doc := &jsonSchemaNode{
		Schema:      JSONSchemaDraft,
		Title:       lt.Name + " v" + strconv.Itoa(lt.Version),
		Description: lt.Description,
		Comment: fmt.Sprintf("Generated from schemas/logtypes/%s/v%d.json by libs/schema (LogType.JSONSchema); do not edit. "+
			"The pipeline's validator also enforces what JSON Schema cannot express: %s.", lt.Name, lt.Version, strings.Join(NotExpressible, "; ")),
		Type:          "object",
		PropertyNames: &jsonSchemaNode{Pattern: NoNULPattern},
		AdditionalProperties: &jsonSchemaNode{
			Comment: "Unknown fields are accepted and kept, as JSON, in the extra_fields column.",
			Ref:     "#/$defs/" + jsonDef,
		},
		Defs: map[string]*jsonSchemaNode{
			jsonDef: {
				Description: "Any JSON value whose strings and member names hold no NUL character (U+0000): the pipeline stores it in Postgres jsonb, which refuses \\u0000. One branch per type, so that validators with strict type checks (ajv) take it without warnings.",
				AnyOf: []*jsonSchemaNode{
					{Type: "string", Pattern: NoNULPattern},
					{Type: "object", PropertyNames: &jsonSchemaNode{Pattern: NoNULPattern}, AdditionalProperties: &jsonSchemaNode{Ref: "#/$defs/" + jsonDef}},
					{Type: "array", Items: &jsonSchemaNode{Ref: "#/$defs/" + jsonDef}},
					{Type: "number"},
					{Type: "boolean"},
					{Type: "null"},
				},
			},
		},
	}
	for _, f := range lt.Fields {
		doc.Properties = append(doc.Properties, jsonSchemaProperty{f.Name, f.jsonSchema()})
		if f.Required {
			doc.Required = append(doc.Required, f.Name)
		}
	}
	doc.Properties = append(doc.Properties, jsonSchemaProperty{FieldLogType, &jsonSchemaNode{
		Description: "Names the log type in the body, for messages sent without the log_type message attribute; not stored.",
		Const:       lt.Name,
	}})
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("JSON Schema of %s: %w", lt, err)
	}
	return append(b, '\n'), nil
}

// jsonSchema returns the schema of the field's value; an optional field may
// also be null.
func (f *Field) jsonSchema() *jsonSchemaNode {
	n := &jsonSchemaNode{Description: f.Description}
	var typ string
	switch f.Type {
	case TypeString:
		typ = "string"
		n.MaxLength = f.MaxLength
		if len(f.Enum) == 0 {
			n.Pattern = NoNULPattern
			break
		}
		for _, e := range f.Enum {
			n.Enum = append(n.Enum, e)
		}
		if !f.Required {
			n.Enum = append(n.Enum, nil)
		}
	case TypeUUID:
		typ = "string"
		n.Pattern, n.MinLength, n.MaxLength = UUIDPattern, 36, 36 // the lengths for validators whose $ matches before a final newline
	case TypeTimestamp:
		typ = "string"
		n.Pattern = TimestampPattern
		n.Not = &jsonSchemaNode{
			Comment: "No newline: for validators whose $ matches before a final newline (Python's re.search).",
			Type:    "string",
			Pattern: `\n`,
		}
	case TypeInt64:
		typ = "integer"
		n.Comment = "An integer literal, without fraction or exponent: see the root $comment."
		n.Minimum, n.Maximum = json.Number(strconv.FormatInt(math.MinInt64, 10)), json.Number(strconv.FormatInt(math.MaxInt64, 10))
		if f.Min != nil && *f.Min > math.MinInt64 {
			n.Minimum = floatNumber(*f.Min)
		}
		if f.Max != nil && *f.Max < math.MaxInt64 {
			n.Maximum = floatNumber(*f.Max)
		}
	case TypeFloat64:
		typ = "number"
		n.ExclusiveMinimum, n.ExclusiveMaximum = json.Number("-"+float64Limit), json.Number(float64Limit)
		if f.Min != nil {
			n.Minimum = floatNumber(*f.Min)
		}
		if f.Max != nil {
			n.Maximum = floatNumber(*f.Max)
		}
		if f.Min != nil || f.Max != nil {
			n.Comment = "The pipeline compares the value rounded to the nearest float64 with the bounds, so a value within a rounding step of a bound may be judged differently."
		}
	case TypeBool:
		typ = "boolean"
	case TypeJSON:
		typ = "object"
		n.Ref = "#/$defs/" + jsonDef
	}
	if f.Required {
		n.Type = typ
	} else {
		n.Type = []string{typ, "null"}
	}
	return n
}

// floatNumber writes x as a JSON number, without exponent.
func floatNumber(x float64) json.Number {
	return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
}
