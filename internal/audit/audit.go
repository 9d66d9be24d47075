// Package audit records security events: who did what, when, from where.
package audit

import (
	"context"
	"time"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audited action. Detail never holds a secret, code or token.
type Event struct {
	ID        int64
	At        time.Time
	UserID    int64 // 0 when no user is known
	Subject   string
	Action    string
	Outcome   string
	IP        string
	UserAgent string
	Detail    string
}

// Store appends events; nothing edits or deletes them.
type Store interface {
	AppendAudit(ctx context.Context, e *Event) error
}
