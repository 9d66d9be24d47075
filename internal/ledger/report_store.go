package ledger

import "context"

// ReportStore persists the ledger's balances for reports.
type ReportStore interface {
	// placeholder until the area's methods are added
	ReportPlaceholder(ctx context.Context)
}
