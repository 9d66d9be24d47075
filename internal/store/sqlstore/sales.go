package sqlstore

import "coffer/internal/ledger"

// Contacts live in contacts.go; invoices, bills, credit notes, payments
// and credit allocations in invoices.go.
var _ ledger.SalesStore = (*Store)(nil)
