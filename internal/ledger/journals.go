package ledger

import (
	"context"
	"fmt"

	"coffer/internal/errs"
)

// AccountStore persists the chart of accounts and tax rates. Every method
// is scoped to one organisation: another organisation's rows are not found.
type AccountStore interface {
	// FindAccounts returns the organisation's accounts ordered by code.
	FindAccounts(ctx context.Context, orgID int64) ([]*Account, error)
	// FindAccountByID returns ENOTFOUND for a missing or foreign account.
	FindAccountByID(ctx context.Context, orgID, id int64) (*Account, error)
	// FindSystemAccount returns the organisation's account with that system
	// role, ECONFLICT if it has none.
	FindSystemAccount(ctx context.Context, orgID int64, system string) (*Account, error)
	// FindTaxRates returns the organisation's tax rates.
	FindTaxRates(ctx context.Context, orgID int64) ([]*TaxRate, error)
	// CreateAccount stores a (for a.OrgID) and sets its ID: ECONFLICT if the
	// code is taken, EINVALID if the tax rate is not the organisation's.
	CreateAccount(ctx context.Context, a *Account) error
	// UpdateAccount applies u (AccountUpdate.Apply) to the account inside
	// one transaction and returns the result: ENOTFOUND, ECONFLICT (code
	// taken, rules of Apply), EINVALID.
	UpdateAccount(ctx context.Context, orgID, id int64, u AccountUpdate) (*Account, error)
	// CreateTaxRate stores t and sets its ID: ECONFLICT if the name is taken.
	CreateTaxRate(ctx context.Context, t *TaxRate) error
	// AccountBalances returns debit minus credit per account over journals
	// dated on or before asOf; accounts without postings are absent.
	AccountBalances(ctx context.Context, orgID int64, asOf string) (map[int64]int64, error)
}

// JournalStore posts and reads journals.
type JournalStore interface {
	// PostJournal validates and stores j in one transaction, re-checking
	// inside it the lock date (ECONFLICT) and that every account is the
	// organisation's and not archived (EINVALID naming the line otherwise).
	PostJournal(ctx context.Context, j *Journal) error
	// FindJournal returns the journal with its lines: ENOTFOUND for a
	// missing or foreign one.
	FindJournal(ctx context.Context, orgID, id int64) (*Journal, error)
	// FindJournals returns a page of journals matching f (already
	// validated), newest first, with their lines, and the number matching.
	FindJournals(ctx context.Context, orgID int64, f JournalFilter) ([]*Journal, int, error)
	// ReverseJournal posts rev, the reversal of journal rev.ReversesID, and
	// fails with ECONFLICT if that journal was already reversed, ENOTFOUND
	// if it is not the organisation's.
	ReverseJournal(ctx context.Context, rev *Journal) error
	// LockDate returns the organisation's lock date ("" for none).
	LockDate(ctx context.Context, orgID int64) (string, error)
	// SetLockDate sets the lock date ("" for none); ENOTFOUND for an
	// unknown organisation.
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

// CanReverse reports whether j may be reversed as a journal of its own.
// Only manual journals can: a journal posted by an invoice, payment or bank
// reconciliation is undone through that document (void, credit note), so
// the document and the ledger never disagree; a reversal is corrected by a
// new journal rather than a reversal of the reversal.
func (j *Journal) CanReverse() error {
	switch j.SourceType {
	case SourceManual:
		return nil
	case SourceReversal:
		return errs.Errorf(errs.ECONFLICT, "Journal %d is itself a reversal; post a new journal to correct it.", j.ID)
	default:
		return errs.Errorf(errs.ECONFLICT, "Journal %d was posted by a %s (id %d); undo it through that record instead.", j.ID, sourceLabel(j.SourceType), j.SourceID)
	}
}

func sourceLabel(source string) string {
	switch source {
	case SourceInvoice:
		return "invoice or bill"
	case SourceCreditNote:
		return "credit note"
	case SourcePayment:
		return "payment"
	case SourceBank:
		return "bank transaction"
	}
	return source
}

// ReverseJournal posts the reversal of manual journal id on date, which
// may not be before the journal's own date.
func (s *Service) ReverseJournal(ctx context.Context, a Actor, orgID, id int64, date string) (*Journal, error) {
	d, err := ParseDate(date)
	if err != nil {
		return nil, err
	}
	orig, err := s.store.FindJournal(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if err := orig.CanReverse(); err != nil {
		return nil, err
	}
	if orig.ReversedByID != 0 {
		return nil, errs.Errorf(errs.ECONFLICT, "Journal %d has already been reversed by journal %d.", orig.ID, orig.ReversedByID)
	}
	if d < orig.Date {
		return nil, errs.Errorf(errs.EINVALID, "A reversal cannot be dated %s, before the journal it reverses (%s).", d, orig.Date)
	}
	rev := orig.Reversal(d, "Reversal of journal "+fmt.Sprint(orig.ID)+": "+truncate(orig.Narration, 450), a.UserID)
	rev.CreatedAt = s.Now()
	if err := rev.Validate(); err != nil {
		return nil, err
	}
	// The store re-checks, inside the posting transaction, that no other
	// reversal got there first.
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
