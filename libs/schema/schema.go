// Package schema is the Go view of the log type definitions in schemas/: it
// loads them, validates message bodies against them and derives the column
// list that the parquet files, the BigQuery external tables and the Postgres
// row tables are built from. It is the only place that interprets the
// definition files.
package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ore-masora/pipeline/schemas"
)

// FieldType is the type of a field in a log type definition.
type FieldType string

// The field types a definition may use.
const (
	TypeString    FieldType = "string"    // JSON string
	TypeUUID      FieldType = "uuid"      // JSON string holding a canonical UUID
	TypeTimestamp FieldType = "timestamp" // JSON string, RFC 3339 with offset; stored as UTC microseconds
	TypeInt64     FieldType = "int64"     // JSON integer
	TypeFloat64   FieldType = "float64"   // JSON number
	TypeBool      FieldType = "bool"      // JSON true/false
	TypeJSON      FieldType = "json"      // JSON object, stored as JSON text
)

func (t FieldType) valid() bool {
	switch t {
	case TypeString, TypeUUID, TypeTimestamp, TypeInt64, TypeFloat64, TypeBool, TypeJSON:
		return true
	}
	return false
}

// Field is one field of a log type, as written in its definition file.
type Field struct {
	Name        string    `json:"name"`
	Type        FieldType `json:"type"`
	Required    bool      `json:"required"`
	Description string    `json:"description"`
	// Enum, when set, lists the only values a string field may take.
	Enum []string `json:"enum,omitempty"`
	// MaxLength, when positive, bounds a string field's length in characters.
	MaxLength int `json:"max_length,omitempty"`
	// Min and Max, when set, bound a numeric field (inclusive).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// HourlySummary describes the hourly report table a log type feeds: one row
// per occurred_at hour and combination of Dimensions, with the event count and
// the number of distinct values of Distinct.
type HourlySummary struct {
	Table          string   `json:"table"`
	Dimensions     []string `json:"dimensions"`
	Distinct       string   `json:"distinct"`
	DistinctColumn string   `json:"distinct_column"`
}

// LogType is one version of one log type.
type LogType struct {
	Name        string        `json:"log_type"`
	Version     int           `json:"version"`
	Description string        `json:"description"`
	Table       string        `json:"table"`
	Fields      []Field       `json:"fields"`
	Summary     HourlySummary `json:"hourly_summary"`

	index map[string]int
}

// Field returns the field called name and whether it exists.
func (lt *LogType) Field(name string) (Field, bool) {
	i, ok := lt.index[name]
	if !ok {
		return Field{}, false
	}
	return lt.Fields[i], true
}

// String returns "name/vN".
func (lt *LogType) String() string { return lt.Name + "/v" + strconv.Itoa(lt.Version) }

// ErrUnknownLogType is returned (wrapped) for a log type with no definition.
var ErrUnknownLogType = errors.New("unknown log type")

// Registry holds every version of every log type.
type Registry struct {
	versions map[string][]*LogType // ascending by version
}

// Load reads the definitions embedded from schemas/.
func Load() (*Registry, error) {
	return LoadFS(schemas.LogTypes, "logtypes")
}

// MustLoad is Load for program start-up and tests: the embedded definitions
// are checked by this package's tests, so an error here is a build defect.
func MustLoad() *Registry {
	r, err := Load()
	if err != nil {
		panic(err)
	}
	return r
}

var (
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	filePattern = regexp.MustCompile(`^v([1-9][0-9]*)\.json$`)
)

// NameRule says in words what ValidName accepts, for error messages.
const NameRule = "lower case letters, digits and '_', starting with a letter, at most 63 characters"

// ValidName reports whether s is a valid name of a log type, table or field:
// lower case letters, digits and '_', starting with a letter, at most 63
// characters (a PostgreSQL identifier that needs no quoting, and a BigQuery
// column and table name). It is the one rule every part applies to log type
// names, including the object layout.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// LoadFS reads definitions laid out as <root>/<log_type>/v<N>.json in fsys.
func LoadFS(fsys fs.FS, root string) (*Registry, error) {
	dirs, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("read log type definitions: %w", err)
	}
	r := &Registry{versions: make(map[string][]*LogType)}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := fs.ReadDir(fsys, path.Join(root, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("read log type %s: %w", d.Name(), err)
		}
		for _, f := range files {
			m := filePattern.FindStringSubmatch(f.Name())
			if m == nil {
				continue
			}
			p := path.Join(root, d.Name(), f.Name())
			lt, err := parseDefinition(fsys, p)
			if err != nil {
				return nil, err
			}
			if lt.Name != d.Name() || strconv.Itoa(lt.Version) != m[1] {
				return nil, fmt.Errorf("%s: declares %s, want %s/v%s", p, lt, d.Name(), m[1])
			}
			r.versions[lt.Name] = append(r.versions[lt.Name], lt)
		}
	}
	if len(r.versions) == 0 {
		return nil, fmt.Errorf("no log type definitions under %s", root)
	}
	for name, vs := range r.versions {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
		if err := checkEvolution(vs); err != nil {
			return nil, fmt.Errorf("log type %s: %w", name, err)
		}
	}
	return r, nil
}

func parseDefinition(fsys fs.FS, p string) (*LogType, error) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var lt LogType
	if err := dec.Decode(&lt); err != nil {
		return nil, fmt.Errorf("parse %s: %w", p, err)
	}
	if err := lt.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &lt, nil
}

// requiredFields are the fields every log type must declare, with their types.
var requiredFields = map[string]FieldType{
	FieldEventID:    TypeUUID,
	FieldOccurredAt: TypeTimestamp,
	FieldSource:     TypeString,
}

// Names of the fields every log type has.
const (
	FieldEventID    = "event_id"
	FieldOccurredAt = "occurred_at"
	FieldSource     = "source"
	// FieldLogType may appear in a body to name its log type when the
	// message attribute is missing; it is an envelope field, not stored.
	FieldLogType = "log_type"
)

// AttributeLogType is the SQS String message attribute that names a
// message's log type; producers set it and Ore routes on it without parsing
// the body.
const AttributeLogType = "log_type"

func (lt *LogType) check() error {
	if !ValidName(lt.Name) {
		return fmt.Errorf("log_type %q: must match %s", lt.Name, namePattern)
	}
	if !ValidName(lt.Table) {
		return fmt.Errorf("table %q: must match %s", lt.Table, namePattern)
	}
	lt.index = make(map[string]int, len(lt.Fields))
	for i, f := range lt.Fields {
		switch {
		case !ValidName(f.Name):
			return fmt.Errorf("field %q: name must match %s", f.Name, namePattern)
		case !f.Type.valid():
			return fmt.Errorf("field %s: unknown type %q", f.Name, f.Type)
		case isLineage(f.Name) || f.Name == FieldLogType:
			return fmt.Errorf("field %s: name is reserved", f.Name)
		case len(f.Enum) > 0 && f.Type != TypeString:
			return fmt.Errorf("field %s: enum is only for string fields", f.Name)
		}
		if _, dup := lt.index[f.Name]; dup {
			return fmt.Errorf("field %s: declared twice", f.Name)
		}
		lt.index[f.Name] = i
	}
	for name, typ := range requiredFields {
		f, ok := lt.Field(name)
		if !ok || f.Type != typ || !f.Required {
			return fmt.Errorf("every log type needs the required %s field %s", typ, name)
		}
	}
	s := lt.Summary
	if s.Table == "" || s.DistinctColumn == "" {
		return errors.New("hourly_summary: table and distinct_column are required")
	}
	for _, d := range append(slices.Clone(s.Dimensions), s.Distinct) {
		if f, ok := lt.Field(d); !ok || !f.Required || f.Type != TypeString {
			return fmt.Errorf("hourly_summary: %q must be a required string field", d)
		}
	}
	return nil
}

// checkEvolution enforces the compatibility rule between consecutive
// versions: a new version keeps every field of the previous one unchanged and
// may only add optional fields, so old files and old readers keep working.
func checkEvolution(vs []*LogType) error {
	for i := 1; i < len(vs); i++ {
		prev, cur := vs[i-1], vs[i]
		if cur.Version != prev.Version+1 {
			return fmt.Errorf("versions must be consecutive, found v%d after v%d", cur.Version, prev.Version)
		}
		if cur.Table != prev.Table {
			return fmt.Errorf("v%d changes the table from %s to %s", cur.Version, prev.Table, cur.Table)
		}
		for _, pf := range prev.Fields {
			cf, ok := cur.Field(pf.Name)
			if !ok {
				return fmt.Errorf("v%d removes field %s", cur.Version, pf.Name)
			}
			if cf.Type != pf.Type || cf.Required != pf.Required {
				return fmt.Errorf("v%d changes the type or requiredness of %s", cur.Version, pf.Name)
			}
		}
		for _, cf := range cur.Fields {
			if _, ok := prev.Field(cf.Name); !ok && cf.Required {
				return fmt.Errorf("v%d adds required field %s; new fields must be optional", cur.Version, cf.Name)
			}
		}
	}
	return nil
}

// Names returns the log type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.versions))
	for n := range r.versions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownLogTypeError returns the error, wrapping ErrUnknownLogType, for a
// log type name that is not one of known.
func UnknownLogTypeError(name string, known []string) error {
	return fmt.Errorf("%w %q (known: %s)", ErrUnknownLogType, name, strings.Join(known, ", "))
}

// Latest returns the newest version of the named log type.
func (r *Registry) Latest(name string) (*LogType, error) {
	vs, ok := r.versions[name]
	if !ok {
		return nil, UnknownLogTypeError(name, r.Names())
	}
	return vs[len(vs)-1], nil
}

// Versions returns every version of the named log type, oldest first.
func (r *Registry) Versions(name string) ([]*LogType, error) {
	vs, ok := r.versions[name]
	if !ok {
		return nil, UnknownLogTypeError(name, r.Names())
	}
	return slices.Clone(vs), nil
}
