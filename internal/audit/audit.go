// Package audit records security events: who did what, when, from where.
//
// Events form hash chains, one per organisation and one global chain (org
// 0) for platform events: each event carries its chain's sequence number,
// the hash of the event before it and its own hash, so that editing,
// inserting, deleting or moving a stored event breaks the chain where it
// happened. Each chain's head (its last seq and hash) and periodic
// checkpoints are signed with a key derived from the master key, so that
// someone who can write the database but does not hold the master key can
// neither truncate a chain nor rewrite it and re-hash it unnoticed.
package audit

import (
	"context"
	"strings"
	"time"

	"coffer/internal/errs"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audited action. Detail never holds a secret, code or token.
type Event struct {
	ID int64
	// OrgID names the chain: the organisation the event belongs to, 0 for
	// platform events (sign-in, factors, keys, organisation deletion).
	OrgID     int64
	At        time.Time
	UserID    int64 // 0 when no user is known
	Subject   string
	Action    string
	Outcome   string
	IP        string
	UserAgent string
	Detail    string

	// Seq, PrevHash and Hash are set by the store when it appends.
	Seq      int64
	PrevHash []byte
	Hash     []byte
}

// Store appends events; nothing edits or deletes them.
type Store interface {
	// AppendAudit appends e to its chain (e.OrgID) and sets e.ID, e.Seq,
	// e.PrevHash and e.Hash.
	AppendAudit(ctx context.Context, e *Event) error
}

// Filter selects events of one chain for the audit pages.
type Filter struct {
	// ActionPrefix matches actions that start with it ("login", "member.").
	ActionPrefix string
	UserID       int64
	Outcome      string // "", Success or Failure
	// From and To bound At: From <= At < To; zero means unbounded.
	From, To time.Time
	Limit    int
	Offset   int
}

// MaxLimit is the largest page the audit pages and API return at once.
const MaxLimit = 500

// Validate reports every problem with the filter at once.
func (f *Filter) Validate() error {
	var bad []string
	if f.Outcome != "" && f.Outcome != Success && f.Outcome != Failure {
		bad = append(bad, "outcome must be success or failure")
	}
	if len(f.ActionPrefix) > 100 {
		bad = append(bad, "action must be at most 100 characters")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad = append(bad, "the start date must be before the end date")
	}
	if f.UserID < 0 {
		bad = append(bad, "user must be a user id")
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		bad = append(bad, "limit must be between 1 and 500")
	}
	if f.Offset < 0 {
		bad = append(bad, "offset must not be negative")
	}
	if len(bad) > 0 {
		return errs.Errorf(errs.EINVALID, "Check the audit filter: %s.", strings.Join(bad, "; "))
	}
	return nil
}

// Finder reads a chain's events for the audit pages.
type Finder interface {
	// FindAudit returns orgID's events matching f, newest first, and how
	// many match in all. EINVALID for a bad filter.
	FindAudit(ctx context.Context, orgID int64, f Filter) ([]*Event, int, error)
}
