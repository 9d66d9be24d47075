package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// invoiceColumns read a document with its contact's name and the
// organisation's currency (for messages that state amounts).
const invoiceColumns = `i.id, i.org_id, i.kind, i.number, i.contact_id, c.name, o.currency, i.date, i.due_date, i.reference, i.status,
	i.subtotal, i.tax_total, i.total, i.amount_paid, i.amount_credited, COALESCE(i.journal_id, 0), COALESCE(i.void_journal_id, 0),
	i.created_by, i.created_at, i.updated_at`

const invoiceFrom = ` FROM invoices i JOIN contacts c ON c.id = i.contact_id AND c.org_id = i.org_id JOIN orgs o ON o.id = i.org_id`

func scanInvoice(row rowScanner) (*ledger.Invoice, error) {
	var inv ledger.Invoice
	var created, updated int64
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.Kind, &inv.Number, &inv.ContactID, &inv.ContactName, &inv.Currency, &inv.Date, &inv.DueDate, &inv.Reference, &inv.Status,
		&inv.Subtotal, &inv.TaxTotal, &inv.Total, &inv.AmountPaid, &inv.AmountCredited, &inv.JournalID, &inv.VoidJournalID,
		&inv.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &inv, nil
}

// findInvoice reads a document of any kind with its lines.
func findInvoice(ctx context.Context, q querier, orgID, id int64) (*ledger.Invoice, error) {
	inv, err := scanInvoice(q.QueryRowContext(ctx, `SELECT `+invoiceColumns+invoiceFrom+` WHERE i.org_id = ? AND i.id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.Errorf(errs.ENOTFOUND, "Document %d not found.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find invoice: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT id, description, quantity, unit_price, account_id, COALESCE(tax_rate_id, 0), tax_rate_bp, line_amount, tax_amount
		FROM invoice_lines WHERE org_id = ? AND invoice_id = ? ORDER BY position`, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("find invoice lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l ledger.InvoiceLine
		if err := rows.Scan(&l.ID, &l.Description, &l.Quantity, &l.UnitPrice, &l.AccountID, &l.TaxRateID, &l.TaxRateBP, &l.LineAmount, &l.TaxAmount); err != nil {
			return nil, fmt.Errorf("scan invoice line: %w", err)
		}
		inv.Lines = append(inv.Lines, l)
	}
	return inv, rows.Err()
}

// findInvoiceOfKind is findInvoice for routes of one kind: a document of
// another kind is not found, so a route never reaches records its
// permission does not cover.
func findInvoiceOfKind(ctx context.Context, q querier, orgID, id int64, kind string) (*ledger.Invoice, error) {
	inv, err := findInvoice(ctx, q, orgID, id)
	if errs.Code(err) == errs.ENOTFOUND || (err == nil && inv.Kind != kind) {
		return nil, errs.Errorf(errs.ENOTFOUND, "%s %d not found.", ledgerKindTitle(kind), id)
	}
	return inv, err
}

func ledgerKindTitle(kind string) string {
	l := ledger.KindLabel(kind)
	return strings.ToUpper(l[:1]) + l[1:]
}

// checkInvoiceRefs confirms, inside the writing transaction, that the
// contact, accounts and tax rates the document names are the
// organisation's: the service checked them already, but ids from a request
// must never link rows across organisations.
func checkInvoiceRefs(ctx context.Context, tx *Tx, inv *ledger.Invoice) error {
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM contacts WHERE org_id = ? AND id = ?`, inv.OrgID, inv.ContactID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return errs.Errorf(errs.ENOTFOUND, "contact_id: contact %d not found.", inv.ContactID)
		}
		return fmt.Errorf("check contact: %w", err)
	}
	for i, l := range inv.Lines {
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE org_id = ? AND id = ?`, inv.OrgID, l.AccountID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errs.Errorf(errs.ENOTFOUND, "Line %d: account %d not found.", i+1, l.AccountID)
			}
			return fmt.Errorf("check account: %w", err)
		}
		if l.TaxRateID == 0 {
			continue
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tax_rates WHERE org_id = ? AND id = ?`, inv.OrgID, l.TaxRateID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errs.Errorf(errs.ENOTFOUND, "Line %d: tax rate %d not found.", i+1, l.TaxRateID)
			}
			return fmt.Errorf("check tax rate: %w", err)
		}
	}
	return nil
}

func insertInvoiceLines(ctx context.Context, tx *Tx, inv *ledger.Invoice) error {
	for i := range inv.Lines {
		l := &inv.Lines[i]
		var rate any
		if l.TaxRateID != 0 {
			rate = l.TaxRateID
		}
		newID, err := insertID(ctx, tx, `INSERT INTO invoice_lines (invoice_id, org_id, position, description, quantity, unit_price, account_id, tax_rate_id, tax_rate_bp, line_amount, tax_amount)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, inv.ID, inv.OrgID, i+1, l.Description, l.Quantity, l.UnitPrice, l.AccountID, rate, l.TaxRateBP, l.LineAmount, l.TaxAmount)
		if err != nil {
			return fmt.Errorf("insert invoice line: %w", err)
		}
		l.ID = newID
	}
	return nil
}

// maxAutoNumber keeps automatic numbers far from integer overflow.
const maxAutoNumber = 1_000_000_000_000

// nextInvoiceNumber is the next free automatic number of the kind: one
// past the highest numeric suffix after the kind's prefix.
func nextInvoiceNumber(ctx context.Context, tx *Tx, orgID int64, kind string) (string, error) {
	prefix := ledger.NumberPrefix(kind)
	var max int64
	// SQLite's CAST reads the leading digits of "INV-12a"; PostgreSQL's
	// refuses anything but digits, so there the pattern admits only those.
	err := tx.QueryRowContext(ctx, tx.db.d.pick(
		`SELECT COALESCE(MAX(CAST(substr(number, ?) AS INTEGER)), 0) FROM invoices WHERE org_id = ? AND kind = ? AND number GLOB ?`,
		`SELECT COALESCE(MAX(CAST(substr(number, ?) AS BIGINT)), 0) FROM invoices WHERE org_id = ? AND kind = ? AND number ~ ?`),
		len(prefix)+1, orgID, kind, tx.db.d.pick(prefix+"[0-9]*", "^"+regexp.QuoteMeta(prefix)+"[0-9]{1,18}$")).Scan(&max)
	if err != nil {
		return "", fmt.Errorf("next invoice number: %w", err)
	}
	for n := max + 1; n < maxAutoNumber && n < max+1000; n++ {
		num := fmt.Sprintf("%s%04d", prefix, n)
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM invoices WHERE org_id = ? AND kind = ? AND number = ?`, orgID, kind, num).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return num, nil
		}
		if err != nil {
			return "", fmt.Errorf("next invoice number: %w", err)
		}
	}
	return "", errs.Errorf(errs.ECONFLICT, "No automatic %s number is free after %s%d; give the number yourself.", ledger.KindLabel(kind), prefix, max)
}

func duplicateNumber(err error, inv *ledger.Invoice) error {
	if err != nil && uniqueViolation(err, "invoices", "org_id", "kind", "number") {
		return errs.Errorf(errs.ECONFLICT, "Number %q is already used by another %s.", inv.Number, ledger.KindLabel(inv.Kind))
	}
	return err
}

// CreateInvoice implements ledger.SalesStore.
func (s *Store) CreateInvoice(ctx context.Context, inv *ledger.Invoice) error {
	err := s.tx(ctx, func(tx *Tx) error {
		if err := checkInvoiceRefs(ctx, tx, inv); err != nil {
			return err
		}
		if inv.Number == "" {
			n, err := nextInvoiceNumber(ctx, tx, inv.OrgID, inv.Kind)
			if err != nil {
				return err
			}
			inv.Number = n
		}
		newID, err := insertID(ctx, tx, `INSERT INTO invoices (org_id, kind, number, contact_id, date, due_date, reference, status, subtotal, tax_total, total, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?)`,
			inv.OrgID, inv.Kind, inv.Number, inv.ContactID, inv.Date, inv.DueDate, inv.Reference, inv.Subtotal, inv.TaxTotal, inv.Total, inv.CreatedBy, unix(inv.CreatedAt), unix(inv.UpdatedAt))
		if err != nil {
			if e := duplicateNumber(err, inv); e != err {
				return e
			}
			return fmt.Errorf("create invoice: %w", err)
		}
		inv.ID = newID
		inv.Status = ledger.InvoiceDraft
		return insertInvoiceLines(ctx, tx, inv)
	})
	if err != nil {
		inv.ID = 0
	}
	return err
}

// UpdateDraftInvoice implements ledger.SalesStore.
func (s *Store) UpdateDraftInvoice(ctx context.Context, inv *ledger.Invoice) error {
	return s.tx(ctx, func(tx *Tx) error {
		cur, err := findInvoiceOfKind(ctx, tx, inv.OrgID, inv.ID, inv.Kind)
		if err != nil {
			return err
		}
		if err := cur.CheckEditable(); err != nil {
			return err
		}
		if err := checkInvoiceRefs(ctx, tx, inv); err != nil {
			return err
		}
		if inv.Number == "" {
			inv.Number = cur.Number
		}
		res, err := tx.ExecContext(ctx, `UPDATE invoices SET number = ?, contact_id = ?, date = ?, due_date = ?, reference = ?, subtotal = ?, tax_total = ?, total = ?, updated_at = ?
			WHERE org_id = ? AND id = ? AND kind = ? AND status = 'draft'`,
			inv.Number, inv.ContactID, inv.Date, inv.DueDate, inv.Reference, inv.Subtotal, inv.TaxTotal, inv.Total, unix(inv.UpdatedAt), inv.OrgID, inv.ID, inv.Kind)
		if err != nil {
			if e := duplicateNumber(err, inv); e != err {
				return e
			}
			return fmt.Errorf("update invoice: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ECONFLICT, "%s changed while it was being edited; reload it and try again.", cur.Title())
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM invoice_lines WHERE org_id = ? AND invoice_id = ?`, inv.OrgID, inv.ID); err != nil {
			return fmt.Errorf("replace invoice lines: %w", err)
		}
		return insertInvoiceLines(ctx, tx, inv)
	})
}

// FindInvoiceByID implements ledger.SalesStore.
func (s *Store) FindInvoiceByID(ctx context.Context, orgID, id int64) (*ledger.Invoice, error) {
	return findInvoice(ctx, s.db, orgID, id)
}

// FindInvoices implements ledger.SalesStore.
func (s *Store) FindInvoices(ctx context.Context, orgID int64, f ledger.InvoiceFilter) ([]*ledger.Invoice, error) {
	return findAll(ctx, s.db, "invoice", scanInvoice, `SELECT `+invoiceColumns+invoiceFrom+`
		WHERE i.org_id = ?1 AND (?2 = '' OR i.kind = ?2) AND (?3 = '' OR i.status = ?3) AND (?4 = 0 OR i.contact_id = ?4)
		ORDER BY i.date DESC, i.id DESC LIMIT ?5 OFFSET ?6`, orgID, f.Kind, f.Status, f.ContactID, f.Limit, f.Offset)
}

// ApproveInvoice implements ledger.SalesStore.
func (s *Store) ApproveInvoice(ctx context.Context, orgID, id int64, kind string, by int64, at time.Time) (*ledger.Invoice, error) {
	var inv *ledger.Invoice
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		if inv, err = findInvoiceOfKind(ctx, tx, orgID, id, kind); err != nil {
			return err
		}
		if err := inv.CheckApprove(); err != nil {
			return err
		}
		ctrl, err := findSystemAccount(ctx, tx, orgID, inv.ControlSystem())
		if err != nil {
			return err
		}
		var taxID int64
		if inv.TaxTotal != 0 {
			tax, err := findSystemAccount(ctx, tx, orgID, ledger.SystemTax)
			if err != nil {
				return err
			}
			taxID = tax.ID
		}
		j, err := inv.ApprovalJournal(ctrl.ID, taxID, by, at)
		if err != nil {
			return err
		}
		if err := postJournal(ctx, tx, j); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE invoices SET status = 'awaiting_payment', journal_id = ?, updated_at = ? WHERE org_id = ? AND id = ? AND status = 'draft'`,
			j.ID, unix(at), orgID, id)
		if err != nil {
			return fmt.Errorf("approve invoice: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ECONFLICT, "%s is no longer a draft.", inv.Title())
		}
		inv.Status, inv.JournalID, inv.UpdatedAt = ledger.InvoiceAwaitingPayment, j.ID, at
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// VoidInvoice implements ledger.SalesStore.
func (s *Store) VoidInvoice(ctx context.Context, orgID, id int64, kind string, by int64, at time.Time) (*ledger.Invoice, error) {
	var inv *ledger.Invoice
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		if inv, err = findInvoiceOfKind(ctx, tx, orgID, id, kind); err != nil {
			return err
		}
		lock, err := findLockDate(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if err := inv.CheckVoid(lock); err != nil {
			return err
		}
		if inv.Status == ledger.InvoiceDraft {
			res, err := tx.ExecContext(ctx, `UPDATE invoices SET status = 'voided', updated_at = ? WHERE org_id = ? AND id = ? AND status = 'draft'`, unix(at), orgID, id)
			if err != nil {
				return fmt.Errorf("void invoice: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.Errorf(errs.ECONFLICT, "%s changed meanwhile; reload it and try again.", inv.Title())
			}
			inv.Status, inv.UpdatedAt = ledger.InvoiceVoided, at
			return nil
		}
		orig, err := findJournal(ctx, tx, orgID, inv.JournalID)
		if err != nil {
			return err
		}
		rev := inv.VoidJournal(orig, by, at)
		if err := postJournal(ctx, tx, rev); err != nil {
			return err
		}
		// Guarded like payments: a payment or allocation that got in first
		// makes this match nothing.
		res, err := tx.ExecContext(ctx, `UPDATE invoices SET status = 'voided', void_journal_id = ?, updated_at = ?
			WHERE org_id = ? AND id = ? AND status = 'awaiting_payment' AND amount_paid = 0 AND amount_credited = 0`, rev.ID, unix(at), orgID, id)
		if err != nil {
			return fmt.Errorf("void invoice: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ECONFLICT, "%s changed meanwhile; reload it and try again.", inv.Title())
		}
		inv.Status, inv.VoidJournalID, inv.UpdatedAt = ledger.InvoiceVoided, rev.ID, at
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// settleSQL raises what has been settled on a document by ?1 only if that
// does not take it past its total, and marks it paid when it reaches it.
// SET expressions read the row as it was, so both use the old amounts.
const settleSQL = ` = %[1]s + ?1, status = CASE WHEN amount_paid + amount_credited + ?1 = total THEN 'paid' ELSE status END, updated_at = ?2
	WHERE org_id = ?3 AND id = ?4 AND status = 'awaiting_payment' AND amount_paid + amount_credited + ?1 <= total`

func settle(ctx context.Context, tx *Tx, column string, amount int64, at time.Time, orgID, id int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE invoices SET `+column+fmt.Sprintf(settleSQL, column), amount, unix(at), orgID, id)
	if err != nil {
		return false, fmt.Errorf("settle invoice: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreatePayment implements ledger.SalesStore.
func (s *Store) CreatePayment(ctx context.Context, p *ledger.Payment) error {
	err := s.tx(ctx, func(tx *Tx) error {
		inv, err := findInvoice(ctx, tx, p.OrgID, p.InvoiceID)
		if err != nil {
			if errs.Code(err) == errs.ENOTFOUND {
				return errs.Errorf(errs.ENOTFOUND, "Invoice %d not found.", p.InvoiceID)
			}
			return err
		}
		if err := inv.CheckPayment(p.Amount, p.Date); err != nil {
			return err
		}
		var bankLedger int64
		err = tx.QueryRowContext(ctx, `SELECT account_id FROM bank_accounts WHERE org_id = ? AND id = ?`, p.OrgID, p.BankAccountID).Scan(&bankLedger)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.Errorf(errs.ENOTFOUND, "bank_account_id: bank account %d not found.", p.BankAccountID)
		}
		if err != nil {
			return fmt.Errorf("find bank account: %w", err)
		}
		ctrl, err := findSystemAccount(ctx, tx, p.OrgID, inv.ControlSystem())
		if err != nil {
			return err
		}
		// The journal names the payment as its source, so the payment's id
		// is taken first (ids are global, hence no org filter here); the
		// write lock every write transaction holds (BEGIN IMMEDIATE on SQLite,
		// the advisory write lock on PostgreSQL) keeps it free until insert.
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM payments`).Scan(&p.ID); err != nil {
			return fmt.Errorf("next payment id: %w", err)
		}
		j := inv.PaymentJournal(p, bankLedger, ctrl.ID)
		if err := postJournal(ctx, tx, j); err != nil {
			return err
		}
		p.JournalID = j.ID
		ok, err := settle(ctx, tx, "amount_paid", p.Amount, p.CreatedAt, p.OrgID, p.InvoiceID)
		if err != nil {
			return err
		}
		if !ok {
			return errs.Errorf(errs.ECONFLICT, "A payment of that amount would overpay %s, or it is no longer awaiting payment; reload it and try again.", inv.Title())
		}
		var btx any
		if p.BankTransactionID != 0 {
			btx = p.BankTransactionID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, org_id, invoice_id, bank_account_id, date, amount, reference, journal_id, bank_transaction_id, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, p.OrgID, p.InvoiceID, p.BankAccountID, p.Date, p.Amount, p.Reference, p.JournalID, btx, p.CreatedBy, unix(p.CreatedAt)); err != nil {
			return fmt.Errorf("insert payment: %w", err)
		}
		if p.BankTransactionID != 0 {
			// Only an unreconciled line of the same account and amount
			// matches, so a statement line is never matched twice.
			res, err := tx.ExecContext(ctx, `UPDATE bank_transactions SET status = 'reconciled', payment_id = ?
				WHERE org_id = ? AND id = ? AND status = 'unreconciled' AND bank_account_id = ? AND amount = ?`,
				p.ID, p.OrgID, p.BankTransactionID, p.BankAccountID, inv.SignedBankAmount(p.Amount))
			if err != nil {
				return fmt.Errorf("reconcile bank transaction: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.Errorf(errs.ECONFLICT, "Bank transaction %d is already reconciled, or is not an unreconciled line of bank account %d for this payment's amount.", p.BankTransactionID, p.BankAccountID)
			}
		}
		p.InvoiceKind, p.InvoiceNumber, p.ContactName = inv.Kind, inv.Number, inv.ContactName
		return nil
	})
	if err != nil {
		p.ID, p.JournalID = 0, 0
	}
	return err
}

const paymentColumns = `p.id, p.org_id, p.invoice_id, p.bank_account_id, p.date, p.amount, p.reference, p.journal_id, COALESCE(p.bank_transaction_id, 0), p.created_by, p.created_at,
	i.kind, i.number, c.name, COALESCE(b.name, '')`

const paymentFrom = ` FROM payments p
	JOIN invoices i ON i.id = p.invoice_id AND i.org_id = p.org_id
	JOIN contacts c ON c.id = i.contact_id AND c.org_id = p.org_id
	LEFT JOIN bank_accounts b ON b.id = p.bank_account_id AND b.org_id = p.org_id`

func scanPayment(row rowScanner) (*ledger.Payment, error) {
	var p ledger.Payment
	var created int64
	if err := row.Scan(&p.ID, &p.OrgID, &p.InvoiceID, &p.BankAccountID, &p.Date, &p.Amount, &p.Reference, &p.JournalID, &p.BankTransactionID, &p.CreatedBy, &created,
		&p.InvoiceKind, &p.InvoiceNumber, &p.ContactName, &p.BankAccountName); err != nil {
		return nil, err
	}
	p.CreatedAt = fromUnix(created)
	return &p, nil
}

// FindPayments implements ledger.SalesStore.
func (s *Store) FindPayments(ctx context.Context, orgID int64, f ledger.PaymentFilter) ([]*ledger.Payment, error) {
	return findAll(ctx, s.db, "payment", scanPayment, `SELECT `+paymentColumns+paymentFrom+`
		WHERE p.org_id = ?1 AND (?2 = 0 OR p.invoice_id = ?2) AND (?3 = '' OR i.kind = ?3)
		ORDER BY p.date DESC, p.id DESC LIMIT ?4 OFFSET ?5`, orgID, f.InvoiceID, f.Kind, f.Limit, f.Offset)
}

// FindPaymentByID implements ledger.SalesStore.
func (s *Store) FindPaymentByID(ctx context.Context, orgID, id int64) (*ledger.Payment, error) {
	p, err := scanPayment(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+paymentFrom+` WHERE p.org_id = ? AND p.id = ?`, orgID, id))
	if err != nil {
		return nil, notFound("payment", err)
	}
	return p, nil
}

// FindPaymentBankAccounts implements ledger.SalesStore.
func (s *Store) FindPaymentBankAccounts(ctx context.Context, orgID int64) ([]*ledger.PaymentBankAccount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.name, a.id, a.code FROM bank_accounts b JOIN accounts a ON a.id = b.account_id AND a.org_id = b.org_id
		WHERE b.org_id = ? AND a.archived = 0 ORDER BY a.code, b.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find bank accounts: %w", err)
	}
	defer rows.Close()
	var out []*ledger.PaymentBankAccount
	for rows.Next() {
		var b ledger.PaymentBankAccount
		if err := rows.Scan(&b.ID, &b.Name, &b.AccountID, &b.AccountCode); err != nil {
			return nil, fmt.Errorf("scan bank account: %w", err)
		}
		out = append(out, &b)
	}
	return out, rows.Err()
}

// AllocateCredit implements ledger.SalesStore.
func (s *Store) AllocateCredit(ctx context.Context, al *ledger.CreditAllocation) error {
	err := s.tx(ctx, func(tx *Tx) error {
		cn, err := findInvoice(ctx, tx, al.OrgID, al.CreditNoteID)
		if err == nil && !ledger.IsCreditKind(cn.Kind) {
			err = errs.Errorf(errs.ENOTFOUND, "not a credit note")
		}
		if errs.Code(err) == errs.ENOTFOUND {
			return errs.Errorf(errs.ENOTFOUND, "Credit note %d not found.", al.CreditNoteID)
		}
		if err != nil {
			return err
		}
		inv, err := findInvoice(ctx, tx, al.OrgID, al.InvoiceID)
		if errs.Code(err) == errs.ENOTFOUND {
			return errs.Errorf(errs.ENOTFOUND, "invoice_id: invoice %d not found.", al.InvoiceID)
		}
		if err != nil {
			return err
		}
		lock, err := findLockDate(ctx, tx, al.OrgID)
		if err != nil {
			return err
		}
		if err := ledger.CheckAllocation(cn, inv, al.Amount, al.Date, lock); err != nil {
			return err
		}
		for _, side := range []struct {
			column string
			doc    *ledger.Invoice
		}{{"amount_paid", cn}, {"amount_credited", inv}} {
			ok, err := settle(ctx, tx, side.column, al.Amount, al.CreatedAt, al.OrgID, side.doc.ID)
			if err != nil {
				return err
			}
			if !ok {
				return errs.Errorf(errs.ECONFLICT, "%s changed meanwhile and no longer has that much left; reload it and try again.", side.doc.Title())
			}
		}
		newID, err := insertID(ctx, tx, `INSERT INTO credit_allocations (org_id, credit_note_id, invoice_id, date, amount, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			al.OrgID, al.CreditNoteID, al.InvoiceID, al.Date, al.Amount, unix(al.CreatedAt))
		if err != nil {
			return fmt.Errorf("insert credit allocation: %w", err)
		}
		al.ID = newID
		al.CreditNoteNumber, al.InvoiceNumber = cn.Number, inv.Number
		return err
	})
	if err != nil {
		al.ID = 0
	}
	return err
}

// FindCreditAllocations implements ledger.SalesStore.
func (s *Store) FindCreditAllocations(ctx context.Context, orgID, id int64) ([]*ledger.CreditAllocation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.org_id, a.credit_note_id, a.invoice_id, a.date, a.amount, a.created_at, cn.number, i.number
		FROM credit_allocations a
		JOIN invoices cn ON cn.id = a.credit_note_id AND cn.org_id = a.org_id
		JOIN invoices i ON i.id = a.invoice_id AND i.org_id = a.org_id
		WHERE a.org_id = ?1 AND (a.credit_note_id = ?2 OR a.invoice_id = ?2)
		ORDER BY a.date, a.id`, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("find credit allocations: %w", err)
	}
	defer rows.Close()
	var out []*ledger.CreditAllocation
	for rows.Next() {
		var a ledger.CreditAllocation
		var created int64
		if err := rows.Scan(&a.ID, &a.OrgID, &a.CreditNoteID, &a.InvoiceID, &a.Date, &a.Amount, &created, &a.CreditNoteNumber, &a.InvoiceNumber); err != nil {
			return nil, fmt.Errorf("scan credit allocation: %w", err)
		}
		a.CreatedAt = fromUnix(created)
		out = append(out, &a)
	}
	return out, rows.Err()
}
