package e2e

// The ledger end to end: the chart of accounts, tax rates, manual journals,
// reversals and the lock date, through the JSON API (with roles and
// Idempotency-Key) and through the HTML forms. Source addresses
// 127.0.0.20–29.

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

type ledgerAccount struct {
	ID          int64  `json:"id"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	System      string `json:"system"`
	TaxRateID   *int64 `json:"tax_rate_id"`
	Description string `json:"description"`
	Archived    bool   `json:"archived"`
	Balance     string `json:"balance"`
}

type ledgerLine struct {
	AccountID   int64  `json:"account_id"`
	AccountCode string `json:"account_code,omitempty"`
	Debit       string `json:"debit,omitempty"`
	Credit      string `json:"credit,omitempty"`
	Description string `json:"description,omitempty"`
}

type ledgerJournal struct {
	ID           int64        `json:"id"`
	Date         string       `json:"date"`
	Narration    string       `json:"narration"`
	SourceType   string       `json:"source_type"`
	ReversesID   *int64       `json:"reverses_id"`
	ReversedByID *int64       `json:"reversed_by_id"`
	Total        string       `json:"total"`
	Lines        []ledgerLine `json:"lines"`
}

type ledgerJournalList struct {
	Currency   string          `json:"currency"`
	TotalCount int             `json:"total_count"`
	Limit      int             `json:"limit"`
	Offset     int             `json:"offset"`
	Journals   []ledgerJournal `json:"journals"`
}

// ledgerAccounts lists m's organisation's accounts by code.
func ledgerAccounts(t *testing.T, m *member) map[string]ledgerAccount {
	t.Helper()
	var out struct {
		Currency string          `json:"currency"`
		Accounts []ledgerAccount `json:"accounts"`
	}
	if err := m.C.Do(context.Background(), "GET", m.orgPath("accounts"), m.Session, nil, &out); err != nil {
		t.Fatalf("list accounts: %v", err)
	}
	if out.Currency != "GBP" {
		t.Fatalf("currency = %q", out.Currency)
	}
	byCode := map[string]ledgerAccount{}
	for _, a := range out.Accounts {
		byCode[a.Code] = a
	}
	return byCode
}

// ledgerJournalCount is how many journals m's organisation has.
func ledgerJournalCount(t *testing.T, m *member) int {
	t.Helper()
	var out ledgerJournalList
	if err := m.C.Do(context.Background(), "GET", m.orgPath("journals?limit=1"), m.Session, nil, &out); err != nil {
		t.Fatalf("list journals: %v", err)
	}
	return out.TotalCount
}

func TestLedgerAPI(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	owner := signedInMember(t, srv, "127.0.0.20", "owner@ledger.example", "Ledger Books Ltd", "owner")
	standard := signedInMember(t, srv, "127.0.0.21", "standard@ledger.example", "Ledger Books Ltd", "standard")
	reader := signedInMember(t, srv, "127.0.0.22", "reader@ledger.example", "Ledger Books Ltd", "read_only")
	outsider := signedInMember(t, srv, "127.0.0.23", "owner@other.example", "Other Books Ltd", "owner")
	if standard.OrgID != owner.OrgID || reader.OrgID != owner.OrgID || outsider.OrgID == owner.OrgID {
		t.Fatalf("organisations: owner %d, standard %d, reader %d, outsider %d", owner.OrgID, standard.OrgID, reader.OrgID, outsider.OrgID)
	}
	acct := ledgerAccounts(t, owner)
	otherAcct := ledgerAccounts(t, outsider)
	post := func(m *member, body any, out any) error {
		return m.C.Do(ctx, "POST", m.orgPath("journals"), m.Session, body, out)
	}
	line := func(code, dr, cr string) ledgerLine {
		return ledgerLine{AccountID: acct[code].ID, Debit: dr, Credit: cr}
	}

	apiStep(t, "DefaultChart", func(t *testing.T) {
		if len(acct) < 20 || acct["1100"].System != "receivable" || acct["4000"].Type != "revenue" || acct["4000"].TaxRateID == nil || acct["1000"].Balance != "0.00" {
			t.Fatalf("default chart: %d accounts, 1100 %+v, 4000 %+v", len(acct), acct["1100"], acct["4000"])
		}
	})

	var software ledgerAccount
	apiStep(t, "Accounts", func(t *testing.T) {
		var rates struct {
			TaxRates []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
				Rate string `json:"rate"`
			} `json:"tax_rates"`
		}
		if err := reader.C.Do(ctx, "GET", reader.orgPath("tax-rates"), reader.Session, nil, &rates); err != nil {
			t.Fatal(err)
		}
		if len(rates.TaxRates) != 4 || rates.TaxRates[1].Rate != "20.00" {
			t.Fatalf("tax rates = %+v", rates.TaxRates)
		}
		var created struct {
			Account ledgerAccount `json:"account"`
		}
		body := map[string]any{"code": "6950", "name": "Software", "type": "expense", "tax_rate_id": rates.TaxRates[1].ID, "description": "SaaS"}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("accounts"), owner.Session, body, &created); err != nil {
			t.Fatal(err)
		}
		software = created.Account
		if software.ID == 0 || software.Code != "6950" || software.Type != "expense" || *software.TaxRateID != rates.TaxRates[1].ID {
			t.Fatalf("created account = %+v", software)
		}
		err := owner.C.Do(ctx, "POST", owner.orgPath("accounts"), owner.Session, body, nil)
		apiWantErr(t, err, 409, "conflict", `"6950" already exists`)
		err = owner.C.Do(ctx, "POST", owner.orgPath("accounts"), owner.Session, map[string]any{"code": "1101", "name": "Second AR", "type": "asset", "system": "receivable"}, nil)
		apiWantErr(t, err, 400, "invalid", "System accounts")
		err = owner.C.Do(ctx, "POST", owner.orgPath("accounts"), owner.Session, map[string]any{"code": "7000", "name": "Other", "type": "expense", "tax_rate_id": otherRateID(t, outsider)}, nil)
		apiWantErr(t, err, 400, "invalid", "does not exist in this organisation")
		err = owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("accounts/%d", acct["1100"].ID)), owner.Session, map[string]any{"archived": true}, nil)
		apiWantErr(t, err, 409, "conflict", "cannot be archived")
		err = owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("accounts/%d", otherAcct["6000"].ID)), owner.Session, map[string]any{"name": "Mine"}, nil)
		apiWantErr(t, err, 404, "not_found", "")
		var patched struct {
			Account ledgerAccount `json:"account"`
		}
		if err := owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("accounts/%d", software.ID)), owner.Session, map[string]any{"name": "Software subscriptions", "tax_rate_id": 0}, &patched); err != nil {
			t.Fatal(err)
		}
		if patched.Account.Name != "Software subscriptions" || patched.Account.TaxRateID != nil || patched.Account.Code != "6950" {
			t.Fatalf("patched account = %+v", patched.Account)
		}
		err = standard.C.Do(ctx, "POST", standard.orgPath("accounts"), standard.Session, map[string]any{"code": "7001", "name": "X", "type": "expense"}, nil)
		apiWantErr(t, err, 403, "forbidden", "")
		err = owner.C.Do(ctx, "POST", owner.orgPath("tax-rates"), owner.Session, map[string]any{"name": "Odd", "rate": "20.001"}, nil)
		apiWantErr(t, err, 400, "invalid", "at most 2 decimal places")
		var rate struct {
			TaxRate struct {
				Rate string `json:"rate"`
			} `json:"tax_rate"`
		}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("tax-rates"), owner.Session, map[string]any{"name": "Hotel", "rate": "12.5"}, &rate); err != nil || rate.TaxRate.Rate != "12.50" {
			t.Fatalf("create tax rate: %+v, %v", rate, err)
		}
	})

	var first ledgerJournal
	apiStep(t, "PostJournal", func(t *testing.T) {
		var out struct {
			Currency string        `json:"currency"`
			Journal  ledgerJournal `json:"journal"`
		}
		body := map[string]any{"date": "2026-03-01", "narration": "Software for March", "lines": []ledgerLine{
			{AccountID: software.ID, Debit: "1234.5", Description: "licences"},
			line("1000", "", "1234.50"),
		}}
		if err := post(owner, body, &out); err != nil {
			t.Fatal(err)
		}
		first = out.Journal
		if out.Currency != "GBP" || first.ID == 0 || first.SourceType != "manual" || first.Total != "1234.50" || len(first.Lines) != 2 {
			t.Fatalf("posted journal = %+v", out)
		}
		if l := first.Lines[0]; l.AccountCode != "6950" || l.Debit != "1234.50" || l.Credit != "0.00" || l.Description != "licences" {
			t.Fatalf("line 1 = %+v", l)
		}
		if l := first.Lines[1]; l.AccountCode != "1000" || l.Debit != "0.00" || l.Credit != "1234.50" {
			t.Fatalf("line 2 = %+v", l)
		}
		var got struct {
			Journal ledgerJournal `json:"journal"`
		}
		if err := reader.C.Do(ctx, "GET", reader.orgPath(fmt.Sprintf("journals/%d", first.ID)), reader.Session, nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.Journal.Total != "1234.50" || got.Journal.Narration != "Software for March" {
			t.Fatalf("read back = %+v", got.Journal)
		}
		if a := ledgerAccounts(t, reader); a["6950"].Balance != "1234.50" || a["1000"].Balance != "-1234.50" {
			t.Fatalf("balances after posting: 6950 %s, 1000 %s", a["6950"].Balance, a["1000"].Balance)
		}
	})

	apiStep(t, "BadJournals", func(t *testing.T) {
		// Archive an account to post to, and lock February.
		if err := owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("accounts/%d", acct["6900"].ID)), owner.Session, map[string]any{"archived": true}, nil); err != nil {
			t.Fatal(err)
		}
		if err := owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]any{"lock_date": "2026-02-28"}, nil); err != nil {
			t.Fatal(err)
		}
		ok := []ledgerLine{line("6000", "100.00", ""), line("1000", "", "100.00")}
		with := func(i int, l ledgerLine) []ledgerLine {
			out := append([]ledgerLine(nil), ok...)
			out[i] = l
			return out
		}
		tests := []struct {
			name   string
			body   any
			status int
			msg    string
		}{
			{"Unbalanced", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(1, line("1000", "", "99.99"))}, 400, "does not balance: debits 100.00 and credits 99.99 differ by 0.01"},
			{"OneSided", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(1, line("1000", "100.00", ""))}, 400, "does not balance"},
			{"Negative", map[string]any{"date": "2026-03-02", "narration": "x", "lines": []ledgerLine{line("6000", "-100.00", ""), line("1000", "-100.00", "")}}, 400, "negative"},
			{"NonNumeric", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(0, line("6000", "one hundred", ""))}, 400, `Line 1 debit: amount "one hundred" is not a decimal number`},
			{"TooManyDecimals", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(0, line("6000", "100.001", ""))}, 400, "more than 2 decimal places"},
			{"FloatAmount", map[string]any{"date": "2026-03-02", "narration": "x", "lines": []map[string]any{{"account_id": acct["6000"].ID, "debit": 100.0}, {"account_id": acct["1000"].ID, "credit": "100.00"}}}, 400, "must be a string"},
			{"UnknownAccount", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(0, ledgerLine{AccountID: 999999, Debit: "100.00"})}, 400, "account 999999 does not exist"},
			{"OtherOrgAccount", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(1, ledgerLine{AccountID: otherAcct["1000"].ID, Credit: "100.00"})}, 400, "does not exist in this organisation"},
			{"ArchivedAccount", map[string]any{"date": "2026-03-02", "narration": "x", "lines": with(0, line("6900", "100.00", ""))}, 400, "archived"},
			{"OnLockDate", map[string]any{"date": "2026-02-28", "narration": "x", "lines": ok}, 409, "locked up to and including 2026-02-28"},
			{"BeforeLockDate", map[string]any{"date": "2025-12-31", "narration": "x", "lines": ok}, 409, "locked"},
			{"BadDate", map[string]any{"date": "2026-02-30", "narration": "x", "lines": ok}, 400, "not a valid date"},
			{"NoLines", map[string]any{"date": "2026-03-02", "narration": "x"}, 400, "at least two lines"},
			{"BlankNarration", map[string]any{"date": "2026-03-02", "narration": "   ", "lines": ok}, 400, "Narration must be"},
			{"UnknownField", map[string]any{"date": "2026-03-02", "narration": "x", "lines": ok, "source_type": "invoice"}, 400, "Unknown field"},
		}
		before := ledgerJournalCount(t, owner)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code := map[int]string{400: "invalid", 409: "conflict"}[tt.status]
				apiWantErr(t, post(owner, tt.body, nil), tt.status, code, tt.msg)
			})
		}
		if after := ledgerJournalCount(t, owner); after != before {
			t.Fatalf("refused journals changed the books: %d → %d journals", before, after)
		}
		if n := ledgerJournalCount(t, outsider); n != 0 {
			t.Fatalf("the other organisation has %d journals", n)
		}
	})

	apiStep(t, "Roles", func(t *testing.T) {
		ok := map[string]any{"date": "2026-03-03", "narration": "x", "lines": []ledgerLine{line("6000", "1.00", ""), line("1000", "", "1.00")}}
		apiWantErr(t, post(standard, ok, nil), 403, "forbidden", "does not allow")
		apiWantErr(t, post(reader, ok, nil), 403, "forbidden", "does not allow")
		apiWantErr(t, standard.C.Do(ctx, "POST", standard.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), standard.Session, map[string]string{"date": "2026-03-05"}, nil), 403, "forbidden", "")
		apiWantErr(t, standard.C.Do(ctx, "PUT", standard.orgPath("lock-date"), standard.Session, map[string]string{"lock_date": ""}, nil), 403, "forbidden", "")
		var list ledgerJournalList
		if err := standard.C.Do(ctx, "GET", standard.orgPath("journals"), standard.Session, nil, &list); err != nil || list.TotalCount != 1 {
			t.Fatalf("standard lists journals: %+v, %v", list, err)
		}
		// Not a member: the organisation and its journal do not exist.
		path := fmt.Sprintf("/api/v1/orgs/%d/journals/%d", owner.OrgID, first.ID)
		apiWantErr(t, outsider.C.Do(ctx, "GET", path, outsider.Session, nil, nil), 404, "not_found", "")
		apiWantErr(t, outsider.C.Do(ctx, "GET", outsider.orgPath(fmt.Sprintf("journals/%d", first.ID)), outsider.Session, nil, nil), 404, "not_found", "")
		apiWantErr(t, outsider.C.Do(ctx, "POST", outsider.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), outsider.Session, map[string]string{"date": "2026-03-05"}, nil), 404, "not_found", "")
	})

	apiStep(t, "Idempotency", func(t *testing.T) {
		hc := owner.C.HTTP
		body := `{"date":"2026-03-04","narration":"Idempotent","lines":[{"account_id":` + fmt.Sprint(acct["6000"].ID) + `,"debit":"10.00"},{"account_id":` + fmt.Sprint(acct["1000"].ID) + `,"credit":"10.00"}]}`
		header := func(key string) http.Header {
			return http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + owner.Session}, "Idempotency-Key": {key}}
		}
		before := ledgerJournalCount(t, owner)
		r1 := apiDo(t, hc, srv, "POST", owner.orgPath("journals"), header("ledger-key-1"), strings.NewReader(body))
		r2 := apiDo(t, hc, srv, "POST", owner.orgPath("journals"), header("ledger-key-1"), strings.NewReader(body))
		if r1.Status != 201 || r2.Status != 201 || !bytes.Equal(r1.Body, r2.Body) {
			t.Fatalf("answers: %d %s / %d %s", r1.Status, r1.Body, r2.Status, r2.Body)
		}
		if r1.Header.Get("Idempotent-Replayed") != "" || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("Idempotent-Replayed: first %q, second %q", r1.Header.Get("Idempotent-Replayed"), r2.Header.Get("Idempotent-Replayed"))
		}
		if after := ledgerJournalCount(t, owner); after != before+1 {
			t.Fatalf("two requests with one key made %d journals", after-before)
		}
		other := strings.Replace(body, "10.00", "11.00", 2)
		r3 := apiDo(t, hc, srv, "POST", owner.orgPath("journals"), header("ledger-key-1"), strings.NewReader(other))
		if code, _ := apiErrorBody(t, r3.Body); r3.Status != 409 || code != "conflict" {
			t.Fatalf("same key, different body: %d %s", r3.Status, r3.Body)
		}
		// A new key is a new request.
		r4 := apiDo(t, hc, srv, "POST", owner.orgPath("journals"), header("ledger-key-2"), strings.NewReader(other))
		if r4.Status != 201 {
			t.Fatalf("new key: %d %s", r4.Status, r4.Body)
		}
		if after := ledgerJournalCount(t, owner); after != before+2 {
			t.Fatalf("journals: %d, want %d", after, before+2)
		}
	})

	apiStep(t, "ListJournals", func(t *testing.T) {
		var list ledgerJournalList
		if err := reader.C.Do(ctx, "GET", reader.orgPath("journals?limit=2"), reader.Session, nil, &list); err != nil {
			t.Fatal(err)
		}
		if list.TotalCount != 3 || len(list.Journals) != 2 || list.Journals[0].Date != "2026-03-04" || list.Limit != 2 {
			t.Fatalf("page 1 = %+v", list)
		}
		if err := reader.C.Do(ctx, "GET", reader.orgPath(fmt.Sprintf("journals?account_id=%d", software.ID)), reader.Session, nil, &list); err != nil {
			t.Fatal(err)
		}
		if list.TotalCount != 1 || list.Journals[0].ID != first.ID {
			t.Fatalf("by account = %+v", list)
		}
		if err := reader.C.Do(ctx, "GET", reader.orgPath("journals?from=2026-03-02&to=2026-03-31&offset=1"), reader.Session, nil, &list); err != nil {
			t.Fatal(err)
		}
		if list.TotalCount != 2 || len(list.Journals) != 1 || list.Offset != 1 {
			t.Fatalf("period, page 2 = %+v", list)
		}
		for _, q := range []string{"limit=0", "limit=abc", "offset=-1", "from=2026-13-01", "from=2026-03-02&to=2026-03-01", fmt.Sprintf("account_id=%d", otherAcct["1000"].ID)} {
			apiWantErr(t, reader.C.Do(ctx, "GET", reader.orgPath("journals?"+q), reader.Session, nil, nil), 400, "invalid", "")
		}
	})

	apiStep(t, "Reverse", func(t *testing.T) {
		apiWantErr(t, owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), owner.Session, map[string]string{}, nil), 400, "invalid", `"date" is required`)
		apiWantErr(t, owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), owner.Session, map[string]string{"date": "2026-02-28"}, nil), 400, "invalid", "before the journal it reverses")
		if err := owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]any{"lock_date": "2026-03-10"}, nil); err != nil {
			t.Fatal(err)
		}
		apiWantErr(t, owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), owner.Session, map[string]string{"date": "2026-03-10"}, nil), 409, "conflict", "locked up to and including 2026-03-10")
		var out struct {
			Journal ledgerJournal `json:"journal"`
		}
		if err := owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), owner.Session, map[string]string{"date": "2026-03-31"}, &out); err != nil {
			t.Fatal(err)
		}
		rev := out.Journal
		if rev.SourceType != "reversal" || rev.ReversesID == nil || *rev.ReversesID != first.ID || rev.Lines[0].Credit != "1234.50" || rev.Lines[1].Debit != "1234.50" {
			t.Fatalf("reversal = %+v", rev)
		}
		apiWantErr(t, owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("journals/%d/reverse", first.ID)), owner.Session, map[string]string{"date": "2026-04-01"}, nil), 409, "conflict", "already been reversed")
		var orig struct {
			Journal ledgerJournal `json:"journal"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("journals/%d", first.ID)), owner.Session, nil, &orig); err != nil || orig.Journal.ReversedByID == nil || *orig.Journal.ReversedByID != rev.ID {
			t.Fatalf("original after reversal: %+v, %v", orig.Journal, err)
		}
		if a := ledgerAccounts(t, owner); a["6950"].Balance != "0.00" {
			t.Fatalf("6950 after reversal: %s", a["6950"].Balance)
		}
	})

	apiStep(t, "LockDate", func(t *testing.T) {
		var lock struct {
			LockDate string `json:"lock_date"`
		}
		if err := reader.C.Do(ctx, "GET", reader.orgPath("lock-date"), reader.Session, nil, &lock); err != nil || lock.LockDate != "2026-03-10" {
			t.Fatalf("lock date = %+v, %v", lock, err)
		}
		apiWantErr(t, owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]string{}, nil), 400, "invalid", `"lock_date" is required`)
		apiWantErr(t, owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]string{"lock_date": "28/02/2026"}, nil), 400, "invalid", "not a valid date")
		if err := owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]string{"lock_date": ""}, &lock); err != nil || lock.LockDate != "" {
			t.Fatalf("remove lock date: %+v, %v", lock, err)
		}
		ok := map[string]any{"date": "2026-01-15", "narration": "Back-dated now the lock is gone", "lines": []ledgerLine{line("6000", "5.00", ""), line("1000", "", "5.00")}}
		if err := post(owner, ok, nil); err != nil {
			t.Fatalf("posting after removing the lock date: %v", err)
		}
	})
}

// otherRateID is a tax rate id of m's organisation.
func otherRateID(t *testing.T, m *member) int64 {
	t.Helper()
	var rates struct {
		TaxRates []struct {
			ID int64 `json:"id"`
		} `json:"tax_rates"`
	}
	if err := m.C.Do(context.Background(), "GET", m.orgPath("tax-rates"), m.Session, nil, &rates); err != nil || len(rates.TaxRates) == 0 {
		t.Fatalf("tax rates: %+v, %v", rates, err)
	}
	return rates.TaxRates[0].ID
}

// ledgerBrowser is a cookie-holding HTML client signed in through the
// sign-in forms, as a person without JavaScript would be.
type ledgerBrowser struct {
	srv *testserver.Server
	hc  *http.Client
}

var ledgerCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

type ledgerPage struct {
	Status int
	Path   string // the final path after redirects, with its query
	Body   string
}

func (b *ledgerBrowser) do(t *testing.T, method, path string, form url.Values) *ledgerPage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("%s %s: CSP %q", method, path, csp)
	}
	return &ledgerPage{Status: resp.StatusCode, Path: resp.Request.URL.RequestURI(), Body: string(data)}
}

func (b *ledgerBrowser) get(t *testing.T, path string) *ledgerPage {
	t.Helper()
	return b.do(t, "GET", path, nil)
}

// submit posts form to action with the CSRF token of page.
func (b *ledgerBrowser) submit(t *testing.T, page *ledgerPage, action string, form url.Values) *ledgerPage {
	t.Helper()
	m := ledgerCSRFRE.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no CSRF token on %s", page.Path)
	}
	form.Set("csrf_token", html.UnescapeString(m[1]))
	return b.do(t, "POST", action, form)
}

// ledgerSignIn signs m in through the HTML forms from address ip, with the
// code of the next TOTP step (enrollment used the current one).
func ledgerSignIn(t *testing.T, srv *testserver.Server, ip string, m *member) *ledgerBrowser {
	t.Helper()
	b := &ledgerBrowser{srv: srv, hc: srv.HTTPClient(ip)}
	login := b.get(t, "/login")
	mfaPage := b.submit(t, login, "/login", url.Values{"email": {m.Email}, "password": {m.Password}})
	if !strings.HasPrefix(mfaPage.Path, "/login/mfa") {
		t.Fatalf("after password: %d %s", mfaPage.Status, mfaPage.Path)
	}
	secret, err := mfa.DecodeSecret(m.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code, err := mfa.TOTPCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	dash := b.submit(t, mfaPage, "/login/mfa", url.Values{"method": {"totp"}, "code": {code}})
	if dash.Status != 200 || !strings.HasPrefix(dash.Path, "/dashboard") {
		t.Fatalf("after second factor: %d %s", dash.Status, dash.Path)
	}
	return b
}

// ledgerOptionValue finds the value of the option labelled with code in a
// page's account select.
func ledgerOptionValue(t *testing.T, page *ledgerPage, code string) string {
	t.Helper()
	m := regexp.MustCompile(`<option value="(\d+)"[^>]*>` + regexp.QuoteMeta(code) + ` `).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no option for account %s on %s", code, page.Path)
	}
	return m[1]
}

func TestLedgerPages(t *testing.T) {
	srv := testserver.Start(t)
	owner := signedInMember(t, srv, "127.0.0.24", "owner@pages.example", "Pages Books Ltd", "owner")
	reader := signedInMember(t, srv, "127.0.0.25", "reader@pages.example", "Pages Books Ltd", "read_only")
	b := ledgerSignIn(t, srv, "127.0.0.24", owner)
	org := fmt.Sprintf("/orgs/%d", owner.OrgID)

	var journalPath string
	apiStep(t, "PostJournalForm", func(t *testing.T) {
		form := b.get(t, org+"/journals/new")
		if form.Status != 200 || strings.Count(form.Body, `name="debit"`) != 8 {
			t.Fatalf("form: %d, %d debit inputs", form.Status, strings.Count(form.Body, `name="debit"`))
		}
		if more := b.get(t, org+"/journals/new?lines=20"); strings.Count(more.Body, `name="debit"`) != 20 {
			t.Fatalf("?lines=20 gave %d rows", strings.Count(more.Body, `name="debit"`))
		}
		rent, bank := ledgerOptionValue(t, form, "6200"), ledgerOptionValue(t, form, "1000")
		// Rows 1 and 3 filled, row 2 empty: empty rows are ignored. Unbalanced first.
		values := url.Values{"date": {"2026-03-05"}, "narration": {"March rent"},
			"account_id": {rent, "", bank, "", "", "", "", ""}, "debit": {"950.00", "", "", "", "", "", "", ""},
			"credit": {"", "", "949.99", "", "", "", "", ""}, "description": {"Rent <March>", "", "", "", "", "", "", ""}}
		bad := b.submit(t, form, org+"/journals", values)
		if bad.Status != 400 || !strings.Contains(bad.Body, "does not balance") {
			t.Fatalf("unbalanced form: %d %s", bad.Status, ledgerSnippet(bad.Body, "alert"))
		}
		// The values are kept (escaped), and the empty row closed up.
		if !strings.Contains(bad.Body, `value="March rent"`) || !strings.Contains(bad.Body, `value="949.99"`) || !strings.Contains(bad.Body, `value="Rent &lt;March&gt;"`) ||
			!strings.Contains(bad.Body, `id="line-credit-2" name="credit" value="949.99"`) {
			t.Fatal("the refused form lost its values")
		}
		values["credit"] = []string{"", "", "950.00", "", "", "", "", ""}
		done := b.submit(t, bad, org+"/journals", values)
		if done.Status != 200 || !strings.HasPrefix(done.Path, org+"/journals/") || !strings.Contains(done.Body, "The journal was posted.") {
			t.Fatalf("posted form: %d %s", done.Status, done.Path)
		}
		journalPath = strings.SplitN(done.Path, "?", 2)[0]
		if !strings.Contains(done.Body, `id="journal-debits">950.00<`) || !strings.Contains(done.Body, `id="journal-credits">950.00<`) || !strings.Contains(done.Body, "Rent &lt;March&gt;") {
			t.Fatalf("journal page does not show the posting: %s", ledgerSnippet(done.Body, "journal-lines"))
		}
		chart := b.get(t, org+"/accounts")
		for code, want := range map[string]string{"6200": "950.00", "1000": "-950.00"} {
			m := regexp.MustCompile(`<td>` + code + `</td>[\s\S]*?<td class="num"><a [^>]*>([^<]*)</a>`).FindStringSubmatch(chart.Body)
			if m == nil || m[1] != want {
				t.Fatalf("chart balance of %s = %v, want %s", code, m, want)
			}
		}
		list := b.get(t, org+"/journals")
		if !strings.Contains(list.Body, "March rent") || !strings.Contains(list.Body, "950.00") {
			t.Fatal("journal list does not show the new journal")
		}
	})

	apiStep(t, "LockDateForm", func(t *testing.T) {
		page := b.get(t, org+"/lock-date")
		saved := b.submit(t, page, org+"/lock-date", url.Values{"lock_date": {"2026-03-05"}})
		if saved.Status != 200 || !strings.Contains(saved.Body, "locked up to and including <strong>2026-03-05</strong>") {
			t.Fatalf("set lock date: %d %s", saved.Status, ledgerSnippet(saved.Body, "lock-date-current"))
		}
		empty := b.submit(t, saved, org+"/lock-date", url.Values{"lock_date": {""}})
		if empty.Status != 400 || !strings.Contains(empty.Body, "Remove lock date") {
			t.Fatalf("empty lock date: %d", empty.Status)
		}
	})

	apiStep(t, "ReverseForm", func(t *testing.T) {
		page := b.get(t, journalPath)
		if !strings.Contains(page.Body, `id="reverse-form"`) {
			t.Fatal("no reverse form on a manual journal")
		}
		locked := b.submit(t, page, journalPath+"/reverse", url.Values{"date": {"2026-03-05"}})
		if locked.Status != 409 || !strings.Contains(locked.Body, "locked up to and including 2026-03-05") {
			t.Fatalf("reversal into the locked period: %d %s", locked.Status, ledgerSnippet(locked.Body, "alert"))
		}
		done := b.submit(t, locked, journalPath+"/reverse", url.Values{"date": {"2026-03-06"}})
		if done.Status != 200 || !strings.Contains(done.Body, "The reversal was posted.") || !strings.Contains(done.Body, `id="journal-reverses"`) {
			t.Fatalf("reversal: %d %s", done.Status, done.Path)
		}
		if again := b.get(t, journalPath); strings.Contains(again.Body, `id="reverse-form"`) || !strings.Contains(again.Body, `id="journal-reversed-by"`) {
			t.Fatal("a reversed journal still offers the reverse form")
		}
	})

	apiStep(t, "AccountForms", func(t *testing.T) {
		form := b.get(t, org+"/accounts/new")
		dup := b.submit(t, form, org+"/accounts", url.Values{"code": {"6200"}, "name": {"Rent again"}, "type": {"expense"}, "tax_rate_id": {""}})
		if dup.Status != 409 || !strings.Contains(dup.Body, "already exists") || !strings.Contains(dup.Body, `value="Rent again"`) {
			t.Fatalf("duplicate code: %d", dup.Status)
		}
		ok := b.submit(t, dup, org+"/accounts", url.Values{"code": {"6210"}, "name": {"Storage"}, "type": {"expense"}, "tax_rate_id": {""}, "description": {"Unit 4"}})
		if ok.Status != 200 || !strings.HasSuffix(strings.SplitN(ok.Path, "?", 2)[0], "/accounts") || !strings.Contains(ok.Body, "Storage") {
			t.Fatalf("new account: %d %s", ok.Status, ok.Path)
		}
		// Rent has postings: its code is fixed.
		chart := b.get(t, org+"/accounts")
		m := regexp.MustCompile(`href="(/orgs/\d+/accounts/(\d+)/edit)"[^>]*>Edit<span class="visually-hidden"> 6200<`).FindStringSubmatch(chart.Body)
		if m == nil {
			t.Fatal("no edit link for 6200")
		}
		edit := b.get(t, m[1])
		refused := b.submit(t, edit, fmt.Sprintf("%s/accounts/%s", org, m[2]), url.Values{"code": {"6201"}, "name": {"Rent"}, "type": {"expense"}, "tax_rate_id": {""}})
		if refused.Status != 409 || !strings.Contains(refused.Body, "has postings") {
			t.Fatalf("code change with postings: %d %s", refused.Status, ledgerSnippet(refused.Body, "alert"))
		}
	})

	apiStep(t, "ReadOnly", func(t *testing.T) {
		// Its own address and TOTP step: the owner's sign-in used the next one.
		rb := ledgerSignIn(t, srv, "127.0.0.25", reader)
		if p := rb.get(t, org+"/journals"); p.Status != 200 || strings.Contains(p.Body, `id="journal-new"`) {
			t.Fatalf("read-only journals page: %d", p.Status)
		}
		if p := rb.get(t, journalPath); p.Status != 200 || strings.Contains(p.Body, `id="reverse-form"`) {
			t.Fatalf("read-only journal page: %d", p.Status)
		}
		if p := rb.get(t, org+"/journals/new"); p.Status != 403 {
			t.Fatalf("read-only new journal form: %d", p.Status)
		}
		if p := rb.get(t, org+"/lock-date"); p.Status != 200 || strings.Contains(p.Body, `id="lock-date-form"`) {
			t.Fatalf("read-only lock date page: %d", p.Status)
		}
	})
}

// ledgerSnippet is a short piece of body around marker, for failure messages.
func ledgerSnippet(body, marker string) string {
	i := strings.Index(body, marker)
	if i < 0 {
		return fmt.Sprintf("(%q not found)", marker)
	}
	return body[i:min(len(body), i+300)]
}
