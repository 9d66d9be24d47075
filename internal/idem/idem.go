// Package idem remembers the answers to writes sent with an
// Idempotency-Key header, so that a retried request is not applied twice.
package idem

import (
	"context"
	"time"
)

// Store remembers the answers to writes sent with an
// Idempotency-Key, per organisation and user.
type Store interface {
	// Begin claims key for a request with hash. If the key is
	// new it returns (nil, nil) and the caller must Finish or Abort it. If
	// it exists it returns the stored answer (Status 0 while the first
	// request is still running).
	Begin(ctx context.Context, orgID, userID int64, key string, hash []byte, now time.Time) (*Answer, error)
	Finish(ctx context.Context, orgID, userID int64, key string, a *Answer) error
	Abort(ctx context.Context, orgID, userID int64, key string) error
}

// Answer is a stored answer.
type Answer struct {
	Hash        []byte
	Status      int
	ContentType string
	Body        []byte
}
