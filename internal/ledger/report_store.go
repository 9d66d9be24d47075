package ledger

import "context"

// AccountActivity is one account's posted debits and credits in two
// adjoining periods: before a start date, and from it through an end date.
// Reports are built from it: the trial balance uses one period, the P&L the
// second, and the balance sheet both (P&L accounts before the year are
// retained earnings, within it current year earnings).
type AccountActivity struct {
	AccountID int64
	Code      string
	Name      string
	Type      AccountType
	System    string
	// PriorDebit and PriorCredit are the totals dated before the period.
	PriorDebit, PriorCredit int64
	// Debit and Credit are the totals dated within the period.
	Debit, Credit int64
}

// AgedKind says which side of the books an aged report reads.
type AgedKind string

// Aged report kinds.
const (
	// AgedReceivables reads sales invoices (and sales credit notes, negative).
	AgedReceivables AgedKind = "receivables"
	// AgedPayables reads bills (and supplier credit notes, negative).
	AgedPayables AgedKind = "payables"
)

// AgedBalance is what one contact owes (receivables) or is owed
// (payables) as of a date, split by how long it is overdue. Credit notes
// not yet allocated count negative.
type AgedBalance struct {
	ContactID   int64
	ContactName string
	// Current is not yet due (due date on or after the report date).
	Current int64
	// Days1To30 … Over90 are overdue by that many days on the report date.
	Days1To30  int64
	Days31To60 int64
	Days61To90 int64
	Over90     int64
	Total      int64
}

// ReportStore reads the balances reports are built from. Every method
// reads within one transaction, so a report never mixes two states of the
// books, and only the given organisation's rows: another organisation's
// journals, invoices and contacts are invisible.
type ReportStore interface {
	// FindAccountActivity returns, for every account of the organisation
	// with a posting dated on or before to, its totals dated before from
	// and from from through to, ordered by account code. from "" puts
	// everything in the period. Errors are internal only (an org without
	// postings has no rows).
	FindAccountActivity(ctx context.Context, orgID int64, from, to string) ([]*AccountActivity, error)
	// FindAgedBalances returns per contact the amounts outstanding on
	// asOf of the kind's invoices dated on or before asOf that are neither
	// draft nor voided: total less payments and credit allocations dated on
	// or before asOf, bucketed by days past the due date. Contacts with
	// nothing outstanding are left out; rows are ordered by contact name.
	// EINVALID for an unknown kind; other errors are internal.
	FindAgedBalances(ctx context.Context, orgID int64, kind AgedKind, asOf string) ([]*AgedBalance, error)
}
