// Package parquetrow owns the parquet form of a log type's rows: it derives
// the parquet schema from a schema.LogType's columns, turns decoded events
// plus their lineage into parquet rows, and writes them into files that
// BigQuery and every other reader of the pipeline's bucket understand.
//
// Column types:
//
//	string, uuid, json → BYTE_ARRAY (STRING); json holds the JSON text
//	timestamp          → INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)
//	int64              → INT64 INT(64, signed)
//	float64            → DOUBLE
//	bool               → BOOLEAN
//
// Nullable columns are OPTIONAL, the others REQUIRED. Files of consecutive
// versions of a log type can be read together because a new version only
// adds optional columns, and readers match columns by name.
package parquetrow

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Key/value metadata written into every file's footer.
const (
	MetaLogType        = "log_type"
	MetaLogTypeVersion = "log_type_version"
	MetaWriterVersion  = "writer_version"
)

// Schema is the parquet schema of one log type version, with the mapping
// from its columns to parquet leaf columns.
type Schema struct {
	lt     *schema.LogType
	pq     *parquet.Schema
	leaves []leaf // in parquet leaf column order
}

// leaf describes how to fill one parquet leaf column.
type leaf struct {
	typ      schema.FieldType
	field    int // index into Event.Values, or -1 for lineage
	lineage  string
	optional bool
}

// New derives the parquet schema of a log type version.
func New(lt *schema.LogType) (*Schema, error) {
	cols := lt.Columns()
	group := make(parquet.Group, len(cols))
	for _, c := range cols {
		n, err := node(c.Type)
		if err != nil {
			return nil, fmt.Errorf("log type %s v%d column %s: %w", lt.Name, lt.Version, c.Name, err)
		}
		if c.Nullable {
			n = parquet.Optional(n)
		}
		group[c.Name] = n
	}
	s := &Schema{lt: lt, pq: parquet.NewSchema(lt.Name, group), leaves: make([]leaf, len(cols))}
	// parquet.Group orders its leaves by name: place each column by the
	// index the built schema gives it, not by definition order.
	for _, c := range cols {
		lc, ok := s.pq.Lookup(c.Name)
		if !ok {
			return nil, fmt.Errorf("log type %s v%d: column %s missing from the parquet schema", lt.Name, lt.Version, c.Name)
		}
		l := leaf{typ: c.Type, field: c.Field, optional: c.Nullable}
		if c.Field < 0 {
			l.lineage = c.Name
		}
		s.leaves[lc.ColumnIndex] = l
	}
	return s, nil
}

func node(t schema.FieldType) (parquet.Node, error) {
	switch t {
	case schema.TypeString, schema.TypeUUID, schema.TypeJSON:
		return parquet.String(), nil
	case schema.TypeTimestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, true), nil
	case schema.TypeInt64:
		return parquet.Int(64), nil
	case schema.TypeFloat64:
		return parquet.Leaf(parquet.DoubleType), nil
	case schema.TypeBool:
		return parquet.Leaf(parquet.BooleanType), nil
	}
	return nil, fmt.Errorf("no parquet type for field type %q", t)
}

// LogType returns the log type version the schema was derived from.
func (s *Schema) LogType() *schema.LogType { return s.lt }

// Parquet returns the parquet schema.
func (s *Schema) Parquet() *parquet.Schema { return s.pq }

// Lineage is what a row records about where it came from.
type Lineage struct {
	// MessageID is the SQS message id of the row's message.
	MessageID string
	// ReceivedAt is when Ore received the batch; stored as UTC microseconds.
	ReceivedAt time.Time
	// WriterVersion is the version of the program writing the row.
	WriterVersion string
}

// AppendRow appends ev's parquet row to row[:0] and returns it. ev must have
// been decoded by the schema's log type. The row refers to ev's strings
// without copying them; it is valid as long as ev's values are unchanged.
func (s *Schema) AppendRow(row parquet.Row, ev *schema.Event, lin Lineage) parquet.Row {
	row = row[:0]
	for i, l := range s.leaves {
		var v parquet.Value
		switch {
		case l.field >= 0:
			v = value(l.typ, ev.Values[l.field])
		case l.lineage == schema.ColExtraFields:
			if ev.Extra != nil {
				v = parquet.ByteArrayValue(ev.Extra)
			}
		case l.lineage == schema.ColMessageID:
			v = stringValue(lin.MessageID)
		case l.lineage == schema.ColReceivedAt:
			v = parquet.Int64Value(lin.ReceivedAt.UnixMicro())
		case l.lineage == schema.ColWriterVersion:
			v = stringValue(lin.WriterVersion)
		}
		def := 0
		if l.optional && !v.IsNull() {
			def = 1
		}
		row = append(row, v.Level(0, def, i))
	}
	return row
}

// value converts a decoded value; the zero parquet.Value is null.
func value(t schema.FieldType, v schema.Value) parquet.Value {
	if v.Null {
		return parquet.Value{}
	}
	switch t {
	case schema.TypeTimestamp, schema.TypeInt64:
		return parquet.Int64Value(v.Int)
	case schema.TypeFloat64:
		return parquet.DoubleValue(v.Float)
	case schema.TypeBool:
		return parquet.BooleanValue(v.Int != 0)
	default:
		return stringValue(v.Str)
	}
}

// stringValue refers to s's bytes without copying them: the writer copies
// them into its page buffers and never modifies them.
func stringValue(s string) parquet.Value {
	return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Defaults of WriterOptions, chosen for BigQuery: it recommends pages of at
// most 1 MiB and row groups of at least 16 MiB, and a Lambda batch (at most
// 6 MB of messages) makes a single row group.
const (
	DefaultPageBufferSize     = 1 << 20
	DefaultMaxRowsPerRowGroup = 128 * 1024
)

// WriterOptions configure a Writer. The zero value is the default.
type WriterOptions struct {
	// Codec compresses the pages; nil means zstd (see ParseCodec).
	Codec compress.Codec
	// PageBufferSize bounds the uncompressed size of a page, in bytes.
	PageBufferSize int
	// MaxRowsPerRowGroup bounds a row group's rows, and so the writer's memory.
	MaxRowsPerRowGroup int64
	// WriterVersion is recorded in the file's metadata.
	WriterVersion string
}

// defaultCodec is zstd with a window sized for pages.
var defaultCodec compress.Codec = newZstdCodec()

// ParseCodec returns the compression codec named zstd, snappy, gzip, lz4_raw
// or none (case-insensitive): the ones BigQuery reads.
func ParseCodec(name string) (compress.Codec, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return defaultCodec, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "lz4_raw":
		return &parquet.Lz4Raw, nil
	case "none":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("unknown parquet compression %q: use zstd, snappy, gzip, lz4_raw or none", name)
}

// Writer writes one parquet file of a log type's rows.
type Writer struct {
	s    *Schema
	w    *parquet.Writer
	rows []parquet.Row
}

// NewWriter starts a parquet file on out. Close must be called to finish it.
func NewWriter(out io.Writer, s *Schema, opts WriterOptions) *Writer {
	codec := opts.Codec
	if codec == nil {
		codec = defaultCodec
	}
	pageSize := opts.PageBufferSize
	if pageSize <= 0 {
		pageSize = DefaultPageBufferSize
	}
	maxRows := opts.MaxRowsPerRowGroup
	if maxRows <= 0 {
		maxRows = DefaultMaxRowsPerRowGroup
	}
	w := parquet.NewWriter(out, s.pq,
		parquet.Compression(codec),
		parquet.PageBufferSize(pageSize),
		parquet.MaxRowsPerRowGroup(maxRows),
		// Version 1 data pages: the format every parquet reader supports.
		parquet.DataPageVersion(1),
		parquet.KeyValueMetadata(MetaLogType, s.lt.Name),
		parquet.KeyValueMetadata(MetaLogTypeVersion, strconv.Itoa(s.lt.Version)),
		parquet.KeyValueMetadata(MetaWriterVersion, opts.WriterVersion),
	)
	return &Writer{s: s, w: w, rows: make([]parquet.Row, 1)}
}

// Write writes ev's row.
func (w *Writer) Write(ev *schema.Event, lin Lineage) error {
	w.rows[0] = w.s.AppendRow(w.rows[0], ev, lin)
	if _, err := w.w.WriteRows(w.rows); err != nil {
		return fmt.Errorf("write %s row of message %s: %w", w.s.lt.Name, lin.MessageID, err)
	}
	return nil
}

// Close flushes the rows and writes the file's footer; it does not close the
// underlying writer.
func (w *Writer) Close() error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("finish %s parquet file: %w", w.s.lt.Name, err)
	}
	return nil
}
