package cli

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/backup"
	"coffer/internal/keyring"
	"coffer/internal/store/postgres"
	"coffer/internal/testpg"
)

// TestScheduledBackupLock: two nodes (two schedulers, each with its own
// data directory and database handle) on one PostgreSQL database and one
// target. While one takes the scheduled backup the other skips its run;
// right after, the other skips too (a backup within the interval is
// there); an interval later it takes the next one.
func TestScheduledBackupLock(t *testing.T) {
	ctx := context.Background()
	dsn := testpg.DSN(t)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	shared := filepath.Join(t.TempDir(), "backups")
	now := time.Now()
	node := func() *scheduler {
		dir := t.TempDir()
		if err := keyring.WriteMasterKeyFile(filepath.Join(dir, keyring.KeyFileName), master); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultServeConfig(Env{Getenv: func(string) string { return "" }})
		cfg.DataDir, cfg.DB = dir, dsn
		cfg.Backup.Targets = []string{shared}
		return &scheduler{cfg: cfg, getenv: func(string) string { return "" }, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			now: func() time.Time { return now }}
	}
	a, b := node(), node()
	target, err := backup.NewDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		l, err := backup.List(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Backups)
	}

	ranInside := false
	a.locked = func() {
		ranInside = true
		if err := b.once(ctx); err != nil {
			t.Errorf("node B while A holds the lock: %v", err)
		}
		if n := count(); n != 0 {
			t.Errorf("node B took a backup while A held the lock: %d listed", n)
		}
	}
	if err := a.once(ctx); err != nil {
		t.Fatal(err)
	}
	if !ranInside || count() != 1 {
		t.Fatalf("node A: lock hook ran %v, %d backups listed, want 1", ranInside, count())
	}
	if st, _ := backup.LoadState(b.cfg.DataDir); len(st.Targets) != 0 {
		t.Fatalf("node B recorded a run it skipped: %+v", st.Targets)
	}

	tests := []struct {
		name  string
		after time.Duration
		want  int
	}{
		{"B right after A: skipped", time.Minute, 1},
		{"B an interval later: runs", a.cfg.Backup.Every, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Now().Add(tt.after)
			b.now = func() time.Time { return at }
			if err := b.once(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != tt.want {
				t.Fatalf("%d backups listed, want %d", n, tt.want)
			}
		})
	}
}
