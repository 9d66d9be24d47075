package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/errs"
	"coffer/internal/money"
)

// Kinds of invoice documents. Sales invoices and bills are owed to or by a
// contact; credit notes reduce what is owed, each on one side of the books.
const (
	KindSales       = "sales"
	KindBill        = "bill"
	KindSalesCredit = "sales_credit"
	KindBillCredit  = "bill_credit"
)

// Invoice statuses. A document starts as a draft, which alone can be
// edited; approval posts it to the ledger; payments (or, for a credit note,
// allocations) settle it. Voiding a draft discards it; voiding an approved
// document without payments reverses its journal.
const (
	InvoiceDraft           = "draft"
	InvoiceAwaitingPayment = "awaiting_payment"
	InvoicePaid            = "paid"
	InvoiceVoided          = "voided"
)

// InvoiceStatuses lists the statuses in their lifecycle order.
var InvoiceStatuses = []string{InvoiceDraft, InvoiceAwaitingPayment, InvoicePaid, InvoiceVoided}

// ValidInvoiceKind reports whether k is one of the four kinds.
func ValidInvoiceKind(k string) bool {
	switch k {
	case KindSales, KindBill, KindSalesCredit, KindBillCredit:
		return true
	}
	return false
}

// IsCreditKind reports whether k is a kind of credit note.
func IsCreditKind(k string) bool { return k == KindSalesCredit || k == KindBillCredit }

// IsPurchaseKind reports whether k is on the purchases side (bills and
// supplier credit notes), which needs the purchases permissions.
func IsPurchaseKind(k string) bool { return k == KindBill || k == KindBillCredit }

// CreditKindFor returns the credit note kind that reduces invoices of kind
// k: sales → sales_credit, bill → bill_credit.
func CreditKindFor(k string) string {
	if k == KindBill {
		return KindBillCredit
	}
	return KindSalesCredit
}

// InvoiceKindFor returns the kind of invoice a credit note of kind k is
// allocated to.
func InvoiceKindFor(k string) string {
	if k == KindBillCredit {
		return KindBill
	}
	return KindSales
}

// KindLabel names a kind for people: "sales invoice", "bill"…
func KindLabel(k string) string {
	switch k {
	case KindSales:
		return "sales invoice"
	case KindBill:
		return "bill"
	case KindSalesCredit:
		return "credit note"
	case KindBillCredit:
		return "supplier credit note"
	}
	return k
}

// NumberPrefix is how automatically assigned numbers of kind k begin.
func NumberPrefix(k string) string {
	switch k {
	case KindBill:
		return "BILL-"
	case KindSalesCredit, KindBillCredit:
		return "CN-"
	}
	return "INV-"
}

// Limits of an invoice's fields.
const (
	MaxInvoiceNumber    = 50
	MaxInvoiceReference = 200
	MaxLineText         = 500
	MaxInvoiceLines     = 200
)

// InvoiceLine is one line of an invoice: Quantity (in ten-thousandths)
// times UnitPrice (minor units) is LineAmount, before tax; TaxAmount is
// LineAmount times the tax rate, both rounded half away from zero.
type InvoiceLine struct {
	ID          int64
	Description string
	Quantity    int64
	UnitPrice   int64
	AccountID   int64
	TaxRateID   int64 // 0: no tax rate
	TaxRateBP   int64 // the rate when the line was written, in basis points
	LineAmount  int64
	TaxAmount   int64
}

// Invoice is a sales invoice, a bill or a credit note (Kind).
type Invoice struct {
	ID             int64
	OrgID          int64
	Kind           string
	Number         string
	ContactID      int64
	ContactName    string // filled by the store on reads
	Currency       string // the organisation's, filled by the store on reads
	Date           string
	DueDate        string
	Reference      string
	Status         string
	Subtotal       int64
	TaxTotal       int64
	Total          int64
	AmountPaid     int64 // payments; for a credit note, its allocations
	AmountCredited int64 // credit notes allocated to this invoice
	JournalID      int64
	VoidJournalID  int64
	CreatedBy      int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Lines          []InvoiceLine
}

// AmountDue is what remains to be paid (or, for a credit note, allocated).
func (inv *Invoice) AmountDue() int64 { return inv.Total - inv.AmountPaid - inv.AmountCredited }

// Title names the document for people: "sales invoice INV-0001".
func (inv *Invoice) Title() string { return KindLabel(inv.Kind) + " " + inv.Number }

// amount formats minor units in the invoice's currency for messages.
func (inv *Invoice) amount(v int64) string {
	exp, err := money.Exponent(inv.Currency)
	if err != nil {
		exp = 2
	}
	s := money.Format(v, exp)
	if inv.Currency != "" {
		s += " " + inv.Currency
	}
	return s
}

// ComputeLine returns a line's amount before tax, round(quantity ×
// unitPrice / 10000), and its tax, round(line × rateBP / 10000), both
// rounded half away from zero.
func ComputeLine(quantity, unitPrice, rateBP int64) (line, tax int64, err error) {
	if line, err = money.MulDiv(quantity, unitPrice, money.QuantityScale); err != nil {
		return 0, 0, err
	}
	if tax, err = money.MulDiv(line, rateBP, 10000); err != nil {
		return 0, 0, err
	}
	return line, tax, nil
}

// ComputeTotals sets each line's amounts and the invoice's subtotal, tax
// and total, summed exactly. A line that rounds to nothing is refused: it
// could not be posted.
func (inv *Invoice) ComputeTotals() error {
	var sub, tax int64
	for i := range inv.Lines {
		l := &inv.Lines[i]
		la, ta, err := ComputeLine(l.Quantity, l.UnitPrice, l.TaxRateBP)
		if err != nil {
			return errs.Errorf(errs.EINVALID, "Line %d: the amount is too large.", i+1)
		}
		if la <= 0 {
			return errs.Errorf(errs.EINVALID, "Line %d: quantity × unit price rounds to zero.", i+1)
		}
		l.LineAmount, l.TaxAmount = la, ta
		if sub, err = money.Add(sub, la); err != nil {
			return errs.Errorf(errs.EINVALID, "The invoice's subtotal is too large.")
		}
		if tax, err = money.Add(tax, ta); err != nil {
			return errs.Errorf(errs.EINVALID, "The invoice's tax is too large.")
		}
	}
	total, err := money.Add(sub, tax)
	if err != nil {
		return errs.Errorf(errs.EINVALID, "The invoice's total is too large.")
	}
	inv.Subtotal, inv.TaxTotal, inv.Total = sub, tax, total
	return nil
}

// InvoiceInput is a new or replaced draft: header and every line.
type InvoiceInput struct {
	Kind string
	// Number is the document's number; "" assigns the next free one
	// (INV-0001, BILL-0001, CN-0001) on creation and keeps the current one
	// on an update.
	Number    string
	ContactID int64
	Date      string
	// DueDate is required for invoices and bills; for a credit note ""
	// means its date.
	DueDate   string
	Reference string
	Lines     []InvoiceLineInput
}

// InvoiceLineInput is one line as entered.
type InvoiceLineInput struct {
	Description string
	Quantity    int64 // ten-thousandths
	UnitPrice   int64 // minor units
	AccountID   int64
	// TaxRateID is the line's tax rate; 0 takes the account's default.
	TaxRateID int64
}

// ParseLineAmounts reads line n's quantity ("1.5", up to 4 decimals) and
// unit price (a decimal amount in a currency with exp decimals), both
// positive, with messages naming the line.
func ParseLineAmounts(n int, quantity, unitPrice string, exp int) (q, p int64, err error) {
	var problems []string
	if q, err = money.ParseQuantity(strings.TrimSpace(quantity)); err != nil {
		problems = append(problems, fmt.Sprintf("Line %d: %v.", n, err))
	}
	if p, err = money.ParsePositive(strings.TrimSpace(unitPrice), exp); err != nil {
		problems = append(problems, fmt.Sprintf("Line %d: unit price: %v.", n, err))
	}
	if err := joinProblems(problems); err != nil {
		return 0, 0, err
	}
	return q, p, nil
}

// normalise trims the input and checks what needs no lookup, naming every
// problem at once.
func (in *InvoiceInput) normalise() error {
	var problems []string
	in.Number = strings.TrimSpace(in.Number)
	in.Reference = strings.TrimSpace(in.Reference)
	if !ValidInvoiceKind(in.Kind) {
		problems = append(problems, fmt.Sprintf("Kind %q is not sales, bill, sales_credit or bill_credit.", truncate(in.Kind, 40)))
	}
	if utf8.RuneCountInString(in.Number) > MaxInvoiceNumber || !utf8.ValidString(in.Number) || salesHasControl(in.Number) {
		problems = append(problems, fmt.Sprintf("Number must be at most %d characters, on one line.", MaxInvoiceNumber))
	}
	if in.ContactID <= 0 {
		problems = append(problems, "contact_id: choose a contact.")
	}
	date, err := ParseDate(in.Date)
	if err != nil {
		problems = append(problems, "date: "+errs.Message(err))
	}
	in.Date = date
	if in.DueDate == "" && IsCreditKind(in.Kind) {
		in.DueDate = in.Date
	}
	if in.DueDate == "" {
		problems = append(problems, "due_date: give the date payment is due.")
	} else if due, err := ParseDate(in.DueDate); err != nil {
		problems = append(problems, "due_date: "+errs.Message(err))
	} else {
		in.DueDate = due
		if date != "" && due < date {
			problems = append(problems, fmt.Sprintf("due_date: the due date %s is before the date %s.", due, date))
		}
	}
	if utf8.RuneCountInString(in.Reference) > MaxInvoiceReference || !utf8.ValidString(in.Reference) || salesHasControl(in.Reference) {
		problems = append(problems, fmt.Sprintf("Reference must be at most %d characters, on one line.", MaxInvoiceReference))
	}
	switch {
	case len(in.Lines) == 0:
		problems = append(problems, "Add at least one line.")
	case len(in.Lines) > MaxInvoiceLines:
		problems = append(problems, fmt.Sprintf("A document may have at most %d lines.", MaxInvoiceLines))
	}
	for i := range in.Lines {
		l := &in.Lines[i]
		l.Description = strings.TrimSpace(l.Description)
		n := i + 1
		if c := utf8.RuneCountInString(l.Description); c == 0 || c > MaxLineText || !utf8.ValidString(l.Description) || salesHasControl(l.Description) {
			problems = append(problems, fmt.Sprintf("Line %d: description must be 1 to %d characters, on one line.", n, MaxLineText))
		}
		if l.Quantity <= 0 || l.Quantity > money.MaxAbs {
			problems = append(problems, fmt.Sprintf("Line %d: quantity must be greater than zero.", n))
		}
		if l.UnitPrice <= 0 || l.UnitPrice > money.MaxAbs {
			problems = append(problems, fmt.Sprintf("Line %d: unit price must be greater than zero.", n))
		}
		if l.AccountID <= 0 {
			problems = append(problems, fmt.Sprintf("Line %d: choose an account.", n))
		}
		if l.TaxRateID < 0 {
			problems = append(problems, fmt.Sprintf("Line %d: tax rate %d does not exist.", n, l.TaxRateID))
		}
	}
	return joinProblems(problems)
}

// CheckLineAccount says whether lines of kind k may post to a: revenue
// accounts for sales and their credit notes, expense or asset accounts for
// bills and theirs; never an account the ledger posts to by itself, nor an
// archived one.
func CheckLineAccount(k string, n int, a *Account) error {
	if a.Archived {
		return errs.Errorf(errs.EINVALID, "Line %d: account %s %s is archived.", n, a.Code, a.Name)
	}
	if a.System != "" {
		return errs.Errorf(errs.EINVALID, "Line %d: account %s %s is the %s account, which the ledger posts to by itself; choose another.", n, a.Code, a.Name, strings.ReplaceAll(a.System, "_", " "))
	}
	switch k {
	case KindSales, KindSalesCredit:
		if a.Type != Revenue {
			return errs.Errorf(errs.EINVALID, "Line %d: account %s %s is an %s account; a %s line needs a revenue account.", n, a.Code, a.Name, a.Type, KindLabel(k))
		}
	default:
		if a.Type != Expense && a.Type != Asset {
			return errs.Errorf(errs.EINVALID, "Line %d: account %s %s is a %s account; a %s line needs an expense or asset account.", n, a.Code, a.Name, a.Type, KindLabel(k))
		}
	}
	return nil
}

// CheckContact says whether documents of kind k may be addressed to c.
func CheckContact(k string, c *Contact) error {
	if c.Archived {
		return errs.Errorf(errs.EINVALID, "Contact %s is archived.", c.Name)
	}
	if (k == KindSales || k == KindSalesCredit) && !c.IsCustomer {
		return errs.Errorf(errs.EINVALID, "Contact %s is not marked as a customer; edit the contact first.", c.Name)
	}
	if (k == KindBill || k == KindBillCredit) && !c.IsSupplier {
		return errs.Errorf(errs.EINVALID, "Contact %s is not marked as a supplier; edit the contact first.", c.Name)
	}
	return nil
}

// CheckEditable refuses to change a document that is no longer a draft.
func (inv *Invoice) CheckEditable() error {
	if inv.Status != InvoiceDraft {
		return errs.Errorf(errs.ECONFLICT, "%s is %s; only drafts can be edited.", salesUpperFirst(inv.Title()), invoiceStatusPhrase(inv.Status))
	}
	return nil
}

// CheckApprove refuses to approve a document that is not a draft.
func (inv *Invoice) CheckApprove() error {
	if inv.Status != InvoiceDraft {
		return errs.Errorf(errs.ECONFLICT, "%s is %s; only drafts can be approved.", salesUpperFirst(inv.Title()), invoiceStatusPhrase(inv.Status))
	}
	return nil
}

// CheckVoid says whether the document can be voided with the books locked
// up to lockDate: a draft always; an approved document only without
// payments or allocations (removing those is not supported), and only if
// its reversal, dated the document's date, falls after the lock date.
func (inv *Invoice) CheckVoid(lockDate string) error {
	switch inv.Status {
	case InvoiceDraft:
		return nil
	case InvoiceVoided:
		return errs.Errorf(errs.ECONFLICT, "%s is already voided.", salesUpperFirst(inv.Title()))
	}
	if inv.AmountPaid != 0 || inv.AmountCredited != 0 {
		what := "payments"
		if IsCreditKind(inv.Kind) {
			what = "allocations to invoices"
		} else if inv.AmountPaid == 0 {
			what = "credit notes allocated to it"
		}
		return errs.Errorf(errs.ECONFLICT, "%s has %s; it cannot be voided. Removing them is not supported, so raise a credit note instead.", salesUpperFirst(inv.Title()), what)
	}
	if lockDate != "" && inv.Date <= lockDate {
		return errs.Errorf(errs.ECONFLICT, "%s is dated %s, on or before the lock date %s; voiding it would post a reversal into the locked period.", salesUpperFirst(inv.Title()), inv.Date, lockDate)
	}
	return nil
}

// ControlSystem is the system account the document settles through:
// receivable for sales and their credit notes, payable for bills and theirs.
func (inv *Invoice) ControlSystem() string {
	if IsPurchaseKind(inv.Kind) {
		return SystemPayable
	}
	return SystemReceivable
}

// debitsControl reports whether approval debits the control account: a
// sales invoice raises what customers owe, a supplier credit note lowers
// what the organisation owes.
func (inv *Invoice) debitsControl() bool {
	return inv.Kind == KindSales || inv.Kind == KindBillCredit
}

// ApprovalJournal is the journal that approving the document posts, dated
// the document's date, every line carrying the contact:
//   - sales invoice: Dr receivable total; Cr each line's revenue account;
//     Cr sales tax.
//   - bill: Dr each line's account; Dr sales tax (input tax); Cr payable.
//   - credit notes: the mirror of their invoices.
//
// taxID is the sales tax account, needed only when the document has tax.
func (inv *Invoice) ApprovalJournal(controlID, taxID, by int64, at time.Time) (*Journal, error) {
	if inv.TaxTotal != 0 && taxID == 0 {
		return nil, errs.Errorf(errs.ECONFLICT, "The organisation has no sales tax account; add one to the chart of accounts.")
	}
	source := SourceInvoice
	if IsCreditKind(inv.Kind) {
		source = SourceCreditNote
	}
	j := &Journal{OrgID: inv.OrgID, Date: inv.Date, Narration: truncate(salesUpperFirst(inv.Title())+" · "+inv.ContactName, 450), SourceType: source, SourceID: inv.ID, CreatedBy: by, CreatedAt: at}
	side := func(accountID, amount int64, debit bool, desc string) JournalLine {
		l := JournalLine{AccountID: accountID, Description: truncate(desc, MaxLineText), ContactID: inv.ContactID}
		if debit {
			l.Debit = amount
		} else {
			l.Credit = amount
		}
		return l
	}
	dc := inv.debitsControl()
	j.Lines = append(j.Lines, side(controlID, inv.Total, dc, salesUpperFirst(inv.Title())))
	for _, l := range inv.Lines {
		j.Lines = append(j.Lines, side(l.AccountID, l.LineAmount, !dc, l.Description))
	}
	if inv.TaxTotal != 0 {
		j.Lines = append(j.Lines, side(taxID, inv.TaxTotal, !dc, "Tax on "+inv.Title()))
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return j, nil
}

// VoidJournal is the reversal of the document's approval journal, dated
// the document's date so the void cancels it within the same period.
func (inv *Invoice) VoidJournal(orig *Journal, by int64, at time.Time) *Journal {
	r := orig.Reversal(inv.Date, truncate("Void of "+inv.Title()+" · "+inv.ContactName, 450), by)
	r.CreatedAt = at
	return r
}

// InvoiceFilter selects documents for a list, newest first. Kind "" lists
// every kind, Status "" every status, ContactID 0 every contact. Limit 0
// means 100; at most 1000 are returned at once.
type InvoiceFilter struct {
	Kind, Status  string
	ContactID     int64
	Limit, Offset int
}

func (f *InvoiceFilter) validate() error {
	var problems []string
	if f.Kind != "" && !ValidInvoiceKind(f.Kind) {
		problems = append(problems, fmt.Sprintf("Kind %q is not sales, bill, sales_credit or bill_credit.", truncate(f.Kind, 40)))
	}
	switch f.Status {
	case "", InvoiceDraft, InvoiceAwaitingPayment, InvoicePaid, InvoiceVoided:
	default:
		problems = append(problems, fmt.Sprintf("Status %q is not draft, awaiting_payment, paid or voided.", truncate(f.Status, 40)))
	}
	if f.ContactID < 0 {
		problems = append(problems, "contact_id must be a contact's id.")
	}
	if err := joinProblems(problems); err != nil {
		return err
	}
	var err error
	f.Limit, f.Offset, err = salesPage(f.Limit, f.Offset)
	return err
}

// buildInvoice checks the input against the organisation's contact,
// accounts and tax rates and computes the amounts.
func (s *Service) buildInvoice(ctx context.Context, orgID int64, in InvoiceInput) (*Invoice, error) {
	if err := in.normalise(); err != nil {
		return nil, err
	}
	c, err := s.store.FindContactByID(ctx, orgID, in.ContactID)
	if err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, errs.Errorf(errs.ENOTFOUND, "contact_id: contact %d not found.", in.ContactID)
		}
		return nil, err
	}
	if err := CheckContact(in.Kind, c); err != nil {
		return nil, err
	}
	accts, err := s.store.FindAccounts(ctx, orgID)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*Account, len(accts))
	for _, a := range accts {
		byID[a.ID] = a
	}
	rates, err := s.store.FindTaxRates(ctx, orgID)
	if err != nil {
		return nil, err
	}
	rateByID := make(map[int64]*TaxRate, len(rates))
	for _, r := range rates {
		rateByID[r.ID] = r
	}
	inv := &Invoice{OrgID: orgID, Kind: in.Kind, Number: in.Number, ContactID: c.ID, ContactName: c.Name, Date: in.Date, DueDate: in.DueDate, Reference: in.Reference, Status: InvoiceDraft}
	for i, li := range in.Lines {
		n := i + 1
		a, ok := byID[li.AccountID]
		if !ok {
			return nil, errs.Errorf(errs.ENOTFOUND, "Line %d: account %d not found.", n, li.AccountID)
		}
		if err := CheckLineAccount(in.Kind, n, a); err != nil {
			return nil, err
		}
		l := InvoiceLine{Description: li.Description, Quantity: li.Quantity, UnitPrice: li.UnitPrice, AccountID: a.ID}
		rateID := li.TaxRateID
		if rateID != 0 {
			r, ok := rateByID[rateID]
			if !ok {
				return nil, errs.Errorf(errs.ENOTFOUND, "Line %d: tax rate %d not found.", n, rateID)
			}
			if r.Archived {
				return nil, errs.Errorf(errs.EINVALID, "Line %d: tax rate %s is archived.", n, r.Name)
			}
			l.TaxRateID, l.TaxRateBP = r.ID, r.RateBP
		} else if r, ok := rateByID[a.TaxRateID]; ok && !r.Archived {
			l.TaxRateID, l.TaxRateBP = r.ID, r.RateBP
		}
		inv.Lines = append(inv.Lines, l)
	}
	if err := inv.ComputeTotals(); err != nil {
		return nil, err
	}
	return inv, nil
}

// CreateInvoice stores a new draft invoice, bill or credit note.
func (s *Service) CreateInvoice(ctx context.Context, a Actor, orgID int64, in InvoiceInput) (*Invoice, error) {
	inv, err := s.buildInvoice(ctx, orgID, in)
	if err != nil {
		return nil, err
	}
	inv.CreatedBy, inv.CreatedAt, inv.UpdatedAt = a.UserID, s.Now(), s.Now()
	if err := s.store.CreateInvoice(ctx, inv); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "invoice.create", fmt.Sprintf("org=%d invoice=%d kind=%s", orgID, inv.ID, inv.Kind))
	return s.store.FindInvoiceByID(ctx, orgID, inv.ID)
}

// UpdateInvoice replaces a draft's header and lines. in.Kind must be the
// document's kind; another kind's document is not found.
func (s *Service) UpdateInvoice(ctx context.Context, a Actor, orgID, id int64, in InvoiceInput) (*Invoice, error) {
	inv, err := s.buildInvoice(ctx, orgID, in)
	if err != nil {
		return nil, err
	}
	inv.ID, inv.UpdatedAt = id, s.Now()
	if err := s.store.UpdateDraftInvoice(ctx, inv); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "invoice.update", fmt.Sprintf("org=%d invoice=%d kind=%s", orgID, id, inv.Kind))
	return s.store.FindInvoiceByID(ctx, orgID, id)
}

// ApproveInvoice approves a draft of kind kind and posts its journal, in
// one transaction with the status change.
func (s *Service) ApproveInvoice(ctx context.Context, a Actor, orgID, id int64, kind string) (*Invoice, error) {
	inv, err := s.store.ApproveInvoice(ctx, orgID, id, kind, a.UserID, s.Now())
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, "invoice.approve", fmt.Sprintf("org=%d invoice=%d kind=%s journal=%d", orgID, id, kind, inv.JournalID))
	return inv, nil
}

// VoidInvoice voids a document of kind kind (see Invoice.CheckVoid),
// reversing its journal if it was approved.
func (s *Service) VoidInvoice(ctx context.Context, a Actor, orgID, id int64, kind string) (*Invoice, error) {
	inv, err := s.store.VoidInvoice(ctx, orgID, id, kind, a.UserID, s.Now())
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, "invoice.void", fmt.Sprintf("org=%d invoice=%d kind=%s reversal=%d", orgID, id, kind, inv.VoidJournalID))
	return inv, nil
}

// FindInvoice returns one document of any kind with its lines: ENOTFOUND
// for a missing or foreign one.
func (s *Service) FindInvoice(ctx context.Context, orgID, id int64) (*Invoice, error) {
	return s.store.FindInvoiceByID(ctx, orgID, id)
}

// ListInvoices returns the documents matching f, newest first, without
// their lines.
func (s *Service) ListInvoices(ctx context.Context, orgID int64, f InvoiceFilter) ([]*Invoice, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	return s.store.FindInvoices(ctx, orgID, f)
}

// InvoiceLineAccounts returns the open accounts lines of kind k may post
// to, for forms.
func (s *Service) InvoiceLineAccounts(ctx context.Context, orgID int64, k string) ([]*Account, error) {
	accts, err := s.store.FindAccounts(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []*Account
	for _, a := range accts {
		if CheckLineAccount(k, 1, a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// InvoiceTaxRates returns the organisation's open tax rates, for forms.
func (s *Service) InvoiceTaxRates(ctx context.Context, orgID int64) ([]*TaxRate, error) {
	rates, err := s.store.FindTaxRates(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []*TaxRate
	for _, r := range rates {
		if !r.Archived {
			out = append(out, r)
		}
	}
	return out, nil
}

func salesUpperFirst(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

func invoiceStatusPhrase(status string) string {
	switch status {
	case InvoiceDraft:
		return "a draft"
	case InvoiceAwaitingPayment:
		return "approved and awaiting payment"
	case InvoicePaid:
		return "paid"
	case InvoiceVoided:
		return "voided"
	}
	return status
}
