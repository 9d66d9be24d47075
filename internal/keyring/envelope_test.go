package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

// env is a real SQLite store with an Envelope over it.
type env struct {
	dir    string
	store  *sqlstore.Store
	master []byte
	keys   *keyring.Envelope
	led    *ledger.Service
	user   *auth.User
	actor  ledger.Actor
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	st, err := testdb.Open(tb, filepath.Join(dir, "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	keys, err := keyring.OpenLocal(tb.Context(), master, st)
	if err != nil {
		tb.Fatal(err)
	}
	u := &auth.User{Email: "owner@example.com", Name: "Owner", PasswordHash: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(tb.Context(), u); err != nil {
		tb.Fatal(err)
	}
	e := &env{dir: dir, store: st, master: master, keys: keys, user: u,
		led:   ledger.NewService(st, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil))),
		actor: ledger.Actor{UserID: u.ID, Email: u.Email, IP: "127.0.0.1"}}
	return e
}

func (e *env) org(tb testing.TB, name string) *access.Org {
	tb.Helper()
	o := &access.Org{Name: name, Currency: "GBP", CreatedAt: time.Now(), Settings: access.DefaultSettings()}
	if err := e.store.CreateOrg(tb.Context(), o, e.user.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		tb.Fatal(err)
	}
	return o
}

// contact creates a contact with bank details and a tax number.
func (e *env) contact(tb testing.TB, orgID int64, i int) int64 {
	tb.Helper()
	c, err := e.led.CreateContact(tb.Context(), e.actor, orgID, ledger.ContactInput{Name: fmt.Sprintf("Contact %d", i), IsSupplier: true})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.led.SetContactBankDetails(tb.Context(), e.actor, orgID, c.ID, ledger.ContactSecrets{BankDetails: bankOf(orgID, i), TaxNumber: taxOf(orgID, i)}); err != nil {
		tb.Fatal(err)
	}
	return c.ID
}

func bankOf(orgID int64, i int) string {
	return fmt.Sprintf("GB%02dSECRETBANK%06d%04d", orgID, i, orgID)
}
func taxOf(orgID int64, i int) string { return fmt.Sprintf("TAXSECRET%06d%04d", i, orgID) }

func (e *env) sealedContact(tb testing.TB, id int64) []byte {
	tb.Helper()
	var b []byte
	if err := e.store.DB().QueryRow(`SELECT bank_details_enc FROM contacts WHERE id = ?`, id).Scan(&b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestEnvelopeRoundTripAndBinding(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a, b := e.org(t, "Alpha Ltd"), e.org(t, "Beta Ltd")
	ca, cb := e.contact(t, a.ID, 1), e.contact(t, b.ID, 1)

	for _, tt := range []struct {
		org  int64
		id   int64
		want string
	}{{a.ID, ca, bankOf(a.ID, 1)}, {b.ID, cb, bankOf(b.ID, 1)}} {
		got, err := e.led.ContactBankDetails(ctx, e.actor, tt.org, tt.id)
		if err != nil || got.BankDetails != tt.want {
			t.Fatalf("org %d: %+v, %v", tt.org, got, err)
		}
	}
	sa := e.sealedContact(t, ca)
	if v, id, _ := keyring.SealedKeyID(sa); v != 2 {
		t.Fatalf("format %d key %d, want format 2", v, id)
	}
	// Two organisations never share a data key.
	_, ka, _ := keyring.SealedKeyID(sa)
	_, kb, _ := keyring.SealedKeyID(e.sealedContact(t, cb))
	if ka == kb {
		t.Fatalf("both organisations use data key %d", ka)
	}

	t.Run("ErrOtherOrg", func(t *testing.T) {
		// Beta's row holding Alpha's value, even with Alpha's AAD recomputed
		// for Beta, is refused by the key check before any decryption.
		_, err := e.keys.Open(ctx, b.ID, sa, keyring.OrgAAD(b.ID, "contacts", "bank_details", cb))
		if !errors.Is(err, keyring.ErrOtherOrg) {
			t.Fatalf("got %v, want ErrOtherOrg", err)
		}
		if _, err := e.store.DB().Exec(`UPDATE contacts SET bank_details_enc = ? WHERE id = ?`, sa, cb); err != nil {
			t.Fatal(err)
		}
		if _, err := e.led.ContactBankDetails(ctx, e.actor, b.ID, cb); !errors.Is(err, keyring.ErrOtherOrg) {
			t.Fatalf("moved across organisations: %v, want ErrOtherOrg", err)
		}
	})
	t.Run("ErrDecrypt row and column", func(t *testing.T) {
		other := e.contact(t, a.ID, 2)
		for _, aad := range [][]byte{
			keyring.OrgAAD(a.ID, "contacts", "bank_details", other),
			keyring.OrgAAD(a.ID, "contacts", "tax_number", ca),
			keyring.OrgAAD(a.ID, "bank_accounts", "account_number", ca),
		} {
			if _, err := e.keys.Open(ctx, a.ID, sa, aad); !errors.Is(err, keyring.ErrDecrypt) {
				t.Fatalf("%q: %v, want ErrDecrypt", aad, err)
			}
		}
		// And through the service: a value moved to another row of the
		// same organisation does not open.
		if _, err := e.store.DB().Exec(`UPDATE contacts SET bank_details_enc = ? WHERE id = ?`, sa, other); err != nil {
			t.Fatal(err)
		}
		if _, err := e.led.ContactBankDetails(ctx, e.actor, a.ID, other); !errors.Is(err, keyring.ErrDecrypt) {
			t.Fatalf("moved to another row: %v, want ErrDecrypt", err)
		}
	})
	t.Run("tampered header", func(t *testing.T) {
		bad := bytes.Clone(sa)
		bad[4] ^= 1
		if _, err := e.keys.Open(ctx, a.ID, bad, keyring.OrgAAD(a.ID, "contacts", "bank_details", ca)); err == nil {
			t.Fatal("a relabelled key id opened")
		}
	})
}

// seedV1 writes values in the format-1 layout (the master-derived key), as
// a database from before data keys holds them.
func seedV1(t *testing.T, e *env, orgID int64, ids []int64) {
	t.Helper()
	legacy, err := keyring.New(e.master)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		ct, err := legacy.Seal([]byte("V1"+bankOf(orgID, i)), keyring.OrgAAD(orgID, "contacts", "bank_details", id))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.DB().Exec(`UPDATE contacts SET bank_details_enc = ? WHERE id = ?`, ct, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	org := e.org(t, "Rotating Ltd")
	other := e.org(t, "Bystander Ltd")
	const n = 45
	var ids []int64
	for i := range n {
		ids = append(ids, e.contact(t, org.ID, i))
	}
	bystander := e.contact(t, other.ID, 0)
	var banks []*ledger.BankAccount
	for i := range 5 {
		ba, err := e.led.CreateBankAccount(ctx, e.actor, org.ID, ledger.BankAccountInput{Name: fmt.Sprintf("Bank %d", i), Code: fmt.Sprintf("19%02d", i), AccountNumber: fmt.Sprintf("8800%04d55%02d", i, i)})
		if err != nil {
			t.Fatal(err)
		}
		banks = append(banks, ba)
	}
	// TOTP seeds (platform key, org 0).
	var factors []int64
	for i := range 7 {
		u := &auth.User{Email: fmt.Sprintf("u%d@example.com", i), Name: "U", PasswordHash: "x", CreatedAt: time.Now()}
		if err := e.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		f := &auth.Factor{UserID: u.ID, Kind: auth.KindTOTP, Counter: -1, CreatedAt: time.Now()}
		seed := []byte(fmt.Sprintf("TOTPSEEDSECRET%02d", i))
		if err := e.keys.PrepareKey(ctx, keyring.PlatformOrg); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SaveFactor(ctx, f, true, func(id int64) ([]byte, error) {
			return e.keys.Seal(ctx, keyring.PlatformOrg, seed, keyring.AAD("totp_factors", "secret_enc", id))
		}); err != nil {
			t.Fatal(err)
		}
		factors = append(factors, f.ID)
	}
	// A few values still in format 1: they open, and rotation moves them.
	seedV1(t, e, org.ID, ids[:3])
	v1 := e.sealedContact(t, ids[0])
	if got, err := e.keys.Open(ctx, org.ID, v1, keyring.OrgAAD(org.ID, "contacts", "bank_details", ids[0])); err != nil || string(got) != "V1"+bankOf(org.ID, 0) {
		t.Fatalf("format-1 value: %q, %v", got, err)
	}

	before, err := e.store.FindActiveDataKey(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	oldSealed := e.sealedContact(t, ids[10])
	var lines int
	rot, err := e.keys.Rotate(ctx, e.store, org.ID, keyring.RotateOptions{Batch: 10, Grace: -1, Progress: func(keyring.RotationProgress) { lines++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rot.FromKey != before.ID || rot.ToKey == before.ID || lines < 5 {
		t.Fatalf("rotation %+v, %d progress lines", rot, lines)
	}
	old, err := e.store.FindDataKeyByID(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.State != keyring.StateDestroyed || !bytes.Equal(old.Wrapped, make([]byte, len(old.Wrapped))) {
		t.Fatalf("old key after rotation: state %s, wrapped %x", old.State, old.Wrapped)
	}
	// Every value opens and is under the new key.
	for i, id := range ids {
		got, err := e.led.ContactBankDetails(ctx, e.actor, org.ID, id)
		want := bankOf(org.ID, i)
		if i < 3 {
			want = "V1" + want
		}
		if err != nil || got.BankDetails != want || got.TaxNumber != taxOf(org.ID, i) {
			t.Fatalf("contact %d: %+v, %v", id, got, err)
		}
		if _, k, _ := keyring.SealedKeyID(e.sealedContact(t, id)); int64(k) != rot.ToKey {
			t.Fatalf("contact %d under key %d", id, k)
		}
	}
	for _, ba := range banks {
		var enc []byte
		if err := e.store.DB().QueryRow(`SELECT account_number_enc FROM bank_accounts WHERE id = ?`, ba.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if _, k, _ := keyring.SealedKeyID(enc); int64(k) != rot.ToKey {
			t.Fatalf("bank account %d under key %d", ba.ID, k)
		}
		if _, err := e.keys.Open(ctx, org.ID, enc, keyring.OrgAAD(org.ID, "bank_accounts", "account_number", ba.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// A value saved before the rotation (an old backup) no longer opens.
	if _, err := e.keys.Open(ctx, org.ID, oldSealed, keyring.OrgAAD(org.ID, "contacts", "bank_details", ids[10])); !errors.Is(err, keyring.ErrKeyDestroyed) {
		t.Fatalf("old ciphertext after rotation: %v, want ErrKeyDestroyed", err)
	}
	// The database refuses a value sealed with the destroyed key.
	if _, err := e.store.DB().Exec(`UPDATE contacts SET bank_details_enc = ? WHERE id = ?`, oldSealed, ids[10]); err == nil {
		t.Fatal("stored a value sealed with a destroyed key")
	}
	// The other organisation was not touched.
	if got, err := e.led.ContactBankDetails(ctx, e.actor, other.ID, bystander); err != nil || got.BankDetails != bankOf(other.ID, 0) {
		t.Fatalf("bystander: %+v, %v", got, err)
	}

	t.Run("platform key", func(t *testing.T) {
		rot, err := e.keys.Rotate(ctx, e.store, keyring.PlatformOrg, keyring.RotateOptions{Batch: 2, Grace: -1})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range factors {
			var enc []byte
			if err := e.store.DB().QueryRow(`SELECT secret_enc FROM mfa_factors WHERE id = ?`, id).Scan(&enc); err != nil {
				t.Fatal(err)
			}
			if _, k, _ := keyring.SealedKeyID(enc); int64(k) != rot.ToKey {
				t.Fatalf("factor %d under key %d", id, k)
			}
			got, err := e.keys.Open(ctx, keyring.PlatformOrg, enc, keyring.AAD("totp_factors", "secret_enc", id))
			if err != nil || string(got) != fmt.Sprintf("TOTPSEEDSECRET%02d", i) {
				t.Fatalf("factor %d: %q, %v", id, got, err)
			}
		}
	})

	t.Run("no plaintext in the database or WAL", func(t *testing.T) {
		var secrets [][]byte
		for i := range n {
			secrets = append(secrets, []byte(bankOf(org.ID, i)), []byte(taxOf(org.ID, i)))
		}
		for i := range 5 {
			secrets = append(secrets, []byte(fmt.Sprintf("8800%04d55%02d", i, i)))
		}
		for i := range 7 {
			secrets = append(secrets, []byte(fmt.Sprintf("TOTPSEEDSECRET%02d", i)))
		}
		secrets = append(secrets, []byte("SECRETBANK"), []byte("TAXSECRET"), []byte("TOTPSEED"))
		grepFiles(t, e.store.DB(), e.dir, secrets)
	})
}

// grepFiles fails if any file of the database (main, WAL, shared memory;
// on PostgreSQL the database's own files and the cluster's WAL) contains
// any of the secrets.
func grepFiles(t *testing.T, db *sqlstore.DB, dir string, secrets [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "coffer.db*"))
	if testdb.Postgres() {
		files = postgresFiles(t, db)
	} else if len(files) < 2 {
		t.Fatalf("database files %v: want the database and its WAL", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Fatalf("%s contains %q in the clear", filepath.Base(f), s)
			}
		}
	}
}

// TestRotationUnderLoad reads and writes bank details through the service
// while the organisation is re-encrypted: no request fails.
func TestRotationUnderLoad(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	org := e.org(t, "Busy Ltd")
	const n = 300
	var ids []int64
	for i := range n {
		ids = append(ids, e.contact(t, org.ID, i))
	}
	stop := make(chan struct{})
	var reads, writes atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i = (i + 7) % n {
				select {
				case <-stop:
					return
				default:
				}
				if w == 0 {
					// A writer: rewrites details while the rotation runs;
					// its values may be under either key.
					if err := e.led.SetContactBankDetails(ctx, e.actor, org.ID, ids[i], ledger.ContactSecrets{BankDetails: bankOf(org.ID, i), TaxNumber: taxOf(org.ID, i)}); err != nil {
						errc <- fmt.Errorf("write contact %d: %w", ids[i], err)
						return
					}
					writes.Add(1)
					continue
				}
				got, err := e.led.ContactBankDetails(ctx, e.actor, org.ID, ids[i])
				if err != nil || got.BankDetails != bankOf(org.ID, i) {
					errc <- fmt.Errorf("read contact %d: %+v, %w", ids[i], got, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	rot, err := e.keys.Rotate(ctx, e.store, org.ID, keyring.RotateOptions{Batch: 20, Pause: 2 * time.Millisecond, Grace: 3 * time.Second})
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads and %d writes during the rotation", reads.Load(), writes.Load())
	if reads.Load() == 0 || writes.Load() == 0 {
		t.Fatal("no concurrent requests ran")
	}
	for i, id := range ids {
		got, err := e.led.ContactBankDetails(ctx, e.actor, org.ID, id)
		if err != nil || got.BankDetails != bankOf(org.ID, i) {
			t.Fatalf("contact %d after rotation: %+v, %v", id, got, err)
		}
		if _, k, _ := keyring.SealedKeyID(e.sealedContact(t, id)); int64(k) != rot.ToKey {
			t.Fatalf("contact %d under key %d after rotation", id, k)
		}
	}
}

// TestStaleServerCannotWriteDestroyedKey: a process that still has the old
// key cached after another process finished the rotation cannot store a
// value under it (the database refuses), and its next Seal picks up the
// new key.
func TestStaleServerCannotWriteDestroyedKey(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	org := e.org(t, "Stale Ltd")
	id := e.contact(t, org.ID, 0)
	// A second process (the keys command) with its own Envelope.
	other, err := keyring.OpenLocal(ctx, e.master, e.store)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e.keys.Now = func() time.Time { return now } // freeze: the cache never expires
	stale, err := e.keys.Seal(ctx, org.ID, []byte("stale write"), keyring.OrgAAD(org.ID, "contacts", "bank_details", id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Rotate(ctx, e.store, org.ID, keyring.RotateOptions{Grace: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DB().Exec(`UPDATE contacts SET bank_details_enc = ? WHERE id = ?`, stale, id); err == nil {
		t.Fatal("a value under the destroyed key was stored")
	}
	now = now.Add(5 * time.Second)
	if err := e.led.SetContactBankDetails(ctx, e.actor, org.ID, id, ledger.ContactSecrets{BankDetails: "fresh"}); err != nil {
		t.Fatalf("write after the cache expired: %v", err)
	}
	if got, err := other.Open(ctx, org.ID, e.sealedContact(t, id), keyring.OrgAAD(org.ID, "contacts", "bank_details", id)); err != nil || string(got) != "fresh" {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestDeleteOrgShredsKeys: after an organisation is deleted, its values
// copied before (an old backup's bytes) no longer open with this keyring,
// and none of its rows remain.
func TestDeleteOrgShredsKeys(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	doomed, keep := e.org(t, "Doomed Ltd"), e.org(t, "Kept Ltd")
	id := e.contact(t, doomed.ID, 0)
	kept := e.contact(t, keep.ID, 0)
	if _, err := e.led.CreateBankAccount(ctx, e.actor, doomed.ID, ledger.BankAccountInput{Name: "Main", Code: "1901", AccountNumber: "12345678"}); err != nil {
		t.Fatal(err)
	}
	backup := e.sealedContact(t, id)
	aad := keyring.OrgAAD(doomed.ID, "contacts", "bank_details", id)
	if _, err := e.keys.Open(ctx, doomed.ID, backup, aad); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteOrg(ctx, doomed.ID, "Doomed", &audit.Event{At: time.Now(), Action: "org.delete", Outcome: audit.Success}); err == nil {
		t.Fatal("deleted with the wrong confirmation name")
	}
	destroyed, err := e.store.DeleteOrg(ctx, doomed.ID, "Doomed Ltd", &audit.Event{At: time.Now(), Action: "org.delete", Outcome: audit.Success, Detail: fmt.Sprintf("org=%d", doomed.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(destroyed) != 1 {
		t.Fatalf("destroyed %v", destroyed)
	}
	// Another process (this one's cache aside) sees the key destroyed.
	fresh, err := keyring.OpenLocal(ctx, e.master, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Open(ctx, doomed.ID, backup, aad); !errors.Is(err, keyring.ErrKeyDestroyed) {
		t.Fatalf("backup after delete: %v, want ErrKeyDestroyed", err)
	}
	e.keys.Forget(uint32(destroyed[0]))
	if _, err := e.keys.Open(ctx, doomed.ID, backup, aad); !errors.Is(err, keyring.ErrKeyDestroyed) {
		t.Fatalf("backup after delete, same process: %v, want ErrKeyDestroyed", err)
	}
	k, err := e.store.FindDataKeyByID(ctx, int64(destroyed[0]))
	if err != nil || !bytes.Equal(k.Wrapped, make([]byte, len(k.Wrapped))) {
		t.Fatalf("wrapped bytes not zeroed: %+v, %v", k, err)
	}
	// No row of the organisation is left in any table with an org_id.
	q := `SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'org_id')`
	if testdb.Postgres() {
		q = `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'org_id'`
	}
	rows, err := e.store.DB().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	listed := map[string]bool{"data_keys": true, "key_rotations": true}
	for _, name := range sqlstore.OrgTables() {
		listed[name] = true
	}
	for _, name := range tables {
		if !listed[name] {
			t.Errorf("table %s has an org_id but DeleteOrg does not empty it", name)
		}
		if name == "data_keys" {
			continue
		}
		var n int
		if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM `+name+` WHERE org_id = ?`, doomed.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of the deleted organisation, %v", name, n, err)
		}
	}
	if got, err := e.led.ContactBankDetails(ctx, e.actor, keep.ID, kept); err != nil || got.BankDetails != bankOf(keep.ID, 0) {
		t.Fatalf("other organisation: %+v, %v", got, err)
	}
	var ev int
	e.store.DB().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = 'org.delete' AND detail = ?`, fmt.Sprintf("org=%d", doomed.ID)).Scan(&ev)
	if ev != 1 {
		t.Fatalf("%d audit events of the deletion", ev)
	}
}

// TestRewrap: after a master key rotation the data keys open only with the
// new master key, and values still open after a restart with it.
func TestRewrap(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	org := e.org(t, "Rewrap Ltd")
	id := e.contact(t, org.ID, 0)
	newMaster := make([]byte, keyring.MasterKeySize)
	rand.Read(newMaster)
	to, err := keyring.NewLocalKEK(newMaster)
	if err != nil {
		t.Fatal(err)
	}
	n, err := keyring.Rewrap(ctx, e.store, e.keys.KEK(), to)
	if err != nil || n < 2 { // root secret and the organisation's key at least
		t.Fatalf("rewrapped %d, %v", n, err)
	}
	if _, err := keyring.OpenLocal(ctx, e.master, e.store); err == nil {
		t.Fatal("the old master key still opens the keyring")
	}
	restarted, err := keyring.OpenLocal(ctx, newMaster, e.store)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.NewService(e.store, restarted, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got, err := led.ContactBankDetails(ctx, e.actor, org.ID, id); err != nil || got.BankDetails != bankOf(org.ID, 0) {
		t.Fatalf("after rewrap: %+v, %v", got, err)
	}
	// MACs (device cookies) survive: the root secret moved, not changed.
	if !bytes.Equal(restarted.MAC("p", []byte("x")), e.keys.MAC("p", []byte("x"))) {
		t.Fatal("MAC key changed with the master key")
	}
	// A rerun is harmless.
	if n, err := keyring.Rewrap(ctx, e.store, e.keys.KEK(), to); err != nil || n != 0 {
		t.Fatalf("rerun: %d, %v", n, err)
	}
}

func TestEnvMasterKey(t *testing.T) {
	hexKey := "8f1c2d3e4f5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"
	get := func(v string) func(string) string { return func(string) string { return v } }
	k, err := keyring.MasterKeyFromEnv(get(hexKey), keyring.EnvMasterKey)
	if err != nil || len(k) != 32 {
		t.Fatalf("%x, %v", k, err)
	}
	for _, bad := range []string{"", "abc", hexKey + "00", "zz" + hexKey[2:], "0000000000000000000000000000000000000000000000000000000000000000"} {
		_, err := keyring.MasterKeyFromEnv(get(bad), keyring.EnvMasterKey)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if bad != "" && bytes.Contains([]byte(err.Error()), []byte(bad)) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
	// The same key from the file or the environment is the same KEK.
	a, _ := keyring.NewLocalKEK(k)
	wrapped, err := a.Wrap(context.Background(), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keyring.NewLocalKEK(bytes.Clone(k))
	if a.ID() != b.ID() {
		t.Fatal("ids differ")
	}
	if _, err := b.Unwrap(context.Background(), wrapped); err != nil {
		t.Fatal(err)
	}
	wrapped[len(wrapped)-1] ^= 1
	if _, err := b.Unwrap(context.Background(), wrapped); err == nil {
		t.Fatal("tampered wrapped key opened")
	}
}

// postgresFiles checkpoints PostgreSQL, so that every change is in the
// data files, and lists the test database's files and the cluster's WAL.
// The test cluster runs on this machine (scripts/test starts it).
func postgresFiles(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	var dir string
	var oid int64
	if _, err := db.Exec(`CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT current_setting('data_directory'), (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&dir, &oid); err != nil {
		t.Fatal(err)
	}
	base, _ := filepath.Glob(filepath.Join(dir, "base", fmt.Sprint(oid), "*"))
	wal, _ := filepath.Glob(filepath.Join(dir, "pg_wal", "0*"))
	if len(base) == 0 || len(wal) == 0 {
		t.Fatalf("database files under %s: %d, WAL files: %d; want both (is the test cluster on this machine?)", dir, len(base), len(wal))
	}
	return append(base, wal...)
}
