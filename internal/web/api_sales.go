package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// salesDocs describes one family of documents and its routes: sales
// invoices, bills, or credit notes (both sides).
type salesDocs struct {
	// kind is the one kind of invoices and bills; credit notes take theirs
	// from the request or the document.
	kind    string
	credit  bool
	path    string // URL segment
	listKey string // JSON key of lists
	noun    string // for people: "invoice"
	title   string // list page title
	section string // organisation navigation section
}

var (
	salesInvoices = salesDocs{kind: ledger.KindSales, path: "invoices", listKey: "invoices", noun: "invoice", title: "Sales invoices", section: "invoices"}
	salesBills    = salesDocs{kind: ledger.KindBill, path: "bills", listKey: "bills", noun: "bill", title: "Bills", section: "bills"}
	salesCredits  = salesDocs{credit: true, path: "credit-notes", listKey: "credit_notes", noun: "credit note", title: "Credit notes", section: "invoices"}
)

// has reports whether a document of kind k belongs to these routes.
func (d salesDocs) has(k string) bool {
	if d.credit {
		return ledger.IsCreditKind(k)
	}
	return k == d.kind
}

// API page sizes: limit+1 rows are read to tell whether more follow.
const (
	salesDefaultLimit = 50
	salesMaxLimit     = 500
)

// salesKindAllowed checks the role's permission for a document kind. The
// route checked the sales permission already; supplier documents reached
// through the shared credit note routes need the purchases one too.
func salesKindAllowed(o *orgReq, kind string, write bool) error {
	a := access.SalesRead
	switch {
	case ledger.IsPurchaseKind(kind) && write:
		a = access.PurchasesWrite
	case ledger.IsPurchaseKind(kind):
		a = access.PurchasesRead
	case write:
		a = access.SalesWrite
	}
	if !access.Can(o.Role, a) {
		return errs.Errorf(errs.EFORBIDDEN, "Your role in %s (%s) does not allow this: supplier documents need the purchases permission.", o.Org.Name, o.Role.Label())
	}
	return nil
}

// salesCreditKind maps a credit note "type" to its kind.
func salesCreditKind(t string) (string, error) {
	switch t {
	case "sales":
		return ledger.KindSalesCredit, nil
	case "bill":
		return ledger.KindBillCredit, nil
	}
	return "", errs.Errorf(errs.EINVALID, `type: give "sales" for a customer credit note or "bill" for a supplier credit note.`)
}

func salesCreditType(kind string) string {
	if kind == ledger.KindBillCredit {
		return "bill"
	}
	return "sales"
}

// salesQueryID reads an optional id from the query string (0 if absent).
func salesQueryID(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Errorf(errs.EINVALID, "%s must be a positive id.", name)
	}
	return id, nil
}

// salesPaging reads ?limit= and ?offset=.
func salesPaging(q url.Values) (limit, offset int, err error) {
	limit, offset = salesDefaultLimit, 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > salesMaxLimit {
			return 0, 0, errs.Errorf(errs.EINVALID, "limit must be a whole number from 1 to %d.", salesMaxLimit)
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > 1_000_000_000 {
			return 0, 0, errs.Errorf(errs.EINVALID, "offset must be a whole number, 0 or more.")
		}
	}
	return limit, offset, nil
}

// ----- contacts -----

type contactJSON struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Email          string    `json:"email"`
	IsCustomer     bool      `json:"is_customer"`
	IsSupplier     bool      `json:"is_supplier"`
	HasBankDetails bool      `json:"has_bank_details"`
	HasTaxNumber   bool      `json:"has_tax_number"`
	Archived       bool      `json:"archived"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// toContactJSON never carries bank details or a tax number: only whether
// they are on file.
func toContactJSON(c *ledger.Contact) contactJSON {
	return contactJSON{ID: c.ID, Name: c.Name, Email: c.Email, IsCustomer: c.IsCustomer, IsSupplier: c.IsSupplier,
		HasBankDetails: c.HasBankDetails, HasTaxNumber: c.HasTaxNumber, Archived: c.Archived, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// contactSecretFields are accepted only to refuse them with a message
// saying where they belong, rather than as unknown fields.
type contactSecretFields struct {
	BankDetails json.RawMessage `json:"bank_details"`
	TaxNumber   json.RawMessage `json:"tax_number"`
}

func (f contactSecretFields) refuse() error {
	if f.BankDetails != nil || f.TaxNumber != nil {
		return errs.Errorf(errs.EINVALID, "Bank details and tax numbers are set with PUT /api/v1/orgs/{org}/contacts/{id}/bank-details, which needs a fresh second factor.")
	}
	return nil
}

type contactCreateRequest struct {
	Name       string `json:"name"`
	Email      string `json:"email"`
	IsCustomer bool   `json:"is_customer"`
	IsSupplier bool   `json:"is_supplier"`
	contactSecretFields
}

type contactPatchRequest struct {
	Name       *string `json:"name"`
	Email      *string `json:"email"`
	IsCustomer *bool   `json:"is_customer"`
	IsSupplier *bool   `json:"is_supplier"`
	Archived   *bool   `json:"archived"`
	contactSecretFields
}

type contactBankJSON struct {
	ContactID   int64   `json:"contact_id"`
	BankDetails *string `json:"bank_details"`
	TaxNumber   *string `json:"tax_number"`
}

func (s *Server) apiListContacts(w http.ResponseWriter, r *http.Request, o *orgReq) {
	q := r.URL.Query()
	limit, offset, err := salesPaging(q)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f := ledger.ContactFilter{Role: q.Get("role"), IncludeArchived: q.Get("archived") == "true", Limit: limit + 1, Offset: offset}
	list, err := s.ledger.FindContacts(r.Context(), o.Org.ID, f)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	list, more := cutPage(list, limit)
	out := make([]contactJSON, 0, len(list))
	for _, c := range list {
		out = append(out, toContactJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": out, "limit": limit, "offset": offset, "has_more": more})
}

func (s *Server) apiCreateContact(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[contactCreateRequest](r)
	if err == nil {
		err = req.refuse()
	}
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	c, err := s.ledger.CreateContact(r.Context(), o.Actor(), o.Org.ID, ledger.ContactInput{Name: req.Name, Email: req.Email, IsCustomer: req.IsCustomer, IsSupplier: req.IsSupplier})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, toContactJSON(c))
}

func (s *Server) apiGetContact(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Contact")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	c, err := s.ledger.FindContact(r.Context(), o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toContactJSON(c))
}

func (s *Server) apiUpdateContact(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Contact")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[contactPatchRequest](r)
	if err == nil {
		err = req.refuse()
	}
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	c, err := s.ledger.UpdateContact(r.Context(), o.Actor(), o.Org.ID, id, ledger.ContactUpdate{Name: req.Name, Email: req.Email, IsCustomer: req.IsCustomer, IsSupplier: req.IsSupplier, Archived: req.Archived})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toContactJSON(c))
}

func (s *Server) apiGetContactBank(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Contact")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	cs, err := s.ledger.ContactBankDetails(r.Context(), o.Actor(), o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, contactBankJSON{ContactID: id, BankDetails: &cs.BankDetails, TaxNumber: &cs.TaxNumber})
}

// apiPutContactBank replaces both values. Its answer says only what is on
// file: an Idempotency-Key replay stores answers, and a bank number must
// not be kept in plaintext there.
func (s *Server) apiPutContactBank(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Contact")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	type request struct {
		BankDetails *string `json:"bank_details"`
		TaxNumber   *string `json:"tax_number"`
	}
	req, err := decodeJSON[request](r)
	if err == nil && (req.BankDetails == nil || req.TaxNumber == nil) {
		err = errs.Errorf(errs.EINVALID, `PUT replaces both values: send "bank_details" and "tax_number" ("" clears one).`)
	}
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	ctx := r.Context()
	if err := s.ledger.SetContactBankDetails(ctx, o.Actor(), o.Org.ID, id, ledger.ContactSecrets{BankDetails: *req.BankDetails, TaxNumber: *req.TaxNumber}); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	c, err := s.ledger.FindContact(ctx, o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toContactJSON(c))
}

// ----- invoices, bills and credit notes -----

type docLineJSON struct {
	Description string `json:"description"`
	Quantity    string `json:"quantity"`
	UnitPrice   string `json:"unit_price"`
	AccountID   int64  `json:"account_id"`
	TaxRateID   int64  `json:"tax_rate_id,omitempty"`
	TaxRateBP   int64  `json:"tax_rate_bp"`
	LineAmount  string `json:"line_amount"`
	TaxAmount   string `json:"tax_amount"`
}

type docJSON struct {
	ID             int64         `json:"id"`
	Kind           string        `json:"kind"`
	Type           string        `json:"type,omitempty"` // credit notes: sales or bill
	Number         string        `json:"number"`
	ContactID      int64         `json:"contact_id"`
	ContactName    string        `json:"contact_name"`
	Date           string        `json:"date"`
	DueDate        string        `json:"due_date"`
	Reference      string        `json:"reference"`
	Status         string        `json:"status"`
	Currency       string        `json:"currency"`
	Subtotal       string        `json:"subtotal"`
	TaxTotal       string        `json:"tax_total"`
	Total          string        `json:"total"`
	AmountPaid     string        `json:"amount_paid"`
	AmountCredited string        `json:"amount_credited"`
	AmountDue      string        `json:"amount_due"`
	JournalID      int64         `json:"journal_id,omitempty"`
	VoidJournalID  int64         `json:"void_journal_id,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	Lines          []docLineJSON `json:"lines,omitempty"`
}

func toDocJSON(inv *ledger.Invoice, currency string, exp int) docJSON {
	f := func(v int64) string { return money.Format(v, exp) }
	j := docJSON{ID: inv.ID, Kind: inv.Kind, Number: inv.Number, ContactID: inv.ContactID, ContactName: inv.ContactName, Date: inv.Date, DueDate: inv.DueDate,
		Reference: inv.Reference, Status: inv.Status, Currency: currency, Subtotal: f(inv.Subtotal), TaxTotal: f(inv.TaxTotal), Total: f(inv.Total),
		AmountPaid: f(inv.AmountPaid), AmountCredited: f(inv.AmountCredited), AmountDue: f(inv.AmountDue()), JournalID: inv.JournalID, VoidJournalID: inv.VoidJournalID,
		CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt}
	if ledger.IsCreditKind(inv.Kind) {
		j.Type = salesCreditType(inv.Kind)
	}
	for _, l := range inv.Lines {
		j.Lines = append(j.Lines, docLineJSON{Description: l.Description, Quantity: money.FormatQuantity(l.Quantity), UnitPrice: f(l.UnitPrice), AccountID: l.AccountID,
			TaxRateID: l.TaxRateID, TaxRateBP: l.TaxRateBP, LineAmount: f(l.LineAmount), TaxAmount: f(l.TaxAmount)})
	}
	return j
}

type docLineRequest struct {
	Description string `json:"description"`
	Quantity    string `json:"quantity"`
	UnitPrice   string `json:"unit_price"`
	AccountID   int64  `json:"account_id"`
	TaxRateID   int64  `json:"tax_rate_id"`
}

type docRequest struct {
	Type      string           `json:"type"` // credit notes only
	ContactID int64            `json:"contact_id"`
	Number    string           `json:"number"`
	Date      string           `json:"date"`
	DueDate   string           `json:"due_date"`
	Reference string           `json:"reference"`
	Lines     []docLineRequest `json:"lines"`
}

// input turns a request into the domain's input, parsing every line's
// decimal quantity and price and naming each line that is wrong.
func (req *docRequest) input(kind string, exp int) (ledger.InvoiceInput, error) {
	in := ledger.InvoiceInput{Kind: kind, Number: req.Number, ContactID: req.ContactID, Date: req.Date, DueDate: req.DueDate, Reference: req.Reference}
	if len(req.Lines) > ledger.MaxInvoiceLines {
		return in, errs.Errorf(errs.EINVALID, "A document may have at most %d lines.", ledger.MaxInvoiceLines)
	}
	var problems []string
	for i, l := range req.Lines {
		q, p, err := ledger.ParseLineAmounts(i+1, l.Quantity, l.UnitPrice, exp)
		if err != nil {
			problems = append(problems, errs.Message(err))
		}
		in.Lines = append(in.Lines, ledger.InvoiceLineInput{Description: l.Description, Quantity: q, UnitPrice: p, AccountID: l.AccountID, TaxRateID: l.TaxRateID})
	}
	if len(problems) > 0 {
		return in, errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return in, nil
}

// requestKind is the kind a create or update request is for.
func (d salesDocs) requestKind(req *docRequest) (string, error) {
	if !d.credit {
		if req.Type != "" {
			return "", errs.Errorf(errs.EINVALID, `Unknown field "type": only credit notes have a type.`)
		}
		return d.kind, nil
	}
	return salesCreditKind(req.Type)
}

// findDoc loads the {id} document of these routes: another family's
// document is not found; a supplier credit note needs the purchases
// permission.
func (s *Server) findDoc(r *http.Request, o *orgReq, d salesDocs, write bool) (*ledger.Invoice, error) {
	what := strings.ToUpper(d.noun[:1]) + d.noun[1:]
	id, err := pathID(r, "id", what)
	if err != nil {
		return nil, err
	}
	inv, err := s.ledger.FindInvoice(r.Context(), o.Org.ID, id)
	if errs.Code(err) == errs.ENOTFOUND || (err == nil && !d.has(inv.Kind)) {
		return nil, errs.Errorf(errs.ENOTFOUND, "%s %d not found.", what, id)
	}
	if err != nil {
		return nil, err
	}
	if err := salesKindAllowed(o, inv.Kind, write); err != nil {
		return nil, err
	}
	return inv, nil
}

func (s *Server) writeDoc(w http.ResponseWriter, r *http.Request, o *orgReq, status int, inv *ledger.Invoice) {
	exp := o.Exp
	writeJSON(w, status, toDocJSON(inv, o.Org.Currency, exp))
}

func (s *Server) apiListDocs(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		q := r.URL.Query()
		exp := o.Exp
		var err error
		kind := d.kind
		if d.credit {
			t := q.Get("type")
			if t == "" {
				t = "sales"
			}
			if kind, err = salesCreditKind(t); err == nil {
				err = salesKindAllowed(o, kind, false)
			}
			if err != nil {
				writeJSONError(w, r, s.log, err)
				return
			}
		}
		limit, offset, err := salesPaging(q)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		contact, err := salesQueryID(q, "contact_id")
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		list, err := s.ledger.ListInvoices(r.Context(), o.Org.ID, ledger.InvoiceFilter{Kind: kind, Status: q.Get("status"), ContactID: contact, Limit: limit + 1, Offset: offset})
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		list, more := cutPage(list, limit)
		out := make([]docJSON, 0, len(list))
		for _, inv := range list {
			out = append(out, toDocJSON(inv, o.Org.Currency, exp))
		}
		writeJSON(w, http.StatusOK, map[string]any{d.listKey: out, "limit": limit, "offset": offset, "has_more": more})
	}
}

func (s *Server) apiCreateDoc(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		exp := o.Exp
		req, err := decodeJSON[docRequest](r)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		kind, err := d.requestKind(req)
		if err == nil {
			err = salesKindAllowed(o, kind, true)
		}
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		in, err := req.input(kind, exp)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		inv, err := s.ledger.CreateInvoice(r.Context(), o.Actor(), o.Org.ID, in)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		s.writeDoc(w, r, o, http.StatusCreated, inv)
	}
}

func (s *Server) apiGetDoc(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		inv, err := s.findDoc(r, o, d, false)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		s.writeDoc(w, r, o, http.StatusOK, inv)
	}
}

func (s *Server) apiUpdateDoc(d salesDocs) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		cur, err := s.findDoc(r, o, d, true)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		exp := o.Exp
		req, err := decodeJSON[docRequest](r)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		if d.credit && req.Type == "" {
			req.Type = salesCreditType(cur.Kind)
		}
		kind, err := d.requestKind(req)
		if err == nil && kind != cur.Kind {
			err = errs.Errorf(errs.EINVALID, "type: a credit note's type cannot change; void it and raise another.")
		}
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		in, err := req.input(kind, exp)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		inv, err := s.ledger.UpdateInvoice(r.Context(), o.Actor(), o.Org.ID, cur.ID, in)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		s.writeDoc(w, r, o, http.StatusOK, inv)
	}
}

// docAction changes a document's state: the ledger's ApproveInvoice or
// VoidInvoice.
type docAction func(ctx context.Context, a ledger.Actor, orgID, id int64, kind string) (*ledger.Invoice, error)

func (s *Server) apiApproveDoc(d salesDocs) orgHandler {
	return s.apiDocAction(d, s.ledger.ApproveInvoice)
}

func (s *Server) apiVoidDoc(d salesDocs) orgHandler {
	return s.apiDocAction(d, s.ledger.VoidInvoice)
}

// apiDocAction runs act on the {id} document, which needs the write
// permission, and answers with the document as it then is.
func (s *Server) apiDocAction(d salesDocs, act docAction) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		cur, err := s.findDoc(r, o, d, true)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		inv, err := act(r.Context(), o.Actor(), o.Org.ID, cur.ID, cur.Kind)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		s.writeDoc(w, r, o, http.StatusOK, inv)
	}
}

type allocationJSON struct {
	ID               int64     `json:"id"`
	CreditNoteID     int64     `json:"credit_note_id"`
	CreditNoteNumber string    `json:"credit_note_number"`
	InvoiceID        int64     `json:"invoice_id"`
	InvoiceNumber    string    `json:"invoice_number"`
	Date             string    `json:"date"`
	Amount           string    `json:"amount"`
	Currency         string    `json:"currency"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *Server) apiAllocateCredit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Credit note")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	exp := o.Exp
	type request struct {
		InvoiceID int64  `json:"invoice_id"`
		Amount    string `json:"amount"`
		Date      string `json:"date"`
	}
	req, err := decodeJSON[request](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	amount, err := money.ParsePositive(req.Amount, exp)
	if err != nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "amount: %v.", err))
		return
	}
	al, err := s.ledger.AllocateCredit(r.Context(), o.Actor(), o.Org.ID, id, ledger.AllocationInput{InvoiceID: req.InvoiceID, Amount: amount, Date: req.Date})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, allocationJSON{ID: al.ID, CreditNoteID: al.CreditNoteID, CreditNoteNumber: al.CreditNoteNumber, InvoiceID: al.InvoiceID, InvoiceNumber: al.InvoiceNumber,
		Date: al.Date, Amount: money.Format(al.Amount, exp), Currency: o.Org.Currency, CreatedAt: al.CreatedAt})
}

// ----- payments -----

type paymentJSON struct {
	ID                int64     `json:"id"`
	InvoiceID         int64     `json:"invoice_id"`
	InvoiceKind       string    `json:"invoice_kind"`
	InvoiceNumber     string    `json:"invoice_number"`
	ContactName       string    `json:"contact_name"`
	BankAccountID     int64     `json:"bank_account_id"`
	BankAccountName   string    `json:"bank_account_name,omitempty"`
	Date              string    `json:"date"`
	Amount            string    `json:"amount"`
	Currency          string    `json:"currency"`
	Reference         string    `json:"reference"`
	JournalID         int64     `json:"journal_id"`
	BankTransactionID int64     `json:"bank_transaction_id,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
}

func toPaymentJSON(p *ledger.Payment, currency string, exp int) paymentJSON {
	return paymentJSON{ID: p.ID, InvoiceID: p.InvoiceID, InvoiceKind: p.InvoiceKind, InvoiceNumber: p.InvoiceNumber, ContactName: p.ContactName,
		BankAccountID: p.BankAccountID, BankAccountName: p.BankAccountName, Date: p.Date, Amount: money.Format(p.Amount, exp), Currency: currency,
		Reference: p.Reference, JournalID: p.JournalID, BankTransactionID: p.BankTransactionID, CreatedAt: p.CreatedAt}
}

func (s *Server) apiListPayments(w http.ResponseWriter, r *http.Request, o *orgReq) {
	q := r.URL.Query()
	exp := o.Exp
	limit, offset, err := salesPaging(q)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	invoiceID, err := salesQueryID(q, "invoice_id")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f := ledger.PaymentFilter{InvoiceID: invoiceID, Limit: limit + 1, Offset: offset}
	if invoiceID != 0 {
		inv, err := s.ledger.FindInvoice(r.Context(), o.Org.ID, invoiceID)
		if err == nil {
			err = salesKindAllowed(o, inv.Kind, false)
		}
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
	} else if !access.Can(o.Role, access.PurchasesRead) {
		// Without the purchases permission, bill payments are not listed.
		f.Kind = ledger.KindSales
	}
	list, err := s.ledger.FindPayments(r.Context(), o.Org.ID, f)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	list, more := cutPage(list, limit)
	out := make([]paymentJSON, 0, len(list))
	for _, p := range list {
		out = append(out, toPaymentJSON(p, o.Org.Currency, exp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"payments": out, "limit": limit, "offset": offset, "has_more": more})
}

func (s *Server) apiGetPayment(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Payment")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	exp := o.Exp
	p, err := s.ledger.FindPayment(r.Context(), o.Org.ID, id)
	if err == nil {
		err = salesKindAllowed(o, p.InvoiceKind, false)
	}
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toPaymentJSON(p, o.Org.Currency, exp))
}

type paymentRequest struct {
	InvoiceID     int64  `json:"invoice_id"`
	BankAccountID int64  `json:"bank_account_id"`
	Date          string `json:"date"`
	Amount        string `json:"amount"`
	Reference     string `json:"reference"`
}

func (s *Server) apiCreatePayment(w http.ResponseWriter, r *http.Request, o *orgReq) {
	exp := o.Exp
	req, err := decodeJSON[paymentRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if req.InvoiceID <= 0 {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "invoice_id: give the id of the invoice or bill being paid."))
		return
	}
	amount, err := money.ParsePositive(strings.TrimSpace(req.Amount), exp)
	if err != nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "amount: %v.", err))
		return
	}
	p, err := s.ledger.RecordPayment(r.Context(), o.Actor(), o.Org.ID, req.InvoiceID, ledger.PaymentInput{BankAccountID: req.BankAccountID, Date: req.Date, Amount: amount, Reference: req.Reference})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if p, err = s.ledger.FindPayment(r.Context(), o.Org.ID, p.ID); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, toPaymentJSON(p, o.Org.Currency, exp))
}
