// The parquet row format of libs/parquetrow, read back with an independent
// reader (Arrow). These tests live here, beside that reader, so that the libs
// module needs neither Arrow nor this test-support module.

package parquetrowtest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
)

// probeDef is a log type using every field type, required and optional.
const probeDef = `{
  "log_type": "probe", "version": 1, "description": "test", "table": "probes",
  "fields": [
    {"name": "event_id", "type": "uuid", "required": true, "description": ""},
    {"name": "occurred_at", "type": "timestamp", "required": true, "description": ""},
    {"name": "source", "type": "string", "required": true, "description": ""},
    {"name": "count", "type": "int64", "description": ""},
    {"name": "ratio", "type": "float64", "required": true, "description": ""},
    {"name": "maybe_ratio", "type": "float64", "description": ""},
    {"name": "flag", "type": "bool", "required": true, "description": ""},
    {"name": "maybe_flag", "type": "bool", "description": ""},
    {"name": "seen_at", "type": "timestamp", "description": ""},
    {"name": "attributes", "type": "json", "description": ""}
  ],
  "hourly_summary": {"table": "probe_hourly", "dimensions": ["source"], "distinct": "source", "distinct_column": "sources"}
}`

func probe(t *testing.T) *schema.LogType {
	t.Helper()
	reg, err := schema.LoadFS(fstest.MapFS{"defs/probe/v1.json": {Data: []byte(probeDef)}}, "defs")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := reg.Latest("probe")
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

func logType(t *testing.T, name string, version int) *schema.LogType {
	t.Helper()
	vs, err := schema.MustLoad().Versions(name)
	if err != nil {
		t.Fatal(err)
	}
	return vs[version-1]
}

var receivedAt = time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC)

type message struct {
	id   string
	body string
}

// writeFile decodes the messages with lt and writes them into a parquet file.
func writeFile(t *testing.T, lt *schema.LogType, opts parquetrow.WriterOptions, msgs []message) []byte {
	t.Helper()
	s, err := parquetrow.New(lt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := parquetrow.NewWriter(&buf, s, opts)
	var ev schema.Event
	for _, m := range msgs {
		if err := lt.DecodeInto(&ev, []byte(m.body)); err != nil {
			t.Fatalf("decode %s: %v", m.id, err)
		}
		if err := w.Write(&ev, parquetrow.Lineage{MessageID: m.id, ReceivedAt: receivedAt, WriterVersion: "test-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	tsMicros   = "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"
	reqString  = "required BYTE_ARRAY String"
	optString  = "optional BYTE_ARRAY String"
	reqTSMicro = "required INT64 " + tsMicros
)

func TestTypesAndValues(t *testing.T) {
	lt := probe(t)
	msgs := []message{
		{"m-1", `{"event_id":"123E4567-E89B-12D3-A456-426614174000","occurred_at":"2026-11-26T11:00:00.000001+01:00","source":"svc",` +
			`"count":-42,"ratio":0.25,"maybe_ratio":1e300,"flag":true,"maybe_flag":false,"seen_at":"1970-01-01T00:00:00Z",` +
			`"attributes":{"a":[1,"é"]},"unknown":{"x":1},"log_type":"probe"}`},
		{"m-2", `{"event_id":"00000000-0000-0000-0000-000000000002","occurred_at":"1999-12-31T23:59:59Z","source":"",` +
			`"ratio":-0,"flag":false,"maybe_flag":null,"attributes":null}`},
	}
	data := writeFile(t, lt, parquetrow.WriterOptions{}, msgs)

	wantTypes := map[string]string{
		"event_id":       reqString,
		"occurred_at":    reqTSMicro,
		"source":         reqString,
		"count":          "optional INT64 Int(bitWidth=64, isSigned=true)",
		"ratio":          "required DOUBLE None",
		"maybe_ratio":    "optional DOUBLE None",
		"flag":           "required BOOLEAN None",
		"maybe_flag":     "optional BOOLEAN None",
		"seen_at":        "optional INT64 " + tsMicros,
		"attributes":     optString,
		"extra_fields":   optString,
		"message_id":     reqString,
		"received_at":    reqTSMicro,
		"writer_version": reqString,
	}
	if diff := cmp.Diff(wantTypes, parquetrowtest.ColumnTypes(t, data)); diff != "" {
		t.Errorf("column types (-want +got):\n%s", diff)
	}

	recv := receivedAt.UnixMicro()
	want := []map[string]any{{
		"event_id": "123e4567-e89b-12d3-a456-426614174000", "occurred_at": time.Date(2026, 11, 26, 10, 0, 0, 1000, time.UTC).UnixMicro(),
		"source": "svc", "count": int64(-42), "ratio": 0.25, "maybe_ratio": 1e300, "flag": true, "maybe_flag": false,
		"seen_at": int64(0), "attributes": `{"a":[1,"é"]}`, "extra_fields": `{"unknown":{"x":1}}`,
		"message_id": "m-1", "received_at": recv, "writer_version": "test-1",
	}, {
		"event_id": "00000000-0000-0000-0000-000000000002", "occurred_at": time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMicro(),
		"source": "", "count": nil, "ratio": 0.0, "maybe_ratio": nil, "flag": false, "maybe_flag": nil,
		"seen_at": nil, "attributes": nil, "extra_fields": nil,
		"message_id": "m-2", "received_at": recv, "writer_version": "test-1",
	}}
	if diff := cmp.Diff(want, parquetrowtest.Read(t, data, lt)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestMetadataAndCodecs(t *testing.T) {
	lt := logType(t, "user_action", 2)
	msgs := userActions(50, true)
	for _, name := range []string{"zstd", "snappy", "gzip", "lz4_raw", "none", "ZSTD"} {
		codec, err := parquetrow.ParseCodec(name)
		if err != nil {
			t.Fatalf("ParseCodec(%q): %v", name, err)
		}
		data := writeFile(t, lt, parquetrow.WriterOptions{Codec: codec, WriterVersion: "ore v1.2.3"}, msgs)
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: open: %v", name, err)
		}
		md := pf.MetaData()
		kv := md.KeyValueMetadata()
		got := map[string]string{}
		for _, k := range []string{parquetrow.MetaLogType, parquetrow.MetaLogTypeVersion, parquetrow.MetaWriterVersion} {
			if v := kv.FindValue(k); v != nil {
				got[k] = *v
			}
		}
		wantKV := map[string]string{"log_type": "user_action", "log_type_version": "2", "writer_version": "ore v1.2.3"}
		if diff := cmp.Diff(wantKV, got); diff != "" {
			t.Errorf("%s: key/value metadata (-want +got):\n%s", name, diff)
		}
		if md.NumRowGroups() != 1 {
			t.Errorf("%s: %d row groups, want 1", name, md.NumRowGroups())
		}
		col, err := md.RowGroup(0).ColumnChunk(0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.ToLower(col.Compression().String()), map[string]string{"none": "uncompressed"}[strings.ToLower(name)]; want != "" && got != want || want == "" && got != strings.ToLower(name) {
			t.Errorf("%s: column chunk compression is %s", name, got)
		}
		pf.Close()
		if n := len(parquetrowtest.Read(t, data, lt)); n != len(msgs) {
			t.Errorf("%s: read %d rows, want %d", name, n, len(msgs))
		}
	}
	if _, err := parquetrow.ParseCodec("lzo"); err == nil || !strings.Contains(err.Error(), `unknown parquet compression "lzo"`) {
		t.Errorf("ParseCodec(lzo) = %v, want an error naming it", err)
	}
}

func TestRowGroups(t *testing.T) {
	lt := logType(t, "user_action", 2)
	data := writeFile(t, lt, parquetrow.WriterOptions{MaxRowsPerRowGroup: 100}, userActions(250, true))
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	var sizes []int64
	for i := 0; i < pf.NumRowGroups(); i++ {
		sizes = append(sizes, pf.MetaData().RowGroup(i).NumRows())
	}
	if diff := cmp.Diff([]int64{100, 100, 50}, sizes); diff != "" {
		t.Errorf("row group sizes (-want +got):\n%s", diff)
	}
}

// userActions returns n user_action messages; withV2 adds app_version.
func userActions(n int, withV2 bool) []message {
	msgs := make([]message, n)
	for i := range msgs {
		app := ""
		if withV2 && i%3 != 0 {
			app = fmt.Sprintf(`,"app_version":"2.%d"`, i)
		}
		msgs[i] = message{
			id: fmt.Sprintf("msg-%04d", i),
			body: fmt.Sprintf(`{"event_id":"00000000-0000-4000-8000-%012d","occurred_at":"2026-11-26T10:%02d:00Z","source":"web-frontend",`+
				`"action":"added_to_cart","channel":"web","user_id":"u-%d","quantity":%d%s}`, i, i%60, i%7, i, app),
		}
	}
	return msgs
}

// TestSchemaEvolution proves that user_action v1 and v2 files load together:
// a v2 reader reads v1 files (app_version null) and a v1 reader reads v2
// files (app_version ignored), with every other value intact.
func TestSchemaEvolution(t *testing.T) {
	v1, v2 := logType(t, "user_action", 1), logType(t, "user_action", 2)
	if _, ok := v2.Field("app_version"); !ok {
		t.Fatal("user_action v2 has no app_version field; this test needs a field added in v2")
	}
	if _, ok := v1.Field("app_version"); ok {
		t.Fatal("user_action v1 already has app_version")
	}
	v1File := writeFile(t, v1, parquetrow.WriterOptions{}, userActions(3, false))
	v2File := writeFile(t, v2, parquetrow.WriterOptions{}, userActions(3, true))

	row := func(i int, app any, withApp bool) map[string]any {
		r := map[string]any{
			"event_id": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "occurred_at": time.Date(2026, 11, 26, 10, i, 0, 0, time.UTC).UnixMicro(),
			"source": "web-frontend", "action": "added_to_cart", "channel": "web", "user_id": fmt.Sprintf("u-%d", i),
			"session_id": nil, "product_id": nil, "cart_id": nil, "order_id": nil, "quantity": int64(i), "amount_cents": nil,
			"currency": nil, "attributes": nil, "extra_fields": nil, "message_id": fmt.Sprintf("msg-%04d", i),
			"received_at": receivedAt.UnixMicro(), "writer_version": "test-1",
		}
		if withApp {
			r["app_version"] = app
		}
		return r
	}
	tests := []struct {
		desc   string
		data   []byte
		reader *schema.LogType
		want   []map[string]any
	}{
		{"v2 reader, v1 file", v1File, v2, []map[string]any{row(0, nil, true), row(1, nil, true), row(2, nil, true)}},
		{"v2 reader, v2 file", v2File, v2, []map[string]any{row(0, nil, true), row(1, "2.1", true), row(2, "2.2", true)}},
		{"v1 reader, v1 file", v1File, v1, []map[string]any{row(0, nil, false), row(1, nil, false), row(2, nil, false)}},
		{"v1 reader, v2 file", v2File, v1, []map[string]any{row(0, nil, false), row(1, nil, false), row(2, nil, false)}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parquetrowtest.Read(t, tt.data, tt.reader)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.desc, diff)
		}
	}
}

func TestNewRejectsUnknownType(t *testing.T) {
	lt := &schema.LogType{Name: "bad", Version: 1, Fields: []schema.Field{{Name: "x", Type: "decimal"}}}
	_, err := parquetrow.New(lt)
	if err == nil || !strings.Contains(err.Error(), `column x: no parquet type for field type "decimal"`) {
		t.Errorf("New = %v, want an error naming the column and type", err)
	}
}
