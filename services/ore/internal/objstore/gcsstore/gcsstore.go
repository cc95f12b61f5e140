// Package gcsstore is the objstore.Store on Google Cloud Storage (and on
// fake-gcs-server, through STORAGE_EMULATOR_HOST).
package gcsstore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
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

// Create uploads data with a does-not-exist precondition: a second upload
// of the same name fails the precondition, which Create reports as
// created=false. The precondition makes the upload idempotent, so the
// client retries it on transient errors.
func (s *Store) Create(ctx context.Context, name, contentType string, data []byte) (bool, error) {
	w := s.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = contentType
	w.CRC32C = crc32.Checksum(data, castagnoli)
	w.SendCRC32C = true
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
	if errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed {
		return false, nil
	}
	return false, fmt.Errorf("upload gs://%s/%s: %w", s.bucketName, name, err)
}
