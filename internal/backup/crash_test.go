package backup_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"coffer/internal/backup"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlite"
)

// The crash tests run writers and backups in child processes (this test
// binary, re-executed) and kill them with SIGKILL at random moments.

const crashMaster = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// TestCrashHelper is the child process: "writer" commits numbered rows
// through Coffer's store (its pragmas: WAL, synchronous=FULL) and prints
// each number once committed; "backup" takes backups in a loop.
func TestCrashHelper(t *testing.T) {
	mode := os.Getenv("COFFER_CRASH_HELPER")
	if mode == "" {
		t.Skip("a child process of the crash tests")
	}
	dir := os.Getenv("COFFER_CRASH_DIR")
	ctx := context.Background()
	switch mode {
	case "writer":
		st, err := sqlite.Open(ctx, filepath.Join(dir, backup.DatabaseFile))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		db := st.DB()
		start, _ := strconv.Atoi(os.Getenv("COFFER_CRASH_START"))
		for n := start; ; n++ {
			if _, err := db.ExecContext(ctx, `INSERT INTO crash_probe (n, body) VALUES (?, ?)`, n, strings.Repeat("x", 200+n%500)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
			// Printed only after the commit returned: a number on stdout is
			// a transaction Coffer would have acknowledged.
			fmt.Printf("%d\n", n)
		}
	case "backup":
		master, _ := hex.DecodeString(crashMaster)
		kek, err := keyring.NewLocalKEK(master)
		if err != nil {
			os.Exit(3)
		}
		target, err := backup.NewDir(filepath.Join(dir, "backups"))
		if err != nil {
			os.Exit(3)
		}
		c := &backup.Creator{DBPath: filepath.Join(dir, backup.DatabaseFile), WorkDir: dir, KEK: kek, Now: time.Now}
		for {
			if _, _, err := c.Create(ctx, []backup.Target{target}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
			fmt.Println("backup")
		}
	}
}

// child starts the helper in mode and returns it with its stdout lines.
func child(t *testing.T, dir, mode string, start int) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "COFFER_CRASH_HELPER="+mode, "COFFER_CRASH_DIR="+dir, "COFFER_CRASH_START="+strconv.Itoa(start))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1<<16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// TestKillDuringWritesAndBackups kills a writer and a backup loop with
// SIGKILL at random moments, many times over the same data directory:
// every row the writer saw committed is in the database afterwards, and
// every backup the target lists verifies — a backup cut short is never
// listed as good.
func TestKillDuringWritesAndBackups(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes many times")
	}
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, backup.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`CREATE TABLE crash_probe (n INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	master, _ := hex.DecodeString(crashMaster)
	kek, err := keyring.NewLocalKEK(master)
	if err != nil {
		t.Fatal(err)
	}
	target, err := backup.NewDir(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 12
	start := 1
	for round := range rounds {
		writer, wl := child(t, dir, "writer", start)
		backuper, bl := child(t, dir, "backup", 0)
		time.Sleep(time.Duration(150+rand.IntN(600)) * time.Millisecond)
		writer.Process.Signal(syscall.SIGKILL)
		backuper.Process.Signal(syscall.SIGKILL)
		writer.Wait()
		backuper.Wait()
		last := start - 1
		for l := range wl {
			n, err := strconv.Atoi(l)
			if err == nil {
				last = n
			}
		}
		backups := 0
		for range bl {
			backups++
		}
		// Every acknowledged row of this round is there.
		st, err = sqlite.Open(context.Background(), filepath.Join(dir, backup.DatabaseFile))
		if err != nil {
			t.Fatalf("round %d: open after the kill: %v", round, err)
		}
		var have int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM crash_probe WHERE n BETWEEN ? AND ?`, start, last).Scan(&have); err != nil {
			t.Fatal(err)
		}
		var check string
		if err := st.DB().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity %q, %v", round, check, err)
		}
		st.Close()
		if have != last-start+1 {
			t.Fatalf("round %d: %d of %d acknowledged rows survived the kill", round, have, last-start+1)
		}
		t.Logf("round %d: %d rows acknowledged and kept, %d backups completed before the kill", round, last-start+1, backups)
		// The next round numbers after whatever this one committed, seen or
		// not (a row committed just before the kill may not have been
		// printed).
		st, err = sqlite.Open(context.Background(), filepath.Join(dir, backup.DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DB().QueryRow(`SELECT COALESCE(MAX(n), 0) + 1 FROM crash_probe`).Scan(&start); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	// Whatever the target lists verifies; the cut ones are orphans.
	l, err := backup.List(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Backups) == 0 {
		t.Fatal("no backup completed in any round: the test proves nothing about listing")
	}
	for _, b := range l.Backups {
		if _, err := backup.Verify(context.Background(), target, b.ID, kek, t.TempDir()); err != nil {
			t.Fatalf("listed backup %s does not verify: %v", b.ID, err)
		}
	}
	t.Logf("%d listed backups all verify; %d cut short are not listed", len(l.Backups), len(l.Orphans))
}
