package e2e

// Sales end to end through the JSON API and the HTML pages: contacts and
// their bank details (step-up), a sales invoice from draft to paid, credit
// notes, bad input, and what an invoice-only member may and may not do.
// Source addresses 127.0.0.30–39.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"

	_ "modernc.org/sqlite" // the "sqlite" driver, to look up ids and age a session
)

type salesDocOut struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Number    string `json:"number"`
	Status    string `json:"status"`
	Currency  string `json:"currency"`
	Subtotal  string `json:"subtotal"`
	TaxTotal  string `json:"tax_total"`
	Total     string `json:"total"`
	Paid      string `json:"amount_paid"`
	AmountDue string `json:"amount_due"`
	JournalID int64  `json:"journal_id"`
	Lines     []struct {
		Quantity   string `json:"quantity"`
		UnitPrice  string `json:"unit_price"`
		LineAmount string `json:"line_amount"`
		TaxAmount  string `json:"tax_amount"`
	} `json:"lines"`
}

type salesContactOut struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	HasBankDetails bool   `json:"has_bank_details"`
	HasTaxNumber   bool   `json:"has_tax_number"`
}

// salesDB opens the server's database for lookups the API does not
// offer here (account and bank account ids) and to age a session.
func salesDB(t *testing.T, srv *testserver.Server) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func salesWantErr(t *testing.T, err error, status int, code, msgPart string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || (code != "" && e.Code != code) || !strings.Contains(e.Message, msgPart) {
		t.Fatalf("error = %v; want %d %s mentioning %q", err, status, code, msgPart)
	}
}

func TestSalesEndToEnd(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	const org = "Sales Books Ltd"
	owner := signedInMember(t, srv, "127.0.0.30", "sales-owner@example.com", org, "owner")
	clerk := signedInMember(t, srv, "127.0.0.31", "sales-clerk@example.com", org, "invoice_only")
	outsider := signedInMember(t, srv, "127.0.0.32", "sales-outsider@example.com", "Elsewhere Trading Ltd", "owner")
	db := salesDB(t, srv)
	var salesAcct, expenseAcct, bankID int64
	for _, q := range []struct {
		dest *int64
		sql  string
	}{
		{&salesAcct, `SELECT id FROM accounts WHERE org_id = ? AND code = '4000'`},
		{&expenseAcct, `SELECT id FROM accounts WHERE org_id = ? AND code = '6300'`},
		{&bankID, `SELECT id FROM bank_accounts WHERE org_id = ?`},
	} {
		if err := db.QueryRow(q.sql, owner.OrgID).Scan(q.dest); err != nil {
			t.Fatal(err)
		}
	}

	var customer salesContactOut
	t.Run("Contacts", func(t *testing.T) {
		err := owner.C.Do(ctx, "POST", owner.orgPath("contacts"), owner.Session, map[string]any{"name": "Acme Trading", "email": "accounts@acme.example", "is_customer": true}, &customer)
		if err != nil || customer.ID == 0 || customer.HasBankDetails {
			t.Fatalf("create contact: %+v, %v", customer, err)
		}
		err = owner.C.Do(ctx, "POST", owner.orgPath("contacts"), owner.Session, map[string]any{"name": "Sneaky", "is_customer": true, "bank_details": "00-00-00 12345678"}, nil)
		salesWantErr(t, err, 400, "invalid", "bank-details")
		err = owner.C.Do(ctx, "POST", owner.orgPath("contacts"), owner.Session, map[string]any{"name": "", "email": "nope"}, nil)
		salesWantErr(t, err, 400, "invalid", "Contact name")
		err = outsider.C.Do(ctx, "GET", outsider.orgPath(fmt.Sprintf("contacts/%d", customer.ID)), outsider.Session, nil, nil)
		salesWantErr(t, err, 404, "not_found", "")
	})

	var inv salesDocOut
	t.Run("InvoiceToPaid", func(t *testing.T) {
		body := map[string]any{"contact_id": customer.ID, "date": "2026-03-01", "due_date": "2026-03-31", "reference": "PO 1", "lines": []map[string]any{
			{"description": "Consulting", "quantity": "1.5", "unit_price": "66.67", "account_id": salesAcct}, // 100.005 → 100.01; tax 20.00
		}}
		if err := owner.C.Do(ctx, "POST", owner.orgPath("invoices"), owner.Session, body, &inv); err != nil {
			t.Fatal(err)
		}
		if inv.Number != "INV-0001" || inv.Status != "draft" || inv.Subtotal != "100.01" || inv.TaxTotal != "20.00" || inv.Total != "120.01" || inv.Currency != "GBP" || inv.Lines[0].Quantity != "1.5" {
			t.Fatalf("created %+v", inv)
		}
		if err := owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("invoices/%d/approve", inv.ID)), owner.Session, nil, &inv); err != nil {
			t.Fatal(err)
		}
		if inv.Status != "awaiting_payment" || inv.JournalID == 0 {
			t.Fatalf("approved %+v", inv)
		}
		pay := func(amount string) error {
			return owner.C.Do(ctx, "POST", owner.orgPath("payments"), owner.Session, map[string]any{"invoice_id": inv.ID, "bank_account_id": bankID, "date": "2026-03-10", "amount": amount, "reference": "BACS"}, nil)
		}
		if err := pay("50.00"); err != nil {
			t.Fatal(err)
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("invoices/%d", inv.ID)), owner.Session, nil, &inv); err != nil {
			t.Fatal(err)
		}
		if inv.Status != "awaiting_payment" || inv.AmountDue != "70.01" || inv.Paid != "50.00" {
			t.Fatalf("after part payment %+v", inv)
		}
		salesWantErr(t, pay("70.02"), 409, "conflict", "more than the 70.01 GBP due")
		salesWantErr(t, pay("-1"), 400, "invalid", "amount")
		salesWantErr(t, pay("1.001"), 400, "invalid", "amount")
		if err := pay("70.01"); err != nil {
			t.Fatal(err)
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("invoices/%d", inv.ID)), owner.Session, nil, &inv); err != nil {
			t.Fatal(err)
		}
		if inv.Status != "paid" || inv.AmountDue != "0.00" {
			t.Fatalf("after full payment %+v", inv)
		}
		var payments struct {
			Payments []struct {
				Amount    string `json:"amount"`
				JournalID int64  `json:"journal_id"`
			} `json:"payments"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("payments?invoice_id=%d", inv.ID)), owner.Session, nil, &payments); err != nil {
			t.Fatal(err)
		}
		if len(payments.Payments) != 2 || payments.Payments[0].Amount != "70.01" || payments.Payments[0].JournalID == 0 {
			t.Fatalf("payments %+v", payments)
		}
		salesWantErr(t, pay("0.01"), 409, "conflict", "already paid in full")
		err := owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("invoices/%d/void", inv.ID)), owner.Session, nil, nil)
		salesWantErr(t, err, 409, "conflict", "has payments")
		// The ledger agrees: the receivable is settled and the bank holds it.
		var ar, bank int64
		if err := db.QueryRow(`SELECT COALESCE(SUM(l.debit - l.credit), 0) FROM journal_lines l JOIN accounts a ON a.id = l.account_id WHERE l.org_id = ? AND a.code = '1100'`, owner.OrgID).Scan(&ar); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT COALESCE(SUM(l.debit - l.credit), 0) FROM journal_lines l JOIN accounts a ON a.id = l.account_id WHERE l.org_id = ? AND a.code = '1000'`, owner.OrgID).Scan(&bank); err != nil {
			t.Fatal(err)
		}
		if ar != 0 || bank != 12001 {
			t.Fatalf("receivable %d, bank %d", ar, bank)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		line := map[string]any{"description": "Thing", "quantity": "1", "unit_price": "10.00", "account_id": salesAcct}
		base := func(edit func(b map[string]any)) map[string]any {
			b := map[string]any{"contact_id": customer.ID, "date": "2026-03-01", "due_date": "2026-03-31", "lines": []map[string]any{line}}
			edit(b)
			return b
		}
		for _, tt := range []struct {
			name   string
			body   map[string]any
			status int
			msg    string
		}{
			{"duplicate number", base(func(b map[string]any) { b["number"] = "INV-0001" }), 409, `"INV-0001"`},
			{"float quantity", base(func(b map[string]any) {
				b["lines"] = []map[string]any{{"description": "x", "quantity": 1.5, "unit_price": "1", "account_id": salesAcct}}
			}), 400, "must be a string"},
			{"negative price", base(func(b map[string]any) {
				b["lines"] = []map[string]any{{"description": "x", "quantity": "1", "unit_price": "-3", "account_id": salesAcct}}
			}), 400, "Line 1: unit price"},
			{"expense account", base(func(b map[string]any) {
				b["lines"] = []map[string]any{{"description": "x", "quantity": "1", "unit_price": "3", "account_id": expenseAcct}}
			}), 400, "needs a revenue account"},
			{"due before date", base(func(b map[string]any) { b["due_date"] = "2026-02-01" }), 400, "due_date"},
			{"no lines", base(func(b map[string]any) { b["lines"] = []map[string]any{} }), 400, "at least one line"},
			{"type on an invoice", base(func(b map[string]any) { b["type"] = "bill" }), 400, "type"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := owner.C.Do(ctx, "POST", owner.orgPath("invoices"), owner.Session, tt.body, nil)
				salesWantErr(t, err, tt.status, "", tt.msg)
			})
		}
		t.Run("another organisation's invoice", func(t *testing.T) {
			err := outsider.C.Do(ctx, "GET", outsider.orgPath(fmt.Sprintf("invoices/%d", inv.ID)), outsider.Session, nil, nil)
			salesWantErr(t, err, 404, "not_found", "")
			err = outsider.C.Do(ctx, "POST", outsider.orgPath("payments"), outsider.Session, map[string]any{"invoice_id": inv.ID, "bank_account_id": bankID, "date": "2026-03-10", "amount": "1.00"}, nil)
			salesWantErr(t, err, 404, "not_found", "")
		})
	})

	t.Run("BankDetailsStepUp", func(t *testing.T) {
		path := owner.orgPath(fmt.Sprintf("contacts/%d/bank-details", customer.ID))
		secret := map[string]string{"bank_details": "Sort code 20-00-00 Account 55779911", "tax_number": "GB999888777"}
		// The sign-in's second factor is fresh for five minutes; age it.
		if _, err := db.Exec(`UPDATE sessions SET mfa_at = mfa_at - 600 WHERE user_id = (SELECT id FROM users WHERE email = ?)`, owner.Email); err != nil {
			t.Fatal(err)
		}
		err := owner.C.Do(ctx, "PUT", path, owner.Session, secret, nil)
		salesWantErr(t, err, 403, "step_up_required", "")
		err = owner.C.Do(ctx, "GET", path, owner.Session, nil, nil)
		salesWantErr(t, err, 403, "step_up_required", "")
		owner.stepUp(t)
		var c salesContactOut
		if err := owner.C.Do(ctx, "PUT", path, owner.Session, secret, &c); err != nil {
			t.Fatal(err)
		}
		if !c.HasBankDetails || !c.HasTaxNumber {
			t.Fatalf("after PUT %+v", c)
		}
		var got map[string]any
		if err := owner.C.Do(ctx, "GET", path, owner.Session, nil, &got); err != nil {
			t.Fatal(err)
		}
		if got["bank_details"] != secret["bank_details"] || got["tax_number"] != secret["tax_number"] {
			t.Fatalf("bank details %v", got)
		}
		// Contact reads never carry them.
		for _, p := range []string{"contacts", fmt.Sprintf("contacts/%d", customer.ID)} {
			var raw json.RawMessage
			if err := owner.C.Do(ctx, "GET", owner.orgPath(p), owner.Session, nil, &raw); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), "55779911") || strings.Contains(string(raw), "GB999") {
				t.Fatalf("%s shows bank details: %s", p, raw)
			}
		}
		var audit string
		if err := db.QueryRow(`SELECT detail FROM audit_events WHERE action = 'contact.bank_details.change' ORDER BY id DESC LIMIT 1`).Scan(&audit); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(audit, fmt.Sprintf("contact=%d", customer.ID)) || strings.Contains(audit, "5577") {
			t.Fatalf("audit detail %q", audit)
		}
	})

	t.Run("InvoiceOnlyMember", func(t *testing.T) {
		var list struct {
			Contacts []salesContactOut `json:"contacts"`
		}
		if err := clerk.C.Do(ctx, "GET", clerk.orgPath("contacts"), clerk.Session, nil, &list); err != nil || len(list.Contacts) != 1 {
			t.Fatalf("contacts %+v, %v", list, err)
		}
		var draft salesDocOut
		body := map[string]any{"contact_id": customer.ID, "date": "2026-03-02", "due_date": "2026-04-01", "lines": []map[string]any{
			{"description": "Widgets", "quantity": "3", "unit_price": "9.99", "account_id": salesAcct, "tax_rate_id": 0},
		}}
		if err := clerk.C.Do(ctx, "POST", clerk.orgPath("invoices"), clerk.Session, body, &draft); err != nil {
			t.Fatal(err)
		}
		if draft.Number != "INV-0002" || draft.Total != "35.96" { // 29.97 + 5.99 (5.994)
			t.Fatalf("clerk's invoice %+v", draft)
		}
		if err := clerk.C.Do(ctx, "POST", clerk.orgPath(fmt.Sprintf("invoices/%d/approve", draft.ID)), clerk.Session, nil, &draft); err != nil || draft.Status != "awaiting_payment" {
			t.Fatalf("clerk's approval: %+v, %v", draft, err)
		}
		billBody := map[string]any{"contact_id": customer.ID, "date": "2026-03-02", "due_date": "2026-04-01", "lines": []map[string]any{
			{"description": "Paper", "quantity": "1", "unit_price": "5", "account_id": expenseAcct},
		}}
		for _, tt := range []struct {
			method, path string
			body         any
		}{
			{"GET", clerk.orgPath("bills"), nil},
			{"POST", clerk.orgPath("bills"), billBody},
			{"POST", clerk.orgPath("payments"), map[string]any{"invoice_id": draft.ID, "bank_account_id": bankID, "date": "2026-03-10", "amount": "1.00"}},
			{"GET", clerk.orgPath(fmt.Sprintf("contacts/%d/bank-details", customer.ID)), nil},
			{"PUT", clerk.orgPath(fmt.Sprintf("contacts/%d/bank-details", customer.ID)), map[string]string{"bank_details": "x", "tax_number": ""}},
			{"GET", clerk.orgPath("credit-notes?type=bill"), nil},
			{"POST", clerk.orgPath("credit-notes"), map[string]any{"type": "bill", "contact_id": customer.ID, "date": "2026-03-02", "lines": []any{}}},
		} {
			err := clerk.C.Do(ctx, tt.method, tt.path, clerk.Session, tt.body, nil)
			salesWantErr(t, err, 403, "forbidden", "")
		}
		// Still nothing paid on the clerk's invoice.
		if err := clerk.C.Do(ctx, "GET", clerk.orgPath(fmt.Sprintf("invoices/%d", draft.ID)), clerk.Session, nil, &draft); err != nil || draft.Paid != "0.00" {
			t.Fatalf("clerk's invoice after refusals: %+v, %v", draft, err)
		}
	})
}

var salesCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// salesBrowser drives the HTML pages with m's session cookie, as a browser
// would.
type salesBrowser struct {
	t    *testing.T
	hc   *http.Client
	base string
	csrf string
}

func newSalesBrowser(t *testing.T, srv *testserver.Server, m *member) *salesBrowser {
	t.Helper()
	u, err := url.Parse(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	m.C.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-coffer_session", Value: m.Session, Path: "/", Secure: true, HttpOnly: true}})
	return &salesBrowser{t: t, hc: m.C.HTTP, base: srv.URL}
}

// do sends a request (following redirects) and returns the final status,
// path and body, remembering the page's CSRF token.
func (b *salesBrowser) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("csrf_token", b.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := salesCSRFRE.FindSubmatch(data); m != nil {
		b.csrf = html.UnescapeString(string(m[1]))
	}
	return resp.StatusCode, resp.Request.URL.RequestURI(), string(data)
}

// want checks the status and that the page says each of contains.
func (b *salesBrowser) want(method, path string, form url.Values, status int, contains ...string) (string, string) {
	b.t.Helper()
	st, at, body := b.do(method, path, form)
	if st != status {
		b.t.Fatalf("%s %s: %d at %s, want %d:\n%s", method, path, st, at, status, salesHead(body, 3000))
	}
	for _, c := range contains {
		if !strings.Contains(body, c) {
			b.t.Fatalf("%s %s: the page (%s) does not say %q:\n%s", method, path, at, c, salesHead(body, 6000))
		}
	}
	return at, body
}

func salesOptionID(t *testing.T, body, label string) string {
	t.Helper()
	m := regexp.MustCompile(`<option value="(\d+)"[^>]*>` + regexp.QuoteMeta(label)).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no option %q", label)
	}
	return m[1]
}

// TestSalesPages clicks through the HTML pages without JavaScript: a
// contact and its bank details (with the step-up detour), an invoice from
// draft to part paid, a credit note allocated to it, and what an
// invoice-only member sees.
func TestSalesPages(t *testing.T) {
	srv := testserver.Start(t)
	const orgName = "Sales Pages Ltd"
	owner := signedInMember(t, srv, "127.0.0.33", "pages-owner@example.com", orgName, "owner")
	clerk := signedInMember(t, srv, "127.0.0.34", "pages-clerk@example.com", orgName, "invoice_only")
	db := salesDB(t, srv)
	b := newSalesBrowser(t, srv, owner)
	org := fmt.Sprintf("/orgs/%d", owner.OrgID)

	b.want("GET", org+"/contacts/new", nil, 200, `id="contact-form"`)
	b.want("POST", org+"/contacts", url.Values{"name": {""}, "is_customer": {"1"}}, 400, "Contact name must be")
	contact, _ := b.want("POST", org+"/contacts", url.Values{"name": {"Acme & Co"}, "email": {"ap@acme.example"}, "is_customer": {"1"}}, 200, "Acme &amp; Co", "The contact was added")
	contact = strings.TrimSuffix(contact, "?created")
	b.want("GET", contact+"/bank-details", nil, 200, `id="contact-bank-form"`, `name="return_to"`)
	b.want("POST", contact+"/bank-details", url.Values{"bank_details": {"Sort 11-22-33 Acc 99887766"}, "tax_number": {"GB123456789"}}, 200, "••••7766", "••••6789", "were saved")
	// Later, without a fresh second factor, the bank details page detours
	// through the step-up page and comes back.
	if _, err := db.Exec(`UPDATE sessions SET mfa_at = mfa_at - 600 WHERE user_id = (SELECT id FROM users WHERE email = ?)`, owner.Email); err != nil {
		t.Fatal(err)
	}
	at, _ := b.want("GET", contact+"/bank-details", nil, 200)
	if !strings.HasPrefix(at, "/step-up?next=") || !strings.Contains(at, url.QueryEscape(contact+"/bank-details")) {
		t.Fatalf("stale bank details page went to %s", at)
	}

	_, form := b.want("GET", org+"/invoices/new?lines=7", nil, 200, `id="doc-form"`, "Acme &amp; Co")
	if n := strings.Count(form, `name="line_description"`); n != 7 {
		t.Fatalf("the form has %d line rows, want 7", n)
	}
	acct := salesOptionID(t, form, "4000 — Sales")
	cid := salesOptionID(t, form, "Acme &amp; Co")
	lines := func(price string) url.Values {
		return url.Values{"contact_id": {cid}, "date": {"2026-03-01"}, "due_date": {"2026-03-31"}, "reference": {"PO 9"},
			"line_description": {"", "Consulting", ""}, "line_quantity": {"", "2", ""}, "line_unit_price": {"", price, ""}, "line_account_id": {"", acct, ""}, "line_tax_rate_id": {"", "", ""}}
	}
	b.want("POST", org+"/invoices", lines("abc"), 400, "Line 1: unit price", `value="Consulting"`)
	inv, _ := b.want("POST", org+"/invoices", lines("50"), 200, "Sales invoice INV-0001", "120.00", "status-draft", `id="doc-approve"`)
	inv = strings.TrimSuffix(inv, "?created")
	b.want("POST", inv+"/approve", url.Values{}, 200, "Approved and posted", "status-awaiting_payment", `id="payment-form"`, `id="doc-journal"`)
	_, page := b.want("GET", inv, nil, 200)
	bank := salesOptionID(t, page, "1000 — ")
	b.want("POST", inv+"/payments", url.Values{"bank_account_id": {bank}, "date": {"2026-03-05"}, "amount": {"200.00"}}, 409, "more than the 120.00 GBP due", `value="200.00"`)
	b.want("POST", inv+"/payments", url.Values{"bank_account_id": {bank}, "date": {"2026-03-05"}, "amount": {"20.00"}}, 200, "The payment was recorded", `id="doc-payments"`, "100.00")
	b.want("POST", inv+"/void", url.Values{}, 409, "has payments")

	_, cnForm := b.want("GET", org+"/credit-notes/new", nil, 200, "New credit note")
	cn, _ := b.want("POST", org+"/credit-notes", url.Values{"type": {"sales"}, "contact_id": {salesOptionID(t, cnForm, "Acme &amp; Co")}, "date": {"2026-03-02"},
		"line_description": {"Refund"}, "line_quantity": {"1"}, "line_unit_price": {"10"}, "line_account_id": {acct}}, 200, "Credit note CN-0001")
	cn = strings.TrimSuffix(cn, "?created")
	_, page = b.want("POST", cn+"/approve", url.Values{}, 200, `id="allocate-form"`, "INV-0001 — 100.00 due")
	b.want("POST", cn+"/allocate", url.Values{"invoice_id": {salesOptionID(t, page, "INV-0001")}, "date": {"2026-03-06"}, "amount": {"12.00"}}, 200, "Fully allocated")
	b.want("GET", inv, nil, 200, "88.00", "CN-0001")
	b.want("GET", org+"/invoices?status=awaiting_payment", nil, 200, "INV-0001", "Awaiting payment")
	b.want("GET", org+"/credit-notes", nil, 200, "CN-0001", "Customer credit notes")
	b.want("GET", org+"/bills/new", nil, 200, "6300 — Office Expenses")
	b.want("GET", contact, nil, 200, "INV-0001", "CN-0001")

	c := newSalesBrowser(t, srv, clerk)
	c.want("GET", org+"/bills", nil, 403)
	c.want("GET", org+"/credit-notes?type=bill", nil, 403)
	_, page = c.want("GET", inv, nil, 200, "INV-0001")
	if strings.Contains(page, `id="payment-form"`) || strings.Contains(page, `id="doc-journal"`) {
		t.Fatal("an invoice-only member is offered payments or the ledger")
	}
	_, page = c.want("GET", contact, nil, 200, "Acme &amp; Co")
	if strings.Contains(page, "contact-bank") || strings.Contains(page, "7766") {
		t.Fatal("an invoice-only member sees the bank details section")
	}
	c.want("GET", contact+"/bank-details", nil, 403)
}

// salesHead is the start of a page, for failure messages.
func salesHead(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
