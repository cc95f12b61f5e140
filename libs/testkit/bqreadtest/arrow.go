package bqreadtest

import (
	"bytes"
	"fmt"
	"math/big"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// encoder writes rows of one BigQuery schema as Arrow IPC messages, the
// encapsulated messages the protocol carries: ArrowSchema.serialized_schema
// (a Schema message) and ArrowRecordBatch.serialized_record_batch (a
// RecordBatch message, without the schema).
type encoder struct {
	schema      *arrow.Schema
	bq          bigquery.Schema
	schemaBytes []byte
}

// jsonMetadata marks a JSON column, as BigQuery does: an Arrow extension
// name on a utf8 field.
var jsonMetadata = arrow.NewMetadata([]string{"ARROW:extension:name"}, []string{"google:sqlType:json"})

// ArrowType returns the Arrow type BigQuery's Storage Read API uses for a
// column of BigQuery type t (https://cloud.google.com/bigquery/docs/reference/storage#arrow_schema_details).
// Repeated and record columns, BIGNUMERIC, INTERVAL and RANGE are not
// supported.
func ArrowType(t bigquery.FieldType) (arrow.DataType, error) {
	switch t {
	case bigquery.StringFieldType, bigquery.JSONFieldType, bigquery.GeographyFieldType:
		return arrow.BinaryTypes.String, nil
	case bigquery.BytesFieldType:
		return arrow.BinaryTypes.Binary, nil
	case bigquery.IntegerFieldType:
		return arrow.PrimitiveTypes.Int64, nil
	case bigquery.FloatFieldType:
		return arrow.PrimitiveTypes.Float64, nil
	case bigquery.BooleanFieldType:
		return arrow.FixedWidthTypes.Boolean, nil
	case bigquery.TimestampFieldType:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case bigquery.DateFieldType:
		return arrow.FixedWidthTypes.Date32, nil
	case bigquery.DateTimeFieldType:
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	case bigquery.TimeFieldType:
		return arrow.FixedWidthTypes.Time64us, nil
	case bigquery.NumericFieldType:
		return &arrow.Decimal128Type{Precision: 38, Scale: 9}, nil
	}
	return nil, fmt.Errorf("BigQuery type %s is not supported by bqreadtest", t)
}

func newEncoder(bq bigquery.Schema) (*encoder, error) {
	fields := make([]arrow.Field, len(bq))
	for i, f := range bq {
		if f.Repeated || len(f.Schema) > 0 {
			return nil, fmt.Errorf("column %s: repeated and record columns are not supported by bqreadtest", f.Name)
		}
		t, err := ArrowType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: !f.Required}
		if f.Type == bigquery.JSONFieldType {
			fields[i].Metadata = jsonMetadata
		}
	}
	e := &encoder{schema: arrow.NewSchema(fields, nil), bq: bq}
	p := ipc.GetSchemaPayload(e.schema, memory.DefaultAllocator)
	defer p.Release()
	var buf bytes.Buffer
	if _, err := p.WritePayload(&buf); err != nil {
		return nil, fmt.Errorf("serialize Arrow schema: %w", err)
	}
	e.schemaBytes = buf.Bytes()
	return e, nil
}

// recordBatch encodes rows as one serialized record batch.
func (e *encoder) recordBatch(rows [][]bigquery.Value) ([]byte, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, e.schema)
	defer b.Release()
	b.Reserve(len(rows))
	for _, row := range rows {
		if len(row) != len(e.bq) {
			return nil, fmt.Errorf("row has %d values, the schema %d columns", len(row), len(e.bq))
		}
		for j, v := range row {
			if err := appendValue(b.Field(j), v); err != nil {
				return nil, fmt.Errorf("column %s: %w", e.bq[j].Name, err)
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	p, err := ipc.GetRecordBatchPayload(rec)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	var buf bytes.Buffer
	if _, err := p.WritePayload(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ninePlaces scales a NUMERIC to its Arrow decimal128(38, 9) integer.
var ninePlaces = new(big.Rat).SetInt64(1_000_000_000)

// appendValue appends one value, as the BigQuery client decodes it from
// tabledata.list, to the column's builder.
func appendValue(b array.Builder, v bigquery.Value) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	ok := true
	switch b := b.(type) {
	case *array.StringBuilder:
		var s string
		s, ok = v.(string)
		b.Append(s)
	case *array.BinaryBuilder:
		var p []byte
		p, ok = v.([]byte)
		b.Append(p)
	case *array.Int64Builder:
		var i int64
		i, ok = v.(int64)
		b.Append(i)
	case *array.Float64Builder:
		var f float64
		f, ok = v.(float64)
		b.Append(f)
	case *array.BooleanBuilder:
		var x bool
		x, ok = v.(bool)
		b.Append(x)
	case *array.TimestampBuilder:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case civil.DateTime:
			t = x.In(time.UTC)
		default:
			ok = false
		}
		b.Append(arrow.Timestamp(t.UnixMicro()))
	case *array.Date32Builder:
		var d civil.Date
		d, ok = v.(civil.Date)
		b.Append(arrow.Date32FromTime(d.In(time.UTC)))
	case *array.Time64Builder:
		var t civil.Time
		t, ok = v.(civil.Time)
		micros := (int64(t.Hour)*3600+int64(t.Minute)*60+int64(t.Second))*1_000_000 + int64(t.Nanosecond/1000)
		b.Append(arrow.Time64(micros))
	case *array.Decimal128Builder:
		r, isRat := v.(*big.Rat)
		if !isRat {
			ok = false
			break
		}
		scaled := new(big.Rat).Mul(r, ninePlaces)
		if !scaled.IsInt() {
			return fmt.Errorf("NUMERIC %s has more than 9 decimal places", r.FloatString(12))
		}
		b.Append(decimal128.FromBigInt(scaled.Num()))
	default:
		return fmt.Errorf("no Arrow encoding for %T", b)
	}
	if !ok {
		return fmt.Errorf("value %v of Go type %T does not fit the column", v, v)
	}
	return nil
}
