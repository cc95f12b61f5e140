package bqschema_test

import (
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
