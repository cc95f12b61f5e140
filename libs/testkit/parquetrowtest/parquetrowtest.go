// Package parquetrowtest reads parquet files in tests with an independent
// reader, Apache Arrow's Go parquet package, so that what parquet-go writes
// is checked by another implementation.
package parquetrowtest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Read reads a parquet file as a reader that knows the columns of lt would:
// it looks each column up by name, ignores the file's other columns and
// reads a nullable column the file lacks as nulls. Each row maps column
// names to string, int64 (timestamps too, in microseconds), float64, bool
// or nil.
func Read(t testing.TB, data []byte, lt *schema.LogType) []map[string]any {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parquetrowtest: open parquet file: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("parquetrowtest: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("parquetrowtest: read table: %v", err)
	}
	defer tbl.Release()
	rows := make([]map[string]any, tbl.NumRows())
	for i := range rows {
		rows[i] = map[string]any{}
	}
	for _, c := range lt.Columns() {
		idx := tbl.Schema().FieldIndices(c.Name)
		if len(idx) == 0 {
			if !c.Nullable {
				t.Fatalf("parquetrowtest: file lacks required column %s", c.Name)
			}
			for _, r := range rows {
				r[c.Name] = nil
			}
			continue
		}
		i := 0
		for _, chunk := range tbl.Column(idx[0]).Data().Chunks() {
			for j := 0; j < chunk.Len(); j, i = j+1, i+1 {
				rows[i][c.Name] = value(t, chunk, j)
			}
		}
	}
	return rows
}

func value(t testing.TB, a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	}
	t.Fatalf("parquetrowtest: unexpected arrow type %s", a.DataType())
	return nil
}

// ColumnTypes describes each column of a parquet file as
// "<repetition> <physical type> <logical type>", for example
// "required INT64 Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, ...)".
func ColumnTypes(t testing.TB, data []byte) map[string]string {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parquetrowtest: open parquet file: %v", err)
	}
	defer pf.Close()
	sc := pf.MetaData().Schema
	types := map[string]string{}
	for i := 0; i < sc.NumColumns(); i++ {
		c := sc.Column(i)
		types[c.Name()] = fmt.Sprintf("%s %s %s", c.SchemaNode().RepetitionType(), c.PhysicalType(), c.LogicalType())
	}
	return types
}

// Metadata returns the file's key/value metadata.
func Metadata(t testing.TB, data []byte) map[string]string {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parquetrowtest: open parquet file: %v", err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	out := map[string]string{}
	for i, k := range kv.Keys() {
		out[k] = kv.Values()[i]
	}
	return out
}
