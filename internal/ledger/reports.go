package ledger

import (
	"context"
	"fmt"
	"math"

	"coffer/internal/errs"
)

// Reports are read from the ledger (journals and their lines) and, for the
// aged reports, from invoices with their payments and credit allocations.
// All amounts are int64 minor units; the store sums them in SQL with
// integer arithmetic, and here they are only netted and totalled with
// overflow checks, so a report is exact or an error, never rounded.

// TrialBalanceRow is one account's net balance: a net debit in Debit or a
// net credit in Credit (the other is zero; both are zero for an account
// whose postings cancel out).
type TrialBalanceRow struct {
	AccountID     int64
	Code          string
	Name          string
	Type          AccountType
	Debit, Credit int64
}

// TrialBalance lists every account with postings on or before AsOf. Its
// totals are equal in balanced books.
type TrialBalance struct {
	AsOf        string
	Rows        []TrialBalanceRow
	TotalDebit  int64
	TotalCredit int64
}

// ReportRow is one line of a profit and loss or balance sheet: an account,
// or a computed line (AccountID 0) such as current year earnings. Amount is
// positive on the section's normal side: income for revenue, cost for
// expenses, value for assets, and what is owed for liabilities and equity.
type ReportRow struct {
	AccountID int64
	Code      string
	Name      string
	Amount    int64
}

// ProfitAndLoss is revenue less expenses over a period, both dates
// included.
type ProfitAndLoss struct {
	From, To      string
	Revenue       []ReportRow
	Expenses      []ReportRow
	TotalRevenue  int64
	TotalExpenses int64
	// NetProfit is TotalRevenue − TotalExpenses (negative for a loss).
	NetProfit int64
}

// Names of the balance sheet's computed equity lines.
const (
	RetainedEarningsName    = "Retained earnings"
	CurrentYearEarningsName = "Current year earnings"
)

// BalanceSheet is what the organisation owns and owes on AsOf. Revenue and
// expense accounts appear in equity: their net from 1 January of AsOf's
// year as current year earnings, and before that within retained earnings
// (with the retained earnings account's own balance).
type BalanceSheet struct {
	AsOf             string
	YearStart        string
	Assets           []ReportRow
	Liabilities      []ReportRow
	Equity           []ReportRow
	TotalAssets      int64
	TotalLiabilities int64
	TotalEquity      int64
	// TotalLiabilitiesAndEquity always equals TotalAssets: the report is
	// refused (EINTERNAL) otherwise, as the books would be broken.
	TotalLiabilitiesAndEquity int64
}

// AgedReport is an aged receivables or payables report on AsOf.
type AgedReport struct {
	Kind   AgedKind
	AsOf   string
	Rows   []*AgedBalance
	Totals AgedBalance
}

// TrialBalance returns the trial balance on asOf ("" for today).
func (s *Service) TrialBalance(ctx context.Context, orgID int64, asOf string) (*TrialBalance, error) {
	asOf, err := s.reportDate(asOf, "report date (date)")
	if err != nil {
		return nil, err
	}
	acts, err := s.store.FindAccountActivity(ctx, orgID, "", asOf)
	if err != nil {
		return nil, fmt.Errorf("trial balance: %w", err)
	}
	tb := &TrialBalance{AsOf: asOf, Rows: []TrialBalanceRow{}}
	var t totaller
	for _, a := range acts {
		r := TrialBalanceRow{AccountID: a.AccountID, Code: a.Code, Name: a.Name, Type: a.Type}
		if net := t.sub(t.add(a.PriorDebit, a.Debit), t.add(a.PriorCredit, a.Credit)); net >= 0 {
			r.Debit = net
		} else {
			r.Credit = -net
		}
		tb.TotalDebit = t.add(tb.TotalDebit, r.Debit)
		tb.TotalCredit = t.add(tb.TotalCredit, r.Credit)
		tb.Rows = append(tb.Rows, r)
	}
	if t.overflow {
		return nil, errOverflow("trial balance", orgID)
	}
	if tb.TotalDebit != tb.TotalCredit {
		return nil, errs.Errorf(errs.EINTERNAL, "The ledger of organisation %d does not balance on %s: debits %d, credits %d.", orgID, asOf, tb.TotalDebit, tb.TotalCredit)
	}
	return tb, nil
}

// ProfitAndLoss returns revenue and expenses from from through to. An
// empty to is today; an empty from is 1 January of to's year.
func (s *Service) ProfitAndLoss(ctx context.Context, orgID int64, from, to string) (*ProfitAndLoss, error) {
	to, err := s.reportDate(to, "end date (to)")
	if err != nil {
		return nil, err
	}
	if from == "" {
		from = yearStart(to)
	} else if from, err = parseReportDate(from, "start date (from)"); err != nil {
		return nil, err
	}
	if from > to {
		return nil, errs.Errorf(errs.EINVALID, "The start date (from) %s is after the end date (to) %s.", from, to)
	}
	acts, err := s.store.FindAccountActivity(ctx, orgID, from, to)
	if err != nil {
		return nil, fmt.Errorf("profit and loss: %w", err)
	}
	pl := &ProfitAndLoss{From: from, To: to, Revenue: []ReportRow{}, Expenses: []ReportRow{}}
	var t totaller
	for _, a := range acts {
		if a.Debit == 0 && a.Credit == 0 {
			continue // activity before the period only
		}
		r := ReportRow{AccountID: a.AccountID, Code: a.Code, Name: a.Name}
		switch a.Type {
		case Revenue:
			r.Amount = t.sub(a.Credit, a.Debit)
			pl.Revenue = append(pl.Revenue, r)
			pl.TotalRevenue = t.add(pl.TotalRevenue, r.Amount)
		case Expense:
			r.Amount = t.sub(a.Debit, a.Credit)
			pl.Expenses = append(pl.Expenses, r)
			pl.TotalExpenses = t.add(pl.TotalExpenses, r.Amount)
		}
	}
	pl.NetProfit = t.sub(pl.TotalRevenue, pl.TotalExpenses)
	if t.overflow {
		return nil, errOverflow("profit and loss", orgID)
	}
	return pl, nil
}

// BalanceSheet returns the balance sheet on asOf ("" for today). It checks
// that assets equal liabilities plus equity and answers EINTERNAL if not:
// every journal balances, so a difference means the books are damaged and
// no figure from them should be shown as if it were right.
func (s *Service) BalanceSheet(ctx context.Context, orgID int64, asOf string) (*BalanceSheet, error) {
	asOf, err := s.reportDate(asOf, "report date (date)")
	if err != nil {
		return nil, err
	}
	ys := yearStart(asOf)
	acts, err := s.store.FindAccountActivity(ctx, orgID, ys, asOf)
	if err != nil {
		return nil, fmt.Errorf("balance sheet: %w", err)
	}
	bs := &BalanceSheet{AsOf: asOf, YearStart: ys, Assets: []ReportRow{}, Liabilities: []ReportRow{}, Equity: []ReportRow{}}
	var t totaller
	// P&L accounts are closed into equity: before the year into retained
	// earnings, within it into current year earnings.
	var priorEarnings, yearEarnings int64
	for _, a := range acts {
		if a.Type == Revenue || a.Type == Expense {
			priorEarnings = t.add(priorEarnings, t.sub(a.PriorCredit, a.PriorDebit))
			yearEarnings = t.add(yearEarnings, t.sub(a.Credit, a.Debit))
		}
	}
	retained := ReportRow{Name: RetainedEarningsName, Amount: priorEarnings}
	for _, a := range acts {
		debit, credit := t.add(a.PriorDebit, a.Debit), t.add(a.PriorCredit, a.Credit)
		r := ReportRow{AccountID: a.AccountID, Code: a.Code, Name: a.Name}
		switch a.Type {
		case Asset:
			r.Amount = t.sub(debit, credit)
			bs.Assets = append(bs.Assets, r)
			bs.TotalAssets = t.add(bs.TotalAssets, r.Amount)
		case Liability:
			r.Amount = t.sub(credit, debit)
			bs.Liabilities = append(bs.Liabilities, r)
			bs.TotalLiabilities = t.add(bs.TotalLiabilities, r.Amount)
		case Equity:
			r.Amount = t.sub(credit, debit)
			if a.System == SystemRetainedEarnings {
				// One line: the account's own balance (opening balances,
				// dividends posted to it) plus the earnings of earlier years.
				retained.AccountID, retained.Code = a.AccountID, a.Code
				retained.Amount = t.add(retained.Amount, r.Amount)
				continue
			}
			bs.Equity = append(bs.Equity, r)
		}
	}
	bs.Equity = append(bs.Equity, retained, ReportRow{Name: CurrentYearEarningsName, Amount: yearEarnings})
	for _, r := range bs.Equity {
		bs.TotalEquity = t.add(bs.TotalEquity, r.Amount)
	}
	bs.TotalLiabilitiesAndEquity = t.add(bs.TotalLiabilities, bs.TotalEquity)
	if t.overflow {
		return nil, errOverflow("balance sheet", orgID)
	}
	if bs.TotalAssets != bs.TotalLiabilitiesAndEquity {
		return nil, errs.Errorf(errs.EINTERNAL, "The balance sheet of organisation %d on %s does not balance: assets %d, liabilities and equity %d.", orgID, asOf, bs.TotalAssets, bs.TotalLiabilitiesAndEquity)
	}
	return bs, nil
}

// AgedReceivables returns what each customer owes on asOf ("" for today),
// by how long it is overdue.
func (s *Service) AgedReceivables(ctx context.Context, orgID int64, asOf string) (*AgedReport, error) {
	return s.aged(ctx, orgID, AgedReceivables, asOf)
}

// AgedPayables returns what the organisation owes each supplier on asOf
// ("" for today), by how long it is overdue.
func (s *Service) AgedPayables(ctx context.Context, orgID int64, asOf string) (*AgedReport, error) {
	return s.aged(ctx, orgID, AgedPayables, asOf)
}

func (s *Service) aged(ctx context.Context, orgID int64, kind AgedKind, asOf string) (*AgedReport, error) {
	asOf, err := s.reportDate(asOf, "report date (date)")
	if err != nil {
		return nil, err
	}
	rows, err := s.store.FindAgedBalances(ctx, orgID, kind, asOf)
	if err != nil {
		return nil, fmt.Errorf("aged %s: %w", kind, err)
	}
	rep := &AgedReport{Kind: kind, AsOf: asOf, Rows: rows}
	if rep.Rows == nil {
		rep.Rows = []*AgedBalance{}
	}
	var t totaller
	tt := &rep.Totals
	for _, r := range rows {
		tt.Current = t.add(tt.Current, r.Current)
		tt.Days1To30 = t.add(tt.Days1To30, r.Days1To30)
		tt.Days31To60 = t.add(tt.Days31To60, r.Days31To60)
		tt.Days61To90 = t.add(tt.Days61To90, r.Days61To90)
		tt.Over90 = t.add(tt.Over90, r.Over90)
		tt.Total = t.add(tt.Total, r.Total)
	}
	if t.overflow {
		return nil, errOverflow("aged "+string(kind), orgID)
	}
	return rep, nil
}

// reportDate validates a report date, defaulting to today on the
// service's clock.
func (s *Service) reportDate(d, what string) (string, error) {
	if d == "" {
		return s.Now().UTC().Format(DateLayout), nil
	}
	return parseReportDate(d, what)
}

// parseReportDate is ParseDate with a message naming the parameter.
func parseReportDate(d, what string) (string, error) {
	v, err := ParseDate(d)
	if err != nil {
		return "", errs.Errorf(errs.EINVALID, "The %s %q is not a valid date in the form YYYY-MM-DD.", what, truncate(d, 40))
	}
	return v, nil
}

// yearStart is 1 January of a valid date's year.
func yearStart(date string) string { return date[:4] + "-01-01" }

// totaller adds and subtracts int64 amounts and remembers an overflow, so
// a report fails loudly instead of wrapping around.
type totaller struct{ overflow bool }

func (t *totaller) add(a, b int64) int64 {
	c := a + b
	if (b > 0 && c < a) || (b < 0 && c > a) {
		t.overflow = true
	}
	return c
}

func (t *totaller) sub(a, b int64) int64 {
	if b == math.MinInt64 {
		t.overflow = true
		return 0
	}
	return t.add(a, -b)
}

func errOverflow(report string, orgID int64) error {
	return errs.Errorf(errs.EINTERNAL, "The %s of organisation %d overflows 64-bit totals.", report, orgID)
}
