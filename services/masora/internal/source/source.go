// Package source lists the parquet objects Ore wrote to Cloud Storage, by
// hour folder of the layout owned by libs/layout.
package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Object is one parquet object of a log type.
type Object struct {
	// Name is the object's full name in the bucket.
	Name       string
	Generation int64
	Size       int64
	// Hour is the object's hour folder: when Ore received its rows.
	Hour time.Time
}

// Listing is what List found.
type Listing struct {
	// Objects are the log type's parquet objects, in name order, which is
	// hour order.
	Objects []Object
	// Ignored are the names under the listed folders that are not parquet
	// objects of the layout (a stray upload, say); they are never loaded.
	Ignored []string
}

// Lister lists one bucket.
type Lister struct {
	client *storage.Client
	bucket string
	prefix string
}

// New returns a Lister of the objects under prefix (the layout's prefix,
// e.g. "logs") in bucket.
func New(client *storage.Client, bucket, prefix string) *Lister {
	return &Lister{client: client, bucket: bucket, prefix: prefix}
}

// URI returns the gs:// URI of an object of the bucket.
func (l *Lister) URI(name string) string { return "gs://" + l.bucket + "/" + name }

// List returns the objects of a log type in the hour folders from the one
// holding from to the one holding to, both included, with one listing call
// over that name range.
func (l *Lister) List(ctx context.Context, logType string, from, to time.Time) (Listing, error) {
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
			return Listing{}, fmt.Errorf("list gs://%s/%s from %s to %s: %w: %w", l.bucket, q.Prefix, q.StartOffset, q.EndOffset, fault.ErrUnavailable, err)
		}
		o, err := layout.Parse(l.prefix, attrs.Name)
		if err != nil || o.Kind != layout.Data || o.LogType != logType {
			out.Ignored = append(out.Ignored, attrs.Name)
			continue
		}
		out.Objects = append(out.Objects, Object{Name: attrs.Name, Generation: attrs.Generation, Size: attrs.Size, Hour: o.Hour})
	}
}

// Ready checks that the bucket can be read.
func (l *Lister) Ready(ctx context.Context) error {
	if _, err := l.client.Bucket(l.bucket).Attrs(ctx); err != nil {
		return fmt.Errorf("read bucket gs://%s: %w: %w", l.bucket, fault.ErrUnavailable, err)
	}
	return nil
}
