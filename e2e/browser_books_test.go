package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"coffer/internal/testserver"
)

// booksBrowserTimeout bounds TestBrowserBooks: it signs in and then keeps
// books through a dozen pages, more than the sign-in tests do.
const booksBrowserTimeout = 120 * time.Second

// serverErrors records every response with a 5xx status the tab receives,
// documents and subresources alike: an error page can look like a page,
// and a failed stylesheet shows only as missing styles.
type serverErrors struct {
	mu  sync.Mutex
	got []string
}

// recordServerErrors starts recording the tab's 5xx responses.
func recordServerErrors(b *browserTab) *serverErrors {
	b.t.Helper()
	rec := &serverErrors{}
	err := chromedp.Listen(b.ctx, func(ev any) {
		// Runs on the tab's reading goroutine: record and return at once.
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response.Status >= 500 {
			rec.mu.Lock()
			rec.got = append(rec.got, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
			rec.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("listen for responses: %v", err)
	}
	return rec
}

// expectNone fails the test if any 5xx response arrived so far.
func (r *serverErrors) expectNone(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) > 0 {
		t.Fatalf("the server answered with errors: %q", r.got)
	}
}

// choose picks the option of the select whose visible text is label, as a
// person would from the list; it fails listing the options otherwise.
func (b *browserTab) choose(sel, label string) {
	b.t.Helper()
	b.mustHave(sel)
	picked := tabEval[bool](b, `(() => {
		const s = document.querySelector(`+jsQuote(sel)+`);
		const o = [...s.options].find(o => o.textContent.trim() === `+jsQuote(label)+`);
		if (!o) return false;
		s.value = o.value;
		s.dispatchEvent(new Event("input", {bubbles: true}));
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`)
	if !picked {
		b.t.Fatalf("%s on %s has no option %q; it offers %q", sel, b.path(), label, b.optionLabels(sel))
	}
}

// optionLabels lists the visible texts of a select's options.
func (b *browserTab) optionLabels(sel string) []string {
	b.t.Helper()
	return tabEval[[]string](b, `[...document.querySelector(`+jsQuote(sel)+`).options].map(o => o.textContent.trim())`)
}

// selectedLabel is the visible text of the select's chosen option.
func (b *browserTab) selectedLabel(sel string) string {
	b.t.Helper()
	b.mustHave(sel)
	return tabEval[string](b, `(() => { const s = document.querySelector(`+jsQuote(sel)+`); return s.selectedIndex < 0 ? "" : s.options[s.selectedIndex].textContent.trim(); })()`)
}

// value is the current value of a form field.
func (b *browserTab) value(sel string) string {
	b.t.Helper()
	b.mustHave(sel)
	return tabEval[string](b, "document.querySelector("+jsQuote(sel)+").value")
}

// tableRows is the trimmed text of every cell of every body row of the
// table, header rows of a group included, in document order.
func (b *browserTab) tableRows(sel string) [][]string {
	b.t.Helper()
	b.mustHave(sel)
	return tabEval[[][]string](b, `[...document.querySelectorAll(`+jsQuote(sel+" tbody tr")+`)].map(r => [...r.cells].map(c => c.textContent.trim()))`)
}

// reportAmount is the last cell of the report row whose account (second)
// cell is name, as the page shows it; the test fails if no row or more
// than one has that name.
func (b *browserTab) reportAmount(name string) string {
	b.t.Helper()
	var found []string
	for _, r := range b.tableRows("#report-table") {
		if len(r) >= 3 && r[1] == name {
			found = append(found, r[len(r)-1])
		}
	}
	if len(found) != 1 {
		b.t.Fatalf("%s shows %d rows named %q, want 1; the table:\n%s", b.path(), len(found), name, b.text("#report-table"))
	}
	return found[0]
}

var orgPathRE = regexp.MustCompile(`^/orgs/([0-9]+)$`)

// TestBrowserBooks clicks through an owner's first sale in headless
// Chromium, without the JSON API: sign in with forced two-step setup, add
// a customer, raise and approve an invoice with tax, record its payment,
// and read the result in the profit and loss and the balance sheet.
func TestBrowserBooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), booksBrowserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	b := newBrowserTab(t, ctx, srv.URL)
	srvErrs := recordServerErrors(b)

	const (
		email    = "owner@books.example"
		name     = "Olive Owner"
		password = "ledger lines balance nightly 7"
		orgName  = "Books Browser Ltd"
		customer = "Harbour Lights Café"
	)

	t.Log("1. the owner signs in, sets up an authenticator app and opens the organisation")
	srv.AddMember(t, email, name, password, orgName, "owner")
	b.expectPage(b.signIn(email, password), http.StatusOK, "/enroll")
	secret := strings.ReplaceAll(b.text("code#totp-secret"), " ", "")
	if secret == "" {
		t.Fatalf("the setup page shows no key; page text:\n%s", b.text("main"))
	}
	b.fill("#code", oathTOTP(t, secret, time.Now()))
	b.expectPage(b.click("#enroll-submit"), http.StatusOK, "/enroll")
	if h := b.text("h1"); h != "Save your recovery codes" {
		t.Fatalf("after confirming the code the page says %q; page text:\n%s", h, b.text("main"))
	}
	b.expectPage(b.click("a#codes-continue"), http.StatusOK, "/dashboard")
	b.expectPage(b.click(`a[href="/orgs"]`), http.StatusOK, "/orgs")
	orgHref := tabEval[string](b, `[...document.querySelectorAll("#org-list a.org-card-link")].find(a => a.textContent.trim() === `+jsQuote(orgName)+`)?.getAttribute("href") ?? ""`)
	m := orgPathRE.FindStringSubmatch(orgHref)
	if m == nil {
		t.Fatalf("no link to %s on /orgs (found %q); page text:\n%s", orgName, orgHref, b.text("main"))
	}
	org := orgHref // /orgs/{id}
	b.expectPage(b.click(`#org-list a.org-card-link[href="`+org+`"]`), http.StatusOK, org)
	if h := b.text("h1#org-title"); h != orgName {
		t.Fatalf("organisation home is titled %q, want %q", h, orgName)
	}
	if r := b.text("#org-home-role"); r != "Owner" {
		t.Errorf("organisation home says the role is %q, want Owner", r)
	}
	b.expectStyled()
	srvErrs.expectNone(t)

	t.Log("2. add a customer")
	b.expectPage(b.click(`#org-nav a[href="`+org+`/contacts"]`), http.StatusOK, org+"/contacts")
	b.expectPage(b.click("a#contact-new"), http.StatusOK, org+"/contacts/new")
	b.fill("#contact-name", customer)
	b.fill("#contact-email", "accounts@harbour.example")
	if !tabEval[bool](b, `document.querySelector("#contact-customer").checked`) {
		t.Error("a new contact is not a customer by default")
	}
	resp := b.click("#contact-submit")
	contactPath := b.path()
	contactPath, _, _ = strings.Cut(contactPath, "?")
	if !regexp.MustCompile(`^` + org + `/contacts/[0-9]+$`).MatchString(contactPath) {
		t.Fatalf("adding the contact led to %s; page text:\n%s", b.path(), b.text("main"))
	}
	b.expectPage(resp, http.StatusOK, contactPath)
	if h := b.text("h1#contact-title"); h != customer {
		t.Fatalf("contact page titled %q, want %q", h, customer)
	}
	if msg := b.text(`[role="status"]`); msg != "The contact was added." {
		t.Errorf("after adding the contact the page says %q", msg)
	}
	srvErrs.expectNone(t)

	t.Log("3. raise a sales invoice with one taxed line and approve it")
	b.expectPage(b.click(`#org-nav a[href="`+org+`/invoices"]`), http.StatusOK, org+"/invoices")
	b.expectPage(b.click("a#doc-new"), http.StatusOK, org+"/invoices/new")
	b.choose("#doc-contact", customer)
	if b.value("#doc-date") == "" || b.value("#doc-due-date") == "" {
		t.Fatalf("the new invoice has date %q and due date %q, want both filled in", b.value("#doc-date"), b.value("#doc-due-date"))
	}
	b.fill(`#doc-lines input[name="line_description"]`, "Consulting")
	b.fill(`#doc-lines input[name="line_quantity"]`, "2")
	b.fill(`#doc-lines input[name="line_unit_price"]`, "150.00")
	b.choose(`#doc-lines select[name="line_account_id"]`, "4000 — Sales")
	b.choose(`#doc-lines select[name="line_tax_rate_id"]`, "Standard rate 20% (20.00%)")
	resp = b.click("#doc-submit")
	invoicePath, _, _ := strings.Cut(b.path(), "?")
	if !regexp.MustCompile(`^` + org + `/invoices/[0-9]+$`).MatchString(invoicePath) {
		t.Fatalf("saving the invoice led to %s; page text:\n%s", b.path(), b.text("main"))
	}
	b.expectPage(resp, http.StatusOK, invoicePath)
	if st := b.text("#doc-status"); st != "Draft" {
		t.Fatalf("a saved invoice has status %q, want Draft", st)
	}
	b.expectPage(b.click(`form[action$="/approve"] button#doc-approve`), http.StatusOK, invoicePath)
	if msg := b.text(`[role="status"]`); msg != "Approved and posted to the ledger." {
		t.Errorf("after approving the page says %q", msg)
	}
	for _, tt := range []struct{ sel, want string }{
		{"#doc-status", "Awaiting payment"},
		{"#doc-subtotal", "300.00"},
		{"#doc-tax", "60.00"},
		{"#doc-total", "360.00"},
		{"#doc-total-foot", "360.00"},
		{"#doc-paid", "0.00"},
		{"#doc-amount-due", "360.00"},
	} {
		if got := b.text(tt.sel); got != tt.want {
			t.Errorf("approved invoice: %s shows %q, want %q", tt.sel, got, tt.want)
		}
	}
	lines := b.tableRows("#doc-lines")
	wantLine := []string{"Consulting", "4000 — Sales", "2", "150.00", "Standard rate 20% (20.00%)", "60.00", "300.00"}
	if len(lines) != 1 || strings.Join(lines[0], "|") != strings.Join(wantLine, "|") {
		t.Errorf("invoice lines %q, want one line %q", lines, wantLine)
	}
	if b.has("#doc-edit") || b.has("#doc-approve") {
		t.Error("an approved invoice still offers Edit or Approve")
	}
	b.expectStyled()
	b.screenshot("books-invoice-approved")
	srvErrs.expectNone(t)

	t.Log("4. record the customer's payment in full")
	if got := b.selectedLabel("#payment-bank"); got != "1000 — Business Bank Account" {
		t.Errorf("the payment form's bank account is %q, want 1000 — Business Bank Account (offered: %q)", got, b.optionLabels("#payment-bank"))
	}
	if got := b.value("#payment-amount"); got != "360.00" {
		t.Errorf("the payment amount defaults to %q, want the amount due 360.00", got)
	}
	b.expectPage(b.click("#payment-submit"), http.StatusOK, invoicePath)
	if msg := b.text(`[role="status"]`); msg != "The payment was recorded." {
		t.Fatalf("after recording the payment the page says %q; page text:\n%s", msg, b.text("main"))
	}
	for _, tt := range []struct{ sel, want string }{
		{"#doc-status", "Paid"},
		{"#doc-paid", "360.00"},
		{"#doc-amount-due", "0.00"},
		{"#doc-due", "0.00"},
	} {
		if got := b.text(tt.sel); got != tt.want {
			t.Errorf("paid invoice: %s shows %q, want %q", tt.sel, got, tt.want)
		}
	}
	payments := b.tableRows("#doc-payments")
	if len(payments) != 1 || len(payments[0]) != 4 || payments[0][1] != "Business Bank Account" || payments[0][3] != "360.00" {
		t.Errorf("payments %q, want one of 360.00 through Business Bank Account", payments)
	}
	if b.has("#payment-form") {
		t.Error("a paid invoice still offers to record a payment")
	}
	b.screenshot("books-invoice-paid")
	srvErrs.expectNone(t)

	t.Log("5. the profit and loss shows the sale, the balance sheet the money and the tax owed")
	today := b.text("#doc-date") // the invoice's date, today on the server
	b.expectPage(b.click(`#org-nav a[href="`+org+`/reports"]`), http.StatusOK, org+"/reports")
	b.expectPage(b.click(`form[action$="/reports/profit-and-loss"] button[type="submit"]`), http.StatusOK, org+"/reports/profit-and-loss")
	if from, to := b.value("#report-from"), b.value("#report-to"); from > today || to < today {
		t.Fatalf("the profit and loss runs from %s to %s, which leaves out the invoice of %s", from, to, today)
	}
	if got := b.reportAmount("Sales"); got != "300.00" {
		t.Errorf("profit and loss: Sales %q, want 300.00", got)
	}
	if got := b.reportAmount("Total revenue"); got != "300.00" {
		t.Errorf("profit and loss: total revenue %q, want 300.00", got)
	}
	if got := b.reportAmount("Net profit"); got != "300.00" {
		t.Errorf("profit and loss: net profit %q, want 300.00", got)
	}
	b.expectStyled()
	b.screenshot("books-profit-and-loss")
	srvErrs.expectNone(t)

	b.expectPage(b.click(`a[href="`+org+`/reports"]`), http.StatusOK, org+"/reports")
	b.expectPage(b.click(`form[action$="/reports/balance-sheet"] button[type="submit"]`), http.StatusOK, org+"/reports/balance-sheet")
	if on := b.value("#report-date"); on < today {
		t.Fatalf("the balance sheet is on %s, before the invoice of %s", on, today)
	}
	for _, tt := range []struct{ row, want string }{
		{"Business Bank Account", "360.00"},
		{"Sales Tax", "60.00"},
		{"Total assets", "360.00"},
		{"Total liabilities", "60.00"},
		{"Total equity", "300.00"},
		{"Total liabilities and equity", "360.00"},
	} {
		if got := b.reportAmount(tt.row); got != tt.want {
			t.Errorf("balance sheet: %s %q, want %q", tt.row, got, tt.want)
		}
	}
	if assets, both := b.reportAmount("Total assets"), b.reportAmount("Total liabilities and equity"); assets != both {
		t.Errorf("balance sheet does not balance: total assets %s, total liabilities and equity %s", assets, both)
	}
	b.screenshot("books-balance-sheet")
	srvErrs.expectNone(t)
	if strings.Contains(srv.Log.String(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", srv.Log.String())
	}
}
