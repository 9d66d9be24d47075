package ledger

import (
	"context"
	"fmt"
)

// AccountStore persists the chart of accounts and tax rates.
type AccountStore interface {
	FindAccounts(ctx context.Context, orgID int64) ([]*Account, error)
	FindAccountByID(ctx context.Context, orgID, id int64) (*Account, error)
	// FindSystemAccount returns the organisation's account with that system role.
	FindSystemAccount(ctx context.Context, orgID int64, system string) (*Account, error)
	FindTaxRates(ctx context.Context, orgID int64) ([]*TaxRate, error)
}

// JournalStore posts and reads journals.
type JournalStore interface {
	// PostJournal validates and stores j in one transaction, re-checking
	// inside it the lock date and that every account is the organisation's
	// and not archived (EINVALID naming the line otherwise).
	PostJournal(ctx context.Context, j *Journal) error
	FindJournal(ctx context.Context, orgID, id int64) (*Journal, error)
	// ReverseJournal posts rev, the reversal of journal rev.ReversesID, and
	// fails with ECONFLICT if that journal was already reversed.
	ReverseJournal(ctx context.Context, rev *Journal) error
	// LockDate returns the organisation's lock date ("" for none).
	LockDate(ctx context.Context, orgID int64) (string, error)
	SetLockDate(ctx context.Context, orgID int64, date string) error
}

// PostManualJournal validates and posts a manual journal.
func (s *Service) PostManualJournal(ctx context.Context, a Actor, j *Journal) error {
	j.SourceType, j.SourceID, j.ReversesID, j.CreatedBy, j.CreatedAt = SourceManual, 0, 0, a.UserID, s.Now()
	if err := j.Validate(); err != nil {
		return err
	}
	if err := s.store.PostJournal(ctx, j); err != nil {
		return err
	}
	s.audit(ctx, a, "ledger.journal.post", fmt.Sprintf("org=%d journal=%d lines=%d", j.OrgID, j.ID, len(j.Lines)))
	return nil
}

// ReverseJournal posts the reversal of journal id on date.
func (s *Service) ReverseJournal(ctx context.Context, a Actor, orgID, id int64, date string) (*Journal, error) {
	d, err := ParseDate(date)
	if err != nil {
		return nil, err
	}
	orig, err := s.store.FindJournal(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	rev := orig.Reversal(d, "Reversal of journal "+fmt.Sprint(orig.ID)+": "+truncate(orig.Narration, 450), a.UserID)
	rev.CreatedAt = s.Now()
	if err := rev.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.ReverseJournal(ctx, rev); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "ledger.journal.reverse", fmt.Sprintf("org=%d journal=%d reverses=%d", orgID, rev.ID, orig.ID))
	return rev, nil
}

// SetLockDate sets the organisation's lock date ("" removes it).
func (s *Service) SetLockDate(ctx context.Context, a Actor, orgID int64, date string) error {
	if date != "" {
		d, err := ParseDate(date)
		if err != nil {
			return err
		}
		date = d
	}
	old, err := s.store.LockDate(ctx, orgID)
	if err != nil {
		return err
	}
	if err := s.store.SetLockDate(ctx, orgID, date); err != nil {
		return err
	}
	s.audit(ctx, a, "ledger.lock_date.set", fmt.Sprintf("org=%d from=%q to=%q", orgID, old, date))
	return nil
}
