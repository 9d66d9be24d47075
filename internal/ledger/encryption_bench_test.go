package ledger_test

import (
	"fmt"
	"testing"

	"coffer/internal/ledger"
)

// BenchmarkContactWrite is the cost of a typical API write with and
// without field encryption: creating a supplier, and creating one with bank
// details and a tax number (two sealed fields, one more transaction).
// "plain-update" stores the same two fields' worth of work without sealing
// (a name update), to separate the encryption from the extra write.
func BenchmarkContactWrite(b *testing.B) {
	bk := newBooks(b)
	ctx := b.Context()
	b.Run("create", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := bk.svc.CreateContact(ctx, bk.actor, bk.org.ID, ledger.ContactInput{Name: fmt.Sprintf("Plain %d", i), IsSupplier: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create+plain-update", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			c, err := bk.svc.CreateContact(ctx, bk.actor, bk.org.ID, ledger.ContactInput{Name: fmt.Sprintf("Upd %d", i), IsSupplier: true})
			if err != nil {
				b.Fatal(err)
			}
			name := c.Name + " (renamed)"
			if _, err := bk.svc.UpdateContact(ctx, bk.actor, bk.org.ID, c.ID, ledger.ContactUpdate{Name: &name}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create+encrypted-bank-details", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			c, err := bk.svc.CreateContact(ctx, bk.actor, bk.org.ID, ledger.ContactInput{Name: fmt.Sprintf("Sealed %d", i), IsSupplier: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := bk.svc.SetContactBankDetails(ctx, bk.actor, bk.org.ID, c.ID, ledger.ContactSecrets{BankDetails: "GB29 NWBK 6016 1331 9268 19", TaxNumber: "GB123456789"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
