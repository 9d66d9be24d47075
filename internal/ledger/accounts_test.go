package ledger_test

import (
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

func TestCreateAccount(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b := newBooks(t)
		rates, err := b.svc.FindTaxRates(t.Context(), b.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		a := &ledger.Account{OrgID: b.org.ID, Code: "6950", Name: "Software", Type: ledger.Expense, TaxRateID: rates[1].ID, Description: "SaaS"}
		if err := b.svc.CreateAccount(t.Context(), b.actor, a); err != nil {
			t.Fatal(err)
		}
		got, err := b.svc.FindAccountByID(t.Context(), b.org.ID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *a {
			t.Fatalf("stored %+v, created %+v", got, a)
		}
		// It takes postings at once.
		b.acct["6950"] = got
		b.mustPost(t, b.journal("2026-03-01", "6950", "1000", 4999))
		evs, err := b.store.FindAuditEvents(t.Context(), b.actor.UserID, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || (e.Action == "ledger.account.create" && strings.Contains(e.Detail, "account="))
		}
		if !found {
			t.Fatalf("no audit event for the new account: %+v", evs)
		}
	})

	tests := []struct {
		name  string
		edit  func(t *testing.T, b, other *books, a *ledger.Account)
		code  string
		words string
	}{
		{"DuplicateCode", func(t *testing.T, b, other *books, a *ledger.Account) { a.Code = "4000" }, errs.ECONFLICT, `"4000" already exists`},
		{"System", func(t *testing.T, b, other *books, a *ledger.Account) { a.System = ledger.SystemReceivable }, errs.EINVALID, "System accounts"},
		{"BadType", func(t *testing.T, b, other *books, a *ledger.Account) { a.Type = "income" }, errs.EINVALID, "not one of asset"},
		{"NoName", func(t *testing.T, b, other *books, a *ledger.Account) { a.Name = "" }, errs.EINVALID, "name"},
		{"CodeWithSpace", func(t *testing.T, b, other *books, a *ledger.Account) { a.Code = "69 50" }, errs.EINVALID, "code"},
		{"LongCode", func(t *testing.T, b, other *books, a *ledger.Account) { a.Code = "12345678901" }, errs.EINVALID, "code"},
		{"UnknownTaxRate", func(t *testing.T, b, other *books, a *ledger.Account) { a.TaxRateID = 424242 }, errs.EINVALID, "Tax rate 424242 does not exist"},
		{"OtherOrgTaxRate", func(t *testing.T, b, other *books, a *ledger.Account) {
			rates, _ := b.svc.FindTaxRates(t.Context(), other.org.ID)
			a.TaxRateID = rates[0].ID
		}, errs.EINVALID, "does not exist in this organisation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBooks(t)
			other := b.otherBooks(t)
			before, _ := b.svc.FindAccounts(t.Context(), b.org.ID)
			a := &ledger.Account{OrgID: b.org.ID, Code: "6950", Name: "Software", Type: ledger.Expense}
			tt.edit(t, b, other, a)
			err := b.svc.CreateAccount(t.Context(), b.actor, a)
			if errs.Code(err) != tt.code || !strings.Contains(errs.Message(err), tt.words) {
				t.Fatalf("CreateAccount() = %v, want %s containing %q", err, tt.code, tt.words)
			}
			if after, _ := b.svc.FindAccounts(t.Context(), b.org.ID); len(after) != len(before) {
				t.Fatalf("refused account was stored: %d → %d accounts", len(before), len(after))
			}
		})
	}
}

func TestUpdateAccount(t *testing.T) {
	str := func(s string) *string { return &s }
	typ := func(t ledger.AccountType) *ledger.AccountType { return &t }
	yes := true

	t.Run("WithoutPostings", func(t *testing.T) {
		b := newBooks(t)
		id := b.acct["6900"].ID
		a, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, id, ledger.AccountUpdate{Code: str("1520"), Name: str("Vehicles"), Type: typ(ledger.Asset), Description: str("Vans")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := b.svc.FindAccountByID(t.Context(), b.org.ID, id)
		if *got != *a || got.Code != "1520" || got.Type != ledger.Asset || got.Name != "Vehicles" || got.Description != "Vans" {
			t.Fatalf("stored %+v, returned %+v", got, a)
		}
	})

	t.Run("TaxRate", func(t *testing.T) {
		b := newBooks(t)
		other := b.otherBooks(t)
		id := b.acct["4000"].ID
		zero := int64(0)
		if a, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, id, ledger.AccountUpdate{TaxRateID: &zero}); err != nil || a.TaxRateID != 0 {
			t.Fatalf("clearing the tax rate: %+v, %v", a, err)
		}
		rates, _ := b.svc.FindTaxRates(t.Context(), other.org.ID)
		foreign := rates[1].ID
		if _, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, id, ledger.AccountUpdate{TaxRateID: &foreign}); errs.Code(err) != errs.EINVALID {
			t.Fatalf("another organisation's tax rate: %v", err)
		}
		if got, _ := b.svc.FindAccountByID(t.Context(), b.org.ID, id); got.TaxRateID != 0 {
			t.Fatalf("refused update changed the tax rate to %d", got.TaxRateID)
		}
	})

	refusals := []struct {
		name  string
		code  string // account code to change
		post  bool   // give it a posting first
		u     ledger.AccountUpdate
		want  string
		words string
	}{
		{"CodeWithPostings", "6000", true, ledger.AccountUpdate{Code: str("6001")}, errs.ECONFLICT, "has postings"},
		{"TypeWithPostings", "6000", true, ledger.AccountUpdate{Type: typ(ledger.Asset)}, errs.ECONFLICT, "has postings"},
		{"ArchiveSystem", "1100", false, ledger.AccountUpdate{Archived: &yes}, errs.ECONFLICT, "cannot be archived"},
		{"SystemType", "2200", false, ledger.AccountUpdate{Type: typ(ledger.Asset)}, errs.ECONFLICT, "type cannot change"},
		{"DuplicateCode", "6900", false, ledger.AccountUpdate{Code: str("6000")}, errs.ECONFLICT, `"6000" already exists`},
		{"EmptyName", "6900", false, ledger.AccountUpdate{Name: str("")}, errs.EINVALID, "name"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			b := newBooks(t)
			if tt.post {
				b.mustPost(t, b.journal("2026-03-01", tt.code, "1000", 100))
			}
			before, _ := b.svc.FindAccountByID(t.Context(), b.org.ID, b.acct[tt.code].ID)
			_, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, before.ID, tt.u)
			if errs.Code(err) != tt.want || !strings.Contains(errs.Message(err), tt.words) {
				t.Fatalf("UpdateAccount() = %v, want %s containing %q", err, tt.want, tt.words)
			}
			if after, _ := b.svc.FindAccountByID(t.Context(), b.org.ID, before.ID); *after != *before {
				t.Fatalf("refused update changed the account: %+v → %+v", before, after)
			}
		})
	}

	t.Run("OtherOrg", func(t *testing.T) {
		b := newBooks(t)
		other := b.otherBooks(t)
		id := other.acct["6000"].ID
		if _, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, id, ledger.AccountUpdate{Name: str("Mine now")}); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("updating another organisation's account = %v, want not found", err)
		}
		if _, err := b.svc.FindAccountByID(t.Context(), b.org.ID, id); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("finding another organisation's account = %v, want not found", err)
		}
		if got, _ := other.svc.FindAccountByID(t.Context(), other.org.ID, id); got.Name != "Advertising" {
			t.Fatalf("the other organisation's account changed: %+v", got)
		}
	})
}

func TestTaxRates(t *testing.T) {
	b := newBooks(t)
	other := b.otherBooks(t)
	tr := &ledger.TaxRate{OrgID: b.org.ID, Name: "Hotel rate", RateBP: 1250}
	if err := b.svc.CreateTaxRate(t.Context(), b.actor, tr); err != nil {
		t.Fatal(err)
	}
	rates, err := b.svc.FindTaxRates(t.Context(), b.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := rates[len(rates)-1]; *last != *tr {
		t.Fatalf("stored %+v, created %+v", last, tr)
	}
	if otherRates, _ := b.svc.FindTaxRates(t.Context(), other.org.ID); len(otherRates) != len(rates)-1 {
		t.Fatalf("the other organisation sees %d rates", len(otherRates))
	}
	// The same name in another organisation is fine.
	if err := b.svc.CreateTaxRate(t.Context(), other.actor, &ledger.TaxRate{OrgID: other.org.ID, Name: "Hotel rate", RateBP: 1000}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		t    ledger.TaxRate
		code string
	}{
		{"Duplicate", ledger.TaxRate{Name: "Hotel rate", RateBP: 100}, errs.ECONFLICT},
		{"NoName", ledger.TaxRate{Name: " ", RateBP: 100}, errs.EINVALID},
		{"Over100", ledger.TaxRate{Name: "Big", RateBP: 10001}, errs.EINVALID},
		{"Negative", ledger.TaxRate{Name: "Neg", RateBP: -1}, errs.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.t
			r.OrgID = b.org.ID
			if err := b.svc.CreateTaxRate(t.Context(), b.actor, &r); errs.Code(err) != tt.code {
				t.Fatalf("CreateTaxRate(%+v) = %v, want %s", tt.t, err, tt.code)
			}
			if after, _ := b.svc.FindTaxRates(t.Context(), b.org.ID); len(after) != len(rates) {
				t.Fatalf("refused tax rate was stored")
			}
		})
	}
}

func TestAccountBalancesNatural(t *testing.T) {
	b := newBooks(t)
	b.mustPost(t, b.journal("2026-03-01", "1000", "4000", 10000)) // cash sale
	b.mustPost(t, b.journal("2026-03-02", "6200", "1000", 2500))  // rent paid
	bal, err := b.svc.AccountBalances(t.Context(), b.org.ID, "2026-03-31")
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]int64{"1000": 7500, "4000": 10000, "6200": 2500} {
		a := b.acct[code]
		if got := a.Type.Natural(bal[a.ID]); got != want {
			t.Errorf("%s natural balance = %d, want %d", code, got, want)
		}
	}
	var sum int64
	for _, v := range bal {
		sum += v
	}
	if sum != 0 {
		t.Fatalf("debits minus credits over all accounts = %d, want 0", sum)
	}
	if _, err := b.svc.AccountBalances(t.Context(), b.org.ID, "March"); errs.Code(err) != errs.EINVALID {
		t.Fatalf("bad date = %v", err)
	}
}
