package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"coffer/internal/errs"
	"coffer/internal/money"
)

// AccountUpdate is a change to an account; nil fields stay as they are.
type AccountUpdate struct {
	Code        *string
	Name        *string
	Type        *AccountType
	Description *string
	// TaxRateID sets the account's default tax rate; a pointer to 0 clears it.
	TaxRateID *int64
	Archived  *bool
}

// Apply changes a as u says, refusing what the chart's rules forbid.
// hasPostings says whether any journal line uses the account: its code and
// type then stay as they are, so that reports over past periods keep their
// meaning. The store calls Apply inside the transaction that writes the
// change, so the answer cannot go stale between the check and the write.
func (u AccountUpdate) Apply(a *Account, hasPostings bool) error {
	if u.Code != nil && *u.Code != a.Code {
		if hasPostings {
			return errs.Errorf(errs.ECONFLICT, "Account %s has postings; its code cannot change.", a.Code)
		}
		a.Code = *u.Code
	}
	if u.Type != nil && *u.Type != a.Type {
		if _, err := ParseAccountType(string(*u.Type)); err != nil {
			return err
		}
		if a.System != "" {
			// The ledger posts to system accounts by itself and relies on
			// their type (a receivable is an asset).
			return errs.Errorf(errs.ECONFLICT, "Account %s is the organisation's %s account; its type cannot change.", a.Code, systemLabel(a.System))
		}
		if hasPostings {
			return errs.Errorf(errs.ECONFLICT, "Account %s has postings; its type cannot change.", a.Code)
		}
		a.Type = *u.Type
	}
	if u.Name != nil {
		a.Name = *u.Name
	}
	if u.Description != nil {
		a.Description = *u.Description
	}
	if u.TaxRateID != nil {
		if *u.TaxRateID < 0 {
			return errs.Errorf(errs.EINVALID, "Tax rate %d does not exist in this organisation.", *u.TaxRateID)
		}
		a.TaxRateID = *u.TaxRateID
	}
	if u.Archived != nil {
		if *u.Archived && a.System != "" {
			return errs.Errorf(errs.ECONFLICT, "Account %s is the organisation's %s account; the ledger posts to it, so it cannot be archived.", a.Code, systemLabel(a.System))
		}
		a.Archived = *u.Archived
	}
	return a.Validate()
}

func systemLabel(system string) string {
	switch system {
	case SystemReceivable:
		return "accounts receivable"
	case SystemPayable:
		return "accounts payable"
	case SystemTax:
		return "sales tax"
	case SystemRetainedEarnings:
		return "retained earnings"
	case SystemBank:
		return "bank"
	}
	return strings.ReplaceAll(system, "_", " ")
}

// SystemLabel names an account's system role for people ("" for none).
func (a *Account) SystemLabel() string {
	if a.System == "" {
		return ""
	}
	return systemLabel(a.System)
}

// Natural turns a debit-minus-credit amount into the account type's own
// sign: positive for an asset's or expense's debit balance and for a
// liability's, equity's or revenue's credit balance.
func (t AccountType) Natural(net int64) int64 {
	if t.DebitNormal() {
		return net
	}
	return -net
}

// Label is the type's name for people.
func (t AccountType) Label() string {
	switch t {
	case Asset:
		return "Assets"
	case Liability:
		return "Liabilities"
	case Equity:
		return "Equity"
	case Revenue:
		return "Revenue"
	case Expense:
		return "Expenses"
	}
	return string(t)
}

// MaxTaxRateBP is the highest tax rate, 100%, in basis points.
const MaxTaxRateBP = 10000

// ParseTaxRate reads a percentage with at most two decimals ("20", "17.5",
// "20.00") into basis points.
func ParseTaxRate(s string) (int64, error) {
	bp, err := money.Parse(s, 2)
	if err != nil {
		return 0, errs.Errorf(errs.EINVALID, "Tax rate %q must be a percentage between 0 and 100 with at most 2 decimal places, like \"20.00\".", truncate(s, 40))
	}
	if bp < 0 || bp > MaxTaxRateBP {
		return 0, errs.Errorf(errs.EINVALID, "Tax rate %q must be between 0 and 100 percent.", truncate(s, 40))
	}
	return bp, nil
}

// FormatTaxRate writes basis points as a percentage: 2000 → "20.00".
func FormatTaxRate(bp int64) string { return money.Format(bp, 2) }

// Validate checks a tax rate's fields.
func (t *TaxRate) Validate() error {
	var problems []string
	if n := utf8.RuneCountInString(strings.TrimSpace(t.Name)); n == 0 || n > 100 || !utf8.ValidString(t.Name) {
		problems = append(problems, "Tax rate name must be 1 to 100 characters.")
	}
	if t.RateBP < 0 || t.RateBP > MaxTaxRateBP {
		problems = append(problems, "Tax rate must be between 0 and 100 percent.")
	}
	return joinProblems(problems)
}

// JournalFilter selects journals for a list, newest first.
type JournalFilter struct {
	// AccountID keeps journals with at least one line on that account; 0: all.
	AccountID int64
	// From and To bound the journal date, inclusive; "" leaves that end open.
	From, To string
	// Limit is the page size (DefaultJournalLimit if 0, at most
	// MaxJournalLimit); Offset skips that many journals.
	Limit, Offset int
}

// Page sizes of journal lists.
const (
	DefaultJournalLimit = 50
	MaxJournalLimit     = 500
)

// Validate checks the filter and fills in the default page size.
func (f *JournalFilter) Validate() error {
	var problems []string
	if f.AccountID < 0 {
		problems = append(problems, "account_id must be a positive account id.")
	}
	for _, d := range []*string{&f.From, &f.To} {
		if *d == "" {
			continue
		}
		v, err := ParseDate(*d)
		if err != nil {
			problems = append(problems, errs.Message(err))
			continue
		}
		*d = v
	}
	if f.From != "" && f.To != "" && f.From > f.To {
		problems = append(problems, fmt.Sprintf("The period starts (%s) after it ends (%s).", f.From, f.To))
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultJournalLimit
	case f.Limit < 0 || f.Limit > MaxJournalLimit:
		problems = append(problems, fmt.Sprintf("limit must be between 1 and %d.", MaxJournalLimit))
	}
	if f.Offset < 0 {
		problems = append(problems, "offset must not be negative.")
	}
	return joinProblems(problems)
}

// Today is the current date by the service's clock, in UTC.
func (s *Service) Today() string { return s.Now().UTC().Format(DateLayout) }

// FindAccounts returns the organisation's chart of accounts by code,
// archived accounts included.
func (s *Service) FindAccounts(ctx context.Context, orgID int64) ([]*Account, error) {
	return s.store.FindAccounts(ctx, orgID)
}

// FindAccountByID returns one of the organisation's accounts (ENOTFOUND
// for another organisation's).
func (s *Service) FindAccountByID(ctx context.Context, orgID, id int64) (*Account, error) {
	return s.store.FindAccountByID(ctx, orgID, id)
}

// AccountBalances returns each account's debit-minus-credit balance from
// all journals dated on or before asOf; accounts without postings are
// absent.
func (s *Service) AccountBalances(ctx context.Context, orgID int64, asOf string) (map[int64]int64, error) {
	d, err := ParseDate(asOf)
	if err != nil {
		return nil, err
	}
	return s.store.AccountBalances(ctx, orgID, d)
}

// CreateAccount adds an account to the organisation's chart. System
// accounts come only with the default chart: the ledger picks them by
// role, and a second receivable would make that choice ambiguous.
func (s *Service) CreateAccount(ctx context.Context, a Actor, acc *Account) error {
	if acc.System != "" {
		return errs.Errorf(errs.EINVALID, "System accounts come with the default chart and cannot be created.")
	}
	acc.ID, acc.Archived = 0, false
	if err := acc.Validate(); err != nil {
		return err
	}
	if acc.TaxRateID < 0 {
		return errs.Errorf(errs.EINVALID, "Tax rate %d does not exist in this organisation.", acc.TaxRateID)
	}
	if err := s.store.CreateAccount(ctx, acc); err != nil {
		return err
	}
	s.audit(ctx, a, "ledger.account.create", fmt.Sprintf("org=%d account=%d code=%q type=%s", acc.OrgID, acc.ID, acc.Code, acc.Type))
	return nil
}

// UpdateAccount changes an account as u says (see AccountUpdate.Apply).
func (s *Service) UpdateAccount(ctx context.Context, a Actor, orgID, id int64, u AccountUpdate) (*Account, error) {
	acc, err := s.store.UpdateAccount(ctx, orgID, id, u)
	if err != nil {
		return nil, err
	}
	var changed []string
	for name, set := range map[string]bool{"code": u.Code != nil, "name": u.Name != nil, "type": u.Type != nil, "description": u.Description != nil, "tax_rate": u.TaxRateID != nil, "archived": u.Archived != nil} {
		if set {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	s.audit(ctx, a, "ledger.account.update", fmt.Sprintf("org=%d account=%d code=%q archived=%t fields=%s", orgID, acc.ID, acc.Code, acc.Archived, strings.Join(changed, ",")))
	return acc, nil
}

// FindTaxRates returns the organisation's tax rates.
func (s *Service) FindTaxRates(ctx context.Context, orgID int64) ([]*TaxRate, error) {
	return s.store.FindTaxRates(ctx, orgID)
}

// CreateTaxRate adds a tax rate; names are unique per organisation.
func (s *Service) CreateTaxRate(ctx context.Context, a Actor, t *TaxRate) error {
	t.ID, t.Archived = 0, false
	if err := t.Validate(); err != nil {
		return err
	}
	if err := s.store.CreateTaxRate(ctx, t); err != nil {
		return err
	}
	s.audit(ctx, a, "ledger.tax_rate.create", fmt.Sprintf("org=%d tax_rate=%d rate_bp=%d", t.OrgID, t.ID, t.RateBP))
	return nil
}

// FindJournal returns one of the organisation's journals with its lines.
func (s *Service) FindJournal(ctx context.Context, orgID, id int64) (*Journal, error) {
	return s.store.FindJournal(ctx, orgID, id)
}

// FindJournals returns a page of the organisation's journals, newest
// first, with their lines, and how many match the filter in all.
func (s *Service) FindJournals(ctx context.Context, orgID int64, f JournalFilter) ([]*Journal, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	return s.store.FindJournals(ctx, orgID, f)
}

// LockDate returns the organisation's lock date ("" for none).
func (s *Service) LockDate(ctx context.Context, orgID int64) (string, error) {
	return s.store.LockDate(ctx, orgID)
}
