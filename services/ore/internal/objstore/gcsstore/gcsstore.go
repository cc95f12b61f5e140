// Package gcsstore is the objstore.Store on Google Cloud Storage (and on
// fake-gcs-server, through STORAGE_EMULATOR_HOST).
package gcsstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
)

// chunkUnit is the granularity of upload chunk sizes.
const chunkUnit = googleapi.MinUploadChunkSize

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Store creates objects in one bucket.
type Store struct {
	bucket     *storage.BucketHandle
	bucketName string
}

// New returns a store writing to the named bucket with client. The retry
// options, if any, replace the client's retry settings for uploads; the
// caller's context deadline bounds every upload, retries included.
func New(client *storage.Client, bucket string, retry ...storage.RetryOption) *Store {
	b := client.Bucket(bucket)
	if len(retry) > 0 {
		b = b.Retryer(retry...)
	}
	return &Store{bucket: b, bucketName: bucket}
}

// MetadataKey is the custom metadata entry (x-goog-meta-ore-key) that holds
// an object's objstore.Object.Key.
const MetadataKey = "ore-key"

// Create uploads obj with a does-not-exist precondition, which makes the
// upload idempotent, so the client retries it on transient errors.
//
// When the name exists, GCS answers 412 Precondition Failed; with only
// storage.objects.create (roles/storage.objectCreator) it may answer 403
// instead, since taking the name of an existing object is an overwrite.
// Either way Create reads the existing object's metadata (which needs
// storage.objects.get) and reports created=false if it is the same object:
// the same Key (custom metadata MetadataKey) or the same bytes (size and
// CRC32C, and MD5 when GCS has one). Other content is an error wrapping
// objstore.ErrConflict. After a 412 the object is known to exist, so if its
// metadata cannot be read Create still reports created=false; after a 403 it
// reports the permission error, saying which permission to grant.
func (s *Store) Create(ctx context.Context, name string, obj objstore.Object) (bool, error) {
	data := obj.Data
	crc := crc32.Checksum(data, castagnoli)
	w := s.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = obj.ContentType
	w.CRC32C = crc
	w.SendCRC32C = true
	if obj.Key != "" {
		w.Metadata = map[string]string{MetadataKey: obj.Key}
	}
	// One chunk that holds the whole object: a single request that the
	// client can retry, with a buffer no larger than the object (the
	// default chunk is 16 MiB per upload).
	w.ChunkSize = (len(data)/chunkUnit + 1) * chunkUnit
	_, werr := w.Write(data)
	cerr := w.Close()
	err := errors.Join(werr, cerr)
	if err == nil {
		return true, nil
	}
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || (gerr.Code != http.StatusPreconditionFailed && gerr.Code != http.StatusForbidden) {
		return false, fmt.Errorf("upload gs://%s/%s: %w", s.bucketName, name, err)
	}
	exists := gerr.Code == http.StatusPreconditionFailed
	attrs, aerr := s.bucket.Object(name).Attrs(ctx)
	switch {
	case aerr == nil:
	case exists:
		// 412 is GCS's word that the object exists; without its metadata the
		// content cannot be compared, but it is there.
		return false, nil
	case errors.Is(aerr, storage.ErrObjectNotExist):
		return false, fmt.Errorf("upload gs://%s/%s: permission denied and no object of that name exists: "+
			"grant Ore's service account storage.objects.create on the bucket (roles/storage.objectCreator, infra/gcp): %w",
			s.bucketName, name, err)
	default:
		return false, fmt.Errorf("upload gs://%s/%s: permission denied, which GCS answers when the object already exists, "+
			"but reading its metadata to compare failed too (%v): grant Ore's service account storage.objects.get on the prefix "+
			"(infra/gcp ore_identity.tf) as well as storage.objects.create: %w", s.bucketName, name, aerr, err)
	}
	if (obj.Key != "" && attrs.Metadata[MetadataKey] == obj.Key) || sameBytes(attrs, data, crc) {
		return false, nil
	}
	return false, fmt.Errorf("upload gs://%s/%s: %w: generation %d has key %q, %d bytes, crc32c %08x; this write has key %q, %d bytes, crc32c %08x; "+
		"it is left alone and the messages are retried",
		s.bucketName, name, objstore.ErrConflict, attrs.Generation, attrs.Metadata[MetadataKey], attrs.Size, attrs.CRC32C, obj.Key, len(data), crc)
}

// sameBytes reports whether the object of attrs holds data.
func sameBytes(attrs *storage.ObjectAttrs, data []byte, crc uint32) bool {
	if attrs.Size != int64(len(data)) || attrs.CRC32C != crc {
		return false
	}
	if len(attrs.MD5) == 0 {
		return true // composite objects have no MD5
	}
	sum := md5.Sum(data)
	return bytes.Equal(attrs.MD5, sum[:])
}
