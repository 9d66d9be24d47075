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

// checkTaxRate refuses a tax rate id that is not one of the organisation's
// open rates; 0 means none and passes.
func checkTaxRate(ctx context.Context, q querier, orgID, id int64) error {
	if id == 0 {
		return nil
	}
	var archived bool
	err := q.QueryRowContext(ctx, `SELECT archived FROM tax_rates WHERE org_id = ? AND id = ?`, orgID, id).Scan(&archived)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Errorf(errs.EINVALID, "Tax rate %d does not exist in this organisation.", id)
	}
	if err != nil {
		return fmt.Errorf("check tax rate: %w", err)
	}
	if archived {
		return errs.Errorf(errs.EINVALID, "Tax rate %d is archived.", id)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// CreateAccount implements ledger.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a *ledger.Account) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := checkTaxRate(ctx, tx, a.OrgID, a.TaxRateID); err != nil {
			return err
		}
		newID, err := insertID(ctx, tx, `INSERT INTO accounts (org_id, code, name, type, system, tax_rate_id, description, archived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.OrgID, a.Code, a.Name, string(a.Type), a.System, nullID(a.TaxRateID), a.Description, a.Archived)
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "An account with code %q already exists in this organisation.", a.Code)
		}
		if err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		a.ID = newID
		return err
	})
}

// UpdateAccount implements ledger.AccountStore.
func (s *Store) UpdateAccount(ctx context.Context, orgID, id int64, u ledger.AccountUpdate) (*ledger.Account, error) {
	var a *ledger.Account
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		a, err = findAccount(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		var posted bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM journal_lines WHERE org_id = ? AND account_id = ?)`, orgID, id).Scan(&posted); err != nil {
			return fmt.Errorf("check postings: %w", err)
		}
		oldRate := a.TaxRateID
		if err := u.Apply(a, posted); err != nil {
			return err
		}
		if a.TaxRateID != oldRate {
			if err := checkTaxRate(ctx, tx, orgID, a.TaxRateID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE accounts SET code = ?, name = ?, type = ?, tax_rate_id = ?, description = ?, archived = ? WHERE org_id = ? AND id = ?`,
			a.Code, a.Name, string(a.Type), nullID(a.TaxRateID), a.Description, a.Archived, orgID, id)
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "An account with code %q already exists in this organisation.", a.Code)
		}
		if err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// CreateTaxRate implements ledger.AccountStore.
func (s *Store) CreateTaxRate(ctx context.Context, t *ledger.TaxRate) error {
	return s.tx(ctx, func(tx *Tx) error {
		newID, err := insertID(ctx, tx, `INSERT INTO tax_rates (org_id, name, rate_bp, archived) VALUES (?, ?, ?, ?)`, t.OrgID, t.Name, t.RateBP, t.Archived)
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "A tax rate named %q already exists in this organisation.", t.Name)
		}
		if err != nil {
			return fmt.Errorf("create tax rate: %w", err)
		}
		t.ID = newID
		return err
	})
}

// AccountBalances implements ledger.AccountStore.
func (s *Store) AccountBalances(ctx context.Context, orgID int64, asOf string) (map[int64]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.account_id, SUM(l.debit) - SUM(l.credit)
		FROM journal_lines l JOIN journals j ON j.id = l.journal_id
		WHERE l.org_id = ? AND j.org_id = ? AND j.date <= ?
		GROUP BY l.account_id`, orgID, orgID, asOf)
	if err != nil {
		return nil, fmt.Errorf("account balances: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, net int64
		if err := rows.Scan(&id, &net); err != nil {
			return nil, fmt.Errorf("scan balance: %w", err)
		}
		out[id] = net
	}
	return out, rows.Err()
}

// journalColumns reads a journal row (alias j) with the id of the journal
// that reverses it, if any.
const journalColumns = `j.id, j.org_id, j.date, j.narration, j.source_type, j.source_id, j.reverses_id, j.created_by, j.created_at,
	COALESCE((SELECT r.id FROM journals r WHERE r.org_id = j.org_id AND r.reverses_id = j.id), 0)`

func scanJournal(row rowScanner) (*ledger.Journal, error) {
	var j ledger.Journal
	var created int64
	var reverses sql.NullInt64
	if err := row.Scan(&j.ID, &j.OrgID, &j.Date, &j.Narration, &j.SourceType, &j.SourceID, &reverses, &j.CreatedBy, &created, &j.ReversedByID); err != nil {
		return nil, err
	}
	j.ReversesID, j.CreatedAt = reverses.Int64, fromUnix(created)
	return &j, nil
}

// FindJournals implements ledger.JournalStore.
func (s *Store) FindJournals(ctx context.Context, orgID int64, f ledger.JournalFilter) ([]*ledger.Journal, int, error) {
	where := []string{"j.org_id = ?"}
	args := []any{orgID}
	if f.From != "" {
		where, args = append(where, "j.date >= ?"), append(args, f.From)
	}
	if f.To != "" {
		where, args = append(where, "j.date <= ?"), append(args, f.To)
	}
	if f.AccountID != 0 {
		// IN, not a correlated EXISTS: the subquery runs once into a
		// temporary index instead of once per journal.
		where = append(where, "j.id IN (SELECT l.journal_id FROM journal_lines l WHERE l.org_id = ? AND l.account_id = ?)")
		args = append(args, orgID, f.AccountID)
	}
	cond := strings.Join(where, " AND ")
	var out []*ledger.Journal
	var total int
	err := s.readTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM journals j WHERE `+cond, args...).Scan(&total); err != nil {
			return fmt.Errorf("count journals: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+journalColumns+` FROM journals j WHERE `+cond+` ORDER BY j.date DESC, j.id DESC LIMIT ? OFFSET ?`,
			append(args, f.Limit, f.Offset)...)
		if err != nil {
			return fmt.Errorf("find journals: %w", err)
		}
		byID := map[int64]*ledger.Journal{}
		for rows.Next() {
			j, err := scanJournal(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("scan journal: %w", err)
			}
			out = append(out, j)
			byID[j.ID] = j
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find journals: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]string, len(out))
		largs := []any{orgID}
		for i, j := range out {
			ids[i] = "?"
			largs = append(largs, j.ID)
		}
		// "+org_id" keeps the filter but stops SQLite from walking the
		// organisation's whole (org_id, account_id, …) index for it; the
		// lines of 50 journals are found by journal id.
		lrows, err := tx.QueryContext(ctx, `SELECT journal_id, `+lineColumns+` FROM journal_lines WHERE +org_id = ? AND journal_id IN (`+strings.Join(ids, ",")+`) ORDER BY journal_id, id`, largs...)
		if err != nil {
			return fmt.Errorf("find journal lines: %w", err)
		}
		defer lrows.Close()
		for lrows.Next() {
			var jid int64
			var l ledger.JournalLine
			if err := lrows.Scan(&jid, &l.ID, &l.AccountID, &l.Debit, &l.Credit, &l.Description, &l.ContactID); err != nil {
				return fmt.Errorf("scan journal line: %w", err)
			}
			if j := byID[jid]; j != nil {
				j.Lines = append(j.Lines, l)
			}
		}
		return lrows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// lineColumns reads a journal line in the order scanned everywhere.
const lineColumns = `id, account_id, debit, credit, description, COALESCE(contact_id, 0)`
