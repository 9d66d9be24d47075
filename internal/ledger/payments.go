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

// Payment is money received for a sales invoice or paid for a bill,
// through one of the organisation's bank accounts.
type Payment struct {
	ID            int64
	OrgID         int64
	InvoiceID     int64
	BankAccountID int64 // bank_accounts.id
	Date          string
	Amount        int64
	Reference     string
	JournalID     int64
	// BankTransactionID is the statement line the payment was matched
	// with, 0 if none.
	BankTransactionID int64
	CreatedBy         int64
	CreatedAt         time.Time
	// Filled by the store on reads, for display.
	InvoiceKind     string
	InvoiceNumber   string
	ContactName     string
	BankAccountName string
}

// PaymentInput is a payment to record against an invoice or bill. When
// BankTransactionID is set, the payment also reconciles that statement
// line, which must be unreconciled, on the same bank account and for the
// same amount (money in for a sales invoice, out for a bill).
type PaymentInput struct {
	BankAccountID     int64
	Date              string
	Amount            int64
	Reference         string
	BankTransactionID int64
}

// MaxPaymentReference bounds a payment's reference, in characters.
const MaxPaymentReference = 200

func (in *PaymentInput) normalise() error {
	var problems []string
	if in.BankAccountID <= 0 {
		problems = append(problems, "bank_account_id: choose a bank account.")
	}
	d, err := ParseDate(in.Date)
	if err != nil {
		problems = append(problems, "date: "+errs.Message(err))
	}
	in.Date = d
	if in.Amount <= 0 {
		problems = append(problems, "amount: the payment must be greater than zero.")
	} else if in.Amount > money.MaxAbs {
		problems = append(problems, "amount: "+money.ErrRange.Error()+".")
	}
	in.Reference = strings.TrimSpace(in.Reference)
	if utf8.RuneCountInString(in.Reference) > MaxPaymentReference || !utf8.ValidString(in.Reference) || salesHasControl(in.Reference) {
		problems = append(problems, fmt.Sprintf("reference: must be at most %d characters, on one line.", MaxPaymentReference))
	}
	if in.BankTransactionID < 0 {
		problems = append(problems, "bank_transaction_id must be a bank transaction's id.")
	}
	return joinProblems(problems)
}

// CheckPayment says whether amount can be paid against the document on
// date: only approved sales invoices and bills take payments, never more
// than is due, and never dated before the document (the aged reports and
// the control account would disagree in between).
func (inv *Invoice) CheckPayment(amount int64, date string) error {
	if IsCreditKind(inv.Kind) {
		return errs.Errorf(errs.EINVALID, "%s is a credit note; credit notes are settled by allocating them to invoices, not by payments.", salesUpperFirst(inv.Title()))
	}
	switch inv.Status {
	case InvoiceDraft:
		return errs.Errorf(errs.ECONFLICT, "%s is a draft; approve it before recording a payment.", salesUpperFirst(inv.Title()))
	case InvoiceVoided:
		return errs.Errorf(errs.ECONFLICT, "%s is voided; it takes no payments.", salesUpperFirst(inv.Title()))
	case InvoicePaid:
		return errs.Errorf(errs.ECONFLICT, "%s is already paid in full.", salesUpperFirst(inv.Title()))
	}
	if amount > inv.AmountDue() {
		return errs.Errorf(errs.ECONFLICT, "A payment of %s is more than the %s due on %s; overpayments are refused.", inv.amount(amount), inv.amount(inv.AmountDue()), inv.Title())
	}
	if date < inv.Date {
		return errs.Errorf(errs.EINVALID, "date: a payment cannot be dated %s, before %s (%s).", date, inv.Title(), inv.Date)
	}
	return nil
}

// SignedBankAmount is the payment as a bank statement shows it: money in
// (positive) for a sales invoice, out (negative) for a bill.
func (inv *Invoice) SignedBankAmount(amount int64) int64 {
	if IsPurchaseKind(inv.Kind) {
		return -amount
	}
	return amount
}

// PaymentJournal is what recording p posts, dated the payment's date:
// a sales invoice: Dr bank, Cr receivable; a bill: Dr payable, Cr bank.
func (inv *Invoice) PaymentJournal(p *Payment, bankLedgerID, controlID int64) *Journal {
	verb := "Payment received for "
	debit, credit := bankLedgerID, controlID
	if IsPurchaseKind(inv.Kind) {
		verb = "Payment made for "
		debit, credit = controlID, bankLedgerID
	}
	narration := verb + inv.Title() + " · " + inv.ContactName
	if p.Reference != "" {
		narration += " · " + p.Reference
	}
	return &Journal{OrgID: inv.OrgID, Date: p.Date, Narration: truncate(narration, 450), SourceType: SourcePayment, SourceID: p.ID, CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt,
		Lines: []JournalLine{
			{AccountID: debit, Debit: p.Amount, Description: salesUpperFirst(inv.Title()), ContactID: inv.ContactID},
			{AccountID: credit, Credit: p.Amount, Description: salesUpperFirst(inv.Title()), ContactID: inv.ContactID},
		}}
}

// PaymentFilter selects payments for a list, newest first. InvoiceID 0
// and Kind "" (the invoice's kind) leave that open.
type PaymentFilter struct {
	InvoiceID     int64
	Kind          string
	Limit, Offset int
}

// PaymentBankAccount is a bank account payments can go through.
type PaymentBankAccount struct {
	ID          int64 // bank_accounts.id
	Name        string
	AccountID   int64 // its ledger account
	AccountCode string
}

// RecordPayment records a payment against an approved sales invoice or
// bill: it posts the payment's journal, raises the amount paid (the
// invoice becomes paid when nothing is due) and, with a bank transaction
// id, reconciles that statement line, all in one transaction. Overpaying,
// paying a draft or voided document, posting into a locked period and a
// statement line already reconciled or not matching are refused and leave
// the books unchanged.
func (s *Service) RecordPayment(ctx context.Context, a Actor, orgID, invoiceID int64, in PaymentInput) (*Payment, error) {
	if err := in.normalise(); err != nil {
		return nil, err
	}
	p := &Payment{OrgID: orgID, InvoiceID: invoiceID, BankAccountID: in.BankAccountID, Date: in.Date, Amount: in.Amount, Reference: in.Reference, BankTransactionID: in.BankTransactionID, CreatedBy: a.UserID, CreatedAt: s.Now()}
	if err := s.store.CreatePayment(ctx, p); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "payment.record", fmt.Sprintf("org=%d payment=%d invoice=%d journal=%d bank_transaction=%d", orgID, p.ID, invoiceID, p.JournalID, p.BankTransactionID))
	return p, nil
}

// FindPayments lists payments, newest first.
func (s *Service) FindPayments(ctx context.Context, orgID int64, f PaymentFilter) ([]*Payment, error) {
	if f.InvoiceID < 0 {
		return nil, errs.Errorf(errs.EINVALID, "invoice_id must be an invoice's id.")
	}
	if f.Kind != "" && !ValidInvoiceKind(f.Kind) {
		return nil, errs.Errorf(errs.EINVALID, "Kind %q is not sales, bill, sales_credit or bill_credit.", truncate(f.Kind, 40))
	}
	var err error
	if f.Limit, f.Offset, err = salesPage(f.Limit, f.Offset); err != nil {
		return nil, err
	}
	return s.store.FindPayments(ctx, orgID, f)
}

// FindPayment returns one payment: ENOTFOUND for a missing or foreign one.
func (s *Service) FindPayment(ctx context.Context, orgID, id int64) (*Payment, error) {
	return s.store.FindPaymentByID(ctx, orgID, id)
}

// PaymentBankAccounts lists the bank accounts payments can go through.
func (s *Service) PaymentBankAccounts(ctx context.Context, orgID int64) ([]*PaymentBankAccount, error) {
	return s.store.FindPaymentBankAccounts(ctx, orgID)
}

// CreditAllocation is part of a credit note set against an invoice of the
// same contact: it lowers what the invoice has due (AmountCredited) and
// what the credit note has left (its AmountPaid). It posts no journal:
// both sides sit on the same control account.
type CreditAllocation struct {
	ID           int64
	OrgID        int64
	CreditNoteID int64
	InvoiceID    int64
	Date         string
	Amount       int64
	CreatedAt    time.Time
	// Filled by the store on reads, for display.
	CreditNoteNumber string
	InvoiceNumber    string
}

// AllocationInput is an allocation to make from a credit note.
type AllocationInput struct {
	InvoiceID int64
	Amount    int64
	Date      string
}

// CheckAllocation says whether amount of credit note cn can be set against
// inv on date, with the books locked up to lockDate: the kinds must match
// (a customer credit note against a sales invoice, a supplier one against a
// bill), the contact must be the same, both must be approved and neither
// may go below zero.
func CheckAllocation(cn, inv *Invoice, amount int64, date, lockDate string) error {
	if !IsCreditKind(cn.Kind) {
		return errs.Errorf(errs.EINVALID, "%s is not a credit note.", salesUpperFirst(cn.Title()))
	}
	if inv.Kind != InvoiceKindFor(cn.Kind) {
		return errs.Errorf(errs.EINVALID, "invoice_id: %s can only be allocated to a %s; %s is a %s.", salesUpperFirst(cn.Title()), KindLabel(InvoiceKindFor(cn.Kind)), inv.Number, KindLabel(inv.Kind))
	}
	if cn.ContactID != inv.ContactID {
		return errs.Errorf(errs.EINVALID, "invoice_id: %s is for %s but %s is for %s; a credit note is allocated to its own contact's invoices.", salesUpperFirst(cn.Title()), cn.ContactName, inv.Title(), inv.ContactName)
	}
	for _, d := range []*Invoice{cn, inv} {
		switch d.Status {
		case InvoiceDraft:
			return errs.Errorf(errs.ECONFLICT, "%s is a draft; approve it first.", salesUpperFirst(d.Title()))
		case InvoiceVoided:
			return errs.Errorf(errs.ECONFLICT, "%s is voided.", salesUpperFirst(d.Title()))
		case InvoicePaid:
			if d == cn {
				return errs.Errorf(errs.ECONFLICT, "%s is already fully allocated.", salesUpperFirst(d.Title()))
			}
			return errs.Errorf(errs.ECONFLICT, "%s is already paid in full.", salesUpperFirst(d.Title()))
		}
	}
	if amount <= 0 {
		return errs.Errorf(errs.EINVALID, "amount: the allocation must be greater than zero.")
	}
	if amount > cn.AmountDue() {
		return errs.Errorf(errs.ECONFLICT, "amount: %s is more than the %s left on %s.", cn.amount(amount), cn.amount(cn.AmountDue()), cn.Title())
	}
	if amount > inv.AmountDue() {
		return errs.Errorf(errs.ECONFLICT, "amount: %s is more than the %s due on %s.", inv.amount(amount), inv.amount(inv.AmountDue()), inv.Title())
	}
	if date < cn.Date || date < inv.Date {
		return errs.Errorf(errs.EINVALID, "date: an allocation cannot be dated %s, before the credit note (%s) or the invoice (%s).", date, cn.Date, inv.Date)
	}
	if lockDate != "" && date <= lockDate {
		return errs.Errorf(errs.ECONFLICT, "The books are locked up to and including %s; an allocation dated %s is refused.", lockDate, date)
	}
	return nil
}

// AllocateCredit sets part or all of credit note creditNoteID against an
// invoice of the same contact, in one transaction; either document
// becomes paid when nothing is left on it.
func (s *Service) AllocateCredit(ctx context.Context, a Actor, orgID, creditNoteID int64, in AllocationInput) (*CreditAllocation, error) {
	var problems []string
	if in.InvoiceID <= 0 {
		problems = append(problems, "invoice_id: choose an invoice.")
	}
	d, err := ParseDate(in.Date)
	if err != nil {
		problems = append(problems, "date: "+errs.Message(err))
	}
	if in.Amount <= 0 || in.Amount > money.MaxAbs {
		problems = append(problems, "amount: the allocation must be greater than zero.")
	}
	if err := joinProblems(problems); err != nil {
		return nil, err
	}
	al := &CreditAllocation{OrgID: orgID, CreditNoteID: creditNoteID, InvoiceID: in.InvoiceID, Date: d, Amount: in.Amount, CreatedAt: s.Now()}
	if err := s.store.AllocateCredit(ctx, al); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "credit_note.allocate", fmt.Sprintf("org=%d allocation=%d credit_note=%d invoice=%d", orgID, al.ID, creditNoteID, in.InvoiceID))
	return al, nil
}

// FindCreditAllocations lists the allocations from or to document id.
func (s *Service) FindCreditAllocations(ctx context.Context, orgID, id int64) ([]*CreditAllocation, error) {
	return s.store.FindCreditAllocations(ctx, orgID, id)
}
