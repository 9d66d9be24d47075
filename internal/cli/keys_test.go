package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
)

// books opens the data directory as the server would and returns the
// ledger over it.
func openLedger(tb testing.TB, dir string) (*sqlstore.Store, *ledger.Service) {
	tb.Helper()
	master, err := keyring.ReadMasterKeyFile(filepath.Join(dir, keyring.KeyFileName))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := sqlite.Open(tb.Context(), filepath.Join(dir, "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := keyring.OpenLocal(tb.Context(), master, st)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	return st, ledger.NewService(st, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// seedBooks creates an organisation (id 1) with n contacts holding bank
// details and tax numbers.
func seedBooks(t *testing.T, n int) (dir string, ids []int64) {
	t.Helper()
	dir = dataDir(t)
	run(t, goodPassword+"\n", "admin", "user", "add", "--data", dir, "--email", "o@example.com", "--name", "Owner", "--password-stdin", "--org", "Acme Ltd", "--role", "owner").
		want(t, 0, "Created organisation Acme Ltd (id 1", "")
	st, led := openLedger(t, dir)
	defer st.Close()
	a := ledger.Actor{UserID: 1, Email: "o@example.com"}
	for i := range n {
		c, err := led.CreateContact(t.Context(), a, 1, ledger.ContactInput{Name: fmt.Sprintf("C%d", i), IsSupplier: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := led.SetContactBankDetails(t.Context(), a, 1, c.ID, ledger.ContactSecrets{BankDetails: fmt.Sprintf("GB00BANKNO%06d", i), TaxNumber: fmt.Sprintf("TAXNO%06d", i)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	return dir, ids
}

func checkBooks(t *testing.T, dir string, ids []int64) {
	t.Helper()
	st, led := openLedger(t, dir)
	defer st.Close()
	for i, id := range ids {
		got, err := led.ContactBankDetails(t.Context(), ledger.Actor{}, 1, id)
		if err != nil || got.BankDetails != fmt.Sprintf("GB00BANKNO%06d", i) || got.TaxNumber != fmt.Sprintf("TAXNO%06d", i) {
			t.Fatalf("contact %d: %+v, %v", id, got, err)
		}
	}
	var ok string
	if err := st.DB().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
}

func buildCoffer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coffer")
	out, err := exec.Command("go", "build", "-o", bin, "coffer/cmd/coffer").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKeysRotateKill9 kills the real binary in the middle of a rotation
// and checks that running it again resumes and finishes, with every value
// readable and the database intact.
func TestKeysRotateKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir, ids := seedBooks(t, 150)
	bin := buildCoffer(t)

	cmd := exec.Command(bin, "keys", "rotate", "--data", dir, "--org", "1")
	// Test-only: 5 rows per batch and a pause, so that the kill lands mid-way.
	cmd.Env = append(os.Environ(), "COFFER_TEST_ROTATION_BATCH=5", "COFFER_TEST_ROTATION_PAUSE=30ms")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	var done int64
	for done < 20 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
		db.QueryRow(`SELECT COALESCE(SUM(done), 0) FROM key_rotations WHERE org_id = 1`).Scan(&done)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	var running, total int64
	if err := db.QueryRow(`SELECT COUNT(*), SUM(total) FROM key_rotations WHERE org_id = 1 AND state = 'running'`).Scan(&running, &total); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT COALESCE(SUM(done), 0) FROM key_rotations WHERE org_id = 1`).Scan(&done)
	if running == 0 || done >= total {
		t.Fatalf("killed after the rotation finished (done %d of %d); output:\n%s", done, total, out.String())
	}
	t.Logf("killed at %d of %d values", done, total)
	// Reads still work between the crash and the resume (both keys open).
	checkBooks(t, dir, ids)

	// Status shows the unfinished rotation.
	status, err := exec.Command(bin, "keys", "status", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(status), "running") || !strings.Contains(string(status), "retiring") {
		t.Fatalf("status: %v\n%s", err, status)
	}

	again := exec.Command(bin, "keys", "rotate", "--data", dir, "--org", "1")
	again.Env = append(os.Environ(), "COFFER_TEST_ROTATION_BATCH=50", "COFFER_TEST_ROTATION_PAUSE=0s")
	res, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "contacts.bank_details_enc") || !strings.Contains(string(res), "old keys destroyed") {
		t.Fatalf("rerun output:\n%s", res)
	}
	checkBooks(t, dir, ids)
	var destroyed, active int
	db.QueryRow(`SELECT COUNT(*) FROM data_keys WHERE org_id = 1 AND state = 'destroyed' AND wrapped = zeroblob(length(wrapped))`).Scan(&destroyed)
	db.QueryRow(`SELECT COUNT(*) FROM data_keys WHERE org_id = 1 AND state = 'active'`).Scan(&active)
	if destroyed != 1 || active != 1 {
		t.Fatalf("%d destroyed, %d active keys", destroyed, active)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM key_rotations WHERE state = 'running'`).Scan(&running); err != nil || running != 0 {
		t.Fatalf("%d rotations still running", running)
	}
}

// TestKeysRotateMasterFile rotates the file master key and checks that the
// data opens after a restart with the new master.key only, and that
// master.key.old goes at the next successful start.
func TestKeysRotateMasterFile(t *testing.T) {
	dir, ids := seedBooks(t, 5)
	oldKey, _ := os.ReadFile(filepath.Join(dir, keyring.KeyFileName))
	run(t, "", "keys", "rotate-master", "--data", dir).want(t, 0, "Re-wrapped", "")
	newKey, _ := os.ReadFile(filepath.Join(dir, keyring.KeyFileName))
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("master.key unchanged")
	}
	if kept, _ := os.ReadFile(filepath.Join(dir, "master.key.old")); !bytes.Equal(kept, oldKey) {
		t.Fatal("master.key.old is not the previous key")
	}
	// The old key no longer opens the keyring.
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := keyring.ReadMasterKeyFile(filepath.Join(dir, "master.key.old"))
	if _, err := keyring.OpenLocal(t.Context(), old, st); err == nil {
		t.Fatal("the previous master key still opens the keyring")
	}
	st.Close()
	// A start (any command) with the new key removes master.key.old.
	run(t, "", "keys", "status", "--data", dir).want(t, 0, "local:", "")
	if _, err := os.Stat(filepath.Join(dir, "master.key.old")); !os.IsNotExist(err) {
		t.Fatalf("master.key.old kept after a successful start: %v", err)
	}
	checkBooks(t, dir, ids)
}

// TestKeysRotateMasterInterrupted: a crash after the re-wrap committed but
// before master.key was replaced is completed at the next start; one before
// the commit is undone.
func TestKeysRotateMasterInterrupted(t *testing.T) {
	dir, ids := seedBooks(t, 3)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := keyring.ReadMasterKeyFile(filepath.Join(dir, keyring.KeyFileName))
	from, _ := keyring.NewLocalKEK(master)
	newKey, _ := keyring.NewMasterKey()

	// Before the commit: master.key.new exists, the keys are not under it.
	if err := keyring.WriteMasterKeyFile(filepath.Join(dir, "master.key.new"), newKey); err != nil {
		t.Fatal(err)
	}
	run(t, "", "keys", "status", "--data", dir).want(t, 0, from.ID(), "")
	if _, err := os.Stat(filepath.Join(dir, "master.key.new")); !os.IsNotExist(err) {
		t.Fatal("an uncommitted master.key.new was kept")
	}
	// After the commit: the keys are under master.key.new.
	if err := keyring.WriteMasterKeyFile(filepath.Join(dir, "master.key.new"), newKey); err != nil {
		t.Fatal(err)
	}
	to, _ := keyring.NewLocalKEK(newKey)
	if _, err := keyring.Rewrap(ctx, st, from, to); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run(t, "", "keys", "status", "--data", dir).want(t, 0, to.ID(), "")
	checkBooks(t, dir, ids)
}

func TestAdminOrgDelete(t *testing.T) {
	dir, ids := seedBooks(t, 2)
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var backup []byte
	st.DB().QueryRow(`SELECT bank_details_enc FROM contacts WHERE id = ?`, ids[0]).Scan(&backup)

	run(t, "", "admin", "org", "delete", "--data", dir, "--id", "1", "--confirm", "Acme").want(t, 1, "", "not named")
	run(t, "", "admin", "org", "delete", "--data", dir, "--id", "1", "--confirm", "Acme Ltd").want(t, 0, "destroyed its 1 data keys", "")
	master, _ := keyring.ReadMasterKeyFile(filepath.Join(dir, keyring.KeyFileName))
	keys, err := keyring.OpenLocal(t.Context(), master, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Open(t.Context(), 1, backup, keyring.OrgAAD(1, "contacts", "bank_details", ids[0])); err == nil || !strings.Contains(err.Error(), "destroyed") {
		t.Fatalf("old copy after delete: %v", err)
	}
	var n int
	st.DB().QueryRow(`SELECT COUNT(*) FROM orgs`).Scan(&n)
	if n != 0 {
		t.Fatal("organisation still there")
	}
}
