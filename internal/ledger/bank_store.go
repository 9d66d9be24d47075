package ledger

import "context"

// BankStore persists bank accounts, statement imports and transactions.
// Every method is scoped to one organisation: a bank account or
// transaction of another organisation is not found (ENOTFOUND).
type BankStore interface {
	// FindBankAccounts returns the organisation's bank accounts by code,
	// with each balance over journals dated up to asOf (YYYY-MM-DD) and
	// the count of unreconciled transactions.
	FindBankAccounts(ctx context.Context, orgID int64, asOf string) ([]*BankAccount, error)
	// FindBankAccountByID returns one bank account as FindBankAccounts
	// does: ENOTFOUND for a missing or foreign one.
	FindBankAccountByID(ctx context.Context, orgID, id int64, asOf string) (*BankAccount, error)
	// CreateBankAccount creates, in one transaction, the ledger account
	// (asset, system role bank, code ba.AccountCode) and the bank account,
	// setting ba.ID and ba.AccountID. When seal is not nil it is called
	// with the new bank account's id and what it returns is stored as the
	// sealed account number; an error from it undoes everything.
	// ECONFLICT if the code is already used in the chart.
	CreateBankAccount(ctx context.Context, ba *BankAccount, seal func(id int64) ([]byte, error)) error
	// CreateBankImport records imp and adds lines to its bank account in
	// one transaction, skipping (and counting as duplicates) lines whose
	// fit id the account already has; it sets imp.ID, imp.Imported and
	// imp.Duplicates. ENOTFOUND if the bank account is not the
	// organisation's. On any error nothing is stored.
	CreateBankImport(ctx context.Context, imp *BankImport, lines []StatementLine) error
	// FindBankTransactions returns the transactions matching f (already
	// validated), oldest first, and the total that match.
	FindBankTransactions(ctx context.Context, orgID int64, f BankTransactionFilter) ([]*BankTransaction, int, error)
	// FindBankTransactionByID returns one transaction: ENOTFOUND for a
	// missing or foreign one.
	FindBankTransactionByID(ctx context.Context, orgID, id int64) (*BankTransaction, error)
	// CategoriseBankTransaction reconciles transaction id with a journal,
	// in one transaction: it loads the transaction (ENOTFOUND; ECONFLICT
	// if already reconciled), asks build for the journal given the
	// transaction and its bank account's ledger account, posts it with
	// the ledger's posting checks (lock date: ECONFLICT; accounts:
	// EINVALID) and marks the transaction reconciled with it. Two
	// concurrent calls reconcile it once; the other gets ECONFLICT.
	CategoriseBankTransaction(ctx context.Context, orgID, id int64, build func(t *BankTransaction, bankLedgerID int64) (*Journal, error)) (*BankTransaction, error)
}
