package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/backup"
	"coffer/internal/backup/stream"
	"coffer/internal/testserver"
)

// TestPointInTimeRestore runs a server that ships its changes every 200 ms,
// makes two known writes, and restores to a moment between them on a
// "fresh machine" (a new directory, the backup target and the master key):
// the first write is there, the second is not. It logs the observed RPO
// (commit to shipped) and RTO (restore command).
func TestPointInTimeRestore(t *testing.T) {
	ctx := context.Background()
	srv := testserver.Start(t, "--stream-every", "200ms")
	target, err := backup.NewDir(filepath.Join(srv.DataDir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	// shippedAfter waits (bounded) until the stream holds an image taken
	// after t0 and returns how long that took.
	shippedAfter := func(t0 time.Time) time.Duration {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ps, err := stream.Points(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(ps); n > 0 && ps[n-1].To.After(t0) {
				return time.Since(t0)
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing shipped 20 s after %s: %+v", t0, ps)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	srv.AddUser(t, "before@example.com", "Before", "first write long passphrase")
	rpo1 := shippedAfter(time.Now())
	mid := time.Now()
	time.Sleep(50 * time.Millisecond)
	srv.AddUser(t, "after@example.com", "After", "second write long passphrase")
	rpo2 := shippedAfter(time.Now())
	t.Logf("RPO observed: %v and %v (interval 200 ms)", rpo1, rpo2)

	to := filepath.Join(t.TempDir(), "restored")
	start := time.Now()
	code, out, errOut := runCoffer(ctx, "restore", "--at", mid.UTC().Format(time.RFC3339Nano), "--to", to,
		"--target", filepath.Join(srv.DataDir, "backups"), "--master-key-file", filepath.Join(srv.DataDir, "master.key"))
	if code != 0 {
		t.Fatalf("restore --at: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("RTO observed (restore --at): %v", time.Since(start))
	users := func(path string) []string {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT email FROM users ORDER BY email`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var e string
			rows.Scan(&e)
			out = append(out, e)
		}
		return out
	}
	got := strings.Join(users(filepath.Join(to, backup.DatabaseFile)), ",")
	if got != "before@example.com" {
		t.Fatalf("restored to %s: users %q, want only the first write", mid.Format(time.RFC3339Nano), got)
	}
	// The restored directory serves: Coffer starts on it with the key.
	srv2 := testserver.StartIn(t, to)
	if !strings.HasPrefix(srv2.URL, "https://") {
		t.Fatalf("restored server URL %q", srv2.URL)
	}
	// A moment before the stream began cannot be restored.
	code, _, errOut = runCoffer(ctx, "restore", "--at", "2001-01-01T00:00:00Z", "--to", filepath.Join(t.TempDir(), "x"),
		"--target", filepath.Join(srv.DataDir, "backups"), "--master-key-file", filepath.Join(srv.DataDir, "master.key"))
	if code == 0 || !strings.Contains(errOut, "nothing to restore") {
		t.Fatalf("restore before the stream: exit %d %s", code, errOut)
	}
}
