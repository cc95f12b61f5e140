package schema

// Lineage columns: added by Ore to every row so a row can be traced back to
// the message it came from. They are not part of a definition's fields.
const (
	// ColExtraFields holds, as a JSON object, every top-level body field the
	// definition does not know; null when there were none. Nothing is dropped.
	ColExtraFields = "extra_fields"
	// ColMessageID is the SQS message id the row was decoded from.
	ColMessageID = "message_id"
	// ColReceivedAt is when Ore received the batch (UTC microseconds); it
	// picks the object's hour partition.
	ColReceivedAt = "received_at"
	// ColWriterVersion is the Ore build that wrote the row.
	ColWriterVersion = "writer_version"
	// ColLoadedAt exists only in Postgres: when Masora committed the row.
	ColLoadedAt = "loaded_at"
)

func isLineage(name string) bool {
	switch name {
	case ColExtraFields, ColMessageID, ColReceivedAt, ColWriterVersion, ColLoadedAt:
		return true
	}
	return false
}

// Column is one column of the derived row: a definition field or a lineage
// column. Parquet files, BigQuery external tables and Postgres row tables all
// have exactly these columns (Postgres adds ColLoadedAt).
type Column struct {
	Name     string
	Type     FieldType
	Nullable bool
	// Field is the index of the definition field, or -1 for lineage columns.
	Field int
}

// Columns returns the row's columns: the definition's fields in order, then
// extra_fields, message_id, received_at and writer_version.
func (lt *LogType) Columns() []Column {
	cols := make([]Column, 0, len(lt.Fields)+4)
	for i, f := range lt.Fields {
		cols = append(cols, Column{Name: f.Name, Type: f.Type, Nullable: !f.Required, Field: i})
	}
	return append(cols,
		Column{Name: ColExtraFields, Type: TypeJSON, Nullable: true, Field: -1},
		Column{Name: ColMessageID, Type: TypeString, Field: -1},
		Column{Name: ColReceivedAt, Type: TypeTimestamp, Field: -1},
		Column{Name: ColWriterVersion, Type: TypeString, Field: -1},
	)
}

// PostgresType is the Postgres column type that stores a field type.
func PostgresType(t FieldType) string {
	switch t {
	case TypeUUID:
		return "uuid"
	case TypeTimestamp:
		return "timestamp with time zone"
	case TypeInt64:
		return "bigint"
	case TypeFloat64:
		return "double precision"
	case TypeBool:
		return "boolean"
	case TypeJSON:
		return "jsonb"
	default:
		return "text"
	}
}
