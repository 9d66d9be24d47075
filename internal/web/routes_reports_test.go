package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlstore"
)

func TestCSVText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=cmd()", "'=cmd()"},
		{"+SUM(A1:A9)", "'+SUM(A1:A9)"},
		{"-2+3", "'-2+3"},
		{"@SUM(1)", "'@SUM(1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"\n=1", "'\n=1"},
		{"Acme = good", "Acme = good"},
		{"'quoted", "'quoted"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := csvText(tt.in); got != tt.want {
			t.Errorf("csvText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// reportsEnv is a real server on a real SQLite store with one
// organisation whose books the tests fill through the ledger service, an
// owner and an invoice-only member.
type reportsEnv struct {
	handler http.Handler
	store   *sqlstore.Store
	led     *ledger.Service
	org     *access.Org
	owner   ledger.Actor
	tokens  map[access.Role]string
	acct    map[string]int64
}

func newReportsEnv(t *testing.T) *reportsEnv {
	t.Helper()
	ctx := t.Context()
	ts := newTestServer(t)
	st, led := ts.store, ts.ledger
	led.Now = func() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }
	e := &reportsEnv{handler: ts.server.Handler(), store: st, led: led, tokens: map[access.Role]string{}, acct: map[string]int64{}}
	now := time.Now().UTC()
	for i, role := range []access.Role{access.Owner, access.InvoiceOnly} {
		u, tok := ts.mustSignedInUser(t, string(role)+"@example.com", string(role), now)
		e.tokens[role] = tok
		if i == 0 {
			e.owner = ledger.Actor{UserID: u.ID, Email: u.Email}
			e.org = &access.Org{Name: "Reports Ltd", Currency: "GBP", CreatedAt: now, Settings: access.DefaultSettings()}
			if err := st.CreateOrg(ctx, e.org, u.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := st.AddMember(ctx, &access.Membership{OrgID: e.org.ID, UserID: u.ID, Role: role, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	accts, err := st.FindAccounts(ctx, e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		e.acct[a.Code] = a.ID
	}
	return e
}

// post posts a two-line manual journal: debit dr, credit cr.
func (e *reportsEnv) post(t *testing.T, date, dr, cr string, amount int64) {
	t.Helper()
	j := &ledger.Journal{OrgID: e.org.ID, Date: date, Narration: "test", Lines: []ledger.JournalLine{{AccountID: e.acct[dr], Debit: amount}, {AccountID: e.acct[cr], Credit: amount}}}
	if err := e.led.PostManualJournal(t.Context(), e.owner, j); err != nil {
		t.Fatal(err)
	}
}

// get sends a GET as role: bearer token for /api/, session cookie else.
func (e *reportsEnv) get(role access.Role, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "https://localhost"+path, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if strings.HasPrefix(path, "/api/") {
		r.Header.Set("Authorization", "Bearer "+e.tokens[role])
	} else {
		r.AddCookie(&http.Cookie{Name: cookieSession, Value: e.tokens[role]})
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

func (e *reportsEnv) api(rest string) string {
	return "/api/v1/orgs/" + itoa(e.org.ID) + "/reports/" + rest
}
func (e *reportsEnv) page(rest string) string {
	return strings.TrimSuffix("/orgs/"+itoa(e.org.ID)+"/reports/"+rest, "/")
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// readCSV parses a CSV answer, failing on anything that is not one.
func readCSV(t *testing.T, rec *httptest.ResponseRecorder) [][]string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if !bytes.Contains(rec.Body.Bytes(), []byte("\r\n")) {
		t.Errorf("CSV lines do not end in CRLF")
	}
	recs, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, rec.Body.String())
	}
	return recs
}

func TestReportRoutes(t *testing.T) {
	e := newReportsEnv(t)
	ctx := t.Context()
	// An account whose name a spreadsheet would run as a formula.
	bad := &ledger.Account{OrgID: e.org.ID, Code: "4900", Name: "=cmd()", Type: ledger.Revenue}
	if err := e.led.CreateAccount(ctx, e.owner, bad); err != nil {
		t.Fatal(err)
	}
	e.acct["4900"] = bad.ID
	e.post(t, "2026-01-10", "1000", "3000", 1_000_00)
	e.post(t, "2026-02-01", "1000", "4900", 234_50)
	e.post(t, "2026-02-15", "6200", "1000", 500_00)

	t.Run("OK trial balance JSON", func(t *testing.T) {
		rec := e.get(access.Owner, e.api("trial-balance?date=2026-03-01"))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		var got trialBalanceJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Report != "trial_balance" || got.Date != "2026-03-01" || got.Currency != "GBP" || got.TotalDebit != "1234.50" || got.TotalCredit != "1234.50" {
			t.Errorf("got %+v", got)
		}
		want := map[string][2]string{"1000": {"734.50", "0.00"}, "3000": {"0.00", "1000.00"}, "4900": {"0.00", "234.50"}, "6200": {"500.00", "0.00"}}
		if len(got.Accounts) != len(want) {
			t.Errorf("accounts = %+v", got.Accounts)
		}
		for _, a := range got.Accounts {
			if w := want[a.Code]; a.Debit != w[0] || a.Credit != w[1] {
				t.Errorf("account %s: %s / %s, want %s / %s", a.Code, a.Debit, a.Credit, w[0], w[1])
			}
		}
		// Amounts are strings, never JSON numbers.
		if bytes.Contains(rec.Body.Bytes(), []byte(`"total_debit":1`)) {
			t.Errorf("amount sent as a number: %s", rec.Body.String())
		}
	})

	t.Run("OK trial balance CSV neutralises formulas", func(t *testing.T) {
		rec := e.get(access.Owner, e.api("trial-balance?date=2026-03-01&format=csv"))
		recs := readCSV(t, rec)
		if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename=trial-balance-2026-03-01.csv` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		if strings.Join(recs[0], ",") != "Code,Account,Type,Debit,Credit" {
			t.Errorf("header = %q", recs[0])
		}
		var found bool
		for _, r := range recs[1:] {
			if r[0] == "4900" {
				found = true
				if r[1] != "'=cmd()" {
					t.Errorf("account name cell = %q, want '=cmd()", r[1])
				}
			}
			for _, c := range r {
				if c != "" && strings.ContainsRune("=+@", rune(c[0])) {
					t.Errorf("cell %q starts a formula", c)
				}
			}
		}
		if !found {
			t.Errorf("no row for account 4900: %q", recs)
		}
		if last := recs[len(recs)-1]; strings.Join(last, ",") != ",Total,,1234.50,1234.50" {
			t.Errorf("total row = %q", last)
		}
	})

	t.Run("OK profit and loss CSV keeps a loss a number", func(t *testing.T) {
		recs := readCSV(t, e.get(access.Owner, e.api("profit-and-loss?from=2026-02-10&to=2026-02-28&format=csv")))
		if strings.Join(recs[0], ",") != "Section,Code,Account,Amount" {
			t.Errorf("header = %q", recs[0])
		}
		if last := recs[len(recs)-1]; strings.Join(last, ",") != "Result,,Net loss,-500.00" {
			t.Errorf("last row = %q", last)
		}
	})

	t.Run("OK balance sheet JSON balances", func(t *testing.T) {
		rec := e.get(access.Owner, e.api("balance-sheet"))
		var got balanceSheetJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body.String())
		}
		if got.Date != "2026-03-15" || got.TotalAssets != "734.50" || got.TotalLiabilitiesAndEquity != "734.50" {
			t.Errorf("got %+v", got)
		}
		if n := len(got.Equity); n < 2 || got.Equity[n-1].Name != ledger.CurrentYearEarningsName || got.Equity[n-1].Amount != "-265.50" {
			t.Errorf("equity = %+v", got.Equity)
		}
	})

	t.Run("OK aged receivables JSON when nothing is owed", func(t *testing.T) {
		rec := e.get(access.Owner, e.api("aged-receivables?date=2026-03-01"))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"contacts":[]`) || !strings.Contains(rec.Body.String(), `"total":"0.00"`) {
			t.Errorf("status %d: %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("OK report page", func(t *testing.T) {
		rec := e.get(access.Owner, e.page("trial-balance?date=2026-03-01"))
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, body)
		}
		for _, want := range []string{
			`<table class="data-table" id="report-table">`,
			`<td class="num">734.50</td>`,
			`<tr class="total">`,
			`<td>=cmd()</td>`,
			`href="/orgs/` + itoa(e.org.ID) + `/reports/trial-balance?date=2026-03-01&amp;format=csv"`,
			`name="date" value="2026-03-01"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
	})

	t.Run("OK report page CSV download", func(t *testing.T) {
		recs := readCSV(t, e.get(access.Owner, e.page("balance-sheet?date=2026-03-01&format=csv")))
		if strings.Join(recs[len(recs)-1], ",") != "Liabilities and equity,,Total liabilities and equity,734.50" {
			t.Errorf("last row = %q", recs[len(recs)-1])
		}
	})

	t.Run("OK reports index", func(t *testing.T) {
		rec := e.get(access.Owner, e.page(""))
		for _, slug := range []string{"trial-balance", "profit-and-loss", "balance-sheet", "aged-receivables", "aged-payables"} {
			if !strings.Contains(rec.Body.String(), `action="/orgs/`+itoa(e.org.ID)+`/reports/`+slug+`"`) {
				t.Errorf("index lacks a form for %s", slug)
			}
		}
	})

	errTests := []struct {
		name   string
		role   access.Role
		path   string
		status int
		want   string
	}{
		{"ErrBadDate API", access.Owner, e.api("trial-balance?date=2026-13-01"), 400, `The report date (date) \"2026-13-01\" is not a valid date`},
		{"ErrFromAfterTo API", access.Owner, e.api("profit-and-loss?from=2026-03-01&to=2026-02-01"), 400, "The start date (from) 2026-03-01 is after the end date (to) 2026-02-01."},
		{"ErrFormat API", access.Owner, e.api("balance-sheet?format=xlsx"), 400, `Format \"xlsx\" is not supported: use json or csv.`},
		{"ErrBadDate page", access.Owner, e.page("aged-payables?date=soon"), 400, "The report date (date) &#34;soon&#34; is not a valid date"},
		{"ErrFormat page", access.Owner, e.page("aged-payables?format=pdf"), 400, "Format &#34;pdf&#34; is not supported: use html or csv."},
		{"ErrInvoiceOnly API", access.InvoiceOnly, e.api("balance-sheet"), 403, "does not allow this"},
		{"ErrInvoiceOnly API CSV", access.InvoiceOnly, e.api("trial-balance?format=csv"), 403, "does not allow this"},
		{"ErrInvoiceOnly page", access.InvoiceOnly, e.page("balance-sheet"), 403, "does not allow this"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.get(tt.role, tt.path)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want %d with %q: %s", rec.Code, tt.status, tt.want, firstLines(rec.Body.String()))
			}
			if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "text/csv") {
				t.Errorf("an error came back as CSV")
			}
		})
	}
}

func firstLines(s string) string {
	if len(s) > 600 {
		return s[:600]
	}
	return s
}
