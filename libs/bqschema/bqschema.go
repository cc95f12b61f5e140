// Package bqschema owns the BigQuery schema of a log type's rows: the
// explicit schema Masora gives the external tables it creates over Ore's
// parquet files, and the analysts' tables in infra/gcp get, and the select
// list that reads a table of an older version as the latest version (its
// missing columns as typed NULLs), which Masora's per-chunk UNION ALL and
// the analysts' per-log-type view share. It is derived from the shared
// definition through schema.LogType.Columns, so the parquet files, the
// external tables and the Postgres row tables always agree.
package bqschema

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

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

// columnPattern is what a column name must look like to be written into
// SQL unquoted.
var columnPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SelectList returns the select list that reads a table of version v's
// columns as latest's: each of latest's columns in order, by name where v
// has it, else CAST(NULL AS <type>) AS <name>, joined by ", ". v and
// latest must be versions of one log type, and v may only lack nullable
// columns of latest, with the same types for those it has; else it
// returns an error saying which column breaks that.
func SelectList(v, latest *schema.LogType) (string, error) {
	if v.Name != latest.Name {
		return "", fmt.Errorf("select list of %s as %s: not the same log type", v, latest)
	}
	have := make(map[string]schema.Column)
	for _, c := range v.Columns() {
		have[c.Name] = c
	}
	var items []string
	for _, c := range latest.Columns() {
		if !columnPattern.MatchString(c.Name) {
			return "", fmt.Errorf("%s column %q: want letters, digits and underscores", latest, c.Name)
		}
		old, ok := have[c.Name]
		delete(have, c.Name)
		switch {
		case ok && old.Type != c.Type:
			return "", fmt.Errorf("%s column %s is %s, but %s in %s", v, c.Name, old.Type, c.Type, latest)
		case ok:
			items = append(items, c.Name)
		case !c.Nullable:
			return "", fmt.Errorf("%s lacks column %s, which %s requires", v, c.Name, latest)
		default:
			t, err := SQLType(c.Type)
			if err != nil {
				return "", fmt.Errorf("%s column %s: %w", latest, c.Name, err)
			}
			items = append(items, "CAST(NULL AS "+t+") AS "+c.Name)
		}
	}
	if len(have) > 0 {
		extra := make([]string, 0, len(have))
		for name := range have {
			extra = append(extra, name)
		}
		slices.Sort(extra)
		return "", fmt.Errorf("%s has columns %s, which %s lacks", v, strings.Join(extra, ", "), latest)
	}
	return strings.Join(items, ", "), nil
}

// SQLType returns the GoogleSQL type name (STRING, TIMESTAMP, INT64,
// FLOAT64, BOOL) of the column FieldType gives a definition type.
func SQLType(t schema.FieldType) (string, error) {
	ft, err := FieldType(t)
	if err != nil {
		return "", err
	}
	switch ft {
	case bigquery.StringFieldType:
		return "STRING", nil
	case bigquery.TimestampFieldType:
		return "TIMESTAMP", nil
	case bigquery.IntegerFieldType:
		return "INT64", nil
	case bigquery.FloatFieldType:
		return "FLOAT64", nil
	case bigquery.BooleanFieldType:
		return "BOOL", nil
	}
	return "", fmt.Errorf("no GoogleSQL type for BigQuery type %s", ft)
}
