// Package source owns reading the objects Ore wrote to Cloud Storage:
// listing them by hour folder of the layout owned by libs/layout,
// inspecting a parquet object's footer to tell, before BigQuery is
// involved, whether it can be loaded as its log type, and opening a
// quarantine object to read its records.
package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

// Object is one parquet object of a log type, or one quarantine object.
type Object struct {
	// Name is the object's full name in the bucket.
	Name       string
	Generation int64
	Size       int64
	// Hour is the object's hour folder: when Ore received its rows.
	Hour time.Time
	// Version is the schema version in the object's name: the version of
	// the log type's definition Ore wrote it with. Inspect checks that the
	// file's footer and columns agree. 0 for a quarantine object.
	Version int
}

// Listing is what List found.
type Listing struct {
	// Objects are the log type's parquet objects (or the quarantine
	// objects), in name order, which is hour order.
	Objects []Object
	// Ignored are the names under the listed folders that are not objects
	// of the layout (a stray upload, say); they are never loaded.
	Ignored []string
}

// Bucket reads one bucket.
type Bucket struct {
	client *storage.Client
	bucket string
	prefix string
}

// New returns a Bucket reading the objects under prefix (the layout's
// prefix, e.g. "logs") in bucket.
func New(client *storage.Client, bucket, prefix string) *Bucket {
	return &Bucket{client: client, bucket: bucket, prefix: prefix}
}

// URI returns the gs:// URI of an object of the bucket.
func (l *Bucket) URI(name string) string { return "gs://" + l.bucket + "/" + name }

// List returns the objects of a log type in the hour folders from the one
// holding from to the one holding to, both included, with one listing call
// over that name range. For logType layout.QuarantineDir it returns the
// quarantine objects of those hours.
func (l *Bucket) List(ctx context.Context, logType string, from, to time.Time) (Listing, error) {
	q := &storage.Query{
		Prefix:      layout.LogTypePrefix(l.prefix, logType),
		StartOffset: layout.HourPrefix(l.prefix, logType, from),
		EndOffset:   layout.HourPrefix(l.prefix, logType, layout.Hour(to).Add(time.Hour)),
	}
	if err := q.SetAttrSelection([]string{"Name", "Generation", "Size"}); err != nil {
		return Listing{}, fmt.Errorf("list %s objects: %w", logType, err)
	}
	var out Listing
	it := l.client.Bucket(l.bucket).Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return Listing{}, gcpfault.Classify(fmt.Sprintf("list gs://%s/ from %s to %s", l.bucket, q.StartOffset, q.EndOffset), err)
		}
		o, err := layout.Parse(l.prefix, attrs.Name)
		if err != nil || !belongs(o, logType) {
			out.Ignored = append(out.Ignored, attrs.Name)
			continue
		}
		out.Objects = append(out.Objects, Object{Name: attrs.Name, Generation: attrs.Generation, Size: attrs.Size, Hour: o.Hour, Version: o.Version})
	}
}

// belongs reports whether a parsed object is one of logType's, the
// quarantine's for layout.QuarantineDir.
func belongs(o layout.Object, logType string) bool {
	if logType == layout.QuarantineDir {
		return o.Kind == layout.Quarantine
	}
	return o.Kind == layout.Data && o.LogType == logType
}

// Ready checks that the bucket's objects can be listed.
func (l *Bucket) Ready(ctx context.Context) error {
	it := l.client.Bucket(l.bucket).Objects(ctx, &storage.Query{Prefix: l.prefix})
	it.PageInfo().MaxSize = 1
	if _, err := it.Next(); err != nil && !errors.Is(err, iterator.Done) {
		return gcpfault.Classify(fmt.Sprintf("list gs://%s/%s", l.bucket, l.prefix), err)
	}
	return nil
}
