package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"coffer/internal/access"
)

// exportQuery is one exported table: its columns, in order, and the query
// that reads them. Every query filters by the organisation (its one
// parameter) and orders by id, so two exports of the same books are alike.
type exportQuery struct {
	table access.ExportTable
	sql   string
}

func col(name string, kind access.ExportKind) access.ExportColumn {
	return access.ExportColumn{Name: name, Kind: kind}
}

func sealedCol(name, table, column string) access.ExportColumn {
	return access.ExportColumn{Name: name, Kind: access.ExportSealed, SealTable: table, SealColumn: column}
}

const (
	eInt   = access.ExportInt
	eText  = access.ExportText
	eMoney = access.ExportMoney
	eQty   = access.ExportQuantity
	eTime  = access.ExportTime
	eBool  = access.ExportBool
)

// exportQueries lists the tables of an export. Bank account numbers are
// left out on purpose: only their last four digits leave the database.
var exportQueries = []exportQuery{
	{access.ExportTable{Name: "orgs", Columns: []access.ExportColumn{
		col("id", eInt), col("name", eText), col("currency", eText), col("lock_date", eText), col("created_at", eTime),
		col("session_idle_seconds", eInt), col("session_absolute_seconds", eInt), col("password_expiry_days", eInt),
		col("forbid_sms", eBool), col("require_phishing_resistant", eBool), col("forbid_passkey_sign_in", eBool)}},
		`SELECT id, name, currency, lock_date, created_at, session_idle_secs, session_absolute_secs, password_expiry_days, forbid_sms, require_phishing_resistant, 1 - allow_passkey_sign_in
		FROM orgs WHERE id = ?`},
	{access.ExportTable{Name: "accounts", Columns: []access.ExportColumn{
		col("id", eInt), col("code", eText), col("name", eText), col("type", eText), col("system", eText),
		col("tax_rate_id", eInt), col("description", eText), col("archived", eBool)}},
		`SELECT id, code, name, type, system, COALESCE(tax_rate_id, 0), description, archived FROM accounts WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "tax_rates", Columns: []access.ExportColumn{
		col("id", eInt), col("name", eText), col("rate_bp", eInt), col("archived", eBool)}},
		`SELECT id, name, rate_bp, archived FROM tax_rates WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "contacts", Columns: []access.ExportColumn{
		col("id", eInt), col("name", eText), col("email", eText), col("is_customer", eBool), col("is_supplier", eBool),
		sealedCol("bank_details", "contacts", "bank_details"), sealedCol("tax_number", "contacts", "tax_number"),
		col("archived", eBool), col("created_at", eTime), col("updated_at", eTime)}},
		`SELECT id, name, email, is_customer, is_supplier, bank_details_enc, tax_number_enc, archived, created_at, updated_at
		FROM contacts WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "invoices", Columns: []access.ExportColumn{
		col("id", eInt), col("kind", eText), col("number", eText), col("contact_id", eInt), col("date", eText), col("due_date", eText),
		col("reference", eText), col("status", eText), col("subtotal", eMoney), col("tax_total", eMoney), col("total", eMoney),
		col("amount_paid", eMoney), col("amount_credited", eMoney), col("journal_id", eInt), col("void_journal_id", eInt),
		col("created_by", eInt), col("created_at", eTime), col("updated_at", eTime)}},
		`SELECT id, kind, number, contact_id, date, due_date, reference, status, subtotal, tax_total, total, amount_paid, amount_credited,
		COALESCE(journal_id, 0), COALESCE(void_journal_id, 0), created_by, created_at, updated_at
		FROM invoices WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "invoice_lines", Columns: []access.ExportColumn{
		col("id", eInt), col("invoice_id", eInt), col("position", eInt), col("description", eText), col("quantity", eQty),
		col("unit_price", eMoney), col("account_id", eInt), col("tax_rate_id", eInt), col("tax_rate_bp", eInt),
		col("line_amount", eMoney), col("tax_amount", eMoney)}},
		`SELECT id, invoice_id, position, description, quantity, unit_price, account_id, COALESCE(tax_rate_id, 0), tax_rate_bp, line_amount, tax_amount
		FROM invoice_lines WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "payments", Columns: []access.ExportColumn{
		col("id", eInt), col("invoice_id", eInt), col("bank_account_id", eInt), col("date", eText), col("amount", eMoney),
		col("reference", eText), col("journal_id", eInt), col("bank_transaction_id", eInt), col("created_by", eInt), col("created_at", eTime)}},
		`SELECT id, invoice_id, bank_account_id, date, amount, reference, journal_id, COALESCE(bank_transaction_id, 0), created_by, created_at
		FROM payments WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "credit_allocations", Columns: []access.ExportColumn{
		col("id", eInt), col("credit_note_id", eInt), col("invoice_id", eInt), col("date", eText), col("amount", eMoney), col("created_at", eTime)}},
		`SELECT id, credit_note_id, invoice_id, date, amount, created_at FROM credit_allocations WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "journals", Columns: []access.ExportColumn{
		col("id", eInt), col("date", eText), col("narration", eText), col("source_type", eText), col("source_id", eInt),
		col("reverses_id", eInt), col("created_by", eInt), col("created_at", eTime)}},
		`SELECT id, date, narration, source_type, source_id, COALESCE(reverses_id, 0), created_by, created_at FROM journals WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "journal_lines", Columns: []access.ExportColumn{
		col("id", eInt), col("journal_id", eInt), col("account_id", eInt), col("account_code", eText), col("debit", eMoney),
		col("credit", eMoney), col("description", eText), col("contact_id", eInt)}},
		`SELECT l.id, l.journal_id, l.account_id, COALESCE(a.code, ''), l.debit, l.credit, l.description, COALESCE(l.contact_id, 0)
		FROM journal_lines l LEFT JOIN accounts a ON a.id = l.account_id AND a.org_id = l.org_id WHERE l.org_id = ? ORDER BY l.id`},
	{access.ExportTable{Name: "bank_accounts", Columns: []access.ExportColumn{
		col("id", eInt), col("account_id", eInt), col("name", eText), col("number_last4", eText), col("created_at", eTime)}},
		`SELECT id, account_id, name, number_last4, created_at FROM bank_accounts WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "bank_transactions", Columns: []access.ExportColumn{
		col("id", eInt), col("bank_account_id", eInt), col("date", eText), col("amount", eMoney), col("description", eText),
		col("reference", eText), col("fit_id", eText), col("import_id", eInt), col("status", eText), col("payment_id", eInt),
		col("journal_id", eInt), col("created_at", eTime)}},
		`SELECT id, bank_account_id, date, amount, description, reference, fit_id, COALESCE(import_id, 0), status,
		COALESCE(payment_id, 0), COALESCE(journal_id, 0), created_at FROM bank_transactions WHERE org_id = ? ORDER BY id`},
	{access.ExportTable{Name: "members", Columns: []access.ExportColumn{
		col("user_id", eInt), col("email", eText), col("name", eText), col("role", eText), col("joined_at", eTime),
		col("last_login_at", eTime), col("mfa_methods", eText)}},
		`SELECT u.id, u.email, u.name, m.role, m.created_at, u.last_login_at,
		COALESCE((SELECT {{group_concat kind}} FROM (SELECT DISTINCT kind FROM mfa_factors t WHERE t.user_id = u.id AND t.confirmed = 1 ORDER BY kind) k), '')
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY u.id`},
}

// ExportOrg implements access.Store. It reads in one read-only transaction,
// a snapshot in WAL mode that does not hold up writers however slowly the
// client downloads.
func (s *Store) ExportOrg(ctx context.Context, orgID int64, sink access.ExportSink) error {
	return s.readTx(ctx, func(tx *Tx) error {
		for i := range exportQueries {
			if err := exportTable(ctx, tx, orgID, &exportQueries[i], sink); err != nil {
				return err
			}
		}
		return nil
	})
}

func exportTable(ctx context.Context, tx *Tx, orgID int64, q *exportQuery, sink access.ExportSink) error {
	t := q.table
	if err := sink.Table(&t); err != nil {
		return err
	}
	// The one aggregate the engines spell differently.
	query := strings.ReplaceAll(q.sql, "{{group_concat kind}}", tx.db.d.pick("group_concat(kind, ' ')", "string_agg(kind, ' ' ORDER BY kind)"))
	rows, err := tx.QueryContext(ctx, query, orgID)
	if err != nil {
		return fmt.Errorf("export %s: %w", t.Name, err)
	}
	defer rows.Close()
	raw := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	values := make([]any, len(t.Columns))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("export %s: %w", t.Name, err)
		}
		for i, c := range t.Columns {
			v, err := exportValue(c.Kind, raw[i])
			if err != nil {
				return fmt.Errorf("export %s.%s: %w", t.Name, c.Name, err)
			}
			values[i] = v
		}
		if err := sink.Row(values); err != nil {
			return err
		}
	}
	return rows.Err()
}

// exportValue converts a driver value to the Go type the column's kind
// promises (see access.ExportKind).
func exportValue(kind access.ExportKind, v any) (any, error) {
	switch kind {
	case access.ExportText:
		switch x := v.(type) {
		case nil:
			return "", nil
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case access.ExportSealed:
		switch x := v.(type) {
		case nil:
			return []byte(nil), nil
		case []byte:
			return append([]byte(nil), x...), nil
		}
	default:
		switch x := v.(type) {
		case nil:
			return int64(0), nil
		case int64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	}
	return nil, fmt.Errorf("unexpected %T", v)
}
