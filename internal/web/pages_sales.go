package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// Invoice form sizes: the default number of line rows, and the most a
// ?lines= request may ask for.
const salesFormRows = 5

// salesOption is one choice of a select.
type salesOption struct {
	Value, Label string
}

func salesID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// salesStatusLabel names a status for people; a settled credit note is
// "fully allocated" rather than paid.
func salesStatusLabel(kind, status string) string {
	switch status {
	case ledger.InvoiceDraft:
		return "Draft"
	case ledger.InvoiceAwaitingPayment:
		if ledger.IsCreditKind(kind) {
			return "Approved"
		}
		return "Awaiting payment"
	case ledger.InvoicePaid:
		if ledger.IsCreditKind(kind) {
			return "Fully allocated"
		}
		return "Paid"
	case ledger.InvoiceVoided:
		return "Voided"
	}
	return status
}

// salesDocPath is where a document of kind k lives.
func salesDocPath(p *pageOrg, kind string, id int64) string {
	switch {
	case ledger.IsCreditKind(kind):
		return p.Path("credit-notes", id)
	case kind == ledger.KindBill:
		return p.Path("bills", id)
	}
	return p.Path("invoices", id)
}

// ----- contacts -----

type contactRow struct {
	Name, Email, Roles, Path string
	Archived                 bool
}

func salesContactRoles(c *ledger.Contact) string {
	switch {
	case c.IsCustomer && c.IsSupplier:
		return "Customer, supplier"
	case c.IsSupplier:
		return "Supplier"
	}
	return "Customer"
}

func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	q := r.URL.Query()
	d := s.orgPage(w, r, o, "Contacts")
	d.Data["Section"] = "contacts"
	role := q.Get("role")
	archived := q.Get("archived") == "1"
	list, err := s.ledger.FindContacts(r.Context(), o.Org.ID, ledger.ContactFilter{Role: role, IncludeArchived: archived, Limit: 1000})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var rows []contactRow
	for _, c := range list {
		rows = append(rows, contactRow{Name: c.Name, Email: c.Email, Roles: salesContactRoles(c), Path: d.Org.Path("contacts", c.ID), Archived: c.Archived})
	}
	d.Data["Contacts"] = rows
	d.Data["Role"] = role
	d.Data["Archived"] = archived
	s.render(w, r, http.StatusOK, "contacts", d)
}

// contactForm is what the contact form shows and sends back.
type contactForm struct {
	Name, Email                      string
	IsCustomer, IsSupplier, Archived bool
}

func contactFormFrom(r *http.Request) contactForm {
	f := r.PostForm
	return contactForm{Name: f.Get("name"), Email: f.Get("email"), IsCustomer: f.Get("is_customer") != "", IsSupplier: f.Get("is_supplier") != "", Archived: f.Get("archived") != ""}
}

func (s *Server) renderContactForm(w http.ResponseWriter, r *http.Request, o *orgReq, c *ledger.Contact, f contactForm, status int, err error) {
	title := "New contact"
	if c != nil {
		title = "Edit " + c.Name
	}
	d := s.orgPage(w, r, o, title)
	d.Data["Section"] = "contacts"
	d.Data["Form"] = f
	d.Data["Contact"] = c
	d.Data["Action"] = d.Org.Path("contacts")
	d.Data["Cancel"] = d.Org.Path("contacts")
	if c != nil {
		d.Data["Action"] = d.Org.Path("contacts", c.ID)
		d.Data["Cancel"] = d.Org.Path("contacts", c.ID)
	}
	if err != nil {
		d.Error = errs.Message(err)
	}
	s.render(w, r, status, "contact_form", d)
}

func (s *Server) contactNewPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f := contactForm{IsCustomer: r.URL.Query().Get("role") != "supplier", IsSupplier: r.URL.Query().Get("role") == "supplier"}
	s.renderContactForm(w, r, o, nil, f, http.StatusOK, nil)
}

func (s *Server) contactCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f := contactFormFrom(r)
	c, err := s.ledger.CreateContact(r.Context(), o.Actor(), o.Org.ID, ledger.ContactInput{Name: f.Name, Email: f.Email, IsCustomer: f.IsCustomer, IsSupplier: f.IsSupplier})
	if err != nil {
		if statusOf(err) >= 500 {
			s.renderError(w, r, err)
			return
		}
		s.renderContactForm(w, r, o, nil, f, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/contacts/%d?created", o.Org.ID, c.ID), http.StatusSeeOther)
}

func (s *Server) findContactPage(w http.ResponseWriter, r *http.Request, o *orgReq) (*ledger.Contact, bool) {
	id, err := pathID(r, "id", "Contact")
	if err == nil {
		var c *ledger.Contact
		if c, err = s.ledger.FindContact(r.Context(), o.Org.ID, id); err == nil {
			return c, true
		}
	}
	s.renderError(w, r, err)
	return nil, false
}

type salesDocRow struct {
	Number, Path, Kind, ContactName, Date, DueDate, Status, StatusLabel, Total, Due string
}

func (s *Server) contactPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	c, ok := s.findContactPage(w, r, o)
	if !ok {
		return
	}
	ctx := r.Context()
	d := s.orgPage(w, r, o, c.Name)
	d.Data["Section"] = "contacts"
	d.Data["Contact"] = c
	if access.Can(o.Role, access.ContactsBank) && (c.HasBankDetails || c.HasTaxNumber) {
		m, err := s.ledger.MaskedContactBankDetails(ctx, o.Org.ID, c.ID)
		if err != nil {
			// A value that does not open (tampered or moved) must not hide
			// the rest of the contact; the log has the details.
			s.log.Error("contact bank details", logKeyRequestID, requestID(r), logKeyErr, err)
			d.Data["BankError"] = "The stored bank details could not be read. Reference: " + requestID(r)
		} else {
			d.Data["Masked"] = m
		}
	}
	exp := o.Exp
	docs, err := s.ledger.ListInvoices(ctx, o.Org.ID, ledger.InvoiceFilter{ContactID: c.ID, Limit: 50})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var rows []salesDocRow
	for _, inv := range docs {
		if salesKindAllowed(o, inv.Kind, false) != nil {
			continue
		}
		rows = append(rows, salesDocRow{Number: inv.Number, Path: salesDocPath(d.Org, inv.Kind, inv.ID), Kind: ledger.KindLabel(inv.Kind), Date: inv.Date, DueDate: inv.DueDate,
			Status: inv.Status, StatusLabel: salesStatusLabel(inv.Kind, inv.Status), Total: money.Format(inv.Total, exp), Due: money.Format(inv.AmountDue(), exp)})
	}
	d.Data["Documents"] = rows
	d.Data["Currency"] = o.Org.Currency
	switch q := r.URL.Query(); {
	case q.Has("created"):
		d.Flash = "The contact was added."
	case q.Has("saved"):
		d.Flash = "The contact was saved."
	case q.Has("bank_saved"):
		d.Flash = "The bank details and tax number were saved."
	}
	s.render(w, r, http.StatusOK, "contact", d)
}

func (s *Server) contactEditPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	c, ok := s.findContactPage(w, r, o)
	if !ok {
		return
	}
	s.renderContactForm(w, r, o, c, contactForm{Name: c.Name, Email: c.Email, IsCustomer: c.IsCustomer, IsSupplier: c.IsSupplier, Archived: c.Archived}, http.StatusOK, nil)
}

func (s *Server) contactUpdateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	c, ok := s.findContactPage(w, r, o)
	if !ok {
		return
	}
	f := contactFormFrom(r)
	_, err := s.ledger.UpdateContact(r.Context(), o.Actor(), o.Org.ID, c.ID, ledger.ContactUpdate{Name: &f.Name, Email: &f.Email, IsCustomer: &f.IsCustomer, IsSupplier: &f.IsSupplier, Archived: &f.Archived})
	if err != nil {
		if statusOf(err) >= 500 || errs.Code(err) == errs.ENOTFOUND {
			s.renderError(w, r, err)
			return
		}
		s.renderContactForm(w, r, o, c, f, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/contacts/%d?saved", o.Org.ID, c.ID), http.StatusSeeOther)
}

// contactBankPage reveals the contact's bank details and tax number (a
// step-up route; the reveal is audited) with the form to change them.
func (s *Server) contactBankPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	c, ok := s.findContactPage(w, r, o)
	if !ok {
		return
	}
	cs, err := s.ledger.ContactBankDetails(r.Context(), o.Actor(), o.Org.ID, c.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderContactBank(w, r, o, c, *cs, http.StatusOK, nil)
}

func (s *Server) renderContactBank(w http.ResponseWriter, r *http.Request, o *orgReq, c *ledger.Contact, cs ledger.ContactSecrets, status int, err error) {
	d := s.orgPage(w, r, o, "Bank details of "+c.Name)
	d.Data["Section"] = "contacts"
	d.Data["Contact"] = c
	d.Data["Form"] = cs
	d.Data["Path"] = d.Org.Path("contacts", c.ID, "bank-details")
	d.Data["MaxBank"] = ledger.MaxBankDetails
	d.Data["MaxTax"] = ledger.MaxTaxNumber
	if err != nil {
		d.Error = errs.Message(err)
	}
	s.render(w, r, status, "contact_bank", d)
}

func (s *Server) contactBankSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	c, ok := s.findContactPage(w, r, o)
	if !ok {
		return
	}
	cs := ledger.ContactSecrets{BankDetails: r.PostForm.Get("bank_details"), TaxNumber: r.PostForm.Get("tax_number")}
	if err := s.ledger.SetContactBankDetails(r.Context(), o.Actor(), o.Org.ID, c.ID, cs); err != nil {
		if statusOf(err) >= 500 {
			s.renderError(w, r, err)
			return
		}
		s.renderContactBank(w, r, o, c, cs, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/contacts/%d?bank_saved", o.Org.ID, c.ID), http.StatusSeeOther)
}

// ----- document lists -----

// pageKind is the kind a page of these routes is about: the fixed one, or
// for credit notes the ?type= (sales unless "bill").
func (d salesDocs) pageKind(t string) string {
	if !d.credit {
		return d.kind
	}
	if t == "bill" {
		return ledger.KindBillCredit
	}
	return ledger.KindSalesCredit
}

func (s *Server) docsPage(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		q := r.URL.Query()
		ctx := r.Context()
		kind := d.pageKind(q.Get("type"))
		if err := salesKindAllowed(o, kind, false); err != nil {
			s.renderError(w, r, err)
			return
		}
		exp := o.Exp
		contact, err := salesQueryID(q, "contact_id")
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		offset := 0
		if v := q.Get("offset"); v != "" {
			if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > 1_000_000_000 {
				s.renderError(w, r, errs.Errorf(errs.EINVALID, "offset must be a whole number, 0 or more."))
				return
			}
		}
		status := q.Get("status")
		list, err := s.ledger.ListInvoices(ctx, o.Org.ID, ledger.InvoiceFilter{Kind: kind, Status: status, ContactID: contact, Limit: salesDefaultLimit + 1, Offset: offset})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		list, more := cutPage(list, salesDefaultLimit)
		title := d.title
		if d.credit && kind == ledger.KindBillCredit {
			title = "Supplier credit notes"
		} else if d.credit {
			title = "Customer credit notes"
		}
		pd := s.orgPage(w, r, o, title)
		pd.Data["Section"] = d.section
		if kind == ledger.KindBillCredit {
			pd.Data["Section"] = "bills"
		}
		var rows []salesDocRow
		for _, inv := range list {
			rows = append(rows, salesDocRow{Number: inv.Number, Path: salesDocPath(pd.Org, inv.Kind, inv.ID), ContactName: inv.ContactName, Date: inv.Date, DueDate: inv.DueDate,
				Status: inv.Status, StatusLabel: salesStatusLabel(inv.Kind, inv.Status), Total: money.Format(inv.Total, exp), Due: money.Format(inv.AmountDue(), exp)})
		}
		var statuses []salesOption
		for _, st := range ledger.InvoiceStatuses {
			statuses = append(statuses, salesOption{Value: st, Label: salesStatusLabel(kind, st)})
		}
		contacts, err := s.salesContactOptions(r, o, kind, 0)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		link := func(off int) string {
			return pageLink(pd.Org.Path(d.path), q, off, "type", "status", "contact_id")
		}
		if offset > 0 {
			pd.Data["Prev"] = link(max(0, offset-salesDefaultLimit))
		}
		if more {
			pd.Data["Next"] = link(offset + salesDefaultLimit)
		}
		pd.Data["Docs"] = rows
		pd.Data["Statuses"] = statuses
		pd.Data["Status"] = status
		pd.Data["Contacts"] = contacts
		pd.Data["ContactID"] = salesID(contact)
		pd.Data["Noun"] = d.noun
		pd.Data["ListPath"] = pd.Org.Path(d.path)
		pd.Data["NewPath"] = pd.Org.Path(d.path, "new")
		pd.Data["Currency"] = o.Org.Currency
		pd.Data["CanWrite"] = salesKindAllowed(o, kind, true) == nil
		pd.Data["Credit"] = d.credit
		if d.credit {
			pd.Data["Type"] = salesCreditType(kind)
			pd.Data["NewPath"] = pd.Org.Path(d.path, "new") + "?type=" + salesCreditType(kind)
			pd.Data["CanBill"] = access.Can(o.Role, access.PurchasesRead)
		}
		if !d.credit {
			pd.Data["CreditPath"] = pd.Org.Path("credit-notes")
			if kind == ledger.KindBill {
				pd.Data["CreditPath"] = pd.Org.Path("credit-notes") + "?type=bill"
			}
		}
		s.render(w, r, http.StatusOK, "invoices", pd)
	}
}

// salesContactOptions lists the open contacts documents of kind may be
// addressed to (customers or suppliers), plus keep if it is not among them.
func (s *Server) salesContactOptions(r *http.Request, o *orgReq, kind string, keep int64) ([]salesOption, error) {
	role := "customer"
	if ledger.IsPurchaseKind(kind) {
		role = "supplier"
	}
	list, err := s.ledger.FindContacts(r.Context(), o.Org.ID, ledger.ContactFilter{Role: role, Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []salesOption
	found := keep == 0
	for _, c := range list {
		out = append(out, salesOption{Value: salesID(c.ID), Label: c.Name})
		found = found || c.ID == keep
	}
	if !found {
		if c, err := s.ledger.FindContact(r.Context(), o.Org.ID, keep); err == nil {
			out = append(out, salesOption{Value: salesID(c.ID), Label: c.Name})
		}
	}
	return out, nil
}

// ----- document form -----

// docForm is what the invoice form shows and sends back, as typed.
type docForm struct {
	Type, ContactID, Number, Date, DueDate, Reference string
	Lines                                             []docFormLine
}

type docFormLine struct {
	Description, Quantity, UnitPrice, AccountID, TaxRateID string
	N                                                      int // row number, for labels
}

func (l docFormLine) blank() bool {
	return strings.TrimSpace(l.Description+l.Quantity+l.UnitPrice) == ""
}

// docFormFrom reads the posted form, dropping blank line rows.
func docFormFrom(r *http.Request) docForm {
	p := r.PostForm
	f := docForm{Type: p.Get("type"), ContactID: p.Get("contact_id"), Number: p.Get("number"), Date: p.Get("date"), DueDate: p.Get("due_date"), Reference: p.Get("reference")}
	desc, qty, price, acct, rate := p["line_description"], p["line_quantity"], p["line_unit_price"], p["line_account_id"], p["line_tax_rate_id"]
	at := func(v []string, i int) string {
		if i < len(v) {
			return v[i]
		}
		return ""
	}
	n := min(max(len(desc), len(qty), len(price)), ledger.MaxInvoiceLines+1)
	for i := range n {
		l := docFormLine{Description: at(desc, i), Quantity: at(qty, i), UnitPrice: at(price, i), AccountID: at(acct, i), TaxRateID: at(rate, i)}
		if !l.blank() {
			f.Lines = append(f.Lines, l)
		}
	}
	return f
}

// input parses the form into the domain's input, naming every field and
// line that is not a number.
func (f docForm) input(kind string, exp int) (ledger.InvoiceInput, error) {
	in := ledger.InvoiceInput{Kind: kind, Number: f.Number, Date: strings.TrimSpace(f.Date), DueDate: strings.TrimSpace(f.DueDate), Reference: f.Reference}
	var problems []string
	if f.ContactID != "" {
		id, err := strconv.ParseInt(f.ContactID, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, "Choose a contact.")
		}
		in.ContactID = id
	}
	if len(f.Lines) > ledger.MaxInvoiceLines {
		return in, errs.Errorf(errs.EINVALID, "A document may have at most %d lines.", ledger.MaxInvoiceLines)
	}
	for i, l := range f.Lines {
		q, p, err := ledger.ParseLineAmounts(i+1, l.Quantity, l.UnitPrice, exp)
		if err != nil {
			problems = append(problems, errs.Message(err))
		}
		acct, aerr := strconv.ParseInt(l.AccountID, 10, 64)
		if aerr != nil && l.AccountID != "" {
			problems = append(problems, fmt.Sprintf("Line %d: choose an account.", i+1))
		}
		var rate int64
		if l.TaxRateID != "" {
			if rate, err = strconv.ParseInt(l.TaxRateID, 10, 64); err != nil || rate <= 0 {
				problems = append(problems, fmt.Sprintf("Line %d: choose a tax rate.", i+1))
			}
		}
		in.Lines = append(in.Lines, ledger.InvoiceLineInput{Description: l.Description, Quantity: q, UnitPrice: p, AccountID: acct, TaxRateID: rate})
	}
	if len(problems) > 0 {
		return in, errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return in, nil
}

func docFormOf(inv *ledger.Invoice, exp int) docForm {
	f := docForm{Type: salesCreditType(inv.Kind), ContactID: salesID(inv.ContactID), Number: inv.Number, Date: inv.Date, DueDate: inv.DueDate, Reference: inv.Reference}
	for _, l := range inv.Lines {
		f.Lines = append(f.Lines, docFormLine{Description: l.Description, Quantity: money.FormatQuantity(l.Quantity), UnitPrice: money.Format(l.UnitPrice, exp),
			AccountID: salesID(l.AccountID), TaxRateID: salesID(l.TaxRateID)})
	}
	return f
}

// renderDocForm shows the new or edit form (inv nil for new) with rows
// rows of lines at least, and err's message when a submission was refused.
func (s *Server) renderDocForm(w http.ResponseWriter, r *http.Request, o *orgReq, d salesDocs, kind string, inv *ledger.Invoice, f docForm, rows, status int, err error) {
	ctx := r.Context()
	label := ledger.KindLabel(kind)
	title := "New " + label
	if inv != nil {
		title = "Edit " + label + " " + inv.Number
	}
	pd := s.orgPage(w, r, o, title)
	pd.Data["Section"] = d.section
	if kind == ledger.KindBillCredit {
		pd.Data["Section"] = "bills"
	}
	accts, aerr := s.ledger.InvoiceLineAccounts(ctx, o.Org.ID, kind)
	if aerr != nil {
		s.renderError(w, r, aerr)
		return
	}
	var acctOpts []salesOption
	for _, a := range accts {
		acctOpts = append(acctOpts, salesOption{Value: salesID(a.ID), Label: a.Code + " — " + a.Name})
	}
	rates, rerr := s.ledger.InvoiceTaxRates(ctx, o.Org.ID)
	if rerr != nil {
		s.renderError(w, r, rerr)
		return
	}
	var rateOpts []salesOption
	for _, t := range rates {
		rateOpts = append(rateOpts, salesOption{Value: salesID(t.ID), Label: t.Name + " (" + money.Format(t.RateBP, 2) + "%)"})
	}
	var keep int64
	if inv != nil {
		keep = inv.ContactID
	}
	contacts, cerr := s.salesContactOptions(r, o, kind, keep)
	if cerr != nil {
		s.renderError(w, r, cerr)
		return
	}
	for len(f.Lines) < max(rows, 1) && len(f.Lines) < ledger.MaxInvoiceLines {
		f.Lines = append(f.Lines, docFormLine{})
	}
	for i := range f.Lines {
		f.Lines[i].N = i + 1
	}
	pd.Data["Form"] = f
	pd.Data["Kind"] = kind
	pd.Data["Label"] = label
	pd.Data["Credit"] = d.credit
	pd.Data["Type"] = salesCreditType(kind)
	pd.Data["Accounts"] = acctOpts
	pd.Data["TaxRates"] = rateOpts
	pd.Data["Contacts"] = contacts
	pd.Data["Currency"] = o.Org.Currency
	pd.Data["Invoice"] = inv
	pd.Data["ListPath"] = pd.Org.Path(d.path)
	pd.Data["Action"] = pd.Org.Path(d.path)
	pd.Data["Cancel"] = pd.Org.Path(d.path)
	pd.Data["MoreRows"] = pd.Org.Path(d.path, "new") + "?lines=" + strconv.Itoa(min(len(f.Lines)+10, ledger.MaxInvoiceLines))
	if d.credit {
		pd.Data["MoreRows"] = pd.Data["MoreRows"].(string) + "&type=" + salesCreditType(kind)
	}
	if inv != nil {
		pd.Data["Action"] = pd.Org.Path(d.path, inv.ID)
		pd.Data["Cancel"] = pd.Org.Path(d.path, inv.ID)
		pd.Data["MoreRows"] = pd.Org.Path(d.path, inv.ID, "edit") + "?lines=" + strconv.Itoa(min(len(f.Lines)+10, ledger.MaxInvoiceLines))
	}
	if err != nil {
		pd.Error = errs.Message(err)
	}
	s.render(w, r, status, "invoice_form", pd)
}

// salesFormRowsWanted reads ?lines=, the number of line rows to show.
func salesFormRowsWanted(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("lines"))
	if err != nil || n < 1 {
		return salesFormRows
	}
	return min(n, ledger.MaxInvoiceLines)
}

func (s *Server) docNewPage(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		q := r.URL.Query()
		kind := d.pageKind(q.Get("type"))
		if err := salesKindAllowed(o, kind, true); err != nil {
			s.renderError(w, r, err)
			return
		}
		today := s.ledger.Now().Format(ledger.DateLayout)
		f := docForm{Date: today, ContactID: q.Get("contact_id")}
		if !ledger.IsCreditKind(kind) {
			f.DueDate = s.ledger.Now().AddDate(0, 0, 30).Format(ledger.DateLayout)
		}
		s.renderDocForm(w, r, o, d, kind, nil, f, salesFormRowsWanted(r), http.StatusOK, nil)
	}
}

func (s *Server) docCreateSubmit(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		f := docFormFrom(r)
		kind := d.pageKind(f.Type)
		if err := salesKindAllowed(o, kind, true); err != nil {
			s.renderError(w, r, err)
			return
		}
		exp := o.Exp
		in, err := f.input(kind, exp)
		var inv *ledger.Invoice
		if err == nil {
			inv, err = s.ledger.CreateInvoice(r.Context(), o.Actor(), o.Org.ID, in)
		}
		if err != nil {
			if statusOf(err) >= 500 {
				s.renderError(w, r, err)
				return
			}
			s.renderDocForm(w, r, o, d, kind, nil, f, salesFormRows, statusOf(err), err)
			return
		}
		http.Redirect(w, r, salesDocPath(&pageOrg{ID: o.Org.ID}, inv.Kind, inv.ID)+"?created", http.StatusSeeOther)
	}
}

// findDocPage is findDoc for pages: it renders the error itself.
func (s *Server) findDocPage(w http.ResponseWriter, r *http.Request, o *orgReq, d salesDocs, write bool) (*ledger.Invoice, bool) {
	inv, err := s.findDoc(r, o, d, write)
	if err != nil {
		s.renderError(w, r, err)
		return nil, false
	}
	return inv, true
}

func (s *Server) docEditPage(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, ok := s.findDocPage(w, r, o, d, true)
		if !ok {
			return
		}
		if err := inv.CheckEditable(); err != nil {
			s.renderError(w, r, err)
			return
		}
		exp := o.Exp
		s.renderDocForm(w, r, o, d, inv.Kind, inv, docFormOf(inv, exp), salesFormRowsWanted(r), http.StatusOK, nil)
	}
}

func (s *Server) docUpdateSubmit(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, ok := s.findDocPage(w, r, o, d, true)
		if !ok {
			return
		}
		exp := o.Exp
		f := docFormFrom(r)
		in, err := f.input(inv.Kind, exp)
		if err == nil {
			_, err = s.ledger.UpdateInvoice(r.Context(), o.Actor(), o.Org.ID, inv.ID, in)
		}
		if err != nil {
			if statusOf(err) >= 500 {
				s.renderError(w, r, err)
				return
			}
			s.renderDocForm(w, r, o, d, inv.Kind, inv, f, salesFormRows, statusOf(err), err)
			return
		}
		http.Redirect(w, r, salesDocPath(&pageOrg{ID: o.Org.ID}, inv.Kind, inv.ID)+"?saved", http.StatusSeeOther)
	}
}

// ----- document page -----

type docLineRow struct {
	Description, Quantity, UnitPrice, Account, TaxRate, LineAmount, TaxAmount string
}

type docPaymentRow struct {
	Date, Amount, Reference, BankAccount, JournalPath string
}

type docAllocationRow struct {
	Date, Amount, Number, Path string
}

// paymentForm is what the payment and allocation forms show and send back.
type paymentForm struct {
	BankAccountID, InvoiceID, Date, Amount, Reference string
}

// renderDoc shows a document with the actions its state and the member's
// role allow; status and err report a refused action, pf keeps what was
// typed into the payment or allocation form.
func (s *Server) renderDoc(w http.ResponseWriter, r *http.Request, o *orgReq, d salesDocs, inv *ledger.Invoice, pf *paymentForm, status int, err error) {
	ctx := r.Context()
	exp := o.Exp
	f := func(v int64) string { return money.Format(v, exp) }
	pd := s.orgPage(w, r, o, salesUpperFirstWeb(ledger.KindLabel(inv.Kind))+" "+inv.Number)
	pd.Data["Section"] = d.section
	if inv.Kind == ledger.KindBillCredit {
		pd.Data["Section"] = "bills"
	}
	accts, aerr := s.ledger.FindAccounts(ctx, o.Org.ID)
	if aerr != nil {
		s.renderError(w, r, aerr)
		return
	}
	acctLabel := map[int64]string{}
	for _, a := range accts {
		acctLabel[a.ID] = a.Code + " — " + a.Name
	}
	rates, rerr := s.ledger.FindTaxRates(ctx, o.Org.ID)
	if rerr != nil {
		s.renderError(w, r, rerr)
		return
	}
	rateLabel := map[int64]string{}
	for _, t := range rates {
		rateLabel[t.ID] = t.Name
	}
	var lines []docLineRow
	for _, l := range inv.Lines {
		rate := money.Format(l.TaxRateBP, 2) + "%"
		if n, ok := rateLabel[l.TaxRateID]; ok {
			rate = n + " (" + rate + ")"
		}
		lines = append(lines, docLineRow{Description: l.Description, Quantity: money.FormatQuantity(l.Quantity), UnitPrice: f(l.UnitPrice), Account: acctLabel[l.AccountID],
			TaxRate: rate, LineAmount: f(l.LineAmount), TaxAmount: f(l.TaxAmount)})
	}
	canWrite := salesKindAllowed(o, inv.Kind, true) == nil
	canPay := access.Can(o.Role, access.PaymentsWrite)
	canJournals := access.Can(o.Role, access.JournalsRead)
	pd.Data["Invoice"] = inv
	pd.Data["Credit"] = ledger.IsCreditKind(inv.Kind)
	pd.Data["Label"] = ledger.KindLabel(inv.Kind)
	pd.Data["StatusLabel"] = salesStatusLabel(inv.Kind, inv.Status)
	pd.Data["Lines"] = lines
	pd.Data["Currency"] = o.Org.Currency
	pd.Data["Subtotal"], pd.Data["TaxTotal"], pd.Data["Total"] = f(inv.Subtotal), f(inv.TaxTotal), f(inv.Total)
	pd.Data["AmountPaid"], pd.Data["AmountCredited"], pd.Data["AmountDue"] = f(inv.AmountPaid), f(inv.AmountCredited), f(inv.AmountDue())
	pd.Data["Path"] = pd.Org.Path(d.path, inv.ID)
	pd.Data["ListPath"] = pd.Org.Path(d.path)
	if ledger.IsCreditKind(inv.Kind) {
		pd.Data["ListPath"] = pd.Org.Path(d.path) + "?type=" + salesCreditType(inv.Kind)
	}
	pd.Data["ContactPath"] = pd.Org.Path("contacts", inv.ContactID)
	if canJournals && inv.JournalID != 0 {
		pd.Data["JournalPath"] = pd.Org.Path("journals", inv.JournalID)
	}
	if canJournals && inv.VoidJournalID != 0 {
		pd.Data["VoidJournalPath"] = pd.Org.Path("journals", inv.VoidJournalID)
	}
	pd.Data["CanEdit"] = canWrite && inv.Status == ledger.InvoiceDraft
	pd.Data["CanApprove"] = canWrite && inv.Status == ledger.InvoiceDraft
	pd.Data["CanVoid"] = canWrite && inv.CheckVoid("") == nil
	if pf == nil {
		pf = &paymentForm{Date: s.ledger.Now().Format(ledger.DateLayout), Amount: f(inv.AmountDue())}
	}
	pd.Data["PayForm"] = pf
	if !ledger.IsCreditKind(inv.Kind) {
		payments, perr := s.ledger.FindPayments(ctx, o.Org.ID, ledger.PaymentFilter{InvoiceID: inv.ID, Limit: 1000})
		if perr != nil {
			s.renderError(w, r, perr)
			return
		}
		var rows []docPaymentRow
		for _, p := range payments {
			row := docPaymentRow{Date: p.Date, Amount: f(p.Amount), Reference: p.Reference, BankAccount: p.BankAccountName}
			if canJournals {
				row.JournalPath = pd.Org.Path("journals", p.JournalID)
			}
			rows = append(rows, row)
		}
		pd.Data["Payments"] = rows
		if canPay && inv.Status == ledger.InvoiceAwaitingPayment {
			banks, berr := s.ledger.PaymentBankAccounts(ctx, o.Org.ID)
			if berr != nil {
				s.renderError(w, r, berr)
				return
			}
			var opts []salesOption
			for _, b := range banks {
				opts = append(opts, salesOption{Value: salesID(b.ID), Label: b.AccountCode + " — " + b.Name})
			}
			pd.Data["BankAccounts"] = opts
			pd.Data["PayPath"] = pd.Org.Path(d.path, inv.ID, "payments")
		}
	}
	allocs, alerr := s.ledger.FindCreditAllocations(ctx, o.Org.ID, inv.ID)
	if alerr != nil {
		s.renderError(w, r, alerr)
		return
	}
	var arows []docAllocationRow
	for _, a := range allocs {
		row := docAllocationRow{Date: a.Date, Amount: f(a.Amount), Number: a.CreditNoteNumber, Path: pd.Org.Path("credit-notes", a.CreditNoteID)}
		if a.CreditNoteID == inv.ID {
			row.Number, row.Path = a.InvoiceNumber, salesDocPath(pd.Org, ledger.InvoiceKindFor(inv.Kind), a.InvoiceID)
		}
		arows = append(arows, row)
	}
	pd.Data["Allocations"] = arows
	if ledger.IsCreditKind(inv.Kind) && canPay && inv.Status == ledger.InvoiceAwaitingPayment {
		open, oerr := s.ledger.ListInvoices(ctx, o.Org.ID, ledger.InvoiceFilter{Kind: ledger.InvoiceKindFor(inv.Kind), Status: ledger.InvoiceAwaitingPayment, ContactID: inv.ContactID, Limit: 1000})
		if oerr != nil {
			s.renderError(w, r, oerr)
			return
		}
		var opts []salesOption
		for _, x := range open {
			opts = append(opts, salesOption{Value: salesID(x.ID), Label: x.Number + " — " + f(x.AmountDue()) + " due"})
		}
		pd.Data["OpenInvoices"] = opts
		pd.Data["AllocatePath"] = pd.Org.Path("credit-notes", inv.ID, "allocate")
	}
	q := r.URL.Query()
	switch {
	case err != nil:
		pd.Error = errs.Message(err)
	case q.Has("created"):
		pd.Flash = "The " + ledger.KindLabel(inv.Kind) + " was saved as a draft."
	case q.Has("saved"):
		pd.Flash = "The draft was saved."
	case q.Has("approved"):
		pd.Flash = "Approved and posted to the ledger."
	case q.Has("voided"):
		pd.Flash = "The " + ledger.KindLabel(inv.Kind) + " was voided."
	case q.Has("paid"):
		pd.Flash = "The payment was recorded."
	case q.Has("allocated"):
		pd.Flash = "The credit was allocated."
	}
	s.render(w, r, status, "invoice", pd)
}

func salesUpperFirstWeb(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (s *Server) docPage(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, ok := s.findDocPage(w, r, o, d, false)
		if !ok {
			return
		}
		s.renderDoc(w, r, o, d, inv, nil, http.StatusOK, nil)
	}
}

// docActionDone redirects after an action, or shows the document again
// with the refusal.
func (s *Server) docActionDone(w http.ResponseWriter, r *http.Request, o *orgReq, d salesDocs, inv *ledger.Invoice, flag string, pf *paymentForm, err error) {
	if err == nil {
		http.Redirect(w, r, salesDocPath(&pageOrg{ID: o.Org.ID}, inv.Kind, inv.ID)+"?"+flag, http.StatusSeeOther)
		return
	}
	if statusOf(err) >= 500 {
		s.renderError(w, r, err)
		return
	}
	// Show the document as it is now: the refused action changed nothing.
	if cur, ferr := s.ledger.FindInvoice(r.Context(), o.Org.ID, inv.ID); ferr == nil {
		inv = cur
	}
	s.renderDoc(w, r, o, d, inv, pf, statusOf(err), err)
}

func (s *Server) docApproveSubmit(d salesDocs) orgHandler {
	return s.docActionSubmit(d, s.ledger.ApproveInvoice, "approved")
}

func (s *Server) docVoidSubmit(d salesDocs) orgHandler {
	return s.docActionSubmit(d, s.ledger.VoidInvoice, "voided")
}

// docActionSubmit runs act on the {id} document, which needs the write
// permission; flag is the query flag of the redirect that follows.
func (s *Server) docActionSubmit(d salesDocs, act docAction, flag string) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, ok := s.findDocPage(w, r, o, d, true)
		if !ok {
			return
		}
		_, err := act(r.Context(), o.Actor(), o.Org.ID, inv.ID, inv.Kind)
		s.docActionDone(w, r, o, d, inv, flag, nil, err)
	}
}

func (s *Server) docPaymentSubmit(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, ok := s.findDocPage(w, r, o, d, false)
		if !ok {
			return
		}
		p := r.PostForm
		pf := &paymentForm{BankAccountID: p.Get("bank_account_id"), Date: p.Get("date"), Amount: p.Get("amount"), Reference: p.Get("reference")}
		exp := o.Exp
		var err error
		amount, aerr := money.ParsePositive(strings.TrimSpace(pf.Amount), exp)
		bank, berr := strconv.ParseInt(pf.BankAccountID, 10, 64)
		switch {
		case aerr != nil:
			err = errs.Errorf(errs.EINVALID, "Amount: %v.", aerr)
		case berr != nil || bank <= 0:
			err = errs.Errorf(errs.EINVALID, "Choose the bank account the money went through.")
		default:
			_, err = s.ledger.RecordPayment(r.Context(), o.Actor(), o.Org.ID, inv.ID, ledger.PaymentInput{BankAccountID: bank, Date: strings.TrimSpace(pf.Date), Amount: amount, Reference: pf.Reference})
		}
		s.docActionDone(w, r, o, d, inv, "paid", pf, err)
	}
}

func (s *Server) creditAllocateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d := salesCredits
	inv, ok := s.findDocPage(w, r, o, d, false)
	if !ok {
		return
	}
	p := r.PostForm
	pf := &paymentForm{InvoiceID: p.Get("invoice_id"), Date: p.Get("date"), Amount: p.Get("amount")}
	exp := o.Exp
	var err error
	amount, aerr := money.ParsePositive(strings.TrimSpace(pf.Amount), exp)
	target, terr := strconv.ParseInt(pf.InvoiceID, 10, 64)
	switch {
	case aerr != nil:
		err = errs.Errorf(errs.EINVALID, "Amount: %v.", aerr)
	case terr != nil || target <= 0:
		err = errs.Errorf(errs.EINVALID, "Choose the invoice to allocate the credit to.")
	default:
		_, err = s.ledger.AllocateCredit(r.Context(), o.Actor(), o.Org.ID, inv.ID, ledger.AllocationInput{InvoiceID: target, Amount: amount, Date: strings.TrimSpace(pf.Date)})
	}
	s.docActionDone(w, r, o, d, inv, "allocated", pf, err)
}
