package bqschema_test

import (
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
)

func TestFieldType(t *testing.T) {
	tests := []struct {
		in      schema.FieldType
		want    bigquery.FieldType
		wantErr bool
	}{
		{in: schema.TypeString, want: bigquery.StringFieldType},
		{in: schema.TypeUUID, want: bigquery.StringFieldType},
		{in: schema.TypeJSON, want: bigquery.StringFieldType},
		{in: schema.TypeTimestamp, want: bigquery.TimestampFieldType},
		{in: schema.TypeInt64, want: bigquery.IntegerFieldType},
		{in: schema.TypeFloat64, want: bigquery.FloatFieldType},
		{in: schema.TypeBool, want: bigquery.BooleanFieldType},
		{in: "decimal", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			got, err := bqschema.FieldType(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("FieldType(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("FieldType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// field is the part of a FieldSchema the schema sets, for comparison.
type field struct {
	Name     string
	Type     bigquery.FieldType
	Required bool
}

func TestSchema(t *testing.T) {
	reg := schema.MustLoad()
	seller, err := reg.Latest("seller_action")
	if err != nil {
		t.Fatal(err)
	}
	userV1, err := reg.Versions("user_action")
	if err != nil {
		t.Fatal(err)
	}
	userV2, err := reg.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	lineage := []field{
		{"extra_fields", bigquery.StringFieldType, false},
		{"message_id", bigquery.StringFieldType, true},
		{"received_at", bigquery.TimestampFieldType, true},
		{"writer_version", bigquery.StringFieldType, true},
	}
	userFields := []field{
		{"event_id", bigquery.StringFieldType, true},
		{"occurred_at", bigquery.TimestampFieldType, true},
		{"source", bigquery.StringFieldType, true},
		{"action", bigquery.StringFieldType, true},
		{"channel", bigquery.StringFieldType, true},
		{"user_id", bigquery.StringFieldType, true},
		{"session_id", bigquery.StringFieldType, false},
		{"product_id", bigquery.StringFieldType, false},
		{"cart_id", bigquery.StringFieldType, false},
		{"order_id", bigquery.StringFieldType, false},
		{"quantity", bigquery.IntegerFieldType, false},
		{"amount_cents", bigquery.IntegerFieldType, false},
		{"currency", bigquery.StringFieldType, false},
	}
	tests := []struct {
		lt   *schema.LogType
		want []field
	}{
		{
			lt:   userV1[0],
			want: concat(userFields, []field{{"attributes", bigquery.StringFieldType, false}}, lineage),
		},
		{
			lt: userV2,
			want: concat(userFields, []field{
				{"app_version", bigquery.StringFieldType, false},
				{"attributes", bigquery.StringFieldType, false},
			}, lineage),
		},
		{
			lt: seller,
			want: concat([]field{
				{"event_id", bigquery.StringFieldType, true},
				{"occurred_at", bigquery.TimestampFieldType, true},
				{"source", bigquery.StringFieldType, true},
				{"action", bigquery.StringFieldType, true},
				{"seller_id", bigquery.StringFieldType, true},
				{"session_id", bigquery.StringFieldType, false},
				{"product_id", bigquery.StringFieldType, false},
				{"order_id", bigquery.StringFieldType, false},
				{"package_id", bigquery.StringFieldType, false},
				{"old_status", bigquery.StringFieldType, false},
				{"new_status", bigquery.StringFieldType, false},
				{"stock", bigquery.IntegerFieldType, false},
				{"attributes", bigquery.StringFieldType, false},
			}, lineage),
		},
	}
	for _, tt := range tests {
		t.Run(tt.lt.String(), func(t *testing.T) {
			s, err := bqschema.Schema(tt.lt)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]field, len(s))
			for i, f := range s {
				got[i] = field{f.Name, f.Type, f.Required}
				if f.Repeated || f.Schema != nil {
					t.Errorf("field %s: Repeated=%v, nested schema %v; want a flat scalar", f.Name, f.Repeated, f.Schema)
				}
				if def, ok := tt.lt.Field(f.Name); ok && f.Description != def.Description {
					t.Errorf("field %s: description %q, want the definition's %q", f.Name, f.Description, def.Description)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Schema(%s) mismatch (-want +got):\n%s", tt.lt, diff)
			}
		})
	}
}

func TestSchemaRejectsUnknownType(t *testing.T) {
	lt := &schema.LogType{Name: "broken", Version: 1, Fields: []schema.Field{{Name: "x", Type: "decimal"}}}
	if _, err := bqschema.Schema(lt); err == nil {
		t.Fatal("Schema accepted a field of unknown type, want an error")
	}
}

func concat(parts ...[]field) []field {
	var out []field
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSQLType(t *testing.T) {
	tests := []struct {
		in      schema.FieldType
		want    string
		wantErr bool
	}{
		{in: schema.TypeString, want: "STRING"},
		{in: schema.TypeUUID, want: "STRING"},
		{in: schema.TypeJSON, want: "STRING"},
		{in: schema.TypeTimestamp, want: "TIMESTAMP"},
		{in: schema.TypeInt64, want: "INT64"},
		{in: schema.TypeFloat64, want: "FLOAT64"},
		{in: schema.TypeBool, want: "BOOL"},
		{in: "decimal", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			got, err := bqschema.SQLType(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SQLType(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("SQLType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// lineageList is the end of every select list: the lineage columns, which
// every version has.
const lineageList = ", extra_fields, message_id, received_at, writer_version"

func TestSelectList(t *testing.T) {
	lt := func(version int, fields ...schema.Field) *schema.LogType {
		return &schema.LogType{Name: "t", Version: version, Fields: fields}
	}
	id := schema.Field{Name: "id", Type: schema.TypeUUID, Required: true}
	tests := []struct {
		name       string
		v, latest  *schema.LogType
		want       string
		wantErrHas string
	}{
		{
			name:   "same version reads every column by name",
			v:      lt(1, id, schema.Field{Name: "n", Type: schema.TypeInt64}),
			latest: lt(1, id, schema.Field{Name: "n", Type: schema.TypeInt64}),
			want:   "id, n" + lineageList,
		},
		{
			name: "missing nullable columns of every type are typed NULLs, in latest's order",
			v:    lt(1, id),
			latest: lt(2, id,
				schema.Field{Name: "s", Type: schema.TypeString},
				schema.Field{Name: "u", Type: schema.TypeUUID},
				schema.Field{Name: "j", Type: schema.TypeJSON},
				schema.Field{Name: "ts", Type: schema.TypeTimestamp},
				schema.Field{Name: "i", Type: schema.TypeInt64},
				schema.Field{Name: "f", Type: schema.TypeFloat64},
				schema.Field{Name: "b", Type: schema.TypeBool}),
			want: "id, CAST(NULL AS STRING) AS s, CAST(NULL AS STRING) AS u, CAST(NULL AS STRING) AS j, " +
				"CAST(NULL AS TIMESTAMP) AS ts, CAST(NULL AS INT64) AS i, CAST(NULL AS FLOAT64) AS f, CAST(NULL AS BOOL) AS b" + lineageList,
		},
		{
			name:   "a column added in the middle",
			v:      lt(1, id, schema.Field{Name: "z", Type: schema.TypeString}),
			latest: lt(3, id, schema.Field{Name: "m", Type: schema.TypeString}, schema.Field{Name: "z", Type: schema.TypeString}),
			want:   "id, CAST(NULL AS STRING) AS m, z" + lineageList,
		},
		{
			name:       "missing required column",
			v:          lt(1, id),
			latest:     lt(2, id, schema.Field{Name: "r", Type: schema.TypeString, Required: true}),
			wantErrHas: "lacks column r",
		},
		{
			name:       "column changed type",
			v:          lt(1, id, schema.Field{Name: "n", Type: schema.TypeString}),
			latest:     lt(2, id, schema.Field{Name: "n", Type: schema.TypeInt64}),
			wantErrHas: "column n is string, but int64",
		},
		{
			name:       "older version has columns latest lacks",
			v:          lt(1, id, schema.Field{Name: "b", Type: schema.TypeString}, schema.Field{Name: "a", Type: schema.TypeString}),
			latest:     lt(2, id),
			wantErrHas: "has columns a, b, which",
		},
		{
			name:       "column name that is not an identifier",
			v:          lt(1, id),
			latest:     lt(2, id, schema.Field{Name: "x y", Type: schema.TypeString}),
			wantErrHas: `column "x y"`,
		},
		{
			name:       "unknown type",
			v:          lt(1, id),
			latest:     lt(2, id, schema.Field{Name: "d", Type: "decimal"}),
			wantErrHas: "column d",
		},
		{
			name:       "other log type",
			v:          &schema.LogType{Name: "other", Version: 1, Fields: []schema.Field{id}},
			latest:     lt(2, id),
			wantErrHas: "not the same log type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bqschema.SelectList(tt.v, tt.latest)
			if tt.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrHas) {
					t.Fatalf("SelectList = %q, %v; want an error mentioning %q", got, err, tt.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SelectList (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSelectListOfDefinitions checks the shipped definitions: every
// version of every log type reads as its latest.
func TestSelectListOfDefinitions(t *testing.T) {
	reg := schema.MustLoad()
	for _, name := range reg.Names() {
		latest, err := reg.Latest(name)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := reg.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			got, err := bqschema.SelectList(v, latest)
			if err != nil {
				t.Errorf("SelectList(%s, %s): %v", v, latest, err)
				continue
			}
			if n := len(strings.Split(got, ", ")); n != len(latest.Columns()) {
				t.Errorf("SelectList(%s, %s) has %d items, want %d: %s", v, latest, n, len(latest.Columns()), got)
			}
			if v.Version == latest.Version && strings.Contains(got, "NULL") {
				t.Errorf("SelectList of the latest version pads columns: %s", got)
			}
		}
	}
}
