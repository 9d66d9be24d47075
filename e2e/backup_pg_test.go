package e2e

// PostgreSQL backups end to end through the command line: a server on
// PostgreSQL with an organisation and its books is backed up with
// "coffer backup now --db" while it posts, restored with "coffer restore
// --to-db" into a fresh database with only the backup and the master key,
// and a second server on the restored database answers with the same books
// and takes new postings. Source address 127.0.0.63.

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/keyring"
	"coffer/internal/testpg"
	"coffer/internal/testserver"
)

func TestBackupRestorePostgres(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.DSN(t)
	srv := testserver.Start(t, "--db", dsn, "--log-level", "info")
	// The SQLite stream does not start on PostgreSQL, and says where to go
	// (logged just after the server starts listening).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log := srv.Log.String()
		if strings.Contains(log, "continuous backup on") {
			t.Fatalf("serve --db started the SQLite stream:\n%s", log)
		}
		if strings.Contains(log, "point-in-time recovery on PostgreSQL is PostgreSQL's own WAL archiving") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --db: the stream's log line is missing after 10 s:\n%s", log)
		}
	}
	owner := signedInMember(t, srv, "127.0.0.63", "owner@pgbackup.example", "PG Backup Books Ltd", "owner")
	acct := map[string]int64{}
	for code, a := range ledgerAccounts(t, owner) {
		acct[code] = a.ID
	}
	post := func(c *client.Client, i int) error {
		body := map[string]any{"date": fmt.Sprintf("2025-%02d-%02d", 1+i%12, 1+i%28), "narration": fmt.Sprintf("pg backup e2e %d", i), "lines": []map[string]any{
			{"account_id": acct["1000"], "debit": fmt.Sprintf("%d.%02d", 10+i, i%100)},
			{"account_id": acct["4000"], "credit": fmt.Sprintf("%d.%02d", 10+i, i%100)},
		}}
		return c.Do(ctx, "POST", owner.orgPath("journals"), owner.Session, body, nil)
	}
	for i := range 40 {
		if err := post(owner.C, i); err != nil {
			t.Fatal(err)
		}
	}
	backups := filepath.Join(srv.DataDir, "backups")
	lastLine := func(out string) string {
		ls := strings.Split(strings.TrimSpace(out), "\n")
		return ls[len(ls)-1]
	}

	t.Run("OK while writing", func(t *testing.T) {
		var stop atomic.Bool
		var posted atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1000; !stop.Load(); i++ {
				if err := post(owner.C, i); err != nil {
					t.Errorf("post while backing up: %v", err)
					return
				}
				posted.Add(1)
			}
		}()
		for posted.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		code, out, errOut := runCoffer(ctx, "backup", "now", "--data", srv.DataDir, "--db", dsn)
		stop.Store(true)
		wg.Wait()
		if code != 0 {
			t.Fatalf("backup now: %d %s %s", code, out, errOut)
		}
		code, out, errOut = runCoffer(ctx, "backup", "verify", lastLine(out), "--data", srv.DataDir, "--db", dsn)
		if code != 0 || !strings.Contains(out, "pg_restore --list ok") {
			t.Fatalf("verify a backup taken while writing: %d %s %s", code, out, errOut)
		}
	})

	// A quiet moment: the backup must hold what the live database holds,
	// table by table (taken again should a background write land between).
	var tbBefore jsonObject
	if err := owner.C.Do(ctx, "GET", owner.orgPath("reports/trial-balance?date=2025-12-31"), owner.Session, nil, &tbBefore); err != nil {
		t.Fatal(err)
	}
	var id string
	var live map[string]string
	for attempt := 0; ; attempt++ {
		before := testpg.TableHashes(t, dsn)
		code, out, errOut := runCoffer(ctx, "backup", "now", "--data", srv.DataDir, "--db", dsn)
		if code != 0 {
			t.Fatalf("backup now: %d %s %s", code, out, errOut)
		}
		id, live = lastLine(out), testpg.TableHashes(t, dsn)
		if testpg.Diff(before, live) == "" {
			break
		}
		if attempt == 3 {
			t.Fatalf("the live database kept changing: %s", testpg.Diff(before, live))
		}
	}
	code, list, errOut := runCoffer(ctx, "backup", "list", "--data", srv.DataDir)
	if code != 0 || !strings.Contains(list, id+" ") || errOut != "" {
		t.Fatalf("backup list: %d %q %q", code, list, errOut)
	}
	b, err := os.ReadFile(filepath.Join(backups, id, "manifest.json"))
	if err != nil || !strings.Contains(string(b), `"engine": "postgres"`) {
		t.Fatalf("manifest: %v\n%s", err, b)
	}

	// A fresh machine: only the backups and the master key.
	fresh := t.TempDir()
	keyCopy := filepath.Join(fresh, "master.key.saved")
	key, err := os.ReadFile(filepath.Join(srv.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyCopy, key, 0o600); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(fresh, "data")
	newDB := testpg.DSN(t)

	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"ErrIntoDirectory", []string{"restore", id, "--target", backups, "--to", to, "--master-key-file", keyCopy}, "holds a PostgreSQL database"},
		{"ErrIntoLiveDatabase", []string{"restore", id, "--target", backups, "--to-db", dsn, "--master-key-file", keyCopy}, "already holds Coffer's tables"},
		{"ErrPoints", []string{"backup", "points", "--data", srv.DataDir, "--db", dsn}, "WAL archiving"},
		{"ErrRestoreAt", []string{"restore", "--at", "2026-01-01T00:00:00Z", "--target", backups, "--to-db", newDB, "--master-key-file", keyCopy}, "WAL archiving"},
		{"ErrNotAURL", []string{"restore", id, "--target", backups, "--to-db", "host=x dbname=y", "--master-key-file", keyCopy}, "--to-db: give a postgres://"},
		{"ErrWrongKey", []string{"restore", id, "--target", backups, "--to-db", newDB, "--master-key-file", wrongKeyFile(t)}, "wrong key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCoffer(ctx, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d, stderr %q (want %q); stdout %q", code, errOut, tt.stderr, out)
			}
			if _, err := os.Stat(to); !os.IsNotExist(err) {
				t.Fatalf("a refused restore made %s", to)
			}
		})
	}
	if h := testpg.TableHashes(t, newDB); len(h) != 0 {
		t.Fatalf("refused restores wrote into the new database: %v", h)
	}

	code, out, errOut := runCoffer(ctx, "restore", id, "--target", backups, "--to-db", newDB, "--to", to, "--master-key-file", keyCopy)
	if code != 0 || !strings.Contains(out, "start it with: coffer serve --data "+to+" --db ") {
		t.Fatalf("restore: %d %s %s", code, out, errOut)
	}
	restored := testpg.TableHashes(t, newDB)
	if d := testpg.Diff(live, restored); d != "" {
		t.Fatalf("restored database differs: %s", d)
	}
	if len(live) < 20 || strings.HasPrefix(live["journals"], "0 rows") {
		t.Fatalf("hashed too little: %v", live)
	}

	srv2 := testserver.StartIn(t, to, "--db", newDB)
	c2 := client.New(srv2.URL, srv2.HTTPClient("127.0.0.63"))
	var tbAfter jsonObject
	if err := c2.Do(ctx, "GET", owner.orgPath("reports/trial-balance?date=2025-12-31"), owner.Session, nil, &tbAfter); err != nil {
		t.Fatalf("trial balance on the restored server: %v", err)
	}
	if fmt.Sprint(tbBefore) != fmt.Sprint(tbAfter) {
		t.Fatalf("trial balance differs after restore:\nbefore %v\nafter  %v", tbBefore, tbAfter)
	}
	if err := post(c2, 5000); err != nil {
		t.Fatalf("post on the restored server: %v", err)
	}
}

// wrongKeyFile writes a master key file that made no backup.
func wrongKeyFile(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "other.key")
	k := make([]byte, keyring.MasterKeySize)
	rand.Read(k)
	if err := keyring.WriteMasterKeyFile(p, k); err != nil {
		tb.Fatal(err)
	}
	return p
}
