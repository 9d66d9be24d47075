package backup_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/backup"
)

// copyFile is the baseline: a plain sequential copy on the same disk,
// synced like a backup object.
func copyFile(tb testing.TB, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	out.Sync()
	out.Close()
}

// baselineMBs measures io.Copy of the database file, in MB/s.
func baselineMBs(b *testing.B, dbPath string, size int64) float64 {
	dir := b.TempDir()
	start := time.Now()
	const n = 3
	for i := range n {
		copyFile(b, dbPath, filepath.Join(dir, "copy"+string(rune('a'+i))))
	}
	return float64(size*n) / 1e6 / time.Since(start).Seconds()
}

// BenchmarkBackup: snapshot, compress, encrypt and store an 8 MiB database;
// MB/s of database bytes, and the ratio to a plain copy of the file.
func BenchmarkBackup(b *testing.B) {
	dbPath := mustDB(b, 8<<10)
	st, _ := os.Stat(dbPath)
	kek := mustKEK(b)
	base := baselineMBs(b, dbPath, st.Size())
	tg := mustDir(b)
	c := &backup.Creator{DBPath: dbPath, WorkDir: b.TempDir(), KEK: kek}
	b.SetBytes(st.Size())
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, _, err := c.Create(context.Background(), []backup.Target{tg}); err != nil {
			b.Fatal(err)
		}
	}
	mbs := float64(st.Size()*int64(b.N)) / 1e6 / time.Since(start).Seconds()
	b.ReportMetric(mbs, "MB/s-backup")
	b.ReportMetric(base, "MB/s-copy")
	b.ReportMetric(mbs/base, "ratio")
}

// BenchmarkRestore: fetch, check, decrypt, decompress, integrity-check and
// put in place the same database.
func BenchmarkRestore(b *testing.B) {
	dbPath := mustDB(b, 8<<10)
	st, _ := os.Stat(dbPath)
	kek := mustKEK(b)
	base := baselineMBs(b, dbPath, st.Size())
	tg := mustDir(b)
	m := mustCreate(b, dbPath, kek, 0, tg)
	root := b.TempDir()
	b.SetBytes(st.Size())
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		i++
		if _, err := backup.Restore(context.Background(), tg, m.ID, kek, filepath.Join(root, "r", string(rune('a'+i%26))+time.Now().Format("150405.000000000"))); err != nil {
			b.Fatal(err)
		}
	}
	mbs := float64(st.Size()*int64(b.N)) / 1e6 / time.Since(start).Seconds()
	b.ReportMetric(mbs, "MB/s-restore")
	b.ReportMetric(base, "MB/s-copy")
	b.ReportMetric(mbs/base, "ratio")
}
