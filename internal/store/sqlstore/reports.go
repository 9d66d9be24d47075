package sqlstore

import (
	"context"
	"fmt"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// accountActivitySQL sums each account's lines dated before ?1 and from ?1
// through ?3, for organisation ?2. The lines are aggregated per account
// first and the (small) accounts table joined after; SUM over INTEGER
// columns stays integer in SQLite and fails on overflow rather than
// turning into a float. Every table is filtered by the organisation, the
// lines too, though their journal already is.
const accountActivitySQL = `
WITH t AS (
	SELECT l.account_id AS account_id,
		SUM(CASE WHEN j.date < ?1 THEN l.debit ELSE 0 END) AS prior_debit,
		SUM(CASE WHEN j.date < ?1 THEN l.credit ELSE 0 END) AS prior_credit,
		SUM(CASE WHEN j.date >= ?1 THEN l.debit ELSE 0 END) AS debit,
		SUM(CASE WHEN j.date >= ?1 THEN l.credit ELSE 0 END) AS credit
	FROM journals j
	JOIN journal_lines l ON l.journal_id = j.id
	WHERE j.org_id = ?2 AND l.org_id = ?2 AND j.date <= ?3
	GROUP BY l.account_id
)
SELECT a.id, a.code, a.name, a.type, a.system, t.prior_debit, t.prior_credit, t.debit, t.credit
FROM t JOIN accounts a ON a.id = t.account_id AND a.org_id = ?2
ORDER BY a.code, a.id`

// FindAccountActivity implements ledger.ReportStore.
func (s *Store) FindAccountActivity(ctx context.Context, orgID int64, from, to string) ([]*ledger.AccountActivity, error) {
	var out []*ledger.AccountActivity
	err := s.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, accountActivitySQL, from, orgID, to)
		if err != nil {
			return fmt.Errorf("find account activity: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a ledger.AccountActivity
			var typ string
			if err := rows.Scan(&a.AccountID, &a.Code, &a.Name, &typ, &a.System, &a.PriorDebit, &a.PriorCredit, &a.Debit, &a.Credit); err != nil {
				return fmt.Errorf("scan account activity: %w", err)
			}
			a.Type = ledger.AccountType(typ)
			out = append(out, &a)
		}
		return rows.Err()
	})
	return out, err
}

// agedBalancesSQL computes each invoice's amount outstanding on ?2 (total
// less payments and credit allocations dated on or before ?2, credit
// notes negative) and its days past due with integer arithmetic, then sums
// them per contact into the buckets. ?1 is the organisation, ?3 and ?4 the
// invoice and credit note kinds.
const agedBalancesSQL = `
WITH items AS (
	SELECT i.contact_id AS contact_id,
		(CASE WHEN i.kind = ?4 THEN -1 ELSE 1 END) * (i.total
			- COALESCE((SELECT SUM(p.amount) FROM payments p WHERE p.org_id = ?1 AND p.invoice_id = i.id AND p.date <= ?2), 0)
			- COALESCE((SELECT SUM(c.amount) FROM credit_allocations c WHERE c.org_id = ?1 AND c.invoice_id = i.id AND c.date <= ?2), 0)
			- COALESCE((SELECT SUM(c.amount) FROM credit_allocations c WHERE c.org_id = ?1 AND c.credit_note_id = i.id AND c.date <= ?2), 0)
		) AS outstanding,
		COALESCE(%s, 0) AS overdue
	FROM invoices i
	WHERE i.org_id = ?1 AND i.kind IN (?3, ?4) AND i.status NOT IN ('draft', 'voided') AND i.date <= ?2
)
SELECT c.id, c.name,
	SUM(CASE WHEN overdue <= 0 THEN outstanding ELSE 0 END),
	SUM(CASE WHEN overdue BETWEEN 1 AND 30 THEN outstanding ELSE 0 END),
	SUM(CASE WHEN overdue BETWEEN 31 AND 60 THEN outstanding ELSE 0 END),
	SUM(CASE WHEN overdue BETWEEN 61 AND 90 THEN outstanding ELSE 0 END),
	SUM(CASE WHEN overdue > 90 THEN outstanding ELSE 0 END),
	SUM(outstanding) AS total
FROM items JOIN contacts c ON c.id = items.contact_id AND c.org_id = ?1
WHERE outstanding <> 0
GROUP BY c.id
ORDER BY c.name, c.id`

// FindAgedBalances implements ledger.ReportStore.
func (s *Store) FindAgedBalances(ctx context.Context, orgID int64, kind ledger.AgedKind, asOf string) ([]*ledger.AgedBalance, error) {
	var invoice, credit string
	switch kind {
	case ledger.AgedReceivables:
		invoice, credit = "sales", "sales_credit"
	case ledger.AgedPayables:
		invoice, credit = "bill", "bill_credit"
	default:
		return nil, errs.Errorf(errs.EINVALID, "Unknown aged report %q.", kind)
	}
	var out []*ledger.AgedBalance
	err := s.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(agedBalancesSQL, s.db.d.pick(
			`(unixepoch(?2) - unixepoch(i.due_date)) / 86400`,
			`(CAST(?2 AS date) - CAST(NULLIF(i.due_date, '') AS date))`)), orgID, asOf, invoice, credit)
		if err != nil {
			return fmt.Errorf("find aged balances: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b ledger.AgedBalance
			if err := rows.Scan(&b.ContactID, &b.ContactName, &b.Current, &b.Days1To30, &b.Days31To60, &b.Days61To90, &b.Over90, &b.Total); err != nil {
				return fmt.Errorf("scan aged balance: %w", err)
			}
			out = append(out, &b)
		}
		return rows.Err()
	})
	return out, err
}

// PostJournals posts several journals in one transaction, all or none,
// each through postJournal (validation, lock date, accounts). It serves
// bulk postings such as opening balances, and measures what batching
// saves over one durable commit per journal.
func (s *Store) PostJournals(ctx context.Context, js []*ledger.Journal) error {
	err := s.tx(ctx, func(tx *Tx) error {
		for i, j := range js {
			if err := postJournal(ctx, tx, j); err != nil {
				if e := errs.As(err); e != nil {
					return errs.Errorf(e.Code, "Journal %d of %d: %s", i+1, len(js), e.Message)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Rolled back: no journal of the batch has an id.
		for _, j := range js {
			j.ID = 0
			for k := range j.Lines {
				j.Lines[k].ID = 0
			}
		}
	}
	return err
}
