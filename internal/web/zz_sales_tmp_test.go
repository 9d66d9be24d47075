package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"coffer/internal/access"
)

func TestZZSalesPagesTmp(t *testing.T) {
	e := newMatrixEnv(t)
	org := fmt.Sprintf("/orgs/%d", e.org.ID)
	do := func(role access.Role, method, path string, form url.Values) *httptest.ResponseRecorder {
		var body *strings.Reader
		if form != nil {
			form.Set("csrf_token", strings.Repeat("c", 43))
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(method, "https://localhost"+path, body)
		r.RemoteAddr = "192.0.2.1:1234"
		r.AddCookie(&http.Cookie{Name: cookieSession, Value: e.tokens[role]})
		r.AddCookie(&http.Cookie{Name: cookieCSRF, Value: strings.Repeat("c", 43)})
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		return rec
	}
	want := func(rec *httptest.ResponseRecorder, status int, contains ...string) string {
		t.Helper()
		b := rec.Body.String()
		if rec.Code != status {
			t.Fatalf("status %d want %d: %s\n%s", rec.Code, status, rec.Header().Get("Location"), b)
		}
		for _, c := range contains {
			if !strings.Contains(b, c) {
				os.WriteFile("/tmp/tpl/fail.html", []byte(b), 0o644)
				t.Fatalf("body lacks %q (see /tmp/tpl/fail.html)", c)
			}
		}
		return b
	}
	O := access.Owner
	want(do(O, "GET", org+"/contacts/new", nil), 200, "contact-form")
	rec := do(O, "POST", org+"/contacts", url.Values{"name": {"Acme & Co"}, "email": {"a@example.com"}, "is_customer": {"1"}, "is_supplier": {"1"}})
	want(rec, 303)
	cpath := strings.TrimSuffix(rec.Header().Get("Location"), "?created")
	want(do(O, "GET", cpath+"?created", nil), 200, "Acme &amp; Co", "The contact was added")
	want(do(O, "POST", org+"/contacts", url.Values{"name": {""}}), 400, "Contact name must be")
	want(do(O, "GET", cpath+"/edit", nil), 200, "contact-archived")
	want(do(O, "POST", cpath, url.Values{"name": {"Acme & Co"}, "is_customer": {"1"}, "is_supplier": {"1"}, "email": {""}}), 303)
	want(do(O, "GET", cpath+"/bank-details", nil), 200, "contact-bank-form")
	want(do(O, "POST", cpath+"/bank-details", url.Values{"bank_details": {"Sort 11-22-33 Acc 99887766"}, "tax_number": {"GB123456789"}}), 303)
	want(do(O, "GET", cpath, nil), 200, "••••7766", "••••6789")
	b := want(do(access.InvoiceOnly, "GET", cpath, nil), 200)
	if strings.Contains(b, "7766") || strings.Contains(b, "contact-bank") {
		t.Fatal("invoice only sees bank section")
	}
	cid := cpath[strings.LastIndex(cpath, "/")+1:]
	b = want(do(O, "GET", org+"/invoices/new?lines=7", nil), 200, "doc-form", "4000 — Sales", "Standard rate 20% (20.00%)", "Acme &amp; Co")
	if n := strings.Count(b, `name="line_description"`); n != 7 {
		t.Fatalf("%d rows", n)
	}
	acct := regexp.MustCompile(`<option value="(\d+)">4000 — Sales`).FindStringSubmatch(b)[1]
	form := url.Values{"contact_id": {cid}, "date": {"2026-03-01"}, "due_date": {"2026-03-31"}, "reference": {"PO 9"},
		"line_description": {"", "Consulting", ""}, "line_quantity": {"", "2", ""}, "line_unit_price": {"", "50", ""}, "line_account_id": {"", acct, ""}, "line_tax_rate_id": {"", "", ""}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad["line_unit_price"] = []string{"", "abc", ""}
	want(do(O, "POST", org+"/invoices", bad), 400, "Line 1: unit price", "Consulting")
	rec = do(O, "POST", org+"/invoices", form)
	want(rec, 303)
	ipath := strings.TrimSuffix(rec.Header().Get("Location"), "?created")
	want(do(O, "GET", ipath+"?created", nil), 200, "INV-0001", "120.00", "doc-approve", "doc-edit", "status-draft")
	want(do(O, "GET", ipath+"/edit", nil), 200, "Edit sales invoice INV-0001", `value="50.00"`)
	want(do(O, "POST", ipath, form), 303)
	want(do(O, "POST", ipath+"/approve", url.Values{}), 303)
	b = want(do(O, "GET", ipath+"?approved", nil), 200, "payment-form", "Approved and posted", "status-awaiting_payment", "doc-journal")
	bank := regexp.MustCompile(`<option value="(\d+)"[^>]*>1000 — `).FindStringSubmatch(b)[1]
	want(do(O, "POST", ipath+"/payments", url.Values{"bank_account_id": {bank}, "date": {"2026-03-05"}, "amount": {"200.00"}}), 409, "more than the 120.00 GBP due", `value="200.00"`)
	want(do(O, "POST", ipath+"/payments", url.Values{"bank_account_id": {bank}, "date": {"2026-03-05"}, "amount": {"20.00"}}), 303)
	want(do(O, "GET", ipath, nil), 200, "100.00", "doc-payments")
	want(do(O, "POST", ipath+"/void", url.Values{}), 409, "has payments")
	want(do(O, "GET", org+"/invoices?status=awaiting_payment", nil), 200, "INV-0001", "Awaiting payment")
	want(do(O, "GET", org+"/invoices?status=bogus", nil), 400)
	// credit note
	want(do(O, "GET", org+"/credit-notes/new", nil), 200, "New credit note")
	cform := url.Values{"type": {"sales"}, "contact_id": {cid}, "date": {"2026-03-02"}, "line_description": {"Refund"}, "line_quantity": {"1"}, "line_unit_price": {"10"}, "line_account_id": {acct}}
	rec = do(O, "POST", org+"/credit-notes", cform)
	want(rec, 303)
	cnpath := strings.TrimSuffix(rec.Header().Get("Location"), "?created")
	want(do(O, "POST", cnpath+"/approve", url.Values{}), 303)
	b = want(do(O, "GET", cnpath, nil), 200, "allocate-form", "INV-0001 — 100.00 due")
	inv := regexp.MustCompile(`<option value="(\d+)"[^>]*>INV-0001`).FindStringSubmatch(b)[1]
	want(do(O, "POST", cnpath+"/allocate", url.Values{"invoice_id": {inv}, "date": {"2026-03-06"}, "amount": {"12.00"}}), 303)
	want(do(O, "GET", cnpath, nil), 200, "Fully allocated", "INV-0001")
	b = want(do(O, "GET", ipath, nil), 200, "88.00", "CN-0001")
	os.WriteFile("/tmp/tpl/invoice.html", []byte(b), 0o644)
	want(do(O, "GET", org+"/credit-notes", nil), 200, "CN-0001", "Customer credit notes")
	want(do(O, "GET", org+"/credit-notes?type=bill", nil), 200, "Supplier credit notes")
	// bills
	want(do(O, "GET", org+"/bills/new", nil), 200, "6300 — Office Expenses", "Supplier")
	want(do(O, "GET", org+"/bills", nil), 200, "Nothing here yet")
	want(do(access.InvoiceOnly, "GET", org+"/bills", nil), 403)
	want(do(access.InvoiceOnly, "GET", org+"/credit-notes?type=bill", nil), 403)
	b = want(do(access.InvoiceOnly, "GET", ipath, nil), 200, "INV-0001")
	if strings.Contains(b, "payment-form") || strings.Contains(b, "doc-journal") {
		t.Fatal("invoice-only sees payment form or journal link")
	}
	want(do(access.ReadOnly, "GET", ipath, nil), 200, "doc-journal")
	want(do(O, "GET", org+"/contacts", nil), 200, "Acme &amp; Co")
	want(do(O, "GET", cpath, nil), 200, "INV-0001", "CN-0001")
	want(do(O, "GET", org+"/invoices/"+strings.TrimPrefix(cnpath, org+"/credit-notes/"), nil), 404)
}
