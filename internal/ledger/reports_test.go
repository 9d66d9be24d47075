package ledger_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// repLine is a journal line by account code, for readable fixtures.
type repLine struct {
	code          string
	debit, credit int64
}

func repDr(code string, amount int64) repLine { return repLine{code: code, debit: amount} }
func repCr(code string, amount int64) repLine { return repLine{code: code, credit: amount} }

// repPost posts a manual journal through the service and fails the test
// if it is refused.
func (b *books) repPost(tb testing.TB, date string, lines ...repLine) *ledger.Journal {
	tb.Helper()
	j := &ledger.Journal{OrgID: b.org.ID, Date: date, Narration: "fixture " + date}
	for _, l := range lines {
		a, ok := b.acct[l.code]
		if !ok {
			tb.Fatalf("no account %s in the chart", l.code)
		}
		j.Lines = append(j.Lines, ledger.JournalLine{AccountID: a.ID, Debit: l.debit, Credit: l.credit})
	}
	if err := b.svc.PostManualJournal(tb.Context(), b.actor, j); err != nil {
		tb.Fatalf("post journal dated %s: %v", date, err)
	}
	return j
}

// repFixture posts a small set of transactions whose reports are worked
// out by hand below (amounts in pence).
//
//	2025-01-10 capital      Dr 1000 Bank 10,000.00   Cr 3000 Owner's Capital 10,000.00
//	2025-06-30 cash sale    Dr 1000 Bank  2,500.00   Cr 4000 Sales 2,500.00
//	2025-07-15 rent         Dr 6200 Rent    800.00   Cr 1000 Bank 800.00
//	2026-01-05 loan         Dr 1000 Bank  5,000.00   Cr 2500 Loan 5,000.00
//	2026-02-10 credit sale  Dr 1100 AR    1,200.00   Cr 4000 Sales 1,000.00, Cr 2200 Sales Tax 200.00
//	2026-02-20 advertising  Dr 6000 Adv     300.00   Cr 1000 Bank 300.00
//	2026-03-01 dividend     Dr 3200 RE      100.00   Cr 1000 Bank 100.00
//	2026-03-10 equipment    Dr 1500 Equip   450.00   Cr 1000 Bank 450.00, reversed on 2026-03-12
//	2026-04-01 bank fee     Dr 6100 Fees      5.00   Cr 1000 Bank 5.00 (after the report date)
func repFixture(tb testing.TB, b *books) {
	tb.Helper()
	b.repPost(tb, "2025-01-10", repDr("1000", 10_000_00), repCr("3000", 10_000_00))
	b.repPost(tb, "2025-06-30", repDr("1000", 2_500_00), repCr("4000", 2_500_00))
	b.repPost(tb, "2025-07-15", repDr("6200", 800_00), repCr("1000", 800_00))
	b.repPost(tb, "2026-01-05", repDr("1000", 5_000_00), repCr("2500", 5_000_00))
	b.repPost(tb, "2026-02-10", repDr("1100", 1_200_00), repCr("4000", 1_000_00), repCr("2200", 200_00))
	b.repPost(tb, "2026-02-20", repDr("6000", 300_00), repCr("1000", 300_00))
	b.repPost(tb, "2026-03-01", repDr("3200", 100_00), repCr("1000", 100_00))
	eq := b.repPost(tb, "2026-03-10", repDr("1500", 450_00), repCr("1000", 450_00))
	if _, err := b.svc.ReverseJournal(tb.Context(), b.actor, b.org.ID, eq.ID, "2026-03-12"); err != nil {
		tb.Fatal(err)
	}
	b.repPost(tb, "2026-04-01", repDr("6100", 5_00), repCr("1000", 5_00))
}

// tbRow is a trial balance row as code → debit/credit, the part the
// expectations are about.
type tbRow struct{ debit, credit int64 }

func tbRows(tb *ledger.TrialBalance) map[string]tbRow {
	m := map[string]tbRow{}
	for _, r := range tb.Rows {
		m[r.Code] = tbRow{r.Debit, r.Credit}
	}
	return m
}

// rowAmounts maps report rows to name → amount (computed rows have no
// code, so names are the key).
func rowAmounts(rows []ledger.ReportRow) map[string]int64 {
	m := map[string]int64{}
	for _, r := range rows {
		m[r.Name] = r.Amount
	}
	return m
}

func TestTrialBalance(t *testing.T) {
	b := newBooks(t)
	repFixture(t, b)
	// Another organisation's postings must not show.
	o := b.otherBooks(t)
	o.repPost(t, "2026-01-01", repDr("1000", 999_999_00), repCr("3000", 999_999_00))

	tests := []struct {
		name       string
		date       string
		wantAsOf   string
		want       map[string]tbRow
		wantTotal  int64
		wantLength int
	}{
		{
			name: "OK today by default", date: "", wantAsOf: "2026-03-15",
			want: map[string]tbRow{
				"1000": {16_300_00, 0}, "1100": {1_200_00, 0}, "1500": {0, 0}, "2200": {0, 200_00}, "2500": {0, 5_000_00},
				"3000": {0, 10_000_00}, "3200": {100_00, 0}, "4000": {0, 3_500_00}, "6000": {300_00, 0}, "6200": {800_00, 0},
			},
			wantTotal: 18_700_00,
		},
		{
			name: "OK before the equipment's reversal", date: "2026-03-11", wantAsOf: "2026-03-11",
			want: map[string]tbRow{
				"1000": {15_850_00, 0}, "1100": {1_200_00, 0}, "1500": {450_00, 0}, "2200": {0, 200_00}, "2500": {0, 5_000_00},
				"3000": {0, 10_000_00}, "3200": {100_00, 0}, "4000": {0, 3_500_00}, "6000": {300_00, 0}, "6200": {800_00, 0},
			},
			wantTotal: 18_700_00,
		},
		{
			name: "OK end of 2025", date: "2025-12-31", wantAsOf: "2025-12-31",
			want:      map[string]tbRow{"1000": {11_700_00, 0}, "3000": {0, 10_000_00}, "4000": {0, 2_500_00}, "6200": {800_00, 0}},
			wantTotal: 12_500_00,
		},
		{
			name: "OK after the future bank fee", date: "2026-12-31", wantAsOf: "2026-12-31",
			want: map[string]tbRow{
				"1000": {16_295_00, 0}, "1100": {1_200_00, 0}, "1500": {0, 0}, "2200": {0, 200_00}, "2500": {0, 5_000_00},
				"3000": {0, 10_000_00}, "3200": {100_00, 0}, "4000": {0, 3_500_00}, "6000": {300_00, 0}, "6100": {5_00, 0}, "6200": {800_00, 0},
			},
			wantTotal: 18_700_00,
		},
		{name: "OK before any posting", date: "2024-12-31", wantAsOf: "2024-12-31", want: map[string]tbRow{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.svc.TrialBalance(t.Context(), b.org.ID, tt.date)
			if err != nil {
				t.Fatal(err)
			}
			if got.AsOf != tt.wantAsOf {
				t.Errorf("AsOf = %s, want %s", got.AsOf, tt.wantAsOf)
			}
			if rows := tbRows(got); !reflect.DeepEqual(rows, tt.want) {
				t.Errorf("rows = %v\nwant   %v", rows, tt.want)
			}
			if got.TotalDebit != tt.wantTotal || got.TotalCredit != tt.wantTotal {
				t.Errorf("totals = %d / %d, want %d both", got.TotalDebit, got.TotalCredit, tt.wantTotal)
			}
			for i := 1; i < len(got.Rows); i++ {
				if got.Rows[i-1].Code >= got.Rows[i].Code {
					t.Errorf("rows not ordered by code: %s before %s", got.Rows[i-1].Code, got.Rows[i].Code)
				}
			}
		})
	}

	t.Run("OK other organisation sees only its own", func(t *testing.T) {
		got, err := o.svc.TrialBalance(t.Context(), o.org.ID, "2026-03-15")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]tbRow{"1000": {999_999_00, 0}, "3000": {0, 999_999_00}}
		if rows := tbRows(got); !reflect.DeepEqual(rows, want) {
			t.Errorf("rows = %v, want %v", rows, want)
		}
	})
}

func TestProfitAndLoss(t *testing.T) {
	b := newBooks(t)
	repFixture(t, b)
	o := b.otherBooks(t)
	o.repPost(t, "2026-02-01", repDr("1000", 77_00), repCr("4000", 77_00))

	tests := []struct {
		name                        string
		from, to                    string
		wantFrom, wantTo            string
		revenue, expenses           map[string]int64
		totalRev, totalExp, netProf int64
	}{
		{
			name: "OK year to date by default", wantFrom: "2026-01-01", wantTo: "2026-03-15",
			revenue: map[string]int64{"Sales": 1_000_00}, expenses: map[string]int64{"Advertising": 300_00},
			totalRev: 1_000_00, totalExp: 300_00, netProf: 700_00,
		},
		{
			name: "OK year 2025", from: "2025-01-01", to: "2025-12-31", wantFrom: "2025-01-01", wantTo: "2025-12-31",
			revenue: map[string]int64{"Sales": 2_500_00}, expenses: map[string]int64{"Rent": 800_00},
			totalRev: 2_500_00, totalExp: 800_00, netProf: 1_700_00,
		},
		{
			name: "OK loss-making period", from: "2025-07-01", to: "2025-07-31", wantFrom: "2025-07-01", wantTo: "2025-07-31",
			revenue: map[string]int64{}, expenses: map[string]int64{"Rent": 800_00},
			totalExp: 800_00, netProf: -800_00,
		},
		{
			name: "OK single day", from: "2025-06-30", to: "2025-06-30", wantFrom: "2025-06-30", wantTo: "2025-06-30",
			revenue: map[string]int64{"Sales": 2_500_00}, expenses: map[string]int64{}, totalRev: 2_500_00, netProf: 2_500_00,
		},
		{
			name: "OK only to: from 1 January of its year", to: "2026-12-31", wantFrom: "2026-01-01", wantTo: "2026-12-31",
			revenue: map[string]int64{"Sales": 1_000_00}, expenses: map[string]int64{"Advertising": 300_00, "Bank Fees": 5_00},
			totalRev: 1_000_00, totalExp: 305_00, netProf: 695_00,
		},
		{
			name: "OK whole history", from: "1900-01-01", to: "2026-03-15", wantFrom: "1900-01-01", wantTo: "2026-03-15",
			revenue: map[string]int64{"Sales": 3_500_00}, expenses: map[string]int64{"Advertising": 300_00, "Rent": 800_00},
			totalRev: 3_500_00, totalExp: 1_100_00, netProf: 2_400_00,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.svc.ProfitAndLoss(t.Context(), b.org.ID, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if got.From != tt.wantFrom || got.To != tt.wantTo {
				t.Errorf("period = %s..%s, want %s..%s", got.From, got.To, tt.wantFrom, tt.wantTo)
			}
			if r := rowAmounts(got.Revenue); !reflect.DeepEqual(r, tt.revenue) {
				t.Errorf("revenue = %v, want %v", r, tt.revenue)
			}
			if e := rowAmounts(got.Expenses); !reflect.DeepEqual(e, tt.expenses) {
				t.Errorf("expenses = %v, want %v", e, tt.expenses)
			}
			if got.TotalRevenue != tt.totalRev || got.TotalExpenses != tt.totalExp || got.NetProfit != tt.netProf {
				t.Errorf("totals = %d, %d, net %d; want %d, %d, net %d", got.TotalRevenue, got.TotalExpenses, got.NetProfit, tt.totalRev, tt.totalExp, tt.netProf)
			}
		})
	}
}

func TestBalanceSheet(t *testing.T) {
	b := newBooks(t)
	repFixture(t, b)
	o := b.otherBooks(t)
	o.repPost(t, "2026-02-01", repDr("1000", 77_00), repCr("4000", 77_00))

	tests := []struct {
		name                          string
		date                          string
		assets, liabilities, equity   map[string]int64
		totalA, totalL, totalE        int64
		retainedAccountID, wantYearSt string
	}{
		{
			name:        "OK today by default",
			assets:      map[string]int64{"Business Bank Account": 16_300_00, "Accounts Receivable": 1_200_00, "Office Equipment": 0},
			liabilities: map[string]int64{"Sales Tax": 200_00, "Loan": 5_000_00},
			// Retained earnings: 2025's profit 1,700.00 less the 100.00
			// dividend posted to the retained earnings account.
			equity: map[string]int64{"Owner's Capital": 10_000_00, ledger.RetainedEarningsName: 1_600_00, ledger.CurrentYearEarningsName: 700_00},
			totalA: 17_500_00, totalL: 5_200_00, totalE: 12_300_00,
			wantYearSt: "2026-01-01",
		},
		{
			name:        "OK end of 2025: all earnings are current",
			date:        "2025-12-31",
			assets:      map[string]int64{"Business Bank Account": 11_700_00},
			liabilities: map[string]int64{},
			equity:      map[string]int64{"Owner's Capital": 10_000_00, ledger.RetainedEarningsName: 0, ledger.CurrentYearEarningsName: 1_700_00},
			totalA:      11_700_00, totalE: 11_700_00,
			wantYearSt: "2025-01-01",
		},
		{
			name:        "OK first day of 2026: last year's profit moved to retained earnings",
			date:        "2026-01-01",
			assets:      map[string]int64{"Business Bank Account": 11_700_00},
			liabilities: map[string]int64{},
			equity:      map[string]int64{"Owner's Capital": 10_000_00, ledger.RetainedEarningsName: 1_700_00, ledger.CurrentYearEarningsName: 0},
			totalA:      11_700_00, totalE: 11_700_00,
			wantYearSt: "2026-01-01",
		},
		{
			name: "OK empty books", date: "2024-06-30",
			assets: map[string]int64{}, liabilities: map[string]int64{},
			equity:     map[string]int64{ledger.RetainedEarningsName: 0, ledger.CurrentYearEarningsName: 0},
			wantYearSt: "2024-01-01",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.svc.BalanceSheet(t.Context(), b.org.ID, tt.date)
			if err != nil {
				t.Fatal(err)
			}
			if got.YearStart != tt.wantYearSt {
				t.Errorf("YearStart = %s, want %s", got.YearStart, tt.wantYearSt)
			}
			if a := rowAmounts(got.Assets); !reflect.DeepEqual(a, tt.assets) {
				t.Errorf("assets = %v, want %v", a, tt.assets)
			}
			if l := rowAmounts(got.Liabilities); !reflect.DeepEqual(l, tt.liabilities) {
				t.Errorf("liabilities = %v, want %v", l, tt.liabilities)
			}
			if e := rowAmounts(got.Equity); !reflect.DeepEqual(e, tt.equity) {
				t.Errorf("equity = %v, want %v", e, tt.equity)
			}
			if got.TotalAssets != tt.totalA || got.TotalLiabilities != tt.totalL || got.TotalEquity != tt.totalE || got.TotalLiabilitiesAndEquity != tt.totalL+tt.totalE {
				t.Errorf("totals = A %d, L %d, E %d, L+E %d; want A %d, L %d, E %d", got.TotalAssets, got.TotalLiabilities, got.TotalEquity, got.TotalLiabilitiesAndEquity, tt.totalA, tt.totalL, tt.totalE)
			}
			// The computed lines come last, retained earnings first.
			n := len(got.Equity)
			if got.Equity[n-2].Name != ledger.RetainedEarningsName || got.Equity[n-1].Name != ledger.CurrentYearEarningsName {
				t.Errorf("equity ends with %q, %q", got.Equity[n-2].Name, got.Equity[n-1].Name)
			}
		})
	}

	t.Run("OK year boundary: 1 January is this year, 31 December last year", func(t *testing.T) {
		y := newBooks(t)
		y.repPost(t, "2025-12-31", repDr("1000", 40_00), repCr("4000", 40_00))
		y.repPost(t, "2026-01-01", repDr("1000", 2_00), repCr("4100", 2_00))
		y.repPost(t, "2026-01-01", repDr("6100", 1_00), repCr("1000", 1_00))
		got, err := y.svc.BalanceSheet(t.Context(), y.org.ID, "2026-01-01")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{ledger.RetainedEarningsName: 40_00, ledger.CurrentYearEarningsName: 1_00}
		if e := rowAmounts(got.Equity); !reflect.DeepEqual(e, want) {
			t.Errorf("equity = %v, want %v", e, want)
		}
		if got.TotalAssets != 41_00 {
			t.Errorf("TotalAssets = %d, want 4100", got.TotalAssets)
		}
		pl, err := y.svc.ProfitAndLoss(t.Context(), y.org.ID, "2026-01-01", "2026-01-01")
		if err != nil {
			t.Fatal(err)
		}
		if pl.TotalRevenue != 2_00 || pl.TotalExpenses != 1_00 || pl.NetProfit != 1_00 {
			t.Errorf("P&L of 2026-01-01 = %+v", pl)
		}
	})

	t.Run("OK retained earnings line is the retained earnings account", func(t *testing.T) {
		got, err := b.svc.BalanceSheet(t.Context(), b.org.ID, "2026-03-15")
		if err != nil {
			t.Fatal(err)
		}
		re := got.Equity[len(got.Equity)-2]
		if re.AccountID != b.acct["3200"].ID || re.Code != "3200" {
			t.Errorf("retained earnings row = %+v, want account 3200 (id %d)", re, b.acct["3200"].ID)
		}
	})
}

func TestReports_InvalidDates(t *testing.T) {
	b := newBooks(t)
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"TrialBalance not a date", func() error { _, err := b.svc.TrialBalance(ctx, b.org.ID, "yesterday"); return err },
			`The report date (date) "yesterday" is not a valid date in the form YYYY-MM-DD.`},
		{"BalanceSheet impossible date", func() error { _, err := b.svc.BalanceSheet(ctx, b.org.ID, "2026-02-30"); return err },
			`The report date (date) "2026-02-30" is not a valid date in the form YYYY-MM-DD.`},
		{"ProfitAndLoss bad from", func() error { _, err := b.svc.ProfitAndLoss(ctx, b.org.ID, "2026-1-1", "2026-03-01"); return err },
			`The start date (from) "2026-1-1" is not a valid date in the form YYYY-MM-DD.`},
		{"ProfitAndLoss bad to", func() error { _, err := b.svc.ProfitAndLoss(ctx, b.org.ID, "2026-01-01", "03/01/2026"); return err },
			`The end date (to) "03/01/2026" is not a valid date in the form YYYY-MM-DD.`},
		{"ProfitAndLoss from after to", func() error { _, err := b.svc.ProfitAndLoss(ctx, b.org.ID, "2026-03-02", "2026-03-01"); return err },
			`The start date (from) 2026-03-02 is after the end date (to) 2026-03-01.`},
		{"ProfitAndLoss from after today", func() error { _, err := b.svc.ProfitAndLoss(ctx, b.org.ID, "2026-06-01", ""); return err },
			`The start date (from) 2026-06-01 is after the end date (to) 2026-03-15.`},
		{"AgedReceivables year before 1900", func() error { _, err := b.svc.AgedReceivables(ctx, b.org.ID, "1899-12-31"); return err },
			`The report date (date) "1899-12-31" is not a valid date in the form YYYY-MM-DD.`},
		{"AgedPayables SQL in the date", func() error { _, err := b.svc.AgedPayables(ctx, b.org.ID, "2026-01-01' OR 1=1 --"); return err },
			`The report date (date) "2026-01-01' OR 1=1 --" is not a valid date in the form YYYY-MM-DD.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if errs.Code(err) != errs.EINVALID || errs.Message(err) != tt.want {
				t.Errorf("err = %v, want EINVALID %q", err, tt.want)
			}
		})
	}
}

// TestReports_BrokenBooks damages the ledger behind the store's back (a
// line without its other side, which postJournal can never write) and
// checks that the reports refuse to show figures from it.
func TestReports_BrokenBooks(t *testing.T) {
	b := newBooks(t)
	j := b.repPost(t, "2026-01-10", repDr("1000", 100_00), repCr("4000", 100_00))
	if _, err := b.store.DB().ExecContext(t.Context(), `INSERT INTO journal_lines (journal_id, org_id, account_id, debit, credit) VALUES (?, ?, ?, 1, 0)`,
		j.ID, b.org.ID, b.acct["1000"].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.TrialBalance(t.Context(), b.org.ID, ""); errs.Code(err) != errs.EINTERNAL {
		t.Errorf("TrialBalance err = %v, want EINTERNAL", err)
	}
	if _, err := b.svc.BalanceSheet(t.Context(), b.org.ID, ""); errs.Code(err) != errs.EINTERNAL {
		t.Errorf("BalanceSheet err = %v, want EINTERNAL", err)
	}
	// Before the damaged journal's date the books are still whole.
	if _, err := b.svc.BalanceSheet(t.Context(), b.org.ID, "2026-01-09"); err != nil {
		t.Errorf("BalanceSheet before the damage: %v", err)
	}
}

// agedFixture is a store with contacts, invoices, payments and credit
// allocations written directly with SQL: the aged reports read those
// tables only, and this pins the exact rows each case needs (states,
// dates, partial payments after the report date) independently of how the
// sales service gets there. Payments must name a journal (foreign key), so
// they all point at one real, balanced journal; it plays no part in the
// aged figures.
type agedFixture struct {
	b         *books
	journalID int64
	invoiceN  int
}

func newAgedFixture(tb testing.TB, b *books) *agedFixture {
	tb.Helper()
	j := b.repPost(tb, "2025-01-01", repDr("1000", 1), repCr("3000", 1))
	return &agedFixture{b: b, journalID: j.ID}
}

func (f *agedFixture) contact(tb testing.TB, name string) int64 {
	tb.Helper()
	id, err := f.b.store.DB().InsertID(tb.Context(), `INSERT INTO contacts (org_id, name, is_customer, is_supplier, created_at, updated_at) VALUES (?, ?, 1, 1, 0, 0)`, f.b.org.ID, name)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (f *agedFixture) invoice(tb testing.TB, contact int64, kind, status, date, due string, total int64) int64 {
	tb.Helper()
	f.invoiceN++
	id, err := f.b.store.DB().InsertID(tb.Context(), `INSERT INTO invoices (org_id, kind, number, contact_id, date, due_date, status, subtotal, total, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`, f.b.org.ID, kind, fmt.Sprintf("N-%d", f.invoiceN), contact, date, due, status, total, total)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (f *agedFixture) payment(tb testing.TB, invoice int64, date string, amount int64) {
	tb.Helper()
	if _, err := f.b.store.DB().ExecContext(tb.Context(), `INSERT INTO payments (org_id, invoice_id, bank_account_id, date, amount, journal_id, created_at) VALUES (?, ?, 1, ?, ?, ?, 0)`,
		f.b.org.ID, invoice, date, amount, f.journalID); err != nil {
		tb.Fatal(err)
	}
}

func (f *agedFixture) allocate(tb testing.TB, creditNote, invoice int64, date string, amount int64) {
	tb.Helper()
	if _, err := f.b.store.DB().ExecContext(tb.Context(), `INSERT INTO credit_allocations (org_id, credit_note_id, invoice_id, date, amount, created_at) VALUES (?, ?, ?, ?, ?, 0)`,
		f.b.org.ID, creditNote, invoice, date, amount); err != nil {
		tb.Fatal(err)
	}
}

func TestAgedReports(t *testing.T) {
	b := newBooks(t)
	f := newAgedFixture(t, b)

	// Acme: 1,200.00 due 2026-01-31 with 200.00 paid before the report
	// date and 100.00 after it → 1,000.00 overdue 43 days on 2026-03-15;
	// 500.00 not yet due. Draft, voided, later-dated and fully paid
	// invoices do not count.
	acme := f.contact(t, "Acme Ltd")
	inv := f.invoice(t, acme, "sales", "awaiting_payment", "2026-01-01", "2026-01-31", 1_200_00)
	f.payment(t, inv, "2026-02-01", 200_00)
	f.payment(t, inv, "2026-03-20", 100_00)
	f.invoice(t, acme, "sales", "awaiting_payment", "2026-03-01", "2026-03-31", 500_00)
	f.invoice(t, acme, "sales", "draft", "2026-01-01", "2026-01-31", 999_00)
	f.invoice(t, acme, "sales", "voided", "2026-01-01", "2026-01-31", 777_00)
	f.invoice(t, acme, "sales", "awaiting_payment", "2026-04-01", "2026-04-30", 333_00)
	paid := f.invoice(t, acme, "sales", "paid", "2025-10-01", "2025-10-31", 300_00)
	f.payment(t, paid, "2025-11-01", 300_00)

	// "=cmd()": 250.00 due 2025-12-01 (104 days) with a 50.00 credit note
	// of 2026-03-05 (due the same day: 10 days), 30.00 of it allocated to
	// the invoice; 75.00 due 2026-02-15 (28 days).
	cmd := f.contact(t, "=cmd()")
	old := f.invoice(t, cmd, "sales", "awaiting_payment", "2025-11-01", "2025-12-01", 250_00)
	cn := f.invoice(t, cmd, "sales_credit", "awaiting_payment", "2026-03-05", "2026-03-05", 50_00)
	f.allocate(t, cn, old, "2026-03-06", 30_00)
	f.invoice(t, cmd, "sales", "awaiting_payment", "2026-02-01", "2026-02-15", 75_00)

	// Boundaries: one invoice per edge of each bucket, amounts powers of
	// two so each bucket's sum says exactly which invoices fell in it.
	edges := f.contact(t, "Boundaries Co")
	for _, e := range []struct {
		due    string
		amount int64
	}{
		{"2026-03-15", 1},   // 0 days: current
		{"2026-03-14", 2},   // 1 day
		{"2026-02-13", 4},   // 30 days
		{"2026-02-12", 8},   // 31 days
		{"2026-01-14", 16},  // 60 days
		{"2026-01-13", 32},  // 61 days
		{"2025-12-15", 64},  // 90 days
		{"2025-12-14", 128}, // 91 days
	} {
		f.invoice(t, edges, "sales", "awaiting_payment", "2025-12-01", e.due, e.amount)
	}

	// Payables: a 640.00 bill due 2026-02-09 (34 days) with 40.00 paid,
	// and a 60.00 supplier credit not allocated, dated 2026-03-10, due then.
	supplier := f.contact(t, "Supplier Co")
	bill := f.invoice(t, supplier, "bill", "awaiting_payment", "2026-01-10", "2026-02-09", 640_00)
	f.payment(t, bill, "2026-03-01", 40_00)
	f.invoice(t, supplier, "bill_credit", "awaiting_payment", "2026-03-10", "2026-03-10", 60_00)

	// Another organisation's invoice, to a contact of its own.
	o := b.otherBooks(t)
	of := newAgedFixture(t, o)
	of.invoice(t, of.contact(t, "Other customer"), "sales", "awaiting_payment", "2026-01-01", "2026-01-01", 5_000_00)

	t.Run("OK receivables", func(t *testing.T) {
		got, err := b.svc.AgedReceivables(t.Context(), b.org.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.AgedBalance{
			{ContactID: cmd, ContactName: "=cmd()", Days1To30: 75_00 - 20_00, Over90: 220_00, Total: 275_00},
			{ContactID: acme, ContactName: "Acme Ltd", Current: 500_00, Days31To60: 1_000_00, Total: 1_500_00},
			{ContactID: edges, ContactName: "Boundaries Co", Current: 1, Days1To30: 2 + 4, Days31To60: 8 + 16, Days61To90: 32 + 64, Over90: 128, Total: 255},
			// Supplier Co is a customer too, but has no sales invoices.
		}
		if got.AsOf != "2026-03-15" || got.Kind != ledger.AgedReceivables {
			t.Errorf("AsOf, Kind = %s, %s", got.AsOf, got.Kind)
		}
		assertAged(t, got, want)
	})

	t.Run("OK receivables on an earlier date", func(t *testing.T) {
		// 2026-02-20: Acme's invoice is 20 days overdue with 200.00 paid;
		// its March invoice and the credit note do not exist yet, nor does
		// the allocation; =cmd()'s 75.00 is 5 days overdue.
		got, err := b.svc.AgedReceivables(t.Context(), b.org.ID, "2026-02-20")
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.AgedBalance{
			{ContactID: cmd, ContactName: "=cmd()", Days1To30: 75_00, Days61To90: 250_00, Total: 325_00},
			{ContactID: acme, ContactName: "Acme Ltd", Days1To30: 1_000_00, Total: 1_000_00},
			// 2026-02-20 less each due date: 2026-03-15 and 2026-03-14 not
			// yet due; 2026-02-13 7 days; 2026-02-12 8; 2026-01-14 37;
			// 2026-01-13 38; 2025-12-15 67; 2025-12-14 68.
			{ContactID: edges, ContactName: "Boundaries Co", Current: 1 + 2, Days1To30: 4 + 8, Days31To60: 16 + 32, Days61To90: 64 + 128, Total: 255},
		}
		assertAged(t, got, want)
	})

	t.Run("OK payables", func(t *testing.T) {
		got, err := b.svc.AgedPayables(t.Context(), b.org.ID, "2026-03-15")
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.AgedBalance{
			{ContactID: supplier, ContactName: "Supplier Co", Current: 0, Days1To30: -60_00, Days31To60: 600_00, Total: 540_00},
		}
		if got.Kind != ledger.AgedPayables {
			t.Errorf("Kind = %s", got.Kind)
		}
		assertAged(t, got, want)
	})

	t.Run("OK payments and allocations dated on the report date count", func(t *testing.T) {
		d := newBooks(t)
		df := newAgedFixture(t, d)
		c := df.contact(t, "Day Co")
		inv := df.invoice(t, c, "sales", "awaiting_payment", "2026-03-01", "2026-03-31", 100_00)
		// The credit note is overdue and the invoice current, so each side
		// of the allocation shows in its own bucket.
		note := df.invoice(t, c, "sales_credit", "awaiting_payment", "2026-03-01", "2026-03-01", 5_00)
		df.payment(t, inv, "2026-03-10", 10_00)
		df.allocate(t, note, inv, "2026-03-10", 5_00)
		on, err := d.svc.AgedReceivables(t.Context(), d.org.ID, "2026-03-10")
		if err != nil {
			t.Fatal(err)
		}
		assertAged(t, on, []ledger.AgedBalance{{ContactID: c, ContactName: "Day Co", Current: 85_00, Total: 85_00}})
		before, err := d.svc.AgedReceivables(t.Context(), d.org.ID, "2026-03-09")
		if err != nil {
			t.Fatal(err)
		}
		assertAged(t, before, []ledger.AgedBalance{{ContactID: c, ContactName: "Day Co", Current: 100_00, Days1To30: -5_00, Total: 95_00}})
	})

	t.Run("OK nothing before the first invoice", func(t *testing.T) {
		got, err := b.svc.AgedReceivables(t.Context(), b.org.ID, "2025-01-01")
		if err != nil {
			t.Fatal(err)
		}
		assertAged(t, got, []ledger.AgedBalance{})
	})

	t.Run("OK other organisation sees only its own", func(t *testing.T) {
		got, err := o.svc.AgedReceivables(t.Context(), o.org.ID, "2026-03-15")
		if err != nil {
			t.Fatal(err)
		}
		// Due 2026-01-01: 73 days overdue on 2026-03-15.
		if len(got.Rows) != 1 || got.Rows[0].ContactName != "Other customer" || got.Rows[0].Days61To90 != 5_000_00 || got.Rows[0].Total != 5_000_00 {
			for _, r := range got.Rows {
				t.Errorf("row %+v", *r)
			}
			t.Fatalf("want one row, Other customer, 5,000.00 in 61–90 days")
		}
	})
}

// assertAged compares rows and checks the totals row sums them.
func assertAged(t *testing.T, got *ledger.AgedReport, want []ledger.AgedBalance) {
	t.Helper()
	rows := []ledger.AgedBalance{}
	for _, r := range got.Rows {
		rows = append(rows, *r)
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %+v\nwant   %+v", rows, want)
	}
	var sum ledger.AgedBalance
	for _, r := range want {
		sum.Current += r.Current
		sum.Days1To30 += r.Days1To30
		sum.Days31To60 += r.Days31To60
		sum.Days61To90 += r.Days61To90
		sum.Over90 += r.Over90
		sum.Total += r.Total
		if r.Current+r.Days1To30+r.Days31To60+r.Days61To90+r.Over90 != r.Total {
			t.Errorf("%s: buckets do not add up to the total", r.ContactName)
		}
	}
	if got.Totals != sum {
		t.Errorf("totals = %+v, want %+v", got.Totals, sum)
	}
}

// TestPostJournals checks the batch posting the batched benchmark uses:
// every journal goes through the same checks, and one refused journal
// leaves the whole batch out of the books.
func TestPostJournals(t *testing.T) {
	b := newBooks(t)
	mk := func(date string, dr, cr string, amount int64) *ledger.Journal {
		return &ledger.Journal{OrgID: b.org.ID, Date: date, Narration: "batch", SourceType: ledger.SourceManual, CreatedAt: testNow,
			Lines: []ledger.JournalLine{{AccountID: b.acct[dr].ID, Debit: amount}, {AccountID: b.acct[cr].ID, Credit: amount}}}
	}
	t.Run("OK", func(t *testing.T) {
		js := []*ledger.Journal{mk("2026-01-02", "1000", "4000", 10_00), mk("2026-01-03", "6000", "1000", 4_00)}
		if err := b.store.PostJournals(t.Context(), js); err != nil {
			t.Fatal(err)
		}
		if js[0].ID == 0 || js[1].ID <= js[0].ID {
			t.Errorf("ids %d, %d", js[0].ID, js[1].ID)
		}
		tb, err := b.svc.TrialBalance(t.Context(), b.org.ID, "")
		if err != nil || tb.TotalDebit != 10_00 {
			t.Errorf("trial balance %+v, %v", tb, err)
		}
	})
	t.Run("ErrOneRefusedNonePosted", func(t *testing.T) {
		if err := b.svc.SetLockDate(t.Context(), b.actor, b.org.ID, "2026-01-31"); err != nil {
			t.Fatal(err)
		}
		js := []*ledger.Journal{mk("2026-02-02", "1000", "4000", 50_00), mk("2026-01-15", "1000", "4000", 7_00), mk("2026-02-03", "1000", "4000", 1_00)}
		err := b.store.PostJournals(t.Context(), js)
		if errs.Code(err) != errs.ECONFLICT || !strings.HasPrefix(errs.Message(err), "Journal 2 of 3: The books are locked") {
			t.Fatalf("err = %v, want ECONFLICT naming journal 2", err)
		}
		for i, j := range js {
			if j.ID != 0 {
				t.Errorf("journal %d kept id %d after the rollback", i+1, j.ID)
			}
		}
		tb, err := b.svc.TrialBalance(t.Context(), b.org.ID, "2026-12-31")
		if err != nil || tb.TotalDebit != 10_00 {
			t.Errorf("after a refused batch the trial balance is %+v, %v; want the first batch only", tb, err)
		}
	})
}
