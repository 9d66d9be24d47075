package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

var _ ledger.BankStore = (*Store)(nil)

// bankAccountSQL reads bank accounts with their ledger balance up to ?1
// and their unreconciled count, for organisation ?2. Every table is
// filtered by the organisation.
const bankAccountSQL = `SELECT b.id, b.org_id, b.account_id, a.code, b.name, o.currency, b.number_last4, a.archived, b.created_at,
	(SELECT COALESCE(SUM(l.debit), 0) - COALESCE(SUM(l.credit), 0) FROM journal_lines l JOIN journals j ON j.id = l.journal_id AND j.org_id = ?2
		WHERE l.org_id = ?2 AND l.account_id = b.account_id AND j.date <= ?1),
	(SELECT COUNT(*) FROM bank_transactions t WHERE t.org_id = ?2 AND t.bank_account_id = b.id AND t.status = 'unreconciled')
FROM bank_accounts b
JOIN accounts a ON a.id = b.account_id AND a.org_id = ?2
JOIN orgs o ON o.id = b.org_id
WHERE b.org_id = ?2`

func scanBankAccount(row rowScanner) (*ledger.BankAccount, error) {
	var b ledger.BankAccount
	var created int64
	if err := row.Scan(&b.ID, &b.OrgID, &b.AccountID, &b.AccountCode, &b.Name, &b.Currency, &b.NumberLast4, &b.Archived, &created, &b.Balance, &b.Unreconciled); err != nil {
		return nil, err
	}
	b.CreatedAt = fromUnix(created)
	return &b, nil
}

// FindBankAccounts implements ledger.BankStore.
func (s *Store) FindBankAccounts(ctx context.Context, orgID int64, asOf string) ([]*ledger.BankAccount, error) {
	return findAll(ctx, s.db, "bank account", scanBankAccount, bankAccountSQL+` ORDER BY a.code, b.id`, asOf, orgID)
}

// FindBankAccountByID implements ledger.BankStore.
func (s *Store) FindBankAccountByID(ctx context.Context, orgID, id int64, asOf string) (*ledger.BankAccount, error) {
	b, err := scanBankAccount(s.db.QueryRowContext(ctx, bankAccountSQL+` AND b.id = ?3`, asOf, orgID, id))
	if err != nil {
		return nil, notFound("Bank account", err)
	}
	return b, nil
}

// CreateBankAccount implements ledger.BankStore.
func (s *Store) CreateBankAccount(ctx context.Context, ba *ledger.BankAccount, seal func(id int64) ([]byte, error)) error {
	err := s.tx(ctx, func(tx *Tx) error {
		newID, err := insertID(ctx, tx, `INSERT INTO accounts (org_id, code, name, type, system, description) VALUES (?, ?, ?, ?, ?, '')`,
			ba.OrgID, ba.AccountCode, ba.Name, string(ledger.Asset), ledger.SystemBank)
		if err != nil {
			if uniqueViolation(err, "") {
				return errs.Errorf(errs.ECONFLICT, "The chart of accounts already has an account with code %s; choose another code.", ba.AccountCode)
			}
			return fmt.Errorf("create bank ledger account: %w", err)
		}
		ba.AccountID = newID
		newID, err = insertID(ctx, tx, `INSERT INTO bank_accounts (org_id, account_id, name, number_last4, created_at) VALUES (?, ?, ?, ?, ?)`,
			ba.OrgID, ba.AccountID, ba.Name, ba.NumberLast4, unix(ba.CreatedAt))
		if err != nil {
			return fmt.Errorf("create bank account: %w", err)
		}
		ba.ID = newID
		if seal == nil {
			return nil
		}
		// The sealed number is bound to the row's id, known only now.
		enc, err := seal(ba.ID)
		if err != nil {
			return fmt.Errorf("seal account number: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bank_accounts SET account_number_enc = ? WHERE org_id = ? AND id = ?`, enc, ba.OrgID, ba.ID); err != nil {
			return fmt.Errorf("store account number: %w", err)
		}
		return nil
	})
	if err != nil {
		ba.ID, ba.AccountID = 0, 0
	}
	return err
}

// CreateBankImport implements ledger.BankStore.
func (s *Store) CreateBankImport(ctx context.Context, imp *ledger.BankImport, lines []ledger.StatementLine) error {
	err := s.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bank_accounts WHERE org_id = ? AND id = ?`, imp.OrgID, imp.BankAccountID).Scan(&n); err != nil {
			return fmt.Errorf("find bank account: %w", err)
		}
		if n != 1 {
			return errs.Errorf(errs.ENOTFOUND, "Bank account not found.")
		}
		newID, err := insertID(ctx, tx, `INSERT INTO bank_imports (org_id, bank_account_id, format, filename, imported, duplicates, created_by, created_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?)`,
			imp.OrgID, imp.BankAccountID, imp.Format, imp.Filename, imp.CreatedBy, unix(imp.CreatedAt))
		if err != nil {
			return fmt.Errorf("create bank import: %w", err)
		}
		imp.ID = newID
		ins, err := tx.PrepareContext(ctx, `INSERT INTO bank_transactions (org_id, bank_account_id, date, amount, description, reference, fit_id, import_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, bank_account_id, fit_id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("prepare bank transaction insert: %w", err)
		}
		defer ins.Close()
		imp.Imported, imp.Duplicates = 0, 0
		created := unix(imp.CreatedAt)
		for i := range lines {
			l := &lines[i]
			if err := l.Validate(); err != nil {
				return fmt.Errorf("statement line %d: %w", i+1, err)
			}
			res, err := ins.ExecContext(ctx, imp.OrgID, imp.BankAccountID, l.Date, l.Amount, l.Description, l.Reference, l.FitID, imp.ID, created)
			if err != nil {
				return fmt.Errorf("insert bank transaction: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				imp.Imported++
			} else {
				imp.Duplicates++
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bank_imports SET imported = ?, duplicates = ? WHERE org_id = ? AND id = ?`, imp.Imported, imp.Duplicates, imp.OrgID, imp.ID); err != nil {
			return fmt.Errorf("count bank import: %w", err)
		}
		return nil
	})
	if err != nil {
		imp.ID, imp.Imported, imp.Duplicates = 0, 0, 0
	}
	return err
}

const bankTransactionColumns = `t.id, t.org_id, t.bank_account_id, t.date, t.amount, o.currency, t.description, t.reference, t.fit_id,
	COALESCE(t.import_id, 0), t.status, COALESCE(t.payment_id, 0), COALESCE(t.journal_id, 0), t.created_at`

const bankTransactionFrom = ` FROM bank_transactions t JOIN orgs o ON o.id = t.org_id`

func scanBankTransaction(row rowScanner, extra ...any) (*ledger.BankTransaction, error) {
	var t ledger.BankTransaction
	var created int64
	dest := append([]any{&t.ID, &t.OrgID, &t.BankAccountID, &t.Date, &t.Amount, &t.Currency, &t.Description, &t.Reference, &t.FitID,
		&t.ImportID, &t.Status, &t.PaymentID, &t.JournalID, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.CreatedAt = fromUnix(created)
	return &t, nil
}

// FindBankTransactions implements ledger.BankStore.
func (s *Store) FindBankTransactions(ctx context.Context, orgID int64, f ledger.BankTransactionFilter) ([]*ledger.BankTransaction, int, error) {
	const where = ` WHERE t.org_id = ?1 AND (?2 = 0 OR t.bank_account_id = ?2) AND (?3 = '' OR t.status = ?3)`
	var out []*ledger.BankTransaction
	var total int
	err := s.readTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bank_transactions t`+where, orgID, f.BankAccountID, f.Status).Scan(&total); err != nil {
			return fmt.Errorf("count bank transactions: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+bankTransactionColumns+bankTransactionFrom+where+` ORDER BY t.date, t.id LIMIT ?4 OFFSET ?5`,
			orgID, f.BankAccountID, f.Status, f.Limit, f.Offset)
		if err != nil {
			return fmt.Errorf("find bank transactions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanBankTransaction(rows)
			if err != nil {
				return fmt.Errorf("scan bank transaction: %w", err)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// FindBankTransactionByID implements ledger.BankStore.
func (s *Store) FindBankTransactionByID(ctx context.Context, orgID, id int64) (*ledger.BankTransaction, error) {
	t, err := scanBankTransaction(s.db.QueryRowContext(ctx, `SELECT `+bankTransactionColumns+bankTransactionFrom+` WHERE t.org_id = ? AND t.id = ?`, orgID, id))
	if err != nil {
		return nil, notFound("Bank transaction", err)
	}
	return t, nil
}

// CategoriseBankTransaction implements ledger.BankStore.
func (s *Store) CategoriseBankTransaction(ctx context.Context, orgID, id int64, build func(t *ledger.BankTransaction, bankLedgerID int64) (*ledger.Journal, error)) (*ledger.BankTransaction, error) {
	var t *ledger.BankTransaction
	err := s.tx(ctx, func(tx *Tx) error {
		var bankLedger int64
		var err error
		t, err = scanBankTransaction(tx.QueryRowContext(ctx, `SELECT `+bankTransactionColumns+`, b.account_id`+bankTransactionFrom+`
			JOIN bank_accounts b ON b.id = t.bank_account_id AND b.org_id = t.org_id
			WHERE t.org_id = ? AND t.id = ?`, orgID, id), &bankLedger)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.Errorf(errs.ENOTFOUND, "Bank transaction %d not found.", id)
		}
		if err != nil {
			return fmt.Errorf("find bank transaction: %w", err)
		}
		if t.Status != ledger.BankUnreconciled {
			return errs.Errorf(errs.ECONFLICT, "Bank transaction %d is already reconciled.", id)
		}
		j, err := build(t, bankLedger)
		if err != nil {
			return err
		}
		if j.OrgID != orgID {
			return fmt.Errorf("categorise bank transaction: journal of organisation %d for organisation %d", j.OrgID, orgID)
		}
		if err := postJournal(ctx, tx, j); err != nil {
			return err
		}
		// The status condition makes the reconciliation happen once even
		// if two requests race past the check above.
		res, err := tx.ExecContext(ctx, `UPDATE bank_transactions SET status = 'reconciled', journal_id = ? WHERE org_id = ? AND id = ? AND status = 'unreconciled'`, j.ID, orgID, id)
		if err != nil {
			return fmt.Errorf("reconcile bank transaction: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ECONFLICT, "Bank transaction %d is already reconciled.", id)
		}
		t.Status, t.JournalID = ledger.BankReconciled, j.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
