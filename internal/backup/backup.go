package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"coffer/internal/keyring"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// NewID returns a backup ID for time now: UTC time and a random suffix, so
// IDs sort by time and two backups in one second do not collide.
func NewID(now time.Time) (string, error) {
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(r[:]), nil
}

// sqliteDSN opens path read-only (the live database is never written).
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Snapshot copies the live database dbPath, consistently while it is being
// written, to the new file out (0600) with VACUUM INTO on a connection of
// its own, and checks the copy. It returns the copy's schema version.
func Snapshot(ctx context.Context, dbPath, out string) (int, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return 0, fmt.Errorf("snapshot: database: %w", err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(dbPath))
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		os.Remove(out)
		return 0, fmt.Errorf("snapshot %s: %w", dbPath, err)
	}
	if err := os.Chmod(out, 0o600); err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	v, err := CheckDatabase(ctx, out)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	return v, nil
}

// CheckDatabase runs PRAGMA integrity_check on the SQLite file at path and
// returns its schema version.
func CheckDatabase(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return 0, fmt.Errorf("integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("integrity check: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], "…")
		}
		return 0, fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w (not a Coffer database?)", err)
	}
	return v, nil
}

// Result is one target's outcome of a backup.
type Result struct {
	Target string
	Err    error
}

// Creator makes backups of one database.
type Creator struct {
	// DBPath is the live SQLite database.
	DBPath string
	// DSN, when set, names a PostgreSQL database to back up instead of
	// DBPath, with pg_dump (see pgdump.go).
	DSN string
	// WorkDir holds the snapshot and the encrypted object while they are
	// shipped (inside the private data directory).
	WorkDir string
	KEK     keyring.KEK
	// ChunkSize defaults to DefaultChunkSize.
	ChunkSize int
	Now       func() time.Time
}

// Create snapshots the database, compresses and encrypts it once, and
// stores it on every target: the data object, then the manifest. It returns
// the manifest, each target's result, and an error unless every target
// acknowledged both. A target that failed is left without a manifest (and,
// best effort, without the data object).
func (c *Creator) Create(ctx context.Context, targets []Target) (*Manifest, []Result, error) {
	if len(targets) == 0 {
		return nil, nil, errors.New("backup: no target")
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	chunk := c.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	created := now().UTC()
	id, err := NewID(created)
	if err != nil {
		return nil, nil, err
	}
	work, err := os.MkdirTemp(c.WorkDir, ".backup-"+id+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("backup: work directory: %w", err)
	}
	defer os.RemoveAll(work)
	var m *Manifest
	if c.DSN != "" {
		m, err = c.dumpPostgres(ctx, filepath.Join(work, DataObject), id, created, chunk)
	} else {
		m, err = c.snapshotSQLite(ctx, work, id, created, chunk)
	}
	if err != nil {
		return nil, nil, err
	}
	results := make([]Result, len(targets))
	var failed []error
	for i, t := range targets {
		results[i] = Result{Target: t.Name(), Err: store(ctx, t, m, filepath.Join(work, DataObject))}
		if results[i].Err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", t.Name(), results[i].Err))
		}
	}
	if len(failed) > 0 {
		return m, results, fmt.Errorf("backup %s not complete on %d of %d targets: %w", id, len(failed), len(targets), errors.Join(failed...))
	}
	return m, results, nil
}

// snapshotSQLite copies DBPath into work and encrypts the copy.
func (c *Creator) snapshotSQLite(ctx context.Context, work, id string, created time.Time, chunk int) (*Manifest, error) {
	snap := filepath.Join(work, "snapshot.db")
	schema, err := Snapshot(ctx, c.DBPath, snap)
	if err != nil {
		return nil, err
	}
	defer os.Remove(snap)
	in, err := os.Open(snap)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	return c.encrypt(ctx, in, filepath.Join(work, DataObject), id, created, EngineSQLite, schema, chunk)
}

// encrypt writes what it reads from in compressed and encrypted to out and
// returns the sealed manifest.
func (c *Creator) encrypt(ctx context.Context, in io.Reader, out, id string, created time.Time, engine string, schema, chunk int) (*Manifest, error) {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	dataKey := make([]byte, dataKeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, err
	}
	defer clear(dataKey)
	wrapped, err := c.KEK.Wrap(ctx, dataKey)
	if err != nil {
		return nil, fmt.Errorf("backup: wrap data key with the master key: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 256<<10)
	ew, err := NewEncryptWriter(bw, dataKey, id, chunk)
	if err != nil {
		return nil, err
	}
	zw, err := gzip.NewWriterLevel(ew, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(zw, ctxReader{ctx, in})
	if err != nil {
		return nil, fmt.Errorf("backup: compress and encrypt: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("backup: compress: %w", err)
	}
	if err := ew.Close(); err != nil {
		return nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", out, err)
	}
	m := &Manifest{
		Format: FormatVersion, ID: id, CreatedAt: created, SchemaVersion: schema, Engine: engine, Compression: "gzip",
		PlaintextSize: n, CiphertextSize: cw.n, SHA256: hex.EncodeToString(h.Sum(nil)), ChunkSize: chunk,
		KEKID: c.KEK.ID(), WrappedKey: wrapped,
	}
	if err := m.Seal(dataKey); err != nil {
		return nil, err
	}
	return m, nil
}

// store puts the data object, then the manifest, on t; on failure it
// removes what it wrote.
func store(ctx context.Context, t Target, m *Manifest, data string) error {
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	dataName, manName := cleanName(m.ID, DataObject), cleanName(m.ID, ManifestObject)
	err = t.Put(ctx, dataName, f, m.CiphertextSize)
	if err == nil {
		mb := m.Marshal()
		err = t.Put(ctx, manName, strings.NewReader(string(mb)), int64(len(mb)))
	}
	if err != nil {
		// Best effort, and not under ctx: a cancelled backup still cleans up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		t.Delete(cctx, manName)
		t.Delete(cctx, dataName)
		return err
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Info is one backup on a target, as listed.
type Info struct {
	ID string
	// Manifest is nil when Err says why it could not be read. It is not
	// authenticated: listing needs no key.
	Manifest *Manifest
	Err      error
}

// Listing is what a target holds.
type Listing struct {
	// Backups have a manifest, newest first.
	Backups []Info
	// Orphans are prefixes with objects but no manifest: backups that
	// failed or are being written.
	Orphans []string
}

// List lists the backups on t.
func List(ctx context.Context, t Target) (*Listing, error) {
	names, err := t.List(ctx, "")
	if err != nil {
		return nil, err
	}
	objs := map[string]map[string]bool{}
	for _, n := range names {
		id, obj, ok := strings.Cut(n, "/")
		if !ok || !ValidID(id) {
			continue
		}
		if objs[id] == nil {
			objs[id] = map[string]bool{}
		}
		objs[id][obj] = true
	}
	l := &Listing{}
	for id, o := range objs {
		if !o[ManifestObject] {
			l.Orphans = append(l.Orphans, id)
			continue
		}
		m, err := ReadManifest(ctx, t, id)
		l.Backups = append(l.Backups, Info{ID: id, Manifest: m, Err: err})
	}
	sort.Slice(l.Backups, func(i, j int) bool { return l.Backups[i].ID > l.Backups[j].ID })
	sort.Strings(l.Orphans)
	return l, nil
}

// ReadManifest fetches and parses backup id's manifest (unauthenticated).
func ReadManifest(ctx context.Context, t Target, id string) (*Manifest, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%q is not a backup ID (like 20261125T160000Z-3f2a9c)", id)
	}
	rc, err := t.Get(ctx, cleanName(id, ManifestObject))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup %s: no manifest on %s (missing, or never completed): %w", id, t.Name(), err)
		}
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("backup %s: read manifest: %w", id, err)
	}
	return ParseManifest(id, b)
}

// Extract checks backup id on t under kek and writes the database it holds
// to w: manifest authenticated, every chunk opened in order up to the
// final one, the object's size and SHA-256 and the database size matched.
// Any failure is an error wrapping ErrWrongKey, ErrCorrupt, ErrTruncated,
// ErrForeign or fs.ErrNotExist; w may then hold part of the data.
func Extract(ctx context.Context, t Target, id string, kek keyring.KEK, w io.Writer) (*Manifest, error) {
	m, err := ReadManifest(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if m.KEKID != kek.ID() {
		return nil, fmt.Errorf("backup %s: %w: it was made under master key %s, this is master key %s", id, ErrWrongKey, m.KEKID, kek.ID())
	}
	dataKey, err := kek.Unwrap(ctx, m.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w: the master key does not open its data key (%v)", id, ErrWrongKey, err)
	}
	defer clear(dataKey)
	if len(dataKey) != dataKeySize {
		return nil, fmt.Errorf("backup %s: %w: data key of %d bytes", id, ErrCorrupt, len(dataKey))
	}
	if err := m.Authenticate(dataKey); err != nil {
		return nil, err
	}
	rc, err := t.Get(ctx, cleanName(id, DataObject))
	if err != nil {
		return nil, fmt.Errorf("backup %s: data object: %w", id, err)
	}
	defer rc.Close()
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(ctxReader{ctx, rc}, h)}
	dr, err := NewDecryptReader(cr, dataKey, id, m.ChunkSize)
	if err != nil {
		return nil, err
	}
	n, err := decompress(dr, w)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	if err := checkSums(m, cr.n, h, n); err != nil {
		return nil, err
	}
	return m, nil
}

// decompress gunzips r into w and then reads r to its end, so the final
// chunk is always checked.
func decompress(r io.Reader, w io.Writer) (int64, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, plainErr(err)
	}
	n, err := io.Copy(w, zr)
	if err != nil {
		return n, plainErr(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return n, err
	}
	return n, nil
}

// plainErr keeps the decryptor's own errors and names anything else as a
// decompression failure.
func plainErr(err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("data: %w: decompress: %v", ErrCorrupt, err)
}

func checkSums(m *Manifest, size int64, h hash.Hash, plain int64) error {
	if size != m.CiphertextSize {
		return fmt.Errorf("backup %s: %w: data object is %d bytes, the manifest says %d", m.ID, ErrCorrupt, size, m.CiphertextSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("backup %s: %w: data object SHA-256 %s, the manifest says %s", m.ID, ErrCorrupt, got, m.SHA256)
	}
	if plain != m.PlaintextSize {
		return fmt.Errorf("backup %s: %w: database is %d bytes, the manifest says %d", m.ID, ErrCorrupt, plain, m.PlaintextSize)
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Verify extracts backup id into a temporary file in tmpDir and runs
// PRAGMA integrity_check on it, or for a PostgreSQL backup reads the
// archive back with pg_restore (see checkDump).
func Verify(ctx context.Context, t Target, id string, kek keyring.KEK, tmpDir string) (*Manifest, error) {
	dir, err := os.MkdirTemp(tmpDir, ".verify-")
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "coffer.db")
	m, err := extractFile(ctx, t, id, kek, p)
	if err != nil {
		return nil, err
	}
	if m.DBEngine() == EnginePostgres {
		_, err := checkDump(ctx, m, p)
		return m, err
	}
	return m, checkRestored(ctx, m, p)
}

func checkRestored(ctx context.Context, m *Manifest, p string) error {
	v, err := CheckDatabase(ctx, p)
	if err != nil {
		return fmt.Errorf("backup %s: restored database: %w", m.ID, err)
	}
	if v != m.SchemaVersion {
		return fmt.Errorf("backup %s: %w: restored database has schema version %d, the manifest says %d", m.ID, ErrCorrupt, v, m.SchemaVersion)
	}
	return nil
}

// extractFile writes the backup's database to the new file p (0600),
// synced.
func extractFile(ctx context.Context, t Target, id string, kek keyring.KEK, p string) (*Manifest, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	m, err := Extract(ctx, t, id, kek, bw)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", p, err)
	}
	return m, f.Close()
}

// DatabaseFile is the database's name in a data directory.
const DatabaseFile = "coffer.db"

// Restore writes backup id's database to dir/coffer.db. dir must be empty
// or absent (it is created 0700). The database goes through a temporary
// file, synced, checked (integrity and schema version) and renamed into
// place; on any failure nothing is left behind (dir is removed again if
// Restore created it).
func Restore(ctx context.Context, t Target, id string, kek keyring.KEK, dir string) (m *Manifest, err error) {
	if dir == "" {
		return nil, errors.New("restore: no destination directory (--to)")
	}
	if m, err := ReadManifest(ctx, t, id); err == nil && m.DBEngine() != EngineSQLite {
		return nil, fmt.Errorf("restore: backup %s holds a PostgreSQL database; restore it into a new, empty PostgreSQL database with --to-db postgres://USER@HOST/NEWDB", id)
	}
	created := false
	entries, rerr := os.ReadDir(dir)
	switch {
	case errors.Is(rerr, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		created = true
	case rerr != nil:
		return nil, fmt.Errorf("restore: %w", rerr)
	case len(entries) > 0:
		return nil, fmt.Errorf("restore: %s is not empty; restore into a new directory, never over a data directory", dir)
	default:
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	tmp := filepath.Join(dir, ".restore-"+id+".db")
	defer func() {
		if err != nil {
			os.Remove(tmp)
			if created {
				os.RemoveAll(dir)
			}
		}
	}()
	m, err = extractFile(ctx, t, id, kek, tmp)
	if err != nil {
		return nil, err
	}
	if err := checkRestored(ctx, m, tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, DatabaseFile)); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}
