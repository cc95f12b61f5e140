// Package layout owns the object paths of the pipeline's bucket: it builds and
// parses them, and nobody else formats them.
//
// Parquet files written by Ore live at
//
//	<prefix>/<log_type>/dt=YYYY-MM-DD/hour=HH/<name>.v<N>.parquet
//
// and the bad messages Ore quarantines at
//
//	<prefix>/_quarantine/dt=YYYY-MM-DD/hour=HH/<name>.jsonl
//
// where the hour is the UTC hour in which Ore received the batch, so an hour's
// folder only grows while that hour is current, and <name> is derived from the
// sorted message ids of the objects' rows (see Name), so a retried identical
// batch maps to the same object. <N> is the version of the log type's
// definition the file was written with (1, 2, …), so the files of one
// version can be selected by name alone (gs://…/<log_type>/*.v2.parquet)
// although every version shares the hour folders, and files of different
// versions never share a name.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Kind says what an object holds.
type Kind int

// The kinds of objects in the layout.
const (
	// Data is a parquet file of one log type's rows.
	Data Kind = iota + 1
	// Quarantine is a JSON lines file of bad messages with their reasons.
	Quarantine
)

func (k Kind) String() string {
	switch k {
	case Data:
		return "data"
	case Quarantine:
		return "quarantine"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Extension returns the file name extension of the kind, with its dot.
func (k Kind) Extension() string {
	if k == Quarantine {
		return QuarantineExt
	}
	return DataExt
}

const (
	// DefaultPrefix is the object name prefix inside the bucket that Ore and
	// Masora use when GCS_PREFIX is not set.
	DefaultPrefix = "logs"
	// QuarantineDir is the folder under the prefix that holds quarantined
	// messages. A log type name cannot start with '_', so it never collides.
	QuarantineDir = "_quarantine"
	// ProbeDir is the folder under the prefix where the doctor commands keep
	// their probe objects. Like QuarantineDir it starts with '_', so it never
	// collides with a log type and runs never load it.
	ProbeDir = "_doctor"
	// DataExt is the extension of data objects.
	DataExt = ".parquet"
	// QuarantineExt is the extension of quarantine objects.
	QuarantineExt = ".jsonl"
	// NameLen is the length of an object name: 32 hex digits, 128 bits of a
	// SHA-256 digest.
	NameLen = 32

	dateLayout = "2006-01-02"
)

// ErrMalformed is returned (wrapped) by Parse for a path that is not in the
// layout.
var ErrMalformed = errors.New("object path is not in the pipeline layout")

// Object is a parsed object path.
type Object struct {
	Kind Kind
	// LogType is the log type of a data object; empty for quarantine.
	LogType string
	// Hour is the UTC hour Ore received the batch, truncated to the hour.
	Hour time.Time
	// Version is the version of the log type's definition a data object
	// was written with, 1 or more; 0 for quarantine.
	Version int
	// Name is the object's base name without version and extension.
	Name string
}

// Path returns the object's full path under prefix. A data object's
// Version must be 1 or more.
func (o Object) Path(prefix string) string {
	if o.Kind == Quarantine {
		return HourPrefix(prefix, o.folder(), o.Hour) + o.Name + QuarantineExt
	}
	return HourPrefix(prefix, o.folder(), o.Hour) + o.Name + DataSuffix(o.Version)
}

// DataSuffix returns the end of the name of every data object written with
// version v of its log type's definition, ".v<v>.parquet": with a wildcard
// before it (<log type folder>/*.v2.parquet) it selects one version's files.
func DataSuffix(v int) string { return ".v" + strconv.Itoa(v) + DataExt }

func (o Object) folder() string {
	if o.Kind == Quarantine {
		return QuarantineDir
	}
	return o.LogType
}

// Hour returns t's UTC hour: the partition of a batch received at t.
func Hour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// Name returns the object name for the rows of the given message ids: the
// first 128 bits, in hex, of the SHA-256 of the ids sorted and joined by
// newlines. The order of ids does not matter; ids is not modified.
func Name(ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	h := sha256.New()
	for _, id := range sorted {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:NameLen/2])
}

// DataPath returns the path of a log type's parquet object written with
// version (1 or more) of the log type's definition.
func DataPath(prefix, logType string, version int, hour time.Time, name string) string {
	return Object{Kind: Data, LogType: logType, Version: version, Hour: hour, Name: name}.Path(prefix)
}

// QuarantinePath returns the path of a quarantine object.
func QuarantinePath(prefix string, hour time.Time, name string) string {
	return Object{Kind: Quarantine, Hour: hour, Name: name}.Path(prefix)
}

// LogTypePrefix returns the folder, with a trailing slash, holding every
// object of a log type (or of the quarantine, for QuarantineDir).
func LogTypePrefix(prefix, logType string) string {
	if prefix == "" {
		return logType + "/"
	}
	return strings.TrimSuffix(prefix, "/") + "/" + logType + "/"
}

// HourPrefix returns the hour folder, with a trailing slash, of a log type
// (or of the quarantine, for QuarantineDir) for the hour holding t.
func HourPrefix(prefix, logType string, t time.Time) string {
	h := Hour(t)
	return fmt.Sprintf("%sdt=%s/hour=%02d/", LogTypePrefix(prefix, logType), h.Format(dateLayout), h.Hour())
}

// HourPrefixes returns the hour folders of a log type for every hour from
// the one holding from to the one holding to, both included, oldest first.
// It returns nil if to is before from.
func HourPrefixes(prefix, logType string, from, to time.Time) []string {
	var out []string
	for h, end := Hour(from), Hour(to); !h.After(end); h = h.Add(time.Hour) {
		out = append(out, HourPrefix(prefix, logType, h))
	}
	return out
}

// ProbePath returns the name of the probe parquet file `ore doctor` writes,
// and `masora doctor` reads through an external table, for one schema
// version of a log type: <prefix>/_doctor/<log_type>/v<N>.parquet.
func ProbePath(prefix, logType string, version int) string {
	return LogTypePrefix(prefix, ProbeDir) + logType + "/v" + strconv.Itoa(version) + DataExt
}

// Parse parses the path of an object under prefix. It returns an error
// wrapping ErrMalformed, saying what is wrong, for any path that DataPath or
// QuarantinePath could not have built: among others, a data object whose
// name lacks a version (v1, v2, …; not v0 nor v01) before .parquet.
func Parse(prefix, path string) (Object, error) {
	fail := func(format string, args ...any) (Object, error) {
		return Object{}, fmt.Errorf("%w: %q: %s", ErrMalformed, path, fmt.Sprintf(format, args...))
	}
	rest := path
	if prefix != "" {
		p := strings.TrimSuffix(prefix, "/") + "/"
		var ok bool
		if rest, ok = strings.CutPrefix(path, p); !ok {
			return fail("not under prefix %q", p)
		}
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return fail("want <log_type>/dt=YYYY-MM-DD/hour=HH/<name>, got %d path segments", len(parts))
	}
	var o Object
	if parts[0] == QuarantineDir {
		o.Kind = Quarantine
	} else {
		if !schema.ValidName(parts[0]) {
			return fail("log type %q must be %s", parts[0], schema.NameRule)
		}
		o.Kind, o.LogType = Data, parts[0]
	}
	day, ok := strings.CutPrefix(parts[1], "dt=")
	if !ok {
		return fail("date folder %q must look like dt=YYYY-MM-DD", parts[1])
	}
	d, err := time.Parse(dateLayout, day)
	if err != nil || d.Format(dateLayout) != day {
		return fail("date folder %q must look like dt=YYYY-MM-DD", parts[1])
	}
	hh, ok := strings.CutPrefix(parts[2], "hour=")
	if !ok || len(hh) != 2 || hh[0] < '0' || hh[0] > '2' || hh[1] < '0' || hh[1] > '9' || (hh[0] == '2' && hh[1] > '3') {
		return fail("hour folder %q must look like hour=HH, 00 to 23", parts[2])
	}
	o.Hour = d.Add(time.Duration(int(hh[0]-'0')*10+int(hh[1]-'0')) * time.Hour)
	ext := o.Kind.Extension()
	name, ok := strings.CutSuffix(parts[3], ext)
	if !ok {
		return fail("file %q must end in %s", parts[3], ext)
	}
	if o.Kind == Data {
		dot := strings.LastIndexByte(name, '.')
		if dot < 0 {
			return fail("file %q must look like <name>.v<N>%s, N the schema version", parts[3], DataExt)
		}
		v, ok := parseVersion(name[dot+1:])
		if !ok {
			return fail("version %q of file %q must be v<N>, N 1 or more without leading zeros", name[dot+1:], parts[3])
		}
		name, o.Version = name[:dot], v
	}
	if !validName(name) {
		return fail("file name %q must be %d lower case hex digits", name, NameLen)
	}
	o.Name = name
	return o, nil
}

// maxVersionDigits bounds a version's digits so that it fits an int.
const maxVersionDigits = 9

// parseVersion parses v<N>, N a decimal number from 1 without leading zeros.
func parseVersion(s string) (int, bool) {
	digits, ok := strings.CutPrefix(s, "v")
	if !ok || digits == "" || len(digits) > maxVersionDigits || digits[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func validName(s string) bool {
	if len(s) != NameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
