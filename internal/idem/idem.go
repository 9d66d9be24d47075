// Package idem remembers the answers to writes sent with an
// Idempotency-Key header, so that a retried request is not applied twice —
// also when the node handling the first one dies mid-way.
//
// A request claims its key with a random token. Every write transaction
// the request commits marks the key "applied" in the same transaction, and
// only while the token is still the key's: so the store knows whether the
// books changed, whatever happened to the node afterwards. A claim left
// without an answer for longer than ClaimTTL is then settled by the next
// retry: taken over and run again when nothing was applied (the old
// request, if it is only slow, can no longer commit), or answered "applied,
// answer lost" when something was.
package idem

import (
	"context"
	"time"
)

// ClaimTTL is how long a claim without an answer counts as in flight. A
// request still running after it loses its claim to a retry and its writes
// are refused, so the bound is about how long a client waits, never about
// applying a request twice.
const ClaimTTL = 15 * time.Second

// Store remembers the answers to writes sent with an
// Idempotency-Key, per organisation and user.
type Store interface {
	// Begin claims key for a request with hash. If the key is new, or its
	// claim is stale and nothing was applied under it, it returns a claim
	// and the caller must Finish or Abort it, running the request with
	// WithClaim. Otherwise it returns what is known: the stored answer, or
	// Status 0 while the first request is in flight (Applied then tells
	// whether it has changed the books, and Lost that its node stopped
	// before answering).
	Begin(ctx context.Context, orgID, userID int64, key string, hash []byte, now time.Time) (*Answer, *Claim, error)
	// Finish stores the answer, if c still holds the key.
	Finish(ctx context.Context, c *Claim, a *Answer) error
	// Abort releases the key for a retry, if c still holds it and nothing
	// was applied under it; once something was, the key keeps saying so.
	Abort(ctx context.Context, c *Claim) error
}

// Answer is a stored answer, or the state of a request in flight.
type Answer struct {
	Hash        []byte
	Status      int
	ContentType string
	Body        []byte
	// Applied: a write transaction of the request committed.
	Applied bool
	// Lost: Status 0 for longer than ClaimTTL after something was
	// applied: the node stopped between the books and the answer.
	Lost bool
}

// Claim is a request's hold on its key.
type Claim struct {
	OrgID, UserID int64
	Key           string
	Token         []byte
}

type claimKey struct{}

// WithClaim returns a context whose write transactions mark c's key applied
// (and fail if c no longer holds it).
func WithClaim(ctx context.Context, c *Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// ClaimFrom returns the claim the context's writes run under, or nil.
func ClaimFrom(ctx context.Context) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	return c
}
