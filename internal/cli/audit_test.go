package cli_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/audit"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlite"
)

// seedAudit makes a data directory as coffer admin user add leaves it, then
// appends 120 events to organisation 3's chain (a checkpoint at 100) the
// way the server does: store, keyring from the master key file, audit key.
func seedAudit(t *testing.T) string {
	t.Helper()
	dir := dataDir(t)
	run(t, goodPassword+"\n", "admin", "user", "add", "--data", dir, "--email", "o@example.com", "--name", "Owner", "--password-stdin", "--org", "Acme Ltd", "--role", "owner").
		want(t, 0, "Created organisation Acme Ltd", "")
	master, err := keyring.ReadMasterKeyFile(filepath.Join(dir, keyring.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := keyring.OpenLocal(t.Context(), master, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAuditKey(t.Context(), keys); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 120; i++ {
		e := &audit.Event{OrgID: 3, At: time.Now().UTC(), UserID: 1, Subject: "o@example.com", Action: "journal.post", Outcome: audit.Success, IP: "192.0.2.9", UserAgent: "test", Detail: fmt.Sprintf("journal=%d", i)}
		if err := st.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// idAt returns the row id of org 3's event at seq.
func idAt(t *testing.T, db *sql.DB, seq int) int64 {
	t.Helper()
	var id int64
	if err := db.QueryRow(`SELECT id FROM audit_events WHERE chain_id = 3 AND seq = ?`, seq).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func dbExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestAuditVerify tampers with the audit log directly in the database, as
// someone with write access to the file but not the master key could, and
// runs the real coffer audit verify: it must exit 1 and name each change
// and where it is.
func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB) []string // returns the lines verify must print
	}{
		{"intact", func(*testing.T, *sql.DB) []string { return nil }},
		{"edit", func(t *testing.T, db *sql.DB) []string {
			id := idAt(t, db, 12)
			dbExec(t, db, `UPDATE audit_events SET detail = 'journal=999' WHERE id = ?`, id)
			return []string{fmt.Sprintf("chain org 3: event id %d (seq 12) was edited", id)}
		}},
		{"edit a platform event", func(t *testing.T, db *sql.DB) []string {
			dbExec(t, db, `UPDATE audit_events SET ip = '203.0.113.1' WHERE chain_id = 0 AND seq = 1`)
			return []string{"chain org 0: event id 1 (seq 1) was edited"}
		}},
		{"delete", func(t *testing.T, db *sql.DB) []string {
			before, after := idAt(t, db, 12), idAt(t, db, 14)
			dbExec(t, db, `DELETE FROM audit_events WHERE chain_id = 3 AND seq = 13`)
			return []string{fmt.Sprintf("chain org 3: seq 13 missing (deleted) between event ids %d and %d", before, after)}
		}},
		{"delete the last events", func(t *testing.T, db *sql.DB) []string {
			dbExec(t, db, `DELETE FROM audit_events WHERE chain_id = 3 AND seq > 117`)
			return []string{"chain org 3: seq 118–120 missing (deleted) at the end of the chain"}
		}},
		{"delete the last events and move the head back", func(t *testing.T, db *sql.DB) []string {
			dbExec(t, db, `DELETE FROM audit_events WHERE chain_id = 3 AND seq > 117`)
			dbExec(t, db, `UPDATE audit_chains SET seq = 117, hash = (SELECT hash FROM audit_events WHERE chain_id = 3 AND seq = 117) WHERE chain_id = 3`)
			return []string{"chain org 3: the chain head (seq 117) does not match its signature (altered)"}
		}},
		{"insert", func(t *testing.T, db *sql.DB) []string {
			var id int64
			err := db.QueryRow(`INSERT INTO audit_events (chain_id, seq, at, user_id, subject, action, outcome, ip, user_agent, detail, prev_hash, hash)
				VALUES (3, 121, 0, 1, 'o@example.com', 'journal.post', 'success', '', '', 'journal=121', randomblob(32), randomblob(32)) RETURNING id`).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
			return []string{
				fmt.Sprintf("chain org 3: event id %d (seq 121) inserted (its prev_hash does not match event id %d, seq 120)", id, idAt(t, db, 120)),
				"chain org 3: seq 121 added outside Coffer (the signed head ends at seq 120)",
			}
		}},
		{"insert a well-formed event", func(t *testing.T, db *sql.DB) []string {
			// SHA-256 needs no key: a forger can compute a perfect link.
			e := &audit.Event{OrgID: 3, Seq: 121, At: time.Now().UTC(), Action: "journal.post", Outcome: audit.Success}
			if err := db.QueryRow(`SELECT hash FROM audit_events WHERE chain_id = 3 AND seq = 120`).Scan(&e.PrevHash); err != nil {
				t.Fatal(err)
			}
			e.Hash = audit.ComputeHash(e)
			dbExec(t, db, `INSERT INTO audit_events (chain_id, seq, at, user_id, subject, action, outcome, ip, user_agent, detail, prev_hash, hash) VALUES (3, 121, ?, 0, '', 'journal.post', 'success', '', '', '', ?, ?)`,
				e.At.Unix(), e.PrevHash, e.Hash)
			return []string{"chain org 3: seq 121 added outside Coffer (the signed head ends at seq 120)"}
		}},
		{"reorder", func(t *testing.T, db *sql.DB) []string {
			a, b := idAt(t, db, 20), idAt(t, db, 21)
			dbExec(t, db, `UPDATE audit_events SET seq = -1 WHERE id = ?`, a)
			dbExec(t, db, `UPDATE audit_events SET seq = 20 WHERE id = ?`, b)
			dbExec(t, db, `UPDATE audit_events SET seq = 21 WHERE id = ?`, a)
			return []string{fmt.Sprintf("chain org 3: events reordered at seq 20–21: event id %d comes after event id %d", a, b)}
		}},
		{"forge a checkpoint", func(t *testing.T, db *sql.DB) []string {
			dbExec(t, db, `UPDATE audit_checkpoints SET at = at + 1 WHERE chain_id = 3 AND seq = 100`)
			return []string{"chain org 3: checkpoint at seq 100 does not match"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := seedAudit(t)
			db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "coffer.db"))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.tamper(t, db)
			db.Close()
			r := run(t, "", "audit", "verify", "--data", dir)
			if want == nil {
				r.want(t, 0, "ok: 2 chain(s), ", "")
				return
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != 1 || len(lines) != len(want)+1 || !strings.Contains(r.stderr, "the audit log does not verify") {
				t.Fatalf("exit %d, stdout:\n%s\nstderr: %s\nwant exit 1 and the lines:\n%s", r.code, r.stdout, r.stderr, strings.Join(want, "\n"))
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Fatalf("line %d: %q; want it to start %q\nstdout:\n%s", i+1, lines[i], w, r.stdout)
				}
			}
		})
	}
}

func TestAuditCheckpointAndUsage(t *testing.T) {
	dir := seedAudit(t)
	run(t, "", "audit", "checkpoint", "--data", dir).want(t, 0, "2 checkpoint(s) written.", "")
	run(t, "", "audit", "checkpoint", "--data", dir).want(t, 0, "0 checkpoint(s) written.", "")
	run(t, "", "audit", "verify", "--data", dir).want(t, 0, "checkpoints verified", "")
	run(t, "", "audit", "verify", "--data", filepath.Join(t.TempDir(), "none")).want(t, 1, "", "no Coffer database in")
	run(t, "", "audit").want(t, 2, "", "coffer audit verify --data DIR")
	run(t, "", "audit", "nope").want(t, 2, "", `unknown audit command "nope"`)
}
