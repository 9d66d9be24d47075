package ledger_test

import (
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

// books is an organisation with the default chart on a real store (SQLite,
// or PostgreSQL with COFFER_TEST_DB=postgres), and a ledger service over it
// with a fixed clock.
type books struct {
	path   string // what the store was opened for (testdb.Reopen)
	master []byte
	svc    *ledger.Service
	store  *sqlstore.Store
	keys   *keyring.Envelope
	org    *access.Org
	actor  ledger.Actor
	// accounts by code, from the default chart
	acct map[string]*ledger.Account
}

var testNow = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

// newBooks opens a fresh database with one user owning one organisation.
func newBooks(tb testing.TB) *books {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "coffer.db")
	st, err := testdb.Open(tb, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := keyring.OpenLocal(tb.Context(), master, st)
	if err != nil {
		tb.Fatal(err)
	}
	u := &auth.User{Email: "owner@example.com", Name: "Owner", PasswordHash: "x", CreatedAt: testNow}
	if err := st.CreateUser(tb.Context(), u); err != nil {
		tb.Fatal(err)
	}
	org := &access.Org{Name: "Test Books Ltd", Currency: "GBP", CreatedAt: testNow, Settings: access.DefaultSettings()}
	if err := st.CreateOrg(tb.Context(), org, u.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		tb.Fatal(err)
	}
	svc := ledger.NewService(st, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.Now = func() time.Time { return testNow }
	b := &books{path: path, master: master, svc: svc, store: st, keys: keys, org: org, actor: ledger.Actor{UserID: u.ID, Email: u.Email, IP: "127.0.0.1", UserAgent: "test"}, acct: map[string]*ledger.Account{}}
	accts, err := st.FindAccounts(tb.Context(), org.ID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range accts {
		b.acct[a.Code] = a
	}
	return b
}

// otherBooks adds a second organisation (with its own owner) to the same
// store, for cross-organisation tests.
func (b *books) otherBooks(tb testing.TB) *books {
	tb.Helper()
	u := &auth.User{Email: "other@example.com", Name: "Other", PasswordHash: "x", CreatedAt: testNow}
	if err := b.store.CreateUser(tb.Context(), u); err != nil {
		tb.Fatal(err)
	}
	org := &access.Org{Name: "Other Books Ltd", Currency: "GBP", CreatedAt: testNow, Settings: access.DefaultSettings()}
	if err := b.store.CreateOrg(tb.Context(), org, u.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		tb.Fatal(err)
	}
	o := &books{svc: b.svc, store: b.store, org: org, actor: ledger.Actor{UserID: u.ID, Email: u.Email}, acct: map[string]*ledger.Account{}}
	accts, err := b.store.FindAccounts(tb.Context(), org.ID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range accts {
		o.acct[a.Code] = a
	}
	return o
}
