package source

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"

	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

// Quarantine objects are read here, straight from Cloud Storage through the
// client that lists them, and decoded by libs/quarantine, the one owner of
// their record format; not through a BigQuery external table as the parquet
// objects are. See services/masora/README.md (Quarantine) for why.

// Records reads the records of a chunk's quarantine objects, one object
// after the other, each at the generation that was listed.
type Records struct {
	ctx  context.Context
	b    *Bucket
	objs []Object
	next int // index of the next object to open
	rc   io.ReadCloser
	dec  *quarantine.Reader
}

// Records returns a reader of the records of objs, quarantine objects
// listed by List. Close it when done.
func (l *Bucket) Records(ctx context.Context, objs []Object) *Records {
	return &Records{ctx: ctx, b: l, objs: objs}
}

// Next returns the next record, or io.EOF after the last record of the last
// object. An object that holds a line that is not a quarantine record, or
// that vanished since it was listed, is a *fault.BadObjectsError naming it
// (with the line and what is wrong with it); Cloud Storage failing is an
// error wrapping fault.ErrUnavailable or fault.ErrMisconfigured.
func (r *Records) Next() (quarantine.Record, error) {
	for {
		if r.dec == nil {
			if r.next == len(r.objs) {
				return quarantine.Record{}, io.EOF
			}
			if err := r.open(r.objs[r.next]); err != nil {
				return quarantine.Record{}, err
			}
		}
		o := r.objs[r.next]
		rec, err := r.dec.Next()
		switch {
		case err == nil:
			return rec, nil
		case errors.Is(err, io.EOF):
			r.closeObject()
			r.next++
			continue
		}
		if errors.Is(err, quarantine.ErrMalformed) {
			return quarantine.Record{}, r.bad(o, err)
		}
		return quarantine.Record{}, gcpfault.Classify("read "+r.b.URI(o.Name), err)
	}
}

func (r *Records) open(o Object) error {
	rc, err := r.b.client.Bucket(r.b.bucket).Object(o.Name).Generation(o.Generation).NewReader(r.ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return r.bad(o, errors.New("it vanished after it was listed"))
	case err != nil:
		return gcpfault.Classify("read "+r.b.URI(o.Name), err)
	}
	r.rc, r.dec = rc, quarantine.NewReader(rc)
	return nil
}

// bad returns the error of a quarantine object that cannot be loaded,
// naming it.
func (r *Records) bad(o Object, cause error) error {
	uri := r.b.URI(o.Name)
	return &fault.BadObjectsError{URIs: []string{uri}, Err: &badObject{
		msg: fmt.Sprintf("quarantine object %s generation %d cannot be loaded: %v", uri, o.Generation, cause), cause: cause}}
}

// badObject is a quarantine object that cannot be loaded: it wraps
// fault.ErrBadObject and its cause without repeating the sentinel's text,
// which speaks of parquet objects.
type badObject struct {
	msg   string
	cause error
}

func (e *badObject) Error() string { return e.msg }

func (e *badObject) Unwrap() []error { return []error{fault.ErrBadObject, e.cause} }

// closeObject closes the object being read. Nothing is written, so the
// error of closing a reader says nothing the reads did not.
func (r *Records) closeObject() {
	if r.rc != nil {
		r.rc.Close()
	}
	r.rc, r.dec = nil, nil
}

// Close releases the object being read, if any.
func (r *Records) Close() { r.closeObject() }
