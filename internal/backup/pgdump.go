package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"coffer/internal/keyring"
)

// Engines a backup can hold (Manifest.Engine).
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// DBEngine is the engine of the database the backup holds; manifests
// written before PostgreSQL have none and hold SQLite.
func (m *Manifest) DBEngine() string {
	if m.Engine == "" {
		return EngineSQLite
	}
	return m.Engine
}

// EnvPGBin names the directory of pg_dump and pg_restore. They must be of
// the server's major version or newer: pg_dump refuses a newer server.
const EnvPGBin = "COFFER_PG_BIN"

// scheduleLock is the session advisory lock a node holds while it takes a
// scheduled backup, so that several nodes on one database take turns. It
// follows the store's keys ("Coffer" 1 and 2, sqlstore/db.go).
const scheduleLock int64 = 0x436f666665720003

// PGProgram returns the path of a PostgreSQL client program (pg_dump,
// pg_restore): in $COFFER_PG_BIN when set, else on PATH, else in the newest
// /usr/lib/postgresql/N/bin (Debian's layout, not on PATH).
func PGProgram(name string) (string, error) {
	if dir := os.Getenv(EnvPGBin); dir != "" {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("%s not found in %s=%s: set it to the directory of PostgreSQL's client programs (e.g. /usr/lib/postgresql/15/bin)", name, EnvPGBin, dir)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if dir := newestPGBin("/usr/lib/postgresql", name); dir != "" {
		return filepath.Join(dir, name), nil
	}
	return "", fmt.Errorf("%s not found: install PostgreSQL's client programs of the server's version (Debian: apt-get install postgresql-client) or set %s to their directory", name, EnvPGBin)
}

// newestPGBin returns root/N/bin for the highest major version N that has
// the program, compared as numbers (16 is newer than 9.6), or "".
func newestPGBin(root, name string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	best, bestVer := "", -1.0
	for _, e := range entries {
		v, err := strconv.ParseFloat(e.Name(), 64)
		if err != nil || !e.IsDir() {
			continue
		}
		bin := filepath.Join(root, e.Name(), "bin")
		if _, err := os.Stat(filepath.Join(bin, name)); err == nil && v > bestVer {
			best, bestVer = bin, v
		}
	}
	return best
}

// pgURLParams are the connection URL's parameters that the client
// programs read from the environment (libpq's names).
var pgURLParams = map[string]string{
	"sslmode":              "PGSSLMODE",
	"sslrootcert":          "PGSSLROOTCERT",
	"sslcert":              "PGSSLCERT",
	"sslkey":               "PGSSLKEY",
	"sslcrl":               "PGSSLCRL",
	"connect_timeout":      "PGCONNECT_TIMEOUT",
	"target_session_attrs": "PGTARGETSESSIONATTRS",
}

// pgEnv reads a postgres:// URL and returns the configuration to connect
// with pgx and the environment that makes pg_dump and pg_restore connect
// to the same database. The connection goes through the environment, never
// the command line, which any local user can read (ps). Errors never
// repeat the URL: it may hold a password.
func pgEnv(dsn string) (*pgx.ConnConfig, []string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, nil, errors.New("the PostgreSQL database must be a postgres://USER@HOST:PORT/DB URL")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, nil, errors.New("the PostgreSQL URL is not valid (postgres://USER@HOST:PORT/DB?sslmode=verify-full)")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, errors.New("the PostgreSQL URL is not valid (postgres://USER@HOST:PORT/DB?sslmode=verify-full)")
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "coffer-backup"
	}
	hosts, ports := []string{cfg.Host}, []string{strconv.Itoa(int(cfg.Port))}
	seen := map[string]bool{cfg.Host + ":" + ports[0]: true}
	for _, f := range cfg.Fallbacks {
		p := strconv.Itoa(int(f.Port))
		if !seen[f.Host+":"+p] {
			seen[f.Host+":"+p] = true
			hosts, ports = append(hosts, f.Host), append(ports, p)
		}
	}
	env := append(os.Environ(),
		"PGHOST="+strings.Join(hosts, ","),
		"PGPORT="+strings.Join(ports, ","),
		"PGUSER="+cfg.User,
		"PGDATABASE="+cfg.Database,
		"PGAPPNAME="+cfg.RuntimeParams["application_name"],
	)
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	q := u.Query()
	for k, name := range pgURLParams {
		if v := q.Get(k); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return cfg, env, nil
}

// where names a database in messages, without its password.
func where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d database %q as %q", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// redact keeps a password out of an error message or a program's output.
func redact(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "********")
}

// connectPG opens a connection of its own to cfg's database.
func connectPG(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "3D000" {
			return nil, fmt.Errorf("connect to PostgreSQL at %s: the database does not exist; create it first (createdb -O %s %s)", where(cfg), cfg.User, cfg.Database)
		}
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %s", where(cfg), redact(err.Error(), cfg.Password))
	}
	return conn, nil
}

// tail keeps the last max bytes written to it: a program's error output.
type tail struct {
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }

// programError describes a client program that failed, with what it said.
func programError(name string, err error, stderr *tail, password string) error {
	msg := redact(stderr.String(), password)
	if msg == "" {
		return fmt.Errorf("%s failed: %v", name, err)
	}
	return fmt.Errorf("%s failed (%v): %s", name, err, msg)
}

// dumpPostgres streams pg_dump's custom-format archive of c.DSN, compressed
// and encrypted, into out. The archive is the database as of one
// snapshot, exported from a transaction of ours that also reads the
// schema version, so the manifest's version is the archive's while nodes
// keep writing. No plaintext reaches the disk. A pg_dump that fails or
// exits non-zero fails the backup with its error output.
func (c *Creator) dumpPostgres(ctx context.Context, out, id string, created time.Time, chunk int) (*Manifest, error) {
	pgDump, err := PGProgram("pg_dump")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	cfg, env, err := pgEnv(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	conn, err := connectPG(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("backup: begin snapshot: %w", err)
	}
	// Held until pg_dump is done: an exported snapshot lives as long as the
	// transaction that exported it.
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("backup: export snapshot: %w", err)
	}
	var schema int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("backup: schema version of %s: %w (not a Coffer database?)", where(cfg), err)
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(dctx, pgDump, "--format=custom", "--no-owner", "--no-privileges", "--snapshot="+snapshot)
	cmd.Env = env
	stderr := &tail{max: 8 << 10}
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("backup: pg_dump: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("backup: start pg_dump: %w", err)
	}
	m, encErr := c.encrypt(ctx, stdout, out, id, created, EnginePostgres, schema, chunk)
	if encErr != nil {
		cancel() // pg_dump may be blocked writing to us
	}
	waitErr := cmd.Wait()
	switch {
	case encErr != nil:
		return nil, encErr
	case ctx.Err() != nil:
		return nil, fmt.Errorf("backup: pg_dump: %w", ctx.Err())
	case waitErr != nil:
		return nil, fmt.Errorf("backup of %s: %w", where(cfg), programError("pg_dump", waitErr, stderr, cfg.Password))
	}
	return m, nil
}

// checkDump reads the pg_dump archive at path back: pg_restore lists its
// table of contents, and the schema version in its schema_migrations data
// is the manifest's. It returns the number of entries listed.
func checkDump(ctx context.Context, m *Manifest, path string) (int, error) {
	pgRestore, err := PGProgram("pg_restore")
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", m.ID, err)
	}
	list, err := runProgram(ctx, pgRestore, "--list", path)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w: its table of contents does not read back: %v", m.ID, ErrCorrupt, err)
	}
	entries, hasVersions := 0, false
	for line := range strings.Lines(string(list)) {
		if line = strings.TrimSpace(line); line == "" || line[0] == ';' {
			continue
		}
		entries++
		if tocVersions.MatchString(line) {
			hasVersions = true
		}
	}
	if !hasVersions {
		return 0, fmt.Errorf("backup %s: %w: the archive has no schema_migrations data (%d entries; not a Coffer database)", m.ID, ErrCorrupt, entries)
	}
	script, err := runProgram(ctx, pgRestore, "--data-only", "--table=schema_migrations", "--file=-", path)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w: its schema_migrations data does not read back: %v", m.ID, ErrCorrupt, err)
	}
	v, err := dumpSchemaVersion(script)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w: %v", m.ID, ErrCorrupt, err)
	}
	if v != m.SchemaVersion {
		return 0, fmt.Errorf("backup %s: %w: the archive has schema version %d, the manifest says %d", m.ID, ErrCorrupt, v, m.SchemaVersion)
	}
	return entries, nil
}

// tocVersions is pg_restore --list's line for schema_migrations' rows:
// "3347; 0 16389 TABLE DATA public schema_migrations postgres".
var tocVersions = regexp.MustCompile(`^\d+; \d+ \d+ TABLE DATA \S+ schema_migrations `)

// runProgram runs a program that needs no database and returns its output.
func runProgram(ctx context.Context, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	stderr := &tail{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = &out, stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, programError(filepath.Base(path), err, stderr, "")
	}
	return out.Bytes(), nil
}

// dumpSchemaVersion reads the highest version from the COPY of
// schema_migrations in pg_restore's script output.
func dumpSchemaVersion(script []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(script))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	col := -1
	found := false
	best := 0
	for sc.Scan() {
		line := sc.Text()
		if col < 0 {
			c, ok := copyVersionColumn(line)
			if ok {
				col, found = c, true
			}
			continue
		}
		if line == `\.` {
			return best, nil
		}
		fields := strings.Split(line, "\t")
		if col >= len(fields) {
			return 0, fmt.Errorf("schema_migrations row %q has no version", line)
		}
		v, err := strconv.Atoi(fields[col])
		if err != nil || v < 0 {
			return 0, fmt.Errorf("schema_migrations row %q: version is not a number", line)
		}
		best = max(best, v)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read schema_migrations data: %w", err)
	}
	if !found {
		return 0, errors.New("no schema_migrations data in the archive")
	}
	return 0, errors.New("schema_migrations data ends without its terminator")
}

// copyVersionColumn recognises "COPY s.schema_migrations (a, b) FROM
// stdin;" and returns the position of the version column.
func copyVersionColumn(line string) (int, bool) {
	rest, ok := strings.CutPrefix(line, "COPY ")
	if !ok {
		return 0, false
	}
	name, rest, ok := strings.Cut(rest, " (")
	if !ok || (name != "schema_migrations" && !strings.HasSuffix(name, ".schema_migrations")) {
		return 0, false
	}
	cols, rest, ok := strings.Cut(rest, ")")
	if !ok || rest != " FROM stdin;" {
		return 0, false
	}
	for i, c := range strings.Split(cols, ",") {
		if strings.TrimSpace(c) == "version" {
			return i, true
		}
	}
	return 0, false
}

// RestorePostgres restores PostgreSQL backup id into the empty database
// named by dsn: the backup is fully checked first (manifest, every chunk,
// checksums, the archive's table of contents and schema version; through a
// temporary file in tmpDir), then pg_restore loads it in one transaction
// that stops at the first error, so a failed restore leaves the database
// empty. A database that already has tables is refused.
func RestorePostgres(ctx context.Context, t Target, id string, kek keyring.KEK, dsn, tmpDir string) (*Manifest, error) {
	m, err := ReadManifest(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if m.DBEngine() != EnginePostgres {
		return nil, fmt.Errorf("restore: backup %s holds a SQLite database (coffer.db), not a PostgreSQL one; restore it into a new directory with --to NEWDIR", id)
	}
	pgRestore, err := PGProgram("pg_restore")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	cfg, env, err := pgEnv(dsn)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := checkEmpty(ctx, cfg); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	dir, err := os.MkdirTemp(tmpDir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "coffer.pgdump")
	if m, err = extractFile(ctx, t, id, kek, p); err != nil {
		return nil, err
	}
	if _, err := checkDump(ctx, m, p); err != nil {
		return nil, err
	}
	// The database comes from the environment: an empty --dbname is
	// libpq's default, PGDATABASE.
	cmd := exec.CommandContext(ctx, pgRestore, "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges", "--dbname=", p)
	cmd.Env = env
	stderr := &tail{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("restore into %s (nothing was restored): %w", where(cfg), programError("pg_restore", err, stderr, cfg.Password))
	}
	conn, err := connectPG(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("restore: check: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return nil, fmt.Errorf("restore: check the restored database: %w", err)
	}
	if v != m.SchemaVersion {
		return nil, fmt.Errorf("restore: the restored database has schema version %d, backup %s says %d; drop and recreate %q before trying again", v, id, m.SchemaVersion, cfg.Database)
	}
	return m, nil
}

// checkEmpty refuses a database that has tables, views or sequences of its
// own: a restore never overwrites or mixes with books.
func checkEmpty(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := connectPG(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY c.relname <> 'schema_migrations', c.relname`)
	if err != nil {
		return fmt.Errorf("look into %s: %w", where(cfg), err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("look into %s: %w", where(cfg), err)
	}
	if len(names) == 0 {
		return nil
	}
	shown := names
	if len(shown) > 5 {
		shown = append(shown[:5:5], "…")
	}
	what := "is not empty"
	if names[0] == "schema_migrations" {
		what = "already holds Coffer's tables"
	}
	return fmt.Errorf("%s %s (%d tables, views or sequences: %s); restore only into a new, empty database (createdb -O %s NEWDB), never over books", where(cfg), what, len(names), strings.Join(shown, ", "), cfg.User)
}

// TryScheduleLock takes the scheduled-backup lock of the database named by
// dsn on a connection of its own, without waiting. ok is false when
// another node holds it; otherwise release must be called when the backup
// is done (the lock also goes if the connection drops).
func TryScheduleLock(ctx context.Context, dsn string) (release func(), ok bool, err error) {
	cfg, _, err := pgEnv(dsn)
	if err != nil {
		return nil, false, err
	}
	conn, err := connectPG(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("backup lock: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, scheduleLock).Scan(&ok); err != nil || !ok {
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("backup lock: %w", err)
		}
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, scheduleLock)
		conn.Close(ctx)
	}, true, nil
}
