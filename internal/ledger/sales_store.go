package ledger

import "context"

// SalesStore persists contacts, invoices, bills, credit notes and payments.
type SalesStore interface {
	// placeholder until the area's methods are added
	SalesPlaceholder(ctx context.Context)
}
