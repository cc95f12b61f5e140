package schema_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
)

func TestEmbeddedDefinitions(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff([]string{"seller_action", "user_action"}, reg.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	vs, err := reg.Versions("user_action")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 {
		t.Fatalf("user_action versions = %v, want v1 and v2", vs)
	}
	if _, ok := vs[0].Field("app_version"); ok {
		t.Error("user_action v1 has app_version; it was added in v2")
	}
	if f, ok := vs[1].Field("app_version"); !ok || f.Required {
		t.Errorf("user_action v2 app_version = %+v, %v; want an optional field", f, ok)
	}
	_, err = reg.Latest("page_view")
	if !errors.Is(err, schema.ErrUnknownLogType) || !strings.Contains(err.Error(), "known: seller_action, user_action") {
		t.Errorf("Latest(page_view) error = %v, want ErrUnknownLogType listing the known types", err)
	}
}

func TestColumns(t *testing.T) {
	lt, err := schema.MustLoad().Latest("seller_action")
	if err != nil {
		t.Fatal(err)
	}
	cols := lt.Columns()
	if len(cols) != len(lt.Fields)+4 {
		t.Fatalf("%d columns for %d fields, want fields + 4 lineage columns", len(cols), len(lt.Fields))
	}
	want := []schema.Column{
		{Name: "extra_fields", Type: schema.TypeJSON, Nullable: true, Field: -1},
		{Name: "message_id", Type: schema.TypeString, Field: -1},
		{Name: "received_at", Type: schema.TypeTimestamp, Field: -1},
		{Name: "writer_version", Type: schema.TypeString, Field: -1},
	}
	if diff := cmp.Diff(want, cols[len(lt.Fields):]); diff != "" {
		t.Errorf("lineage columns (-want +got):\n%s", diff)
	}
	if c := cols[0]; c.Name != "event_id" || c.Nullable || c.Field != 0 {
		t.Errorf("first column = %+v, want the required event_id field", c)
	}
}

const baseDef = `{"log_type":"t","version":1,"table":"ts","description":"d",
 "hourly_summary":{"table":"t_hourly","dimensions":["kind"],"distinct":"who","distinct_column":"whos"},
 "fields":[
  {"name":"event_id","type":"uuid","required":true},
  {"name":"occurred_at","type":"timestamp","required":true},
  {"name":"source","type":"string","required":true},
  {"name":"kind","type":"string","required":true},
  {"name":"who","type":"string","required":true}%s]}`

func def(extraFields string) string {
	return strings.Replace(baseDef, "%s", extraFields, 1)
}

func TestLoadFSRejectsBadDefinitions(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		wantIn string
	}{
		{"unknown type", map[string]string{"t/v1.json": def(`,{"name":"x","type":"decimal"}`)}, `field x: unknown type "decimal"`},
		{"reserved name", map[string]string{"t/v1.json": def(`,{"name":"received_at","type":"string"}`)}, "field received_at: name is reserved"},
		{"duplicate field", map[string]string{"t/v1.json": def(`,{"name":"kind","type":"string"}`)}, "field kind: declared twice"},
		{"bad name", map[string]string{"t/v1.json": def(`,{"name":"Bad-Name","type":"string"}`)}, `field "Bad-Name": name must match`},
		{"enum on int", map[string]string{"t/v1.json": def(`,{"name":"n","type":"int64","enum":["1"]}`)}, "enum is only for string fields"},
		{"unknown key", map[string]string{"t/v1.json": strings.Replace(def(""), `"version":1`, `"version":1,"colour":"red"`, 1)}, `unknown field "colour"`},
		{"missing event_id", map[string]string{"t/v1.json": strings.Replace(def(""), `"event_id"`, `"id"`, 1)}, "needs the required uuid field event_id"},
		{"file name mismatch", map[string]string{"t/v2.json": def("")}, "declares t/v1, want t/v2"},
		{"summary on optional", map[string]string{"t/v1.json": strings.Replace(def(""), `{"name":"who","type":"string","required":true}`, `{"name":"who","type":"string"}`, 1)}, `hourly_summary: "who" must be a required string field`},
		{
			"evolution adds required field",
			map[string]string{"t/v1.json": def(""), "t/v2.json": strings.Replace(def(`,{"name":"n","type":"int64","required":true}`), `"version":1`, `"version":2`, 1)},
			"v2 adds required field n; new fields must be optional",
		},
		{
			"evolution removes field",
			map[string]string{"t/v1.json": def(`,{"name":"n","type":"int64"}`), "t/v2.json": strings.Replace(def(""), `"version":1`, `"version":2`, 1)},
			"v2 removes field n",
		},
		{
			"evolution changes type",
			map[string]string{"t/v1.json": def(`,{"name":"n","type":"int64"}`), "t/v2.json": strings.Replace(def(`,{"name":"n","type":"string"}`), `"version":1`, `"version":2`, 1)},
			"v2 changes the type or requiredness of n",
		},
		{"empty", map[string]string{"README": "x"}, "no log type definitions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range tc.files {
				fsys["defs/"+name] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := schema.LoadFS(fsys, "defs")
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("LoadFS error = %v, want one containing %q", err, tc.wantIn)
			}
		})
	}
}

func TestLoadFSAcceptsOptionalAddition(t *testing.T) {
	fsys := fstest.MapFS{
		"defs/t/v1.json": {Data: []byte(def(""))},
		"defs/t/v2.json": {Data: []byte(strings.Replace(def(`,{"name":"n","type":"int64"}`), `"version":1`, `"version":2`, 1))},
	}
	reg, err := schema.LoadFS(fsys, "defs")
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	lt, err := reg.Latest("t")
	if err != nil || lt.Version != 2 {
		t.Fatalf("Latest = %v, %v; want v2", lt, err)
	}
}
