package stackctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fake-gcs-server's filesystem backend keeps each object as a file under
// ROOT/<bucket>/<object name>, its attributes in the file's user.metadata extended attribute
// or, where extended attributes are not supported, in <file>.metadata.
const (
	gcsMetadataXattr  = "user.metadata"
	gcsMetadataSuffix = ".metadata"
)

// sweepGCS removes the files that fake-gcs-server, stopped in the middle of a write, leaves
// in its filesystem root without metadata: the temporary file of an atomic write, or an
// object whose attributes were not written yet. Real GCS never shows an upload that did not
// finish; the emulator would instead fail every later listing of the bucket on such a file.
// It returns the object paths removed, relative to root.
func sweepGCS(root string) ([]string, error) {
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		// Files directly in root are the buckets' own metadata.
		if d.IsDir() || !d.Type().IsRegular() || !strings.ContainsRune(rel, filepath.Separator) || hasGCSMetadata(path) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed = append(removed, rel)
		return nil
	})
	return removed, err
}

func hasGCSMetadata(path string) bool {
	if strings.HasSuffix(path, gcsMetadataSuffix) {
		// A metadata file; the object it describes is checked on its own.
		return true
	}
	if _, err := os.Stat(path + gcsMetadataSuffix); err == nil {
		return true
	}
	n, err := syscall.Getxattr(path, gcsMetadataXattr, nil)
	return err == nil && n > 0
}
