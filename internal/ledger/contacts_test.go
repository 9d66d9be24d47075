package ledger_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/testdb"
)

// salesBooks is an organisation's books with a customer, a supplier and
// the organisation's bank account, for the sales tests.
type salesBooks struct {
	*books
	customer *ledger.Contact
	supplier *ledger.Contact
	bankID   int64 // bank_accounts.id of the chart's bank account
	rate     map[string]int64
}

func newSalesBooks(tb testing.TB) *salesBooks {
	tb.Helper()
	return salesBooksFor(tb, newBooks(tb))
}

func salesBooksFor(tb testing.TB, b *books) *salesBooks {
	tb.Helper()
	s := &salesBooks{books: b, rate: map[string]int64{}}
	s.customer = s.mustContact(tb, "Acme Trading", true, false)
	s.supplier = s.mustContact(tb, "Paper Supplies Ltd", false, true)
	if err := b.store.DB().QueryRowContext(tb.Context(), `SELECT id FROM bank_accounts WHERE org_id = ?`, b.org.ID).Scan(&s.bankID); err != nil {
		tb.Fatal(err)
	}
	rates, err := b.store.FindTaxRates(tb.Context(), b.org.ID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rates {
		s.rate[r.Name] = r.ID
	}
	return s
}

func (s *salesBooks) mustContact(tb testing.TB, name string, customer, supplier bool) *ledger.Contact {
	tb.Helper()
	c, err := s.svc.CreateContact(tb.Context(), s.actor, s.org.ID, ledger.ContactInput{Name: name, Email: "ap@example.com", IsCustomer: customer, IsSupplier: supplier})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// wantCode fails unless err carries code, and returns its message.
func wantCode(tb testing.TB, err error, code string) string {
	tb.Helper()
	if errs.Code(err) != code {
		tb.Fatalf("error = %v, want code %s", err, code)
	}
	return errs.Message(err)
}

func TestContactValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      ledger.ContactInput
		problem string
	}{
		{"OK", ledger.ContactInput{Name: "Acme", Email: "a@example.com", IsCustomer: true}, ""},
		{"OK without email", ledger.ContactInput{Name: "Acme", IsSupplier: true}, ""},
		{"empty name", ledger.ContactInput{Name: "  ", IsCustomer: true}, "Contact name"},
		{"long name", ledger.ContactInput{Name: strings.Repeat("x", 151), IsCustomer: true}, "Contact name"},
		{"control character", ledger.ContactInput{Name: "Acme\nLtd", IsCustomer: true}, "Contact name"},
		{"bad email", ledger.ContactInput{Name: "Acme", Email: "not an email", IsCustomer: true}, "is not an email address"},
		{"email without domain", ledger.ContactInput{Name: "Acme", Email: "a@", IsCustomer: true}, "is not an email address"},
		{"no role", ledger.ContactInput{Name: "Acme"}, "customer, a supplier or both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBooks(t)
			c, err := b.svc.CreateContact(t.Context(), b.actor, b.org.ID, tt.in)
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				got, err := b.svc.FindContact(t.Context(), b.org.ID, c.ID)
				if err != nil || got.Name != tt.in.Name || got.IsCustomer != tt.in.IsCustomer || got.IsSupplier != tt.in.IsSupplier {
					t.Fatalf("stored %+v, %v", got, err)
				}
				return
			}
			if msg := wantCode(t, err, errs.EINVALID); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not name %q", msg, tt.problem)
			}
		})
	}
}

func TestContactUpdate(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	name, yes := "Acme Holdings", true
	t.Run("OK", func(t *testing.T) {
		c, err := s.svc.UpdateContact(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactUpdate{Name: &name, IsSupplier: &yes})
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != name || !c.IsCustomer || !c.IsSupplier || c.Email != "ap@example.com" {
			t.Fatalf("updated %+v", c)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		no := false
		_, err := s.svc.UpdateContact(ctx, s.actor, s.org.ID, s.supplier.ID, ledger.ContactUpdate{IsSupplier: &no})
		wantCode(t, err, errs.EINVALID)
		c, _ := s.svc.FindContact(ctx, s.org.ID, s.supplier.ID)
		if !c.IsSupplier {
			t.Fatal("a refused update changed the contact")
		}
	})
	t.Run("Archive", func(t *testing.T) {
		c, err := s.svc.UpdateContact(ctx, s.actor, s.org.ID, s.supplier.ID, ledger.ContactUpdate{Archived: &yes})
		if err != nil || !c.Archived {
			t.Fatalf("archive: %+v %v", c, err)
		}
		list, err := s.svc.FindContacts(ctx, s.org.ID, ledger.ContactFilter{})
		if err != nil || len(list) != 1 || list[0].ID != s.customer.ID {
			t.Fatalf("list without archived = %v, %v", list, err)
		}
		list, _ = s.svc.FindContacts(ctx, s.org.ID, ledger.ContactFilter{IncludeArchived: true})
		if len(list) != 2 {
			t.Fatalf("list with archived has %d contacts", len(list))
		}
	})
	t.Run("ErrNotFound other organisation", func(t *testing.T) {
		o := s.otherBooks(t)
		_, err := s.svc.UpdateContact(ctx, o.actor, o.org.ID, s.customer.ID, ledger.ContactUpdate{Name: &name})
		wantCode(t, err, errs.ENOTFOUND)
		_, err = s.svc.FindContact(ctx, o.org.ID, s.customer.ID)
		wantCode(t, err, errs.ENOTFOUND)
		list, err := s.svc.FindContacts(ctx, o.org.ID, ledger.ContactFilter{IncludeArchived: true})
		if err != nil || len(list) != 0 {
			t.Fatalf("other organisation lists %d contacts, %v", len(list), err)
		}
	})
}

func TestContactBankDetails(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	const bank = "Sort code 12-34-56 Account 87654321 (Lloyds)"
	const tax = "GB123456789"
	if err := s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactSecrets{BankDetails: bank, TaxNumber: tax}); err != nil {
		t.Fatal(err)
	}

	t.Run("OK reveal and mask", func(t *testing.T) {
		got, err := s.svc.ContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID)
		if err != nil || got.BankDetails != bank || got.TaxNumber != tax {
			t.Fatalf("reveal = %+v, %v", got, err)
		}
		m, err := s.svc.MaskedContactBankDetails(ctx, s.org.ID, s.customer.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.BankDetails != "••••yds)" || m.TaxNumber != "••••6789" {
			t.Fatalf("masked = %+v", m)
		}
		c, _ := s.svc.FindContact(ctx, s.org.ID, s.customer.ID)
		if !c.HasBankDetails || !c.HasTaxNumber || c.BankDetails != "" {
			t.Fatalf("lookup = %+v: wants flags, never the values", c)
		}
	})

	t.Run("encrypted at rest", func(t *testing.T) {
		// On SQLite the file itself is read too: checkpoint so the main file
		// holds everything, then read it and its WAL.
		if !testdb.Postgres() {
			if _, err := s.store.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(FULL)`); err != nil {
				t.Fatal(err)
			}
			var file string
			if err := s.store.DB().QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{file, file + "-wal"} {
				data, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				for _, secret := range []string{"87654321", tax} {
					if bytes.Contains(data, []byte(secret)) {
						t.Fatalf("%s contains %q in plaintext", filepath.Base(f), secret)
					}
				}
			}
		}
		var enc []byte
		if err := s.store.DB().QueryRowContext(ctx, `SELECT bank_details_enc FROM contacts WHERE id = ?`, s.customer.ID).Scan(&enc); err != nil || len(enc) == 0 {
			t.Fatalf("bank_details_enc = %x, %v", enc, err)
		}
		if bytes.Contains(enc, []byte("87654321")) {
			t.Fatal("bank_details_enc holds the account number in plaintext")
		}
	})

	t.Run("audit names the contact, never the values", func(t *testing.T) {
		rows, err := s.store.DB().QueryContext(ctx, `SELECT action, detail FROM audit_events WHERE action LIKE 'contact.bank_details.%'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		actions := map[string]bool{}
		for rows.Next() {
			var action, detail string
			if err := rows.Scan(&action, &detail); err != nil {
				t.Fatal(err)
			}
			actions[action] = true
			if strings.Contains(detail, "8765") || strings.Contains(detail, "GB123") || !strings.Contains(detail, fmt.Sprintf("contact=%d", s.customer.ID)) {
				t.Fatalf("audit detail %q", detail)
			}
		}
		if !actions["contact.bank_details.change"] || !actions["contact.bank_details.view"] {
			t.Fatalf("audited actions %v", actions)
		}
	})

	t.Run("bound to the row", func(t *testing.T) {
		other := s.mustContact(t, "Second Customer", true, false)
		if err := s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, other.ID, ledger.ContactSecrets{BankDetails: "IBAN DE89 3704 0044 0532 0130 00"}); err != nil {
			t.Fatal(err)
		}
		// Copy the first contact's ciphertext onto the second: it must not
		// open there, and must never show the first contact's details.
		if _, err := s.store.DB().ExecContext(ctx, `UPDATE contacts SET bank_details_enc = (SELECT bank_details_enc FROM contacts WHERE id = ?) WHERE id = ?`, s.customer.ID, other.ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.svc.ContactBankDetails(ctx, s.actor, s.org.ID, other.ID)
		if err == nil || (got != nil && strings.Contains(got.BankDetails, "8765")) {
			t.Fatalf("moved ciphertext opened: %+v, %v", got, err)
		}
		if _, err := s.svc.MaskedContactBankDetails(ctx, s.org.ID, other.ID); err == nil {
			t.Fatal("moved ciphertext opened for the masked view")
		}
		// Swapping columns within the row fails too.
		if _, err := s.store.DB().ExecContext(ctx, `UPDATE contacts SET tax_number_enc = bank_details_enc WHERE id = ?`, s.customer.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.ContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID); err == nil {
			t.Fatal("ciphertext moved to another column opened")
		}
	})

	t.Run("bound to the organisation", func(t *testing.T) {
		o := s.otherBooks(t)
		oc, err := o.svc.CreateContact(ctx, o.actor, o.org.ID, ledger.ContactInput{Name: "Their Customer", IsCustomer: true})
		if err != nil {
			t.Fatal(err)
		}
		// Give the other organisation's contact the same row id's worth of
		// data: copy the sealed value across organisations.
		if err := s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactSecrets{BankDetails: bank}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.DB().ExecContext(ctx, `UPDATE contacts SET bank_details_enc = (SELECT bank_details_enc FROM contacts WHERE id = ?) WHERE id = ?`, s.customer.ID, oc.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := o.svc.ContactBankDetails(ctx, o.actor, o.org.ID, oc.ID); err == nil {
			t.Fatalf("ciphertext moved to another organisation opened: %+v", got)
		}
		_, err = o.svc.ContactBankDetails(ctx, o.actor, o.org.ID, s.customer.ID)
		wantCode(t, err, errs.ENOTFOUND)
		err = o.svc.SetContactBankDetails(ctx, o.actor, o.org.ID, s.customer.ID, ledger.ContactSecrets{BankDetails: "x"})
		wantCode(t, err, errs.ENOTFOUND)
	})

	t.Run("clear and refuse bad input", func(t *testing.T) {
		err := s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactSecrets{BankDetails: strings.Repeat("1", 201)})
		wantCode(t, err, errs.EINVALID)
		err = s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactSecrets{TaxNumber: "GB1\n2"})
		wantCode(t, err, errs.EINVALID)
		if err := s.svc.SetContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID, ledger.ContactSecrets{}); err != nil {
			t.Fatal(err)
		}
		c, _ := s.svc.FindContact(ctx, s.org.ID, s.customer.ID)
		if c.HasBankDetails || c.HasTaxNumber {
			t.Fatalf("cleared contact still has values: %+v", c)
		}
		got, err := s.svc.ContactBankDetails(ctx, s.actor, s.org.ID, s.customer.ID)
		if err != nil || *got != (ledger.ContactSecrets{}) {
			t.Fatalf("cleared reveal = %+v, %v", got, err)
		}
	})
}

func TestMaskContactSecret(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"1234", "••••"},
		{"12345678", "••••"},
		{"123456789", "••••6789"},
		{"GB 12 3456 7890 ÄÖÜß", "••••ÄÖÜß"},
	} {
		if got := ledger.MaskContactSecret(tt.in); got != tt.want {
			t.Errorf("MaskContactSecret(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
