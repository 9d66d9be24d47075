// Package backup makes, stores, checks, prunes and restores encrypted
// backups of a Coffer data directory.
package backup

import (
	"context"
	"io"
)

// Target stores backup objects: a local directory, an S3-compatible
// bucket. Names are slash-separated paths relative to the target's root
// (e.g. "20261125T160000Z-3f2a/manifest.json").
//
// A missing object is reported with an error that errors.Is matches to
// fs.ErrNotExist, so that targets need not import this package.
type Target interface {
	// Name is how listings, logs and status name the target: its URL
	// without credentials.
	Name() string
	// Put stores r under name. The object appears complete or not at all:
	// a reader that fails, a cancelled context or a crash never leaves a
	// partial object under name. size is r's length, or -1 if unknown.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get opens the object stored under name.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the names of the objects under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes an object; deleting a missing one is not an error.
	Delete(ctx context.Context, name string) error
}
