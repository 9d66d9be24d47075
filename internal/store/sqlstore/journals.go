package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

const accountColumns = `id, org_id, code, name, type, system, COALESCE(tax_rate_id, 0), description, archived`

func scanAccount(row rowScanner) (*ledger.Account, error) {
	var a ledger.Account
	var typ string
	if err := row.Scan(&a.ID, &a.OrgID, &a.Code, &a.Name, &typ, &a.System, &a.TaxRateID, &a.Description, &a.Archived); err != nil {
		return nil, err
	}
	a.Type = ledger.AccountType(typ)
	return &a, nil
}

// FindAccounts implements ledger.AccountStore.
func (s *Store) FindAccounts(ctx context.Context, orgID int64) ([]*ledger.Account, error) {
	return findAll(ctx, s.db, "account", scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE org_id = ? ORDER BY code`, orgID)
}

// FindAccountByID implements ledger.AccountStore.
func (s *Store) FindAccountByID(ctx context.Context, orgID, id int64) (*ledger.Account, error) {
	return findAccount(ctx, s.db, orgID, id)
}

func findAccount(ctx context.Context, q querier, orgID, id int64) (*ledger.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE org_id = ? AND id = ?`, orgID, id))
	if err != nil {
		return nil, notFound("account", err)
	}
	return a, nil
}

// FindSystemAccount implements ledger.AccountStore.
func (s *Store) FindSystemAccount(ctx context.Context, orgID int64, system string) (*ledger.Account, error) {
	return findSystemAccount(ctx, s.db, orgID, system)
}

func findSystemAccount(ctx context.Context, q querier, orgID int64, system string) (*ledger.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE org_id = ? AND system = ? AND archived = 0 ORDER BY id LIMIT 1`, orgID, system))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.Errorf(errs.ECONFLICT, "The organisation has no %s account; add one to the chart of accounts.", strings.ReplaceAll(system, "_", " "))
	}
	if err != nil {
		return nil, fmt.Errorf("find %s account: %w", system, err)
	}
	return a, nil
}

// FindTaxRates implements ledger.AccountStore.
func (s *Store) FindTaxRates(ctx context.Context, orgID int64) ([]*ledger.TaxRate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, org_id, name, rate_bp, archived FROM tax_rates WHERE org_id = ? ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find tax rates: %w", err)
	}
	defer rows.Close()
	var out []*ledger.TaxRate
	for rows.Next() {
		var t ledger.TaxRate
		if err := rows.Scan(&t.ID, &t.OrgID, &t.Name, &t.RateBP, &t.Archived); err != nil {
			return nil, fmt.Errorf("scan tax rate: %w", err)
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// PostJournal implements ledger.JournalStore.
func (s *Store) PostJournal(ctx context.Context, j *ledger.Journal) error {
	return s.tx(ctx, func(tx *Tx) error { return postJournal(ctx, tx, j) })
}

// postJournal is the one way a journal enters the books: inside the
// caller's transaction it re-validates the journal, re-checks the lock date
// and that every account is the organisation's and open, then inserts it.
// Invoices, payments, bank reconciliation and reversals all call it.
func postJournal(ctx context.Context, tx *Tx, j *ledger.Journal) error {
	if err := j.Validate(); err != nil {
		return err
	}
	lock, err := findLockDate(ctx, tx, j.OrgID)
	if err != nil {
		return err
	}
	if err := ledger.CheckLockDate(j.Date, lock); err != nil {
		return err
	}
	// Each distinct account (and contact) is checked once per journal.
	checked := map[int64]bool{}
	contacts := map[int64]bool{}
	for i, l := range j.Lines {
		if !checked[l.AccountID] {
			var archived bool
			err := tx.QueryRowContext(ctx, `SELECT archived FROM accounts WHERE org_id = ? AND id = ?`, j.OrgID, l.AccountID).Scan(&archived)
			if errors.Is(err, sql.ErrNoRows) {
				return errs.Errorf(errs.EINVALID, "Line %d: account %d does not exist in this organisation.", i+1, l.AccountID)
			}
			if err != nil {
				return fmt.Errorf("check account: %w", err)
			}
			if archived {
				return errs.Errorf(errs.EINVALID, "Line %d: account %d is archived; nothing more can be posted to it.", i+1, l.AccountID)
			}
			checked[l.AccountID] = true
		}
		if l.ContactID != 0 && !contacts[l.ContactID] {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE org_id = ? AND id = ?`, j.OrgID, l.ContactID).Scan(&n); err != nil {
				return fmt.Errorf("check contact: %w", err)
			}
			if n == 0 {
				return errs.Errorf(errs.EINVALID, "Line %d: contact %d does not exist in this organisation.", i+1, l.ContactID)
			}
			contacts[l.ContactID] = true
		}
	}
	var reverses any
	if j.ReversesID != 0 {
		reverses = j.ReversesID
	}
	newID, err := insertID(ctx, tx, `INSERT INTO journals (org_id, date, narration, source_type, source_id, reverses_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		j.OrgID, j.Date, j.Narration, j.SourceType, j.SourceID, reverses, j.CreatedBy, unix(j.CreatedAt))
	if err != nil {
		if uniqueViolation(err, "journals", "reverses_id") {
			return errs.Errorf(errs.ECONFLICT, "Journal %d has already been reversed.", j.ReversesID)
		}
		return fmt.Errorf("insert journal: %w", err)
	}
	j.ID = newID
	for i := range j.Lines {
		l := &j.Lines[i]
		var contact any
		if l.ContactID != 0 {
			contact = l.ContactID
		}
		newID, err := insertID(ctx, tx, `INSERT INTO journal_lines (journal_id, org_id, account_id, debit, credit, description, contact_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.OrgID, l.AccountID, l.Debit, l.Credit, l.Description, contact)
		if err != nil {
			return fmt.Errorf("insert journal line: %w", err)
		}
		l.ID = newID
	}
	return nil
}

// FindJournal implements ledger.JournalStore.
func (s *Store) FindJournal(ctx context.Context, orgID, id int64) (*ledger.Journal, error) {
	return findJournal(ctx, s.db, orgID, id)
}

func findJournal(ctx context.Context, q querier, orgID, id int64) (*ledger.Journal, error) {
	j, err := scanJournal(q.QueryRowContext(ctx, `SELECT `+journalColumns+` FROM journals j WHERE j.org_id = ? AND j.id = ?`, orgID, id))
	if err != nil {
		return nil, notFound("journal", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+lineColumns+` FROM journal_lines WHERE +org_id = ? AND journal_id = ? ORDER BY id`, orgID, j.ID)
	if err != nil {
		return nil, fmt.Errorf("find journal lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l ledger.JournalLine
		if err := rows.Scan(&l.ID, &l.AccountID, &l.Debit, &l.Credit, &l.Description, &l.ContactID); err != nil {
			return nil, fmt.Errorf("scan journal line: %w", err)
		}
		j.Lines = append(j.Lines, l)
	}
	return j, rows.Err()
}

// ReverseJournal implements ledger.JournalStore.
func (s *Store) ReverseJournal(ctx context.Context, rev *ledger.Journal) error {
	return s.tx(ctx, func(tx *Tx) error {
		orig, err := findJournal(ctx, tx, rev.OrgID, rev.ReversesID)
		if err != nil {
			return err
		}
		// Checked here, inside the write transaction, so two concurrent
		// reversals cannot both pass; the unique index is the last guard.
		if orig.ReversedByID != 0 {
			return errs.Errorf(errs.ECONFLICT, "Journal %d has already been reversed by journal %d.", orig.ID, orig.ReversedByID)
		}
		return postJournal(ctx, tx, rev)
	})
}

// LockDate implements ledger.JournalStore.
func (s *Store) LockDate(ctx context.Context, orgID int64) (string, error) {
	return findLockDate(ctx, s.db, orgID)
}

func findLockDate(ctx context.Context, q querier, orgID int64) (string, error) {
	var d string
	if err := q.QueryRowContext(ctx, `SELECT lock_date FROM orgs WHERE id = ?`, orgID).Scan(&d); err != nil {
		return "", notFound("organisation", err)
	}
	return d, nil
}

// SetLockDate implements ledger.JournalStore.
func (s *Store) SetLockDate(ctx context.Context, orgID int64, date string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE orgs SET lock_date = ? WHERE id = ?`, date, orgID)
	if err != nil {
		return fmt.Errorf("set lock date: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "organisation not found.")
	}
	return nil
}

var _ ledger.Store = (*Store)(nil)
