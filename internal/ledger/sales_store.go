package ledger

import (
	"context"
	"time"
)

// SalesStore persists contacts, invoices, bills, credit notes, payments
// and credit allocations. Every method is scoped to one organisation:
// another organisation's rows are ENOTFOUND, never EFORBIDDEN. Each method
// is one transaction; those that post a journal do so through the same
// posting path as every journal (validation, lock date, accounts) inside
// that transaction, so a document and the ledger never disagree.
type SalesStore interface {
	ContactStore

	// CreateInvoice stores a draft (for inv.OrgID) with its lines, assigning
	// the next free number of its kind when inv.Number is "", and sets ID
	// and Number: ECONFLICT for a number already used by that kind,
	// ENOTFOUND for a contact, account or tax rate not the organisation's.
	CreateInvoice(ctx context.Context, inv *Invoice) error
	// UpdateDraftInvoice replaces the header and lines of draft inv.ID of
	// kind inv.Kind (inv.Number "" keeps the number): ENOTFOUND (also for
	// another kind), ECONFLICT (not a draft, number taken).
	UpdateDraftInvoice(ctx context.Context, inv *Invoice) error
	// FindInvoiceByID returns a document of any kind with its lines:
	// ENOTFOUND.
	FindInvoiceByID(ctx context.Context, orgID, id int64) (*Invoice, error)
	// FindInvoices returns the documents matching f (validated), newest
	// first, without lines.
	FindInvoices(ctx context.Context, orgID int64, f InvoiceFilter) ([]*Invoice, error)
	// ApproveInvoice posts the approval journal of draft id of kind kind
	// (Invoice.ApprovalJournal) and marks it awaiting payment: ENOTFOUND,
	// ECONFLICT (not a draft, locked period, no control account), EINVALID.
	ApproveInvoice(ctx context.Context, orgID, id int64, kind string, by int64, at time.Time) (*Invoice, error)
	// VoidInvoice voids document id of kind kind (Invoice.CheckVoid),
	// posting the reversal of its journal if it was approved: ENOTFOUND,
	// ECONFLICT.
	VoidInvoice(ctx context.Context, orgID, id int64, kind string, by int64, at time.Time) (*Invoice, error)

	// CreatePayment records p against invoice p.InvoiceID
	// (Invoice.CheckPayment), posts its journal and raises the amount paid
	// with a guarded update that refuses overpayment even under concurrency,
	// and reconciles statement line p.BankTransactionID if set. Sets ID and
	// JournalID: ENOTFOUND (invoice, bank account), ECONFLICT (state,
	// overpayment, locked period, statement line already reconciled or not
	// matching), EINVALID.
	CreatePayment(ctx context.Context, p *Payment) error
	// FindPayments returns the payments matching f, newest first.
	FindPayments(ctx context.Context, orgID int64, f PaymentFilter) ([]*Payment, error)
	// FindPaymentByID returns one payment: ENOTFOUND.
	FindPaymentByID(ctx context.Context, orgID, id int64) (*Payment, error)
	// FindPaymentBankAccounts lists the bank accounts whose ledger account
	// is open.
	FindPaymentBankAccounts(ctx context.Context, orgID int64) ([]*PaymentBankAccount, error)

	// AllocateCredit sets al.Amount of credit note al.CreditNoteID against
	// invoice al.InvoiceID (CheckAllocation) with guarded updates of both,
	// and sets ID: ENOTFOUND, EINVALID, ECONFLICT.
	AllocateCredit(ctx context.Context, al *CreditAllocation) error
	// FindCreditAllocations lists allocations from or to document id.
	FindCreditAllocations(ctx context.Context, orgID, id int64) ([]*CreditAllocation, error)
}

// ContactStore persists contacts. Every method is scoped to one
// organisation: another organisation's contact is ENOTFOUND.
type ContactStore interface {
	// CreateContact stores c (for c.OrgID) without sealed values and sets
	// its ID.
	CreateContact(ctx context.Context, c *Contact) error
	// FindContacts returns the contacts matching f, ordered by name.
	FindContacts(ctx context.Context, orgID int64, f ContactFilter) ([]*Contact, error)
	// FindContactByID returns the contact (without its sealed values):
	// ENOTFOUND for a missing or foreign one.
	FindContactByID(ctx context.Context, orgID, id int64) (*Contact, error)
	// UpdateContact applies u (ContactUpdate.Apply) inside one transaction
	// and returns the result: ENOTFOUND, EINVALID.
	UpdateContact(ctx context.Context, orgID, id int64, u ContactUpdate, at time.Time) (*Contact, error)
	// FindContactSealed returns the sealed bank details and tax number
	// (nil when none): ENOTFOUND.
	FindContactSealed(ctx context.Context, orgID, id int64) (bank, tax []byte, err error)
	// SetContactSealed replaces the sealed bank details and tax number (nil
	// clears them): ENOTFOUND.
	SetContactSealed(ctx context.Context, orgID, id int64, bank, tax []byte, at time.Time) error
}
