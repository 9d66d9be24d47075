package e2e

// Reports end to end through the JSON API: the books are filled with
// manual journals (POST /journals), then every report is read as JSON and
// as CSV; totals must agree, the balance sheet must balance, a formula in
// an account name must reach the CSV neutralised, and an invoice-only
// member must be refused. An invoice recorded through the sales API shows
// in the aged receivables and agrees with the ledger. Source addresses
// 127.0.0.55–59.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"
)

// repGet fetches path with m's session and returns the answer whatever its
// status and type (client.Do only reads JSON).
func repGet(t *testing.T, m *member, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.C.BaseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.Session)
	resp, err := m.C.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// repCSV fetches a report as CSV and parses it.
func repCSV(t *testing.T, m *member, path, wantFile string) [][]string {
	t.Helper()
	resp, body := repGet(t, m, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename="+wantFile {
		t.Errorf("GET %s: Content-Disposition %q, want attachment of %s", path, cd, wantFile)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v\n%s", path, err, body)
	}
	return recs
}

type repTB struct {
	Report   string `json:"report"`
	Date     string `json:"date"`
	Currency string `json:"currency"`
	Accounts []struct {
		AccountID int64  `json:"account_id"`
		Code      string `json:"code"`
		Name      string `json:"name"`
		Debit     string `json:"debit"`
		Credit    string `json:"credit"`
	} `json:"accounts"`
	TotalDebit  string `json:"total_debit"`
	TotalCredit string `json:"total_credit"`
}

type repRow struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Amount string `json:"amount"`
}

type repBS struct {
	Date                      string   `json:"date"`
	Assets                    []repRow `json:"assets"`
	TotalAssets               string   `json:"total_assets"`
	Liabilities               []repRow `json:"liabilities"`
	TotalLiabilities          string   `json:"total_liabilities"`
	Equity                    []repRow `json:"equity"`
	TotalEquity               string   `json:"total_equity"`
	TotalLiabilitiesAndEquity string   `json:"total_liabilities_and_equity"`
}

type repPL struct {
	From          string   `json:"from"`
	To            string   `json:"to"`
	Revenue       []repRow `json:"revenue"`
	TotalRevenue  string   `json:"total_revenue"`
	Expenses      []repRow `json:"expenses"`
	TotalExpenses string   `json:"total_expenses"`
	NetProfit     string   `json:"net_profit"`
}

type repAged struct {
	Report   string            `json:"report"`
	Date     string            `json:"date"`
	Contacts []repAgedContact  `json:"contacts"`
	Totals   map[string]string `json:"totals"`
}

type repAgedContact struct {
	ContactID  int64  `json:"contact_id"`
	Name       string `json:"name"`
	Days61To90 string `json:"days_61_90"`
	Total      string `json:"total"`
}

func TestReportsAPI(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	const org = "Reports E2E Ltd"
	owner := signedInMember(t, srv, "127.0.0.55", "owner@reports.example", org, "owner")
	sales := signedInMember(t, srv, "127.0.0.56", "sales@reports.example", org, "invoice_only")
	reader := signedInMember(t, srv, "127.0.0.57", "reader@reports.example", org, "read_only")

	t.Run("OK empty books", func(t *testing.T) {
		var tb repTB
		if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/trial-balance?date=2025-12-31"), owner.Session, nil, &tb); err != nil {
			t.Fatal(err)
		}
		if tb.Report != "trial_balance" || tb.Currency != "GBP" || len(tb.Accounts) != 0 || tb.TotalDebit != "0.00" || tb.TotalCredit != "0.00" {
			t.Errorf("empty trial balance = %+v", tb)
		}
		var bs repBS
		if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/balance-sheet"), owner.Session, nil, &bs); err != nil {
			t.Fatal(err)
		}
		if bs.TotalAssets != "0.00" || bs.TotalLiabilitiesAndEquity != "0.00" || len(bs.Equity) != 2 {
			t.Errorf("empty balance sheet = %+v", bs)
		}
	})

	// The chart, and a revenue account whose name a spreadsheet would run.
	var accounts struct {
		Accounts []struct {
			ID   int64  `json:"id"`
			Code string `json:"code"`
		} `json:"accounts"`
	}
	if err := owner.C.Do(ctx, "GET", owner.orgPath("accounts"), owner.Session, nil, &accounts); err != nil {
		t.Fatalf("list accounts: %v", err)
	}
	acct := map[string]int64{}
	for _, a := range accounts.Accounts {
		acct[a.Code] = a.ID
	}
	var created struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	if err := owner.C.Do(ctx, "POST", owner.orgPath("accounts"), owner.Session, map[string]any{"code": "4950", "name": "=cmd()", "type": "revenue"}, &created); err != nil {
		t.Fatalf("create account: %v", err)
	}
	acct["4950"] = created.Account.ID

	post := func(date, dr, cr, amount string) {
		t.Helper()
		body := map[string]any{"date": date, "narration": "reports e2e", "lines": []map[string]any{
			{"account_id": acct[dr], "debit": amount},
			{"account_id": acct[cr], "credit": amount},
		}}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("journals"), owner.Session, body, nil); err != nil {
			t.Fatalf("post journal %s %s/%s: %v", date, dr, cr, err)
		}
	}
	post("2024-03-01", "1000", "3000", "10000.00") // capital
	post("2024-06-30", "1000", "4000", "2500.00")  // sales, last year
	post("2024-07-15", "6200", "1000", "800.00")   // rent, last year
	post("2025-02-10", "1100", "4950", "1200.00")  // sales on credit, to "=cmd()"
	post("2025-02-20", "6000", "1000", "300.55")   // advertising
	post("2025-03-01", "3200", "1000", "100.00")   // dividend from retained earnings

	t.Run("OK trial balance", func(t *testing.T) {
		var tb repTB
		if err := reader.C.Do(ctx, "GET", reader.orgPath("reports/trial-balance?date=2025-12-31"), reader.Session, nil, &tb); err != nil {
			t.Fatal(err)
		}
		if tb.TotalDebit != tb.TotalCredit || tb.TotalDebit != "13700.00" {
			t.Errorf("totals %s / %s, want 13700.00 both", tb.TotalDebit, tb.TotalCredit)
		}
		want := map[string][2]string{
			"1000": {"11299.45", "0.00"}, "1100": {"1200.00", "0.00"}, "3000": {"0.00", "10000.00"}, "3200": {"100.00", "0.00"},
			"4000": {"0.00", "2500.00"}, "4950": {"0.00", "1200.00"}, "6000": {"300.55", "0.00"}, "6200": {"800.00", "0.00"},
		}
		if len(tb.Accounts) != len(want) {
			t.Errorf("%d accounts, want %d: %+v", len(tb.Accounts), len(want), tb.Accounts)
		}
		for _, a := range tb.Accounts {
			if w := want[a.Code]; a.Debit != w[0] || a.Credit != w[1] {
				t.Errorf("%s %s: %s / %s, want %s / %s", a.Code, a.Name, a.Debit, a.Credit, w[0], w[1])
			}
		}
	})

	t.Run("OK balance sheet balances", func(t *testing.T) {
		var bs repBS
		if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/balance-sheet?date=2025-12-31"), owner.Session, nil, &bs); err != nil {
			t.Fatal(err)
		}
		// Assets 11,299.45 + 1,200.00; equity: capital 10,000.00, retained
		// 1,700.00 (2024's profit) − 100.00, current year 1,200.00 − 300.55.
		if bs.TotalAssets != "12499.45" || bs.TotalLiabilitiesAndEquity != "12499.45" || bs.TotalLiabilities != "0.00" || bs.TotalEquity != "12499.45" {
			t.Errorf("balance sheet = %+v", bs)
		}
		eq := map[string]string{}
		for _, r := range bs.Equity {
			eq[r.Name] = r.Amount
		}
		if eq["Retained earnings"] != "1600.00" || eq["Current year earnings"] != "899.45" {
			t.Errorf("equity = %+v", bs.Equity)
		}
	})

	t.Run("OK profit and loss", func(t *testing.T) {
		var pl repPL
		if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/profit-and-loss?from=2024-01-01&to=2025-12-31"), owner.Session, nil, &pl); err != nil {
			t.Fatal(err)
		}
		if pl.TotalRevenue != "3700.00" || pl.TotalExpenses != "1100.55" || pl.NetProfit != "2599.45" {
			t.Errorf("P&L = %+v", pl)
		}
	})

	t.Run("OK aged reports with nothing outstanding", func(t *testing.T) {
		for _, name := range []string{"aged-receivables", "aged-payables"} {
			var ag repAged
			if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/"+name+"?date=2025-12-31"), owner.Session, nil, &ag); err != nil {
				t.Fatal(err)
			}
			if ag.Report != strings.ReplaceAll(name, "-", "_") || ag.Date != "2025-12-31" || ag.Contacts == nil || len(ag.Contacts) != 0 || ag.Totals["total"] != "0.00" {
				t.Errorf("%s = %+v", name, ag)
			}
		}
	})

	t.Run("OK CSV", func(t *testing.T) {
		tb := repCSV(t, owner, owner.orgPath("reports/trial-balance?date=2025-12-31&format=csv"), "trial-balance-2025-12-31.csv")
		if strings.Join(tb[0], ",") != "Code,Account,Type,Debit,Credit" {
			t.Errorf("header = %q", tb[0])
		}
		var formula bool
		for _, r := range tb[1:] {
			if r[0] == "4950" {
				formula = r[1] == "'=cmd()"
			}
		}
		if !formula {
			t.Errorf("the account named =cmd() is not neutralised: %q", tb)
		}
		if last := strings.Join(tb[len(tb)-1], ","); last != ",Total,,13700.00,13700.00" {
			t.Errorf("total row = %q", last)
		}
		bs := repCSV(t, owner, owner.orgPath("reports/balance-sheet?date=2025-12-31&format=csv"), "balance-sheet-2025-12-31.csv")
		if last := strings.Join(bs[len(bs)-1], ","); last != "Liabilities and equity,,Total liabilities and equity,12499.45" {
			t.Errorf("last row = %q", last)
		}
		pl := repCSV(t, owner, owner.orgPath("reports/profit-and-loss?from=2024-07-01&to=2024-12-31&format=csv"), "profit-and-loss-2024-07-01-to-2024-12-31.csv")
		if last := strings.Join(pl[len(pl)-1], ","); last != "Result,,Net loss,-800.00" {
			t.Errorf("last row = %q", last)
		}
		for _, name := range []string{"aged-receivables", "aged-payables"} {
			ag := repCSV(t, owner, owner.orgPath("reports/"+name+"?date=2025-12-31&format=csv"), name+"-2025-12-31.csv")
			if len(ag) != 2 || ag[0][1] != "Current" || strings.Join(ag[1], ",") != "Total,0.00,0.00,0.00,0.00,0.00,0.00" {
				t.Errorf("%s CSV = %q", name, ag)
			}
		}
	})

	// A customer whose name is a formula, invoiced 1,000.00 + 20% tax,
	// due 2025-10-31, with 200.00 paid: on 2025-12-31 1,000.00 is 61 days
	// overdue.
	t.Run("OK aged receivables from an invoice", func(t *testing.T) {
		var contact struct {
			ID int64 `json:"id"`
		}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("contacts"), owner.Session, map[string]any{"name": "=Evil Co", "is_customer": true}, &contact); err != nil {
			t.Fatalf("create contact: %v", err)
		}
		var inv struct {
			ID    int64  `json:"id"`
			Total string `json:"total"`
		}
		body := map[string]any{"contact_id": contact.ID, "date": "2025-10-01", "due_date": "2025-10-31",
			"lines": []map[string]any{{"description": "Consulting", "quantity": "1", "unit_price": "1000.00", "account_id": acct["4000"]}}}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("invoices"), owner.Session, body, &inv); err != nil {
			t.Fatalf("create invoice: %v", err)
		}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("invoices/"+strconv.FormatInt(inv.ID, 10)+"/approve"), owner.Session, nil, &inv); err != nil {
			t.Fatalf("approve invoice: %v", err)
		}
		if inv.Total != "1200.00" {
			t.Fatalf("invoice total %s, want 1200.00", inv.Total)
		}
		var banks struct {
			BankAccounts []struct {
				ID int64 `json:"id"`
			} `json:"bank_accounts"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath("bank-accounts"), owner.Session, nil, &banks); err != nil || len(banks.BankAccounts) == 0 {
			t.Fatalf("bank accounts: %v %+v", err, banks)
		}
		pay := map[string]any{"invoice_id": inv.ID, "bank_account_id": banks.BankAccounts[0].ID, "date": "2025-11-15", "amount": "200.00"}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("payments"), owner.Session, pay, nil); err != nil {
			t.Fatalf("record payment: %v", err)
		}

		var ag repAged
		if err := reader.C.Do(ctx, "GET", reader.orgPath("reports/aged-receivables?date=2025-12-31"), reader.Session, nil, &ag); err != nil {
			t.Fatal(err)
		}
		if len(ag.Contacts) != 1 || ag.Contacts[0].Name != "=Evil Co" || ag.Contacts[0].Days61To90 != "1000.00" || ag.Contacts[0].Total != "1000.00" || ag.Totals["total"] != "1000.00" {
			t.Errorf("aged receivables = %+v", ag)
		}
		// Before the payment the whole 1,200.00 was 15 days overdue.
		if err := reader.C.Do(ctx, "GET", reader.orgPath("reports/aged-receivables?date=2025-11-14"), reader.Session, nil, &ag); err != nil {
			t.Fatal(err)
		}
		if len(ag.Contacts) != 1 || ag.Totals["days_1_30"] != "1200.00" || ag.Totals["total"] != "1200.00" {
			t.Errorf("aged receivables before the payment = %+v", ag)
		}
		recs := repCSV(t, reader, reader.orgPath("reports/aged-receivables?date=2025-12-31&format=csv"), "aged-receivables-2025-12-31.csv")
		if len(recs) != 3 || strings.Join(recs[1], ",") != "'=Evil Co,0.00,0.00,0.00,1000.00,0.00,1000.00" {
			t.Errorf("aged receivables CSV = %q", recs)
		}
		// The ledger agrees: the receivable account holds the invoice's
		// 1,000.00 left on top of the 1,200.00 journal posted to it above,
		// and the trial balance still balances.
		var tb repTB
		if err := reader.C.Do(ctx, "GET", reader.orgPath("reports/trial-balance?date=2025-12-31"), reader.Session, nil, &tb); err != nil {
			t.Fatal(err)
		}
		for _, a := range tb.Accounts {
			if a.Code == "1100" && a.Debit != "2200.00" {
				t.Errorf("receivable = %s, want 2200.00", a.Debit)
			}
		}
		if tb.TotalDebit != tb.TotalCredit {
			t.Errorf("trial balance %s / %s", tb.TotalDebit, tb.TotalCredit)
		}
		var bs repBS
		if err := reader.C.Do(ctx, "GET", reader.orgPath("reports/balance-sheet?date=2025-12-31"), reader.Session, nil, &bs); err != nil {
			t.Fatal(err)
		}
		if bs.TotalAssets != bs.TotalLiabilitiesAndEquity {
			t.Errorf("balance sheet %s ≠ %s", bs.TotalAssets, bs.TotalLiabilitiesAndEquity)
		}
	})

	t.Run("ErrBadParameters", func(t *testing.T) {
		for path, want := range map[string]string{
			"reports/trial-balance?date=31/12/2025":                   `The report date (date) "31/12/2025" is not a valid date in the form YYYY-MM-DD.`,
			"reports/profit-and-loss?from=2025-12-31&to=2025-01-01":   "The start date (from) 2025-12-31 is after the end date (to) 2025-01-01.",
			"reports/balance-sheet?date=2025-12-31&format=xlsx":       `Format "xlsx" is not supported: use json or csv.`,
			"reports/aged-payables?date=2025-02-29":                   `The report date (date) "2025-02-29" is not a valid date in the form YYYY-MM-DD.`,
			"reports/aged-receivables?date=2025-01-01'%20OR%20'1'='1": `The report date (date) "2025-01-01' OR '1'='1" is not a valid date in the form YYYY-MM-DD.`,
		} {
			err := owner.C.Do(ctx, "GET", owner.orgPath(path), owner.Session, nil, nil)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || ce.Code != "invalid" || ce.Message != want {
				t.Errorf("GET %s: %v, want 400 %q", path, err, want)
			}
		}
	})

	t.Run("ErrInvoiceOnlyForbidden", func(t *testing.T) {
		for _, name := range []string{"trial-balance", "profit-and-loss", "balance-sheet", "aged-receivables", "aged-payables"} {
			for _, q := range []string{"", "?format=csv"} {
				resp, body := repGet(t, sales, sales.orgPath("reports/"+name+q))
				if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte(`"code":"forbidden"`)) || bytes.Contains(body, []byte("13700")) {
					t.Errorf("invoice-only GET %s%s: %d %s", name, q, resp.StatusCode, body)
				}
			}
		}
	})
}
