package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/parquet-go/parquet-go"

	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

// footerReadSize is how much of an object's end Inspect reads in one
// request: enough for the footer of any file Ore writes.
const footerReadSize = 64 << 10

// minParquetSize is the size of an empty parquet file's framing: magic,
// footer length, magic.
const minParquetSize = 12

// Inspect reads the footer of one object, the generation that was listed,
// and checks it can be loaded as the version its name carries (o.Version),
// one of versions (the schemas of one log type's versions): a parquet file
// whose footer names that log type and that version (when it names them)
// and whose columns are exactly those of that version. It returns that
// version's schema. It costs two small range reads.
//
// The name's version decides which external table the file goes into
// (here and in the analysts' per-version tables, which select files by
// name), so a footer that names another version makes the object bad.
//
// Errors wrap fault.ErrBadObject when the object is corrupt, vanished or
// does not match, fault.ErrUnavailable when Cloud Storage failed.
func (l *Bucket) Inspect(ctx context.Context, o Object, versions []*parquetrow.Schema) (*parquetrow.Schema, error) {
	uri := l.URI(o.Name)
	if len(versions) == 0 {
		return nil, fmt.Errorf("inspect %s: no schema versions to check it against", uri)
	}
	if o.Size < minParquetSize {
		return nil, fmt.Errorf("%s: %w: %d bytes is too small for a parquet file", uri, fault.ErrBadObject, o.Size)
	}
	obj := l.client.Bucket(l.bucket).Object(o.Name).Generation(o.Generation)
	r := &readerAt{ctx: ctx, obj: obj, size: o.Size}
	f, err := parquet.OpenFile(r, o.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true), parquet.ReadBufferSize(footerReadSize))
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return nil, fmt.Errorf("%s generation %d: %w: it vanished after it was listed", uri, o.Generation, fault.ErrBadObject)
	case r.err != nil:
		return nil, gcpfault.Classify(fmt.Sprintf("read %s", uri), r.err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w: not a readable parquet file: %w", uri, fault.ErrBadObject, err)
	}
	lt := versions[len(versions)-1].LogType()
	if name, ok := f.Lookup(parquetrow.MetaLogType); ok && name != lt.Name {
		return nil, fmt.Errorf("%s: %w: holds %s rows, but it is in the %s folder", uri, fault.ErrBadObject, name, lt.Name)
	}
	var want *parquetrow.Schema
	for _, s := range versions {
		if s.LogType().Version == o.Version {
			want = s
		}
	}
	if want == nil {
		return nil, fmt.Errorf("%s: %w: its name says %s version %d, which this build does not know (deploy Masora with it)", uri, fault.ErrBadObject, lt.Name, o.Version)
	}
	if v, ok := f.Lookup(parquetrow.MetaLogTypeVersion); ok && v != strconv.Itoa(o.Version) {
		return nil, fmt.Errorf("%s: %w: its name says %s version %d, but its footer says version %q (log_type_version); a file's name must carry the version it was written with", uri, fault.ErrBadObject, lt.Name, o.Version, v)
	}
	if problems := compare(f.Schema(), want.Parquet()); len(problems) > 0 {
		return nil, fmt.Errorf("%s: %w: its columns do not match %s, the version its name carries: %s", uri, fault.ErrBadObject, want.LogType(), strings.Join(problems, "; "))
	}
	return want, nil
}

// compare lists how a file's schema differs from the expected one, where
// it matters for loading.
func compare(file, want *parquet.Schema) []string {
	var problems []string
	for _, path := range want.Columns() {
		name := strings.Join(path, ".")
		w, _ := want.Lookup(path...)
		f, ok := file.Lookup(path...)
		switch {
		case !ok && !w.Node.Optional():
			problems = append(problems, "required column "+name+" is missing")
		case !ok:
			// An external table reads a file by its table's columns: a
			// file must have all of its version's columns.
			problems = append(problems, "optional column "+name+" is missing")
		case f.Node.Type().Kind() != w.Node.Type().Kind() ||
			!reflect.DeepEqual(f.Node.Type().LogicalType(), w.Node.Type().LogicalType()):
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", name, f.Node.Type(), w.Node.Type()))
		case f.Node.Repeated():
			problems = append(problems, "column "+name+" is repeated")
		case f.Node.Optional() && !w.Node.Optional():
			problems = append(problems, "column "+name+" is optional, want required")
		}
	}
	for _, path := range file.Columns() {
		if _, ok := want.Lookup(path...); !ok {
			problems = append(problems, "column "+strings.Join(path, ".")+" is unknown (written with a newer definition? deploy Masora with it)")
		}
	}
	return problems
}

// readerAt reads an object by ranges. It remembers the first storage
// error other than a missing object or a short read, so that Inspect can
// tell a failing bucket from a bad file.
type readerAt struct {
	ctx  context.Context
	obj  *storage.ObjectHandle
	size int64
	err  error
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		// A corrupt footer points outside the file.
		return 0, fmt.Errorf("read of %d bytes at offset %d is outside the object's %d bytes", len(p), off, r.size)
	}
	rr, err := r.obj.NewRangeReader(r.ctx, off, int64(len(p)))
	if err != nil {
		if r.err == nil && !errors.Is(err, storage.ErrObjectNotExist) {
			r.err = err
		}
		return 0, err
	}
	defer rr.Close()
	n, err := io.ReadFull(rr, p)
	if err != nil && r.err == nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}
