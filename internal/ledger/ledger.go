// Package ledger is Coffer's accounting core: the chart of accounts, the
// double-entry journal every posting goes through, and what feeds it
// (invoices, bills, credit notes, payments, bank transactions) and what
// reads it (reports).
//
// The invariants live here and are re-checked by the store inside the
// posting transaction: every journal balances in exact integer minor units,
// posted journals are never changed (corrections are reversals), and
// nothing posts on or before the organisation's lock date.
package ledger

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/errs"
	"coffer/internal/money"
)

// DateLayout is how accounting dates are written and stored.
const DateLayout = "2006-01-02"

// ParseDate validates a YYYY-MM-DD date (years 1900–9999).
func ParseDate(s string) (string, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil || t.Year() < 1900 {
		return "", errs.Errorf(errs.EINVALID, "Date %q is not a valid date in the form YYYY-MM-DD.", truncate(s, 40))
	}
	return t.Format(DateLayout), nil
}

// AccountType is one of the five kinds of account.
type AccountType string

// Account types.
const (
	Asset     AccountType = "asset"
	Liability AccountType = "liability"
	Equity    AccountType = "equity"
	Revenue   AccountType = "revenue"
	Expense   AccountType = "expense"
)

// AccountTypes lists them in balance-sheet-then-P&L order.
var AccountTypes = []AccountType{Asset, Liability, Equity, Revenue, Expense}

// ParseAccountType validates a type name.
func ParseAccountType(s string) (AccountType, error) {
	for _, t := range AccountTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", errs.Errorf(errs.EINVALID, "Account type %q is not one of asset, liability, equity, revenue, expense.", truncate(s, 40))
}

// DebitNormal reports whether the type's balance grows with debits.
func (t AccountType) DebitNormal() bool { return t == Asset || t == Expense }

// System roles of accounts the ledger posts to by itself.
const (
	SystemReceivable       = "receivable"
	SystemPayable          = "payable"
	SystemTax              = "tax"
	SystemRetainedEarnings = "retained_earnings"
	SystemBank             = "bank"
)

// Account is one account of an organisation's chart.
type Account struct {
	ID          int64
	OrgID       int64
	Code        string
	Name        string
	Type        AccountType
	System      string // one of the System* roles, or ""
	TaxRateID   int64  // default tax rate for lines on this account; 0: none
	Description string
	Archived    bool
}

// Validate checks an account's fields.
func (a *Account) Validate() error {
	var problems []string
	if a.Code == "" || len(a.Code) > 10 || strings.ContainsFunc(a.Code, func(r rune) bool { return r < '!' || r > '~' }) {
		problems = append(problems, "Account code must be 1 to 10 letters, digits or symbols, without spaces.")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(a.Name)); n == 0 || n > 150 || !utf8.ValidString(a.Name) {
		problems = append(problems, "Account name must be 1 to 150 characters.")
	}
	if _, err := ParseAccountType(string(a.Type)); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if utf8.RuneCountInString(a.Description) > 1000 {
		problems = append(problems, "Account description must be at most 1000 characters.")
	}
	return joinProblems(problems)
}

// TaxRate is a named tax rate in basis points (2000 = 20%).
type TaxRate struct {
	ID       int64
	OrgID    int64
	Name     string
	RateBP   int64
	Archived bool
}

// Journal is a balanced set of postings on one date.
type Journal struct {
	ID         int64
	OrgID      int64
	Date       string
	Narration  string
	SourceType string // manual, invoice, payment, credit_note, allocation, bank, reversal
	SourceID   int64
	ReversesID int64 // the journal this one reverses, 0 if none
	// ReversedByID is the journal that reverses this one, 0 if none. The
	// store fills it in on reads; posting ignores it.
	ReversedByID int64
	CreatedBy    int64
	CreatedAt    time.Time
	Lines        []JournalLine
}

// Journal sources.
const (
	SourceManual     = "manual"
	SourceInvoice    = "invoice"
	SourcePayment    = "payment"
	SourceCreditNote = "credit_note"
	SourceBank       = "bank"
	SourceReversal   = "reversal"
)

// JournalLine is one posting: a debit or a credit to one account.
type JournalLine struct {
	ID          int64
	AccountID   int64
	Debit       int64
	Credit      int64
	Description string
	ContactID   int64
}

// MaxLineDescription bounds a journal line's description, in characters.
const MaxLineDescription = 1000

// Validate checks the double-entry invariant: at least two lines, each a
// positive debit or a positive credit (never both), within range, and debits
// equal credits exactly. Amounts in its messages are in minor units.
func (j *Journal) Validate() error {
	return j.validate(func(v int64) string { return fmt.Sprint(v) }, " (minor units)")
}

// ValidateIn is Validate with the amounts in its messages written as
// decimals of a currency with exp minor-unit digits, for people.
func (j *Journal) ValidateIn(exp int) error {
	return j.validate(func(v int64) string { return money.Format(v, exp) }, "")
}

func (j *Journal) validate(amount func(int64) string, unit string) error {
	var problems []string
	if _, err := ParseDate(j.Date); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if n := utf8.RuneCountInString(j.Narration); n == 0 || n > 500 || !utf8.ValidString(j.Narration) {
		problems = append(problems, "Narration must be 1 to 500 characters.")
	}
	if len(j.Lines) < 2 {
		problems = append(problems, "A journal needs at least two lines.")
	}
	if len(j.Lines) > 10000 {
		problems = append(problems, "A journal may have at most 10000 lines.")
	}
	var debits, credits int64
	for i, l := range j.Lines {
		switch {
		case l.AccountID <= 0:
			problems = append(problems, fmt.Sprintf("Line %d has no account.", i+1))
		case l.Debit < 0 || l.Credit < 0:
			problems = append(problems, fmt.Sprintf("Line %d has a negative amount; use the other side instead.", i+1))
		case (l.Debit == 0) == (l.Credit == 0):
			problems = append(problems, fmt.Sprintf("Line %d must have either a debit or a credit, not both or neither.", i+1))
		case l.Debit > money.MaxAbs || l.Credit > money.MaxAbs:
			problems = append(problems, fmt.Sprintf("Line %d: %v.", i+1, money.ErrRange))
		case l.ContactID < 0:
			problems = append(problems, fmt.Sprintf("Line %d has an invalid contact.", i+1))
		case utf8.RuneCountInString(l.Description) > MaxLineDescription || !utf8.ValidString(l.Description):
			problems = append(problems, fmt.Sprintf("Line %d: the description must be at most %d characters.", i+1, MaxLineDescription))
		}
		var err error
		if debits, err = money.Add(debits, l.Debit); err != nil {
			problems = append(problems, "The journal's total is too large.")
			break
		}
		if credits, err = money.Add(credits, l.Credit); err != nil {
			problems = append(problems, "The journal's total is too large.")
			break
		}
	}
	if len(problems) == 0 && debits != credits {
		problems = append(problems, fmt.Sprintf("The journal does not balance: debits %s and credits %s%s differ by %s.", amount(debits), amount(credits), unit, amount(debits-credits)))
	}
	return joinProblems(problems)
}

// Reversal returns the journal that undoes j, dated date.
func (j *Journal) Reversal(date, narration string, by int64) *Journal {
	r := &Journal{OrgID: j.OrgID, Date: date, Narration: narration, SourceType: SourceReversal, SourceID: j.SourceID, ReversesID: j.ID, CreatedBy: by}
	for _, l := range j.Lines {
		r.Lines = append(r.Lines, JournalLine{AccountID: l.AccountID, Debit: l.Credit, Credit: l.Debit, Description: l.Description, ContactID: l.ContactID})
	}
	return r
}

// CheckLockDate refuses a posting dated on or before lockDate ("" means no
// lock). The store repeats this check inside the posting transaction.
func CheckLockDate(date, lockDate string) error {
	if lockDate != "" && date <= lockDate {
		return errs.Errorf(errs.ECONFLICT, "The books are locked up to and including %s; a posting dated %s is refused.", lockDate, date)
	}
	return nil
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
}

// truncate shortens s to at most n bytes (so at most n characters),
// ending a shortened string with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	n -= len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n < 0 {
		n = 0
	}
	return s[:n] + ellipsis
}
