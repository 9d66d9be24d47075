package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/cli"
	"coffer/internal/testserver"
)

// TestBackupFailureAlerts: when a scheduled backup's target fails, the
// administrators are mailed, `backup status` names the target and exits
// non-zero, and the server keeps serving.
func TestBackupFailureAlerts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	var out, errOut testserver.SyncBuffer
	if code := cli.Run(ctx, []string{"admin", "user", "add", "--data", dir, "--email", "ops@example.com", "--name", "Ops", "--password-stdin"},
		cli.Env{Stdin: strings.NewReader("correct horse battery staple 2026\n"), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}); code != 0 {
		t.Fatalf("admin user add: %d %s %s", code, out.String(), errOut.String())
	}
	// A target that cannot be written: a directory under a regular file.
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(blocker, "backups")
	// The continuous stream uses the same broken target: Coffer serves
	// anyway and keeps trying.
	srv := testserver.StartIn(t, dir, "--backup-every", "1m", "--backup-start-delay", "0s", "--backup-target", bad)
	deadline := time.Now().Add(30 * time.Second)
	for countMail(t, dir, "ops@example.com", "backup.failed") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no backup.failed mail to the administrator; server log:\n%s", srv.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, status, _ := runCoffer(ctx, "backup", "status", "--data", dir)
	if code == 0 || !strings.Contains(status, bad) {
		t.Fatalf("backup status after a failure: exit %d\n%s", code, status)
	}
	if resp, err := srv.HTTPClient("127.0.0.71").Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the server stopped serving after the failed backup: %v", err)
	}
}
