package ledger

import "context"

// BankStore persists bank accounts, statement imports and transactions.
type BankStore interface {
	// placeholder until the area's methods are added
	BankPlaceholder(ctx context.Context)
}
