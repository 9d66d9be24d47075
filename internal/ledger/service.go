package ledger

import (
	"context"
	"log/slog"
	"time"

	"coffer/internal/audit"
)

// Sealer encrypts values with the organisation's data key, bound to their
// row's identity (the keyring's Envelope). Open fails for a value of
// another organisation, row or column, or under a destroyed key.
type Sealer interface {
	Seal(ctx context.Context, orgID int64, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, orgID int64, ciphertext, aad []byte) ([]byte, error)
	// PrepareKey makes sure the organisation's data key exists; call it
	// before a store transaction inside which Seal runs.
	PrepareKey(ctx context.Context, orgID int64) error
}

// OrgAADFunc builds the associated data binding a sealed value to its
// organisation, table, column and row.
type OrgAADFunc func(orgID int64, table, column string, id int64) []byte

// Store is all the persistence the ledger needs; each area declares its
// part beside its code.
type Store interface {
	audit.Store
	AccountStore
	JournalStore
	SalesStore
	BankStore
	ReportStore
}

// Service runs the accounting operations. Every method takes the
// organisation explicitly; records of another organisation are not found.
type Service struct {
	store Store
	keys  Sealer
	aad   OrgAADFunc
	log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns a Service.
func NewService(store Store, keys Sealer, aad OrgAADFunc, log *slog.Logger) *Service {
	return &Service{store: store, keys: keys, aad: aad, log: log, Now: func() time.Time { return time.Now().UTC() }}
}

// Actor is who does something, for created_by columns and the audit log.
type Actor struct {
	UserID int64
	// OrgID is the organisation acted in: its audit chain records the
	// action (0: the platform chain).
	OrgID     int64
	Email     string
	IP        string
	UserAgent string
}

// audit records a change to financial records. Detail names records by id,
// never by content such as bank numbers.
func (s *Service) audit(ctx context.Context, a Actor, action, detail string) {
	e := &audit.Event{OrgID: a.OrgID, At: s.Now(), UserID: a.UserID, Subject: a.Email, Action: action, Outcome: audit.Success, IP: a.IP, UserAgent: a.UserAgent, Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit write failed", "action", action, "err", err)
	}
}
