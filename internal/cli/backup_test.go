package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupCommands drives backup now, list, verify, status, prune and
// restore through the command line, including the refusals.
func TestBackupCommands(t *testing.T) {
	dir := dataDir(t)
	run(t, goodPassword+"\n", "admin", "user", "add", "--data", dir, "--email", "a@example.com", "--name", "Ann Admin", "--password-stdin").want(t, 0, "", "")
	second := filepath.Join(t.TempDir(), "second")

	r := run(t, "", "backup", "now", "--data", dir, "--target", filepath.Join(dir, "backups"), "--target", "file://"+second)
	r.want(t, 0, "stored on file://"+second, "")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]

	run(t, "", "backup", "list", "--data", dir).want(t, 0, id+"  ", "")
	run(t, "", "backup", "verify", id, "--data", dir, "--target", second).want(t, 0, "integrity ok", "")
	run(t, "", "backup", "status", "--data", dir).want(t, 0, "last verified "+id, "")
	run(t, "", "backup", "prune", "--data", dir).want(t, 0, "", "")
	run(t, "", "backup", "list", "--data", dir).want(t, 0, id, "")

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ErrNoTarget", []string{"backup", "now", "--data", dir, "--target", "ftp://x/y"}, 1, "use a directory"},
		{"ErrNoDatabase", []string{"backup", "now", "--data", t.TempDir()}, 1, "no database"},
		{"ErrBadID", []string{"backup", "verify", "../x", "--data", dir}, 1, "not a backup ID"},
		{"ErrMissingBackup", []string{"backup", "verify", "20200101T000000Z-abcdef", "--data", dir}, 1, "no manifest"},
		{"ErrRestoreNoKey", []string{"restore", id, "--target", second, "--to", filepath.Join(t.TempDir(), "x")}, 1, "needs the master key"},
		{"ErrRestoreNoTo", []string{"restore", id, "--data", dir}, 2, "--to"},
		{"ErrRestoreIntoData", []string{"restore", id, "--data", dir, "--to", dir}, 1, "not the data directory"},
		{"ErrRestoreNotEmpty", []string{"restore", id, "--data", dir, "--to", filepath.Dir(second)}, 1, "not empty"},
		{"ErrBadSchedule", []string{"serve", "--data", dir, "--backup-every", "1s"}, 1, "--backup-every"},
		{"ErrBadRetention", []string{"backup", "prune", "--data", dir, "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0", "--keep-yearly", "0"}, 1, "keeps nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, "", tt.args...).want(t, tt.code, "", tt.stderr)
		})
	}

	t.Run("ErrFlippedByte", func(t *testing.T) {
		p := filepath.Join(second, id, "data.cfb")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 4
		os.WriteFile(p, b, 0o600)
		run(t, "", "backup", "verify", id, "--data", dir, "--target", second).want(t, 1, "", "corrupted chunk")
		to := filepath.Join(t.TempDir(), "restored")
		run(t, "", "restore", id, "--target", second, "--to", to, "--master-key-file", filepath.Join(dir, "master.key")).want(t, 1, "", "corrupted chunk")
		if _, err := os.Stat(to); err == nil {
			t.Fatal("a refused restore left its directory")
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		other := dataDir(t)
		run(t, goodPassword+"\n", "admin", "user", "add", "--data", other, "--email", "b@example.com", "--name", "Bob Admin", "--password-stdin").want(t, 0, "", "")
		run(t, "", "backup", "verify", id, "--data", other, "--target", filepath.Join(dir, "backups")).want(t, 1, "", "wrong key")
	})
	t.Run("OK restore", func(t *testing.T) {
		to := filepath.Join(t.TempDir(), "restored")
		run(t, "", "restore", id, "--data", dir, "--to", to, "--master-key-file", filepath.Join(dir, "master.key")).want(t, 0, "restored "+id, "")
		for name, mode := range map[string]os.FileMode{"coffer.db": 0o600, "master.key": 0o600, ".": 0o700} {
			st, err := os.Stat(filepath.Join(to, name))
			if err != nil || st.Mode().Perm() != mode {
				t.Fatalf("%s: %v %v", name, st, err)
			}
		}
		run(t, "", "keys", "status", "--data", to).want(t, 0, "", "")
	})
}
