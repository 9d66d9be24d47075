package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"coffer/internal/errs"
	"coffer/internal/money"
)

// BankAccount is one of the organisation's bank accounts: a bank_accounts
// row tied to its own asset account (system role bank) in the chart.
type BankAccount struct {
	ID          int64
	OrgID       int64
	AccountID   int64 // its ledger account
	AccountCode string
	Name        string
	Currency    string // the organisation's
	// NumberLast4 is all of the account number that is ever shown; the
	// full number is sealed with the organisation's key.
	NumberLast4 string
	Archived    bool // its ledger account is archived
	// Filled by reads: the ledger balance (debits − credits of its
	// account, journals dated up to the day asked for) and the number of
	// statement lines not yet reconciled.
	Balance      int64
	Unreconciled int
	CreatedAt    time.Time
}

// BankAccountInput is a new bank account. AccountNumber is optional:
// letters and digits (an IBAN, or a UK account number), spaces and
// hyphens ignored.
type BankAccountInput struct {
	Name          string
	Code          string
	AccountNumber string
}

// normalise validates the input and returns the account number without
// separators. Messages never repeat the number.
func (in *BankAccountInput) normalise() (string, error) {
	in.Name = strings.TrimSpace(in.Name)
	in.Code = strings.TrimSpace(in.Code)
	var problems []string
	acct := Account{Code: in.Code, Name: in.Name, Type: Asset}
	if err := acct.Validate(); err != nil {
		problems = append(problems, errs.Message(err))
	}
	number := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, in.AccountNumber)
	if number != "" {
		ok := len(number) >= 4 && len(number) <= 34
		for i := 0; ok && i < len(number); i++ {
			c := number[i]
			ok = '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
		}
		if !ok {
			problems = append(problems, "Account number must be 4 to 34 letters and digits (spaces and hyphens are ignored).")
		}
	}
	return strings.ToUpper(number), joinProblems(problems)
}

// Statuses of a bank transaction.
const (
	BankUnreconciled = "unreconciled"
	BankReconciled   = "reconciled"
)

// BankTransaction is one line of a bank statement, imported once. It is
// reconciled either by a payment of an invoice or bill (PaymentID) or by
// a journal categorising it to an account (JournalID).
type BankTransaction struct {
	ID            int64
	OrgID         int64
	BankAccountID int64
	Date          string
	Amount        int64 // signed: money in > 0, out < 0
	Currency      string
	Description   string
	Reference     string
	FitID         string
	ImportID      int64
	Status        string
	PaymentID     int64
	JournalID     int64
	CreatedAt     time.Time
}

// Abs is the transaction's amount without its sign.
func (t *BankTransaction) Abs() int64 {
	if t.Amount < 0 {
		return -t.Amount
	}
	return t.Amount
}

// MatchKind is the kind of document this transaction can pay: money in
// pays a sales invoice, money out a bill.
func (t *BankTransaction) MatchKind() string {
	if t.Amount < 0 {
		return KindBill
	}
	return KindSales
}

// CategoriseJournal is what categorising t to account accountID posts,
// dated the transaction's date: money in debits the bank and credits the
// account; money out debits the account and credits the bank.
func (t *BankTransaction) CategoriseJournal(bankLedgerID, accountID int64, narration string, by int64, at time.Time) *Journal {
	debit, credit := bankLedgerID, accountID
	if t.Amount < 0 {
		debit, credit = accountID, bankLedgerID
	}
	line := truncate(narration, 500)
	return &Journal{OrgID: t.OrgID, Date: t.Date, Narration: line, SourceType: SourceBank, SourceID: t.ID, CreatedBy: by, CreatedAt: at,
		Lines: []JournalLine{
			{AccountID: debit, Debit: t.Abs(), Description: line},
			{AccountID: credit, Credit: t.Abs(), Description: line},
		}}
}

// BankTransactionFilter selects statement lines, oldest first.
// BankAccountID 0 and Status "" leave those open; Limit 0 means 100.
type BankTransactionFilter struct {
	BankAccountID int64
	Status        string
	Limit, Offset int
}

// Bounds of one page of bank transactions.
const (
	DefaultBankLimit = 100
	MaxBankLimit     = 1000
)

func (f *BankTransactionFilter) validate() error {
	var problems []string
	if f.BankAccountID < 0 {
		problems = append(problems, "bank_account_id must be a bank account's id.")
	}
	switch f.Status {
	case "", BankUnreconciled, BankReconciled:
	default:
		problems = append(problems, fmt.Sprintf("Status %q is not unreconciled or reconciled.", truncate(f.Status, 40)))
	}
	if f.Limit == 0 {
		f.Limit = DefaultBankLimit
	}
	if f.Limit < 0 || f.Limit > MaxBankLimit {
		problems = append(problems, fmt.Sprintf("Limit must be between 1 and %d.", MaxBankLimit))
	}
	if f.Offset < 0 {
		problems = append(problems, "Offset must not be negative.")
	}
	return joinProblems(problems)
}

// BankImport is one statement file imported into a bank account.
type BankImport struct {
	ID            int64
	OrgID         int64
	BankAccountID int64
	Format        string
	Filename      string
	Imported      int // new transactions
	Duplicates    int // lines the account already had (same fit id)
	CreatedBy     int64
	CreatedAt     time.Time
}

// StatementUpload is a statement file to import.
type StatementUpload struct {
	Format     string // FormatCSV or FormatOFX
	DateFormat string // for CSV: DateISO (default) or DateDMY
	Filename   string // for the record only
	Data       []byte
}

// BankAccounts lists the organisation's bank accounts with their balances
// as of today.
func (s *Service) BankAccounts(ctx context.Context, orgID int64) ([]*BankAccount, error) {
	return s.store.FindBankAccounts(ctx, orgID, s.Today())
}

// FindBankAccount returns one bank account with its balance as of today:
// ENOTFOUND for a missing or foreign one.
func (s *Service) FindBankAccount(ctx context.Context, orgID, id int64) (*BankAccount, error) {
	return s.store.FindBankAccountByID(ctx, orgID, id, s.Today())
}

// CreateBankAccount adds a bank account and its ledger account (an asset
// with the system role bank) in one transaction. The account number is
// sealed with the organisation's key, bound to the new row; only its last
// four characters are kept in the clear, and it is never logged or audited.
func (s *Service) CreateBankAccount(ctx context.Context, a Actor, orgID int64, in BankAccountInput) (*BankAccount, error) {
	number, err := in.normalise()
	if err != nil {
		return nil, err
	}
	ba := &BankAccount{OrgID: orgID, Name: in.Name, AccountCode: in.Code, CreatedAt: s.Now()}
	var seal func(id int64) ([]byte, error)
	if number != "" {
		ba.NumberLast4 = number[len(number)-4:]
		seal = func(id int64) ([]byte, error) {
			return s.keys.Seal(ctx, orgID, []byte(number), s.aad(orgID, "bank_accounts", "account_number", id))
		}
		if err := s.keys.PrepareKey(ctx, orgID); err != nil {
			return nil, err
		}
	}
	if err := s.store.CreateBankAccount(ctx, ba, seal); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "bank.account.create", fmt.Sprintf("org=%d bank_account=%d account=%d", orgID, ba.ID, ba.AccountID))
	return s.FindBankAccount(ctx, orgID, ba.ID)
}

// ImportStatement reads a CSV or OFX statement and adds its lines to the
// bank account, all in one transaction: a file with any bad line imports
// nothing, and lines the account already has (same fit id) are counted as
// duplicates, so importing the same file twice adds nothing.
func (s *Service) ImportStatement(ctx context.Context, a Actor, orgID, bankAccountID int64, up StatementUpload) (*BankImport, error) {
	format, err := ParseStatementFormat(up.Format)
	if err != nil {
		return nil, err
	}
	dateFormat, err := ParseDateFormat(up.DateFormat)
	if err != nil {
		return nil, err
	}
	ba, err := s.FindBankAccount(ctx, orgID, bankAccountID)
	if err != nil {
		return nil, err
	}
	if ba.Archived {
		return nil, errs.Errorf(errs.ECONFLICT, "Bank account %s is archived; nothing more can be imported into it.", ba.Name)
	}
	exp, err := money.Exponent(ba.Currency)
	if err != nil {
		return nil, fmt.Errorf("import statement: %w", err)
	}
	st, err := ParseStatement(up.Data, format, CSVOptions{Exponent: exp, DateFormat: dateFormat})
	if err != nil {
		return nil, err
	}
	if st.Currency != "" && st.Currency != ba.Currency {
		return nil, errs.Errorf(errs.EINVALID, "The statement is in %s but the organisation's books are in %s.", truncate(st.Currency, 10), ba.Currency)
	}
	imp := &BankImport{OrgID: orgID, BankAccountID: ba.ID, Format: format, Filename: cleanField(up.Filename, 200), CreatedBy: a.UserID, CreatedAt: s.Now()}
	if err := s.store.CreateBankImport(ctx, imp, st.Lines); err != nil {
		return nil, err
	}
	s.audit(ctx, a, "bank.import", fmt.Sprintf("org=%d bank_account=%d import=%d format=%s imported=%d duplicates=%d", orgID, ba.ID, imp.ID, format, imp.Imported, imp.Duplicates))
	return imp, nil
}

// BankTransactions lists statement lines matching f, oldest first, and
// how many match in all. A bank account of another organisation is not
// found.
func (s *Service) BankTransactions(ctx context.Context, orgID int64, f BankTransactionFilter) ([]*BankTransaction, int, error) {
	if err := f.validate(); err != nil {
		return nil, 0, err
	}
	if f.BankAccountID != 0 {
		if _, err := s.store.FindBankAccountByID(ctx, orgID, f.BankAccountID, s.Today()); err != nil {
			return nil, 0, err
		}
	}
	return s.store.FindBankTransactions(ctx, orgID, f)
}

// FindBankTransaction returns one statement line: ENOTFOUND for a missing
// or foreign one.
func (s *Service) FindBankTransaction(ctx context.Context, orgID, id int64) (*BankTransaction, error) {
	return s.store.FindBankTransactionByID(ctx, orgID, id)
}

// CategoriseBankTransaction reconciles a statement line that no invoice
// or bill explains (bank fees, rent paid by direct debit, interest…): it
// posts the line to accountID against the bank account and marks it
// reconciled with that journal, in one transaction. A line can be
// reconciled once; the lock date holds; the receivable and payable control
// accounts are refused (match an invoice or bill instead).
func (s *Service) CategoriseBankTransaction(ctx context.Context, a Actor, orgID, id, accountID int64, description string) (*BankTransaction, error) {
	description = cleanField(description, 450)
	if accountID <= 0 {
		return nil, errs.Errorf(errs.EINVALID, "account_id: choose the account to categorise the transaction to.")
	}
	acct, err := s.store.FindAccountByID(ctx, orgID, accountID)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errs.Errorf(errs.ENOTFOUND, "account_id: account %d not found.", accountID)
	}
	if err != nil {
		return nil, err
	}
	if err := CheckCategoryAccount(acct, 0); err != nil {
		return nil, err
	}
	build := func(t *BankTransaction, bankLedgerID int64) (*Journal, error) {
		if err := CheckCategoryAccount(acct, bankLedgerID); err != nil {
			return nil, err
		}
		narration := description
		if narration == "" {
			narration = t.Description
		}
		if narration == "" {
			narration = fmt.Sprintf("Bank transaction %d", t.ID)
		}
		j := t.CategoriseJournal(bankLedgerID, acct.ID, "Bank: "+narration, a.UserID, s.Now())
		return j, j.Validate()
	}
	t, err := s.store.CategoriseBankTransaction(ctx, orgID, id, build)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, "bank.reconcile", fmt.Sprintf("org=%d bank_transaction=%d journal=%d account=%d", orgID, t.ID, t.JournalID, acct.ID))
	return t, nil
}

// CheckCategoryAccount says whether a bank line can be categorised to
// account a of the bank account whose ledger account is bankLedgerID (0:
// not known yet). The receivable and payable control accounts move only
// with invoices and bills, so a line that pays one is matched to it
// instead; an archived account takes no postings; and the bank's own
// account would post nothing.
func CheckCategoryAccount(a *Account, bankLedgerID int64) error {
	switch {
	case a.System == SystemReceivable || a.System == SystemPayable:
		return errs.Errorf(errs.EINVALID, "Account %s %s is the %s control account; match the transaction to an invoice or bill instead.", a.Code, a.Name, a.System)
	case a.Archived:
		return errs.Errorf(errs.EINVALID, "Account %s %s is archived; nothing more can be posted to it.", a.Code, a.Name)
	case a.ID == bankLedgerID:
		return errs.Errorf(errs.EINVALID, "Account %s is this bank account's own account; choose where the money came from or went.", a.Code)
	}
	return nil
}

// CategoryAccounts lists the accounts lines of bank account ba can be
// categorised to, by code.
func (s *Service) CategoryAccounts(ctx context.Context, orgID int64, ba *BankAccount) ([]*Account, error) {
	accts, err := s.store.FindAccounts(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []*Account
	for _, a := range accts {
		if CheckCategoryAccount(a, ba.AccountID) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// ReconcileToInvoice reconciles a statement line with the sales invoice
// (money in) or bill (money out) it pays: it records a payment of the
// line's amount, on its date and bank account, which marks the line
// reconciled in the same transaction.
func (s *Service) ReconcileToInvoice(ctx context.Context, a Actor, orgID, id, invoiceID int64) (*BankTransaction, error) {
	if invoiceID <= 0 {
		return nil, errs.Errorf(errs.EINVALID, "invoice_id: choose the invoice or bill the transaction pays.")
	}
	t, err := s.store.FindBankTransactionByID(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if t.Status != BankUnreconciled {
		return nil, errs.Errorf(errs.ECONFLICT, "Bank transaction %d is already reconciled.", t.ID)
	}
	inv, err := s.FindInvoice(ctx, orgID, invoiceID)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errs.Errorf(errs.ENOTFOUND, "invoice_id: invoice %d not found.", invoiceID)
	}
	if err != nil {
		return nil, err
	}
	if inv.Kind != t.MatchKind() {
		if t.Amount > 0 {
			return nil, errs.Errorf(errs.EINVALID, "Money in can only be matched to a sales invoice; %s is not one.", inv.Title())
		}
		return nil, errs.Errorf(errs.EINVALID, "Money out can only be matched to a bill; %s is not one.", inv.Title())
	}
	ref := t.Reference
	if ref == "" {
		ref = t.Description
	}
	p, err := s.RecordPayment(ctx, a, orgID, invoiceID, PaymentInput{
		BankAccountID: t.BankAccountID, Date: t.Date, Amount: t.Abs(),
		Reference: truncate(ref, MaxPaymentReference-1), BankTransactionID: t.ID,
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, "bank.reconcile", fmt.Sprintf("org=%d bank_transaction=%d payment=%d invoice=%d", orgID, t.ID, p.ID, invoiceID))
	return s.store.FindBankTransactionByID(ctx, orgID, id)
}

// maxMatchSuggestions bounds the invoices suggested for one line.
const maxMatchSuggestions = 5

// MatchSuggestions returns, for each unreconciled transaction of txs, the
// outstanding documents it could pay: sales invoices (money in) or bills
// (money out) awaiting payment whose amount due equals the line's amount.
func (s *Service) MatchSuggestions(ctx context.Context, orgID int64, txs []*BankTransaction) (map[int64][]*Invoice, error) {
	out := map[int64][]*Invoice{}
	due := map[string]map[int64][]*Invoice{}
	for _, t := range txs {
		if t.Status != BankUnreconciled {
			continue
		}
		kind := t.MatchKind()
		byAmount, ok := due[kind]
		if !ok {
			invs, err := s.ListInvoices(ctx, orgID, InvoiceFilter{Kind: kind, Status: InvoiceAwaitingPayment, Limit: MaxBankLimit})
			if err != nil {
				return nil, err
			}
			byAmount = map[int64][]*Invoice{}
			for _, inv := range invs {
				byAmount[inv.AmountDue()] = append(byAmount[inv.AmountDue()], inv)
			}
			due[kind] = byAmount
		}
		if m := byAmount[t.Abs()]; len(m) > 0 {
			out[t.ID] = m[:min(len(m), maxMatchSuggestions)]
		}
	}
	return out, nil
}
