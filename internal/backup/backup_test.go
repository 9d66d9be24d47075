package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"coffer/internal/backup"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlite"
	"coffer/internal/testtools"
)

// mustDB creates a Coffer database (real migrations) in a new directory
// with extra incompressible rows so that a backup spans many chunks.
func mustDB(tb testing.TB, fillerKiB int) string {
	tb.Helper()
	dir := tb.TempDir()
	p := filepath.Join(dir, backup.DatabaseFile)
	st, err := sqlite.Open(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	db := st.DB()
	if _, err := db.Exec(`CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < fillerKiB; i++ {
		b := make([]byte, 1024)
		rand.Read(b)
		if i%2 == 0 {
			clear(b[512:]) // half compressible
		}
		if _, err := db.Exec(`INSERT INTO filler (b) VALUES (?)`, b); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() { st.Close() })
	return p
}

func mustKEK(tb testing.TB) keyring.KEK {
	tb.Helper()
	k := make([]byte, keyring.MasterKeySize)
	rand.Read(k)
	kek, err := keyring.NewLocalKEK(k)
	if err != nil {
		tb.Fatal(err)
	}
	return kek
}

func mustDir(tb testing.TB) *backup.Dir {
	tb.Helper()
	d, err := backup.NewDir(filepath.Join(tb.TempDir(), "backups"))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func mustCreate(tb testing.TB, dbPath string, kek keyring.KEK, chunk int, targets ...backup.Target) *backup.Manifest {
	tb.Helper()
	c := &backup.Creator{DBPath: dbPath, WorkDir: filepath.Dir(dbPath), KEK: kek, ChunkSize: chunk}
	m, _, err := c.Create(context.Background(), targets)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dbPath := mustDB(t, 300)
	kek := mustKEK(t)
	t1, t2 := mustDir(t), mustDir(t)
	m := mustCreate(t, dbPath, kek, 4096, t1, t2)
	if !backup.ValidID(m.ID) || m.SchemaVersion < 1 || m.PlaintextSize == 0 || m.KEKID != kek.ID() {
		t.Fatalf("manifest: %+v", m)
	}
	for _, tg := range []backup.Target{t1, t2} {
		l, err := backup.List(ctx, tg)
		if err != nil || len(l.Backups) != 1 || l.Backups[0].ID != m.ID || len(l.Orphans) != 0 {
			t.Fatalf("list %s: %+v %v", tg.Name(), l, err)
		}
		if _, err := backup.Verify(ctx, tg, m.ID, kek, t.TempDir()); err != nil {
			t.Fatalf("verify %s: %v", tg.Name(), err)
		}
	}
	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, t2, m.ID, kek, to); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(to, backup.DatabaseFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", st, err)
	}
	if dst, _ := os.Stat(to); dst.Mode().Perm() != 0o700 {
		t.Fatalf("restored dir mode %v", dst.Mode().Perm())
	}
	want, got := testtools.TableHashes(t, dbPath), testtools.TableHashes(t, filepath.Join(to, backup.DatabaseFile))
	if len(want) < 5 || fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("restored tables differ:\nwant %v\ngot  %v", want, got)
	}
	// A restored database opens as a Coffer store.
	s, err := sqlite.Open(ctx, filepath.Join(to, backup.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	t.Run("ErrNotEmpty", func(t *testing.T) {
		if _, err := backup.Restore(ctx, t2, m.ID, kek, to); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("restore over a directory: %v", err)
		}
	})
}

// tamper is a change made to a stored backup, and the error it must give.
type tamper struct {
	name string
	edit func(t *testing.T, dir string, m *backup.Manifest, other *backup.Manifest)
	want error
	msg  string
}

func readFile(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperRefused(t *testing.T) {
	ctx := context.Background()
	const chunk = 1024
	dbPath := mustDB(t, 100)
	kek := mustKEK(t)
	sealed := chunk + 16
	data := func(dir string, m *backup.Manifest) string { return filepath.Join(dir, m.ID, backup.DataObject) }
	man := func(dir string, m *backup.Manifest) string { return filepath.Join(dir, m.ID, backup.ManifestObject) }
	tests := []tamper{
		{"FlipDataByte", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			b[3*sealed+100] ^= 1
			writeFile(t, data(d, m), b)
		}, backup.ErrCorrupt, "chunk 3"},
		{"FlipLastByte", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			b[len(b)-1] ^= 0x80
			writeFile(t, data(d, m), b)
		}, backup.ErrCorrupt, "chunk"},
		{"TruncateAtChunk", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			writeFile(t, data(d, m), b[:2*sealed])
		}, backup.ErrTruncated, "without the final chunk"},
		{"TruncateMidChunk", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			writeFile(t, data(d, m), b[:2*sealed+500])
		}, backup.ErrCorrupt, "chunk 2"},
		{"DropChunk", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			writeFile(t, data(d, m), append(b[:sealed:sealed], b[2*sealed:]...))
		}, backup.ErrCorrupt, "chunk 1"},
		{"SwapChunks", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := readFile(t, data(d, m))
			c := append([]byte(nil), b[:sealed]...)
			c = append(c, b[2*sealed:3*sealed]...)
			c = append(c, b[sealed:2*sealed]...)
			writeFile(t, data(d, m), append(c, b[3*sealed:]...))
		}, backup.ErrCorrupt, "chunk 1"},
		{"Appended", func(t *testing.T, d string, m, _ *backup.Manifest) {
			writeFile(t, data(d, m), append(readFile(t, data(d, m)), 0))
		}, backup.ErrCorrupt, ""},
		{"EditedManifest", func(t *testing.T, d string, m, _ *backup.Manifest) {
			b := bytes.Replace(readFile(t, man(d, m)), []byte(fmt.Sprintf(`"schema_version": %d`, m.SchemaVersion)), []byte(fmt.Sprintf(`"schema_version": %d`, m.SchemaVersion+1)), 1)
			writeFile(t, man(d, m), b)
		}, backup.ErrCorrupt, "manifest"},
		{"OtherBackupsData", func(t *testing.T, d string, m, o *backup.Manifest) {
			writeFile(t, data(d, m), readFile(t, data(d, o)))
		}, backup.ErrCorrupt, "chunk 0"},
		{"OtherBackupsManifest", func(t *testing.T, d string, m, o *backup.Manifest) {
			writeFile(t, man(d, m), readFile(t, man(d, o)))
		}, backup.ErrForeign, "describes backup"},
		{"MissingData", func(t *testing.T, d string, m, _ *backup.Manifest) {
			os.Remove(data(d, m))
		}, fs.ErrNotExist, "data object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := mustDir(t)
			m := mustCreate(t, dbPath, kek, chunk, tg)
			if m.CiphertextSize < 5*int64(sealed) {
				t.Fatalf("backup too small for the test: %d bytes", m.CiphertextSize)
			}
			o := mustCreate(t, dbPath, kek, chunk, tg)
			tt.edit(t, tg.Root, m, o)
			_, err := backup.Verify(ctx, tg, m.ID, kek, t.TempDir())
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("verify: got %v, want %v containing %q", err, tt.want, tt.msg)
			}
			to := filepath.Join(t.TempDir(), "restored")
			if _, err := backup.Restore(ctx, tg, m.ID, kek, to); !errors.Is(err, tt.want) {
				t.Fatalf("restore: got %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a failed restore left %s: %v", to, err)
			}
			// The other backup is untouched.
			if _, err := backup.Verify(ctx, tg, o.ID, kek, t.TempDir()); err != nil && tt.name != "OtherBackupsData" && tt.name != "OtherBackupsManifest" {
				t.Fatalf("other backup: %v", err)
			}
		})
	}
	t.Run("WrongKey", func(t *testing.T) {
		tg := mustDir(t)
		m := mustCreate(t, dbPath, kek, chunk, tg)
		_, err := backup.Verify(ctx, tg, m.ID, mustKEK(t), t.TempDir())
		if !errors.Is(err, backup.ErrWrongKey) || !strings.Contains(err.Error(), kek.ID()) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("MissingBackup", func(t *testing.T) {
		tg := mustDir(t)
		_, err := backup.Verify(ctx, tg, "20260101T000000Z-abcdef", kek, t.TempDir())
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("BadID", func(t *testing.T) {
		tg := mustDir(t)
		if _, err := backup.Verify(ctx, tg, "../../etc", kek, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a backup ID") {
			t.Fatalf("got %v", err)
		}
	})
}

// failingTarget is a Dir whose Put fails once more than limit bytes went
// through it in all (a full disk), or cancels a backup (a kill) there.
type failingTarget struct {
	*backup.Dir
	limit  int64
	n      atomic.Int64
	cancel context.CancelFunc
}

var errDiskFull = errors.New("no space left on device")

func (f *failingTarget) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return f.Dir.Put(ctx, name, &limitedReader{f: f, r: r}, size)
}

type limitedReader struct {
	f *failingTarget
	r io.Reader
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.f.n.Add(int64(n)) > l.f.limit {
		if l.f.cancel != nil {
			l.f.cancel()
			return n, err
		}
		return n, errDiskFull
	}
	return n, err
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	dbPath := mustDB(t, 200)
	kek := mustKEK(t)
	tests := []struct {
		name string
		run  func(t *testing.T, good *backup.Dir) error
		want string
	}{
		{"DiskFull", func(t *testing.T, good *backup.Dir) error {
			c := &backup.Creator{DBPath: dbPath, WorkDir: t.TempDir(), KEK: kek, ChunkSize: 4096}
			other := mustDir(t)
			_, res, err := c.Create(ctx, []backup.Target{other, &failingTarget{Dir: good, limit: 50_000}})
			if len(res) != 2 || res[0].Err != nil || res[1].Err == nil {
				t.Fatalf("results %+v", res)
			}
			return err
		}, "no space left"},
		{"Cancelled", func(t *testing.T, good *backup.Dir) error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			c := &backup.Creator{DBPath: dbPath, WorkDir: t.TempDir(), KEK: kek, ChunkSize: 4096}
			_, _, err := c.Create(cctx, []backup.Target{&failingTarget{Dir: good, limit: 50_000, cancel: cancel}})
			return err
		}, "context canceled"},
		{"ReadOnly", func(t *testing.T, good *backup.Dir) error {
			if os.Geteuid() == 0 {
				t.Skip("root ignores directory permissions")
			}
			os.Chmod(good.Root, 0o500)
			defer os.Chmod(good.Root, 0o700)
			c := &backup.Creator{DBPath: dbPath, WorkDir: t.TempDir(), KEK: kek}
			_, _, err := c.Create(ctx, []backup.Target{good})
			return err
		}, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := mustDir(t)
			last := mustCreate(t, dbPath, kek, 0, good)
			before, _ := good.List(ctx, "")
			err := tt.run(t, good)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			l, err := backup.List(ctx, good)
			if err != nil {
				t.Fatal(err)
			}
			// The failed backup is neither listed nor left behind; the last
			// good one still verifies.
			if len(l.Backups) != 1 || l.Backups[0].ID != last.ID || len(l.Orphans) != 0 {
				t.Fatalf("after the failure: %+v", l)
			}
			if after, _ := good.List(ctx, ""); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("objects changed: %v → %v", before, after)
			}
			if _, err := backup.Verify(ctx, good, last.ID, kek, t.TempDir()); err != nil {
				t.Fatalf("last good backup: %v", err)
			}
		})
	}
}
