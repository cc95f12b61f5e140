// Package bqschema owns the BigQuery schema of a log type's rows: the
// explicit schema Masora gives the external tables it creates over Ore's
// parquet files. It is derived from the shared definition through
// schema.LogType.Columns, so the parquet files, the external tables and the
// Postgres row tables always agree.
package bqschema

import (
	"fmt"

	"cloud.google.com/go/bigquery"

	"github.com/ore-masora/pipeline/libs/schema"
)

// FieldType returns the BigQuery type that reads a parquet column of the
// given definition type: uuid and json are stored as text, so they read as
// STRING; timestamps are INT64 microseconds UTC-adjusted, read as TIMESTAMP.
func FieldType(t schema.FieldType) (bigquery.FieldType, error) {
	switch t {
	case schema.TypeString, schema.TypeUUID, schema.TypeJSON:
		return bigquery.StringFieldType, nil
	case schema.TypeTimestamp:
		return bigquery.TimestampFieldType, nil
	case schema.TypeInt64:
		return bigquery.IntegerFieldType, nil
	case schema.TypeFloat64:
		return bigquery.FloatFieldType, nil
	case schema.TypeBool:
		return bigquery.BooleanFieldType, nil
	}
	return "", fmt.Errorf("no BigQuery type for field type %q", t)
}

// Schema returns the BigQuery schema of lt's rows: one field per column of
// lt.Columns, in order, Required unless the column is nullable, with the
// definition's description for definition fields.
func Schema(lt *schema.LogType) (bigquery.Schema, error) {
	cols := lt.Columns()
	out := make(bigquery.Schema, 0, len(cols))
	for _, c := range cols {
		typ, err := FieldType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("%s column %s: %w", lt, c.Name, err)
		}
		f := &bigquery.FieldSchema{Name: c.Name, Type: typ, Required: !c.Nullable}
		if c.Field >= 0 {
			f.Description = lt.Fields[c.Field].Description
		}
		out = append(out, f)
	}
	return out, nil
}
