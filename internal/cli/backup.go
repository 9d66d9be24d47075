package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"coffer/internal/backup"
	"coffer/internal/keyring"
	"coffer/internal/notify"
	"coffer/internal/store/postgres"
)

const backupHelp = `Usage:
  coffer backup now    [--data DIR] [--db postgres://…] [--target URL ...] [--no-verify]
  coffer backup list   [--data DIR] [--target URL ...]
  coffer backup verify ID [--data DIR] [--target URL ...] [master key flags]
  coffer backup status [--data DIR]
  coffer backup prune  [--data DIR] [--target URL ...] [--keep-daily N ...]
  coffer backup points [--data DIR] [--target URL]
  coffer restore ID --to NEWDIR [--target URL] [--master-key-file F | --master-key env|vault]
  coffer restore ID --to-db postgres://…/NEWDB [--to NEWDIR] [--target URL] [master key flags]
  coffer restore --at TIME --to NEWDIR [--target URL] [master key flags]

A backup is a consistent copy of DIR/coffer.db taken while the server runs
(with --db postgres://…, pg_dump's custom-format archive of the database,
taken from one snapshot while nodes write), compressed, then encrypted with
AES-256-GCM in authenticated chunks under a fresh data key that the master
key wraps. Each backup is a folder ID/ on the
target holding data.cfb and manifest.json; the manifest is written last, so
a backup without one never counts. Restoring needs only the backup and the
master key — keep the master key (DIR/master.key, or your env/Vault key)
somewhere else than the backups.

Between backups, "coffer serve" ships the database's changes to the same
targets every --stream-every (default 2 s): the pages that changed since
the last image, encrypted and named with the time of the image. "coffer
restore --at TIME" rebuilds the database as it was then. That stream is
SQLite's: on PostgreSQL, point-in-time recovery is PostgreSQL's own WAL
archiving (archive_command; see the README).

now      backs up to every target (default DIR/backups) and prints the new
         backup's ID on its last line. It succeeds only when every target
         holds the complete backup; then it reads each copy back (--no-verify
         skips that).
points   the moments the continuous stream can restore to (see below).
list     one backup a line: ID, time, size, schema version. Incomplete
         backups (no manifest) are reported on standard error.
verify   downloads backup ID, checks its checksum, every chunk, the database's
         integrity (PostgreSQL: pg_restore --list reads the archive's table
         of contents, and its schema version matches); exits non-zero
         naming what is wrong.
status   the last success and the last failure of each target.
prune    deletes what the retention policy (grandfather-father-son) does not
         keep, never the newest verified backup nor one younger than a day,
         and incomplete backups older than a day.
restore  writes backup ID into the new or empty directory NEWDIR
         (NEWDIR/coffer.db), checks it, and with --master-key-file copies that
         key to NEWDIR/master.key. Then: coffer serve --data NEWDIR.
         A PostgreSQL backup goes into a new, empty database instead
         (--to-db; createdb it first), and NEWDIR, if given, gets the key.

pg_dump and pg_restore (of the server's major version or newer) are taken
from $COFFER_PG_BIN, else PATH, else the newest /usr/lib/postgresql/*/bin;
they connect through the environment (PGHOST, PGPASSWORD…), never argv.

Targets: a directory, file:///abs/path, or s3://bucket/prefix with
COFFER_S3_ENDPOINT (host:port or https://host), COFFER_S3_ACCESS_KEY,
COFFER_S3_SECRET_KEY, and optionally COFFER_S3_REGION, COFFER_S3_CA_FILE,
COFFER_S3_LOCK_DAYS (object lock retention).
`

// backupFlags are what every backup command shares.
type backupFlags struct {
	dir string
	// db is --db: a postgres:// URL, or empty for DIR/coffer.db.
	db        string
	targets   []string
	keyFile   string
	masterKey masterKeyConfig
	policy    backup.Policy
}

func newBackupFlags(env Env) *backupFlags {
	return &backupFlags{dir: dataDirDefault(env), db: env.Getenv("COFFER_DB"), masterKey: defaultMasterKeyConfig(env), policy: backup.DefaultPolicy()}
}

func (b *backupFlags) add(fs *flag.FlagSet, keys, targets bool) {
	fs.StringVar(&b.dir, "data", b.dir, "data directory")
	if targets {
		fs.Func("target", "backup target: directory, file:///path or s3://bucket/prefix; repeatable (default DIR/backups)", func(s string) error {
			b.targets = append(b.targets, s)
			return nil
		})
	}
	if keys {
		fs.StringVar(&b.keyFile, "master-key-file", "", "master key file (default with --master-key file: DIR/master.key)")
		b.masterKey.addFlags(fs)
	}
}

// addDB registers --db: the database a backup command is about.
func (b *backupFlags) addDB(fs *flag.FlagSet) {
	fs.StringVar(&b.db, "db", b.db, dbFlagUsage)
}

func addRetentionFlags(fs *flag.FlagSet, p *backup.Policy, prefix string) {
	fs.IntVar(&p.Daily, prefix+"keep-daily", p.Daily, "retention: newest backup of each of the last N days")
	fs.IntVar(&p.Weekly, prefix+"keep-weekly", p.Weekly, "retention: newest backup of each of the last N weeks")
	fs.IntVar(&p.Monthly, prefix+"keep-monthly", p.Monthly, "retention: newest backup of each of the last N months")
	fs.IntVar(&p.Yearly, prefix+"keep-yearly", p.Yearly, "retention: newest backup of each of the last N years")
}

// openTargets opens the given targets, or DIR/backups.
func openTargets(ctx context.Context, dir string, urls []string, getenv func(string) string) ([]backup.Target, error) {
	if len(urls) == 0 {
		if dir == "" {
			return nil, errors.New("no backup target: give --target or --data")
		}
		urls = []string{filepath.Join(dir, "backups")}
	}
	var ts []backup.Target
	for _, u := range urls {
		t, err := backup.OpenTarget(ctx, u, getenv)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// backupKEK loads the master key without creating one.
func backupKEK(dir, keyFile string, c masterKeyConfig) (keyring.KEK, error) {
	if keyFile != "" || c.Provider == providerFile {
		if keyFile == "" {
			keyFile = filepath.Join(dir, keyring.KeyFileName)
		}
		master, err := keyring.ReadMasterKeyFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("master key %s: %w (pass --master-key-file F, or --master-key env|vault)", keyFile, err)
		}
		defer clear(master)
		return keyring.NewLocalKEK(master)
	}
	switch c.Provider {
	case providerEnv:
		master, err := keyring.MasterKeyFromEnv(c.Getenv, keyring.EnvMasterKey)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		defer clear(master)
		return keyring.NewLocalKEK(master)
	case providerVault:
		return keyring.NewVaultKEK(keyring.VaultConfigFromEnv(c.Getenv, c.VaultKey))
	}
	return nil, c.validate()
}

func runBackup(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, backupHelp)
		return errUsage
	}
	switch args[0] {
	case "now":
		return backupNow(ctx, args[1:], env)
	case "list":
		return backupList(ctx, args[1:], env)
	case "verify":
		return backupVerify(ctx, args[1:], env)
	case "status":
		return backupStatus(args[1:], env)
	case "prune":
		return backupPrune(ctx, args[1:], env)
	case "points":
		return backupPoints(ctx, args[1:], env)
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, backupHelp)
		return nil
	}
	fmt.Fprintf(env.Stderr, "coffer backup: unknown command %q\n\n%s", args[0], backupHelp)
	return errUsage
}

// takeArg takes the leading positional argument (an ID) before the flags.
func takeArg(args []string, what string, fs *flag.FlagSet) (string, []string, error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:], nil
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, err
		}
		return "", nil, errUsage
	}
	if fs.NArg() == 1 {
		return fs.Arg(0), nil, nil
	}
	fmt.Fprintf(fs.Output(), "give the %s\n", what)
	fs.Usage()
	return "", nil, errUsage
}

// isPostgres reports whether --db names a PostgreSQL database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// checkDB refuses a --db that is neither empty nor a postgres:// URL,
// without repeating it (it may hold a password).
func checkDB(db string) error {
	if db != "" && !isPostgres(db) {
		return errors.New("--db: give a postgres:// URL, or leave it empty for SQLite in the data directory")
	}
	return nil
}

// errPGStream is what the continuous stream's commands say on PostgreSQL.
var errPGStream = errors.New("continuous backup and point-in-time restore (--stream-every, backup points, restore --at) are for SQLite; on PostgreSQL, point-in-time recovery is PostgreSQL's own WAL archiving (archive_command and a base backup, see the README's PostgreSQL backups), and coffer backup now / coffer restore ID --to-db take and restore pg_dump backups")

// backupRun is one backup to every target, each copy read back, the
// outcome recorded in DIR's status file.
type backupRun struct {
	dir string
	// dsn is the PostgreSQL database, or empty for DIR/coffer.db.
	dsn     string
	targets []backup.Target
	kek     keyring.KEK
	verify  bool
	now     func() time.Time
}

func (r backupRun) run(ctx context.Context) (*backup.Manifest, error) {
	c := &backup.Creator{DBPath: filepath.Join(r.dir, backup.DatabaseFile), DSN: r.dsn, WorkDir: r.dir, KEK: r.kek, Now: r.now}
	m, results, err := c.Create(ctx, r.targets)
	if results == nil {
		// Nothing reached a target (the snapshot failed): every target failed.
		for _, t := range r.targets {
			results = append(results, backup.Result{Target: t.Name(), Err: err})
		}
	}
	at := r.now()
	id := ""
	if m != nil {
		id = m.ID
	}
	if r.verify && m != nil {
		for i, res := range results {
			if res.Err != nil {
				continue
			}
			if _, verr := backup.Verify(ctx, r.targets[i], m.ID, r.kek, r.dir); verr != nil {
				results[i].Err = fmt.Errorf("read back: %w", verr)
				err = errors.Join(err, fmt.Errorf("%s: %w", r.targets[i].Name(), results[i].Err))
			}
		}
	}
	if serr := backup.UpdateState(r.dir, func(s *backup.State) {
		s.Record(id, results, at)
		if r.verify {
			for _, res := range results {
				if res.Err == nil {
					s.Target(res.Target).LastVerified = id
				}
			}
		}
	}); serr != nil {
		err = errors.Join(err, serr)
	}
	return m, err
}

func backupNow(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup now", backupHelp, env)
	bf.add(fs, true, true)
	bf.addDB(fs)
	noVerify := fs.Bool("no-verify", false, "do not read each copy back after writing it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkDB(bf.db); err != nil {
		return err
	}
	if bf.db != "" {
		// The data directory holds the work files and the status.
		if st, err := os.Stat(bf.dir); err != nil || !st.IsDir() {
			return fmt.Errorf("no data directory %s (--data): the backup's work files and status go there", bf.dir)
		}
	} else if _, err := os.Stat(filepath.Join(bf.dir, backup.DatabaseFile)); err != nil {
		return fmt.Errorf("no database in %s (--data; for PostgreSQL give --db postgres://…): %w", bf.dir, err)
	}
	kek, err := backupKEK(bf.dir, bf.keyFile, bf.masterKey)
	if err != nil {
		return err
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return err
	}
	m, err := backupRun{dir: bf.dir, dsn: bf.db, targets: targets, kek: kek, verify: !*noVerify, now: time.Now}.run(ctx)
	if err != nil {
		return err
	}
	for _, t := range targets {
		fmt.Fprintf(env.Stdout, "stored on %s\n", t.Name())
	}
	fmt.Fprintf(env.Stdout, "%s\n", m.ID)
	return nil
}

func backupList(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup list", backupHelp, env)
	bf.add(fs, false, true)
	bf.addDB(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	for _, t := range targets {
		l, err := backup.List(ctx, t)
		if err != nil {
			return err
		}
		for _, b := range l.Backups {
			if b.Err != nil {
				fmt.Fprintf(tw, "%s\tunreadable manifest: %v\t\t\t%s\n", b.ID, b.Err, t.Name())
				continue
			}
			m := b.Manifest
			fmt.Fprintf(tw, "%s\t%s\t%s\tschema %d\t%s\n", b.ID, m.CreatedAt.UTC().Format(time.RFC3339), byteSize(m.CiphertextSize), m.SchemaVersion, t.Name())
		}
		for _, id := range l.Orphans {
			fmt.Fprintf(env.Stderr, "incomplete backup (no manifest) on %s: %s\n", t.Name(), id)
		}
	}
	return tw.Flush()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func backupVerify(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup verify", backupHelp, env)
	bf.add(fs, true, true)
	bf.addDB(fs)
	id, rest, err := takeArg(args, "backup ID", fs)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	kek, err := backupKEK(bf.dir, bf.keyFile, bf.masterKey)
	if err != nil {
		return err
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return err
	}
	tmp := os.TempDir()
	if st, err := os.Stat(bf.dir); err == nil && st.IsDir() {
		tmp = bf.dir // private, and as large as the database
	}
	var failed []error
	for _, t := range targets {
		m, err := backup.Verify(ctx, t, id, kek, tmp)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", t.Name(), err))
			continue
		}
		check := "integrity ok"
		if m.DBEngine() == backup.EnginePostgres {
			check = "PostgreSQL archive, pg_restore --list ok"
		}
		fmt.Fprintf(env.Stdout, "%s on %s: ok (%d chunks checked, database %s, schema %d, %s)\n",
			id, t.Name(), (m.CiphertextSize+int64(m.ChunkSize)+15)/int64(m.ChunkSize+16), byteSize(m.PlaintextSize), m.SchemaVersion, check)
		if _, err := os.Stat(filepath.Join(bf.dir, backup.DatabaseFile)); err == nil || (bf.db != "" && bf.dir != "") {
			backup.UpdateState(bf.dir, func(s *backup.State) {
				if ts := s.Target(t.Name()); ts.LastVerified < id {
					ts.LastVerified = id
				}
			})
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("backup %s does not verify:\n%w", id, errors.Join(failed...))
	}
	return nil
}

func backupStatus(args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup status", backupHelp, env)
	bf.add(fs, false, false)
	bf.addDB(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := backup.LoadState(bf.dir)
	if err != nil {
		return err
	}
	if len(s.Targets) == 0 {
		fmt.Fprintf(env.Stdout, "no backup recorded in %s yet; run: coffer backup now --data %s\n", bf.dir, bf.dir)
		return nil
	}
	names := make([]string, 0, len(s.Targets))
	for n := range s.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	failing := false
	for _, n := range names {
		ts := s.Targets[n]
		fmt.Fprintf(env.Stdout, "%s\n", n)
		if ts.LastSuccess != "" {
			fmt.Fprintf(env.Stdout, "  last success  %s  %s\n", ts.LastSuccessAt.Format(time.RFC3339), ts.LastSuccess)
		} else {
			fmt.Fprintf(env.Stdout, "  last success  never\n")
		}
		if ts.LastVerified != "" {
			fmt.Fprintf(env.Stdout, "  last verified %s\n", ts.LastVerified)
		}
		if !ts.LastFailureAt.IsZero() {
			fmt.Fprintf(env.Stdout, "  last failure  %s  %s\n", ts.LastFailureAt.Format(time.RFC3339), ts.LastError)
			if ts.LastFailureAt.After(ts.LastSuccessAt) {
				failing = true
			}
		}
	}
	if failing {
		return errors.New("a backup target is failing (see its last failure above)")
	}
	return nil
}

func backupPrune(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup prune", backupHelp, env)
	bf.add(fs, false, true)
	bf.addDB(fs)
	addRetentionFlags(fs, &bf.policy, "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.policy.Validate(); err != nil {
		return err
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return err
	}
	return pruneTargets(ctx, bf.dir, targets, bf.policy, time.Now(), func(t backup.Target, r *backup.PruneResult) {
		for _, id := range r.Deleted {
			fmt.Fprintf(env.Stdout, "deleted %s from %s\n", id, t.Name())
		}
		for _, id := range r.Orphans {
			fmt.Fprintf(env.Stdout, "deleted incomplete %s from %s\n", id, t.Name())
		}
	})
}

// pruneTargets prunes each target, protecting its newest verified backup.
func pruneTargets(ctx context.Context, dir string, targets []backup.Target, p backup.Policy, now time.Time, report func(backup.Target, *backup.PruneResult)) error {
	st, err := backup.LoadState(dir)
	if err != nil {
		st = &backup.State{Targets: map[string]*backup.TargetState{}}
	}
	var failed []error
	for _, t := range targets {
		r, err := backup.Prune(ctx, t, p, now, st.Target(t.Name()).LastVerified)
		if r != nil && report != nil {
			report(t, r)
		}
		if err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

const restoreHelp = `Usage: coffer restore ID --to NEWDIR [--target URL | --data DIR] [--master-key-file F | --master-key env|vault]
       coffer restore ID --to-db postgres://USER@HOST:PORT/NEWDB [--to NEWDIR] [--target URL | --data DIR] [master key flags]

Restores backup ID into NEWDIR (new, or empty): NEWDIR/coffer.db, mode
0600, in a directory of mode 0700. The backup is fully checked (checksum,
every chunk, database integrity) before it is put in place; when anything
fails nothing is written. The master key that made the backup is needed:
--master-key-file F (copied to NEWDIR/master.key, so that
"coffer serve --data NEWDIR" finds it), or --master-key env (COFFER_MASTER_KEY)
or vault (start the server with the same provider). The backups are found
with --target URL, or in DIR/backups with --data DIR.

A backup of a PostgreSQL database restores into a new, empty database
(createdb -O USER NEWDB first; the password from PGPASSWORD or ~/.pgpass,
never in the URL): --to-db postgres://USER@HOST:PORT/NEWDB. It is fully
checked first (checksum, every chunk, pg_restore --list, schema version);
pg_restore then loads it in one transaction that stops at the first error
(--single-transaction --exit-on-error --no-owner), so a failure leaves the
database empty; Coffer then opens it, applying any newer migration. A
database that already has tables is refused. --to NEWDIR, if given, is a
new data directory that gets the --master-key-file copy: then
"coffer serve --data NEWDIR --db postgres://…/NEWDB".
`

func runRestore(ctx context.Context, args []string, env Env) error {
	if isRestoreAt(args) {
		return runRestoreAt(ctx, args, env)
	}
	bf := newBackupFlags(env)
	bf.dir = ""
	fs := newFlagSet("restore", restoreHelp, env)
	bf.add(fs, true, true)
	to := fs.String("to", "", "new or empty directory to restore into (with --to-db: a new data directory for the master key)")
	toDB := fs.String("to-db", "", "restore a PostgreSQL backup into this new, empty database: postgres://USER@HOST:PORT/NEWDB")
	id, rest, err := takeArg(args, "backup ID", fs)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if *to == "" && *toDB == "" {
		fmt.Fprintln(env.Stderr, "give --to NEWDIR (or --to-db postgres://…/NEWDB for a PostgreSQL backup)")
		fs.Usage()
		return errUsage
	}
	if *toDB != "" && !isPostgres(*toDB) {
		return errors.New("--to-db: give a postgres://USER@HOST:PORT/NEWDB URL of a new, empty database")
	}
	kek, target, err := bf.restoreSource(ctx, *to, env)
	if err != nil {
		return err
	}
	man, err := backup.ReadManifest(ctx, target, id)
	if err != nil {
		return err
	}
	switch {
	case man.DBEngine() == backup.EnginePostgres && *toDB == "":
		return fmt.Errorf("backup %s holds a PostgreSQL database, which does not restore into a directory: create a new, empty database (createdb -O USER NEWDB) and run: coffer restore %s --to-db postgres://USER@HOST:PORT/NEWDB --to NEWDIR …", id, id)
	case man.DBEngine() != backup.EnginePostgres && *toDB != "":
		return fmt.Errorf("backup %s holds a SQLite database (coffer.db), which does not restore into PostgreSQL: restore it with --to NEWDIR", id)
	case *toDB != "":
		return restorePostgres(ctx, bf, kek, target, id, *toDB, *to, env)
	}
	m, err := backup.Restore(ctx, target, id, kek, *to)
	if err != nil {
		return err
	}
	if err := copyMasterKey(bf.keyFile, *to); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %s (made %s, schema %d) into %s\n", m.ID, m.CreatedAt.UTC().Format(time.RFC3339), m.SchemaVersion, *to)
	fmt.Fprintf(env.Stdout, "start it with: coffer serve --data %s\n", *to)
	return nil
}

// restoreSource checks a restore's flags and returns the master key and
// the one target to restore from.
func (bf *backupFlags) restoreSource(ctx context.Context, to string, env Env) (keyring.KEK, backup.Target, error) {
	if len(bf.targets) > 1 {
		return nil, nil, errors.New("restore reads from one --target")
	}
	if bf.keyFile == "" && bf.masterKey.Provider == providerFile && bf.dir == "" {
		return nil, nil, errors.New("restore needs the master key: --master-key-file F, or --master-key env|vault")
	}
	if abs, err := filepath.Abs(to); err == nil && bf.dir != "" && to != "" {
		if d, err := filepath.Abs(bf.dir); err == nil && d == abs {
			return nil, nil, errors.New("--to must be a new directory, not the data directory")
		}
	}
	kek, err := backupKEK(bf.dir, bf.keyFile, bf.masterKey)
	if err != nil {
		return nil, nil, err
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	return kek, targets[0], nil
}

// restorePostgres restores PostgreSQL backup id into the empty database
// toDB, brings it to this Coffer's schema, and, with --to, makes the new
// data directory that holds the master key.
func restorePostgres(ctx context.Context, bf *backupFlags, kek keyring.KEK, target backup.Target, id, toDB, to string, env Env) (err error) {
	tmp := os.TempDir()
	if to != "" {
		var created bool
		if created, err = newDataDir(to); err != nil {
			return err
		}
		defer func() {
			if err != nil && created {
				os.RemoveAll(to)
			}
		}()
		tmp = to // private (0700)
	}
	m, err := backup.RestorePostgres(ctx, target, id, kek, toDB, tmp)
	if err != nil {
		return err
	}
	// Opening applies any migration newer than the backup, as a node would.
	st, err := postgres.Open(ctx, toDB)
	if err != nil {
		return fmt.Errorf("restore: open the restored database: %w", err)
	}
	v, err := st.SchemaVersion(ctx)
	st.Close()
	if err != nil {
		return fmt.Errorf("restore: open the restored database: %w", err)
	}
	if v < m.SchemaVersion {
		return fmt.Errorf("restore: the restored database has schema version %d, older than the backup's %d", v, m.SchemaVersion)
	}
	if to != "" {
		if err := copyMasterKey(bf.keyFile, to); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "restored %s (made %s, schema %d) into %s\n", m.ID, m.CreatedAt.UTC().Format(time.RFC3339), m.SchemaVersion, safeURL(toDB))
	dir := to
	if dir == "" {
		dir = "DIR"
		fmt.Fprintln(env.Stdout, "DIR must hold the master key that made the backup (master.key), or use --master-key env|vault")
	}
	fmt.Fprintf(env.Stdout, "start it with: coffer serve --data %s --db %s\n", dir, safeURL(toDB))
	return nil
}

// newDataDir makes dir a new, private data directory: absent (created
// 0700) or empty. created reports whether it was made here.
func newDataDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("restore: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("restore: %s is not empty; give a new directory, never a data directory", dir)
	}
	return false, os.Chmod(dir, 0o700)
}

// safeURL is a postgres:// URL without its password, to print.
func safeURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(the --to-db URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// copyMasterKey copies --master-key-file into a restored directory, so
// that "coffer serve --data DIR" finds it; on failure the restored
// database is removed again.
func copyMasterKey(keyFile, dir string) error {
	if keyFile == "" {
		return nil
	}
	master, err := keyring.ReadMasterKeyFile(keyFile)
	if err == nil {
		err = keyring.WriteMasterKeyFile(filepath.Join(dir, keyring.KeyFileName), master)
		clear(master)
	}
	if err != nil {
		os.Remove(filepath.Join(dir, backup.DatabaseFile))
		return fmt.Errorf("restore: copy the master key: %w (the restored database was removed)", err)
	}
	return nil
}

// backupConfig is the backup schedule of coffer serve.
type backupConfig struct {
	Every time.Duration
	// StartDelay is the earliest first backup after start, so that a
	// server started briefly (or crash-looping) does not back up each time.
	StartDelay time.Duration
	Targets    []string
	Policy     backup.Policy
	// StreamEvery is how often changes are shipped to the targets for
	// point-in-time restore (0: off); StreamRetain how far back.
	StreamEvery  time.Duration
	StreamRetain time.Duration
}

func defaultBackupConfig() backupConfig {
	return backupConfig{Every: 24 * time.Hour, StartDelay: 5 * time.Minute, Policy: backup.DefaultPolicy(),
		StreamEvery: 2 * time.Second, StreamRetain: 7 * 24 * time.Hour}
}

func (c *backupConfig) addFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Every, "backup-every", c.Every, "take an encrypted backup this often while serving (0: never)")
	fs.DurationVar(&c.StartDelay, "backup-start-delay", c.StartDelay, "when no backup succeeded within --backup-every, take the first one this long after start")
	fs.Func("backup-target", "where scheduled backups go: directory, file:///path or s3://bucket/prefix; repeatable (default DATA/backups)", func(s string) error {
		c.Targets = append(c.Targets, s)
		return nil
	})
	addRetentionFlags(fs, &c.Policy, "backup-")
	fs.DurationVar(&c.StreamEvery, "stream-every", c.StreamEvery, "ship the database's changes to the backup targets this often, for point-in-time restore (0: off)")
	fs.DurationVar(&c.StreamRetain, "stream-retain", c.StreamRetain, "keep the continuous backup stream this far back")
}

func (c backupConfig) validate() error {
	var problems []error
	if c.Every < 0 || (c.Every > 0 && c.Every < time.Minute) {
		problems = append(problems, fmt.Errorf("--backup-every %v: 0 (off) or at least 1m", c.Every))
	}
	if c.StreamEvery < 0 || (c.StreamEvery > 0 && c.StreamEvery < 100*time.Millisecond) || c.StreamEvery > time.Hour {
		problems = append(problems, fmt.Errorf("--stream-every %v: 0 (off) or between 100ms and 1h", c.StreamEvery))
	}
	if c.StreamEvery > 0 && c.StreamRetain < time.Hour {
		problems = append(problems, fmt.Errorf("--stream-retain %v must be at least 1h", c.StreamRetain))
	}
	if c.StartDelay < 0 {
		problems = append(problems, fmt.Errorf("--backup-start-delay %v must not be negative", c.StartDelay))
	}
	if err := c.Policy.Validate(); err != nil {
		problems = append(problems, fmt.Errorf("--backup-keep-*: %w", err))
	}
	return errors.Join(problems...)
}

// Log keys of the backup schedule.
const (
	logKeyBackup = "backup"
	logKeyTarget = "target"
)

// startBackups runs the backup schedule until the returned stop is called
// (stop waits for a backup in progress to notice and end).
func startBackups(ctx context.Context, cfg ServeConfig, a *app, getenv func(string) string, log *slog.Logger) (stop func()) {
	if cfg.Backup.Every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s := &scheduler{cfg: cfg, a: a, getenv: getenv, log: log, now: time.Now}
	go func() {
		defer close(done)
		s.loop(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

type scheduler struct {
	cfg    ServeConfig
	a      *app
	getenv func(string) string
	log    *slog.Logger
	now    func() time.Time
	// locked, if set, is called while a PostgreSQL node holds the
	// scheduled-backup lock (tests hold the lock there).
	locked func()
}

// firstDelay is StartDelay when some target has no success within the
// interval, else what remains of the interval.
func (s *scheduler) firstDelay() time.Duration {
	st, err := backup.LoadState(s.cfg.DataDir)
	if err != nil || len(st.Targets) == 0 {
		return s.cfg.Backup.StartDelay
	}
	oldest := s.now()
	for _, ts := range st.Targets {
		if ts.LastSuccessAt.Before(oldest) {
			oldest = ts.LastSuccessAt
		}
	}
	return max(oldest.Add(s.cfg.Backup.Every).Sub(s.now()), s.cfg.Backup.StartDelay)
}

func (s *scheduler) loop(ctx context.Context) {
	t := time.NewTimer(s.firstDelay())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.once(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled backup failed", logKeyErr, err)
			s.alert(ctx, err)
		}
		t.Reset(s.cfg.Backup.Every)
	}
}

// once takes a backup to every target, reads each back, then prunes. On
// PostgreSQL, several nodes share the database and run this schedule
// each: a node takes the scheduled backup only while it holds the
// database's scheduled-backup lock, and not when another node's backup on
// every target is younger than the interval, so the nodes together take
// about one backup an interval and never two at once.
func (s *scheduler) once(ctx context.Context) error {
	dir := s.cfg.DataDir
	if s.cfg.DB != "" {
		release, ok, err := backup.TryScheduleLock(ctx, s.cfg.DB)
		if err != nil {
			return err
		}
		if !ok {
			s.log.Info("scheduled backup skipped: another Coffer node is taking one")
			return nil
		}
		defer release()
		if s.locked != nil {
			s.locked()
		}
	}
	kek, err := backupKEK(dir, "", s.cfg.MasterKey)
	if err != nil {
		return err
	}
	targets, err := openTargets(ctx, dir, s.cfg.Backup.Targets, s.getenv)
	if err != nil {
		backup.UpdateState(dir, func(st *backup.State) {
			for _, u := range s.cfg.Backup.Targets {
				ts := st.Target(u)
				ts.LastFailureAt, ts.LastError = s.now().UTC(), err.Error()
			}
		})
		return err
	}
	if s.cfg.DB != "" {
		if at, ok := newestOnAll(ctx, targets); ok && s.now().Sub(at) < s.cfg.Backup.Every*9/10 {
			s.log.Info("scheduled backup skipped: another Coffer node took one recently", "newest", at.UTC().Format(time.RFC3339))
			return nil
		}
	}
	m, err := backupRun{dir: dir, dsn: s.cfg.DB, targets: targets, kek: kek, verify: true, now: s.now}.run(ctx)
	if err != nil {
		return err
	}
	s.log.Info("scheduled backup done", logKeyBackup, m.ID, "targets", len(targets))
	return pruneTargets(ctx, dir, targets, s.cfg.Backup.Policy, s.now(), func(t backup.Target, r *backup.PruneResult) {
		for _, id := range append(r.Deleted, r.Orphans...) {
			s.log.Info("pruned backup", logKeyBackup, id, logKeyTarget, t.Name())
		}
	})
}

// newestOnAll is the time of the oldest of the targets' newest backups;
// ok is false when a target has none or cannot be listed.
func newestOnAll(ctx context.Context, targets []backup.Target) (at time.Time, ok bool) {
	for i, t := range targets {
		l, err := backup.List(ctx, t)
		if err != nil {
			return time.Time{}, false
		}
		var newest time.Time
		for _, b := range l.Backups {
			if b.Err == nil && b.Manifest.CreatedAt.After(newest) {
				newest = b.Manifest.CreatedAt
			}
		}
		if newest.IsZero() {
			return time.Time{}, false
		}
		if i == 0 || newest.Before(at) {
			at = newest
		}
	}
	return at, len(targets) > 0
}

// alert tells every administrator that a backup failed.
func (s *scheduler) alert(ctx context.Context, cause error) {
	rows, err := s.a.store.DB().QueryContext(ctx, `SELECT email FROM users WHERE is_admin = 1 ORDER BY id`)
	if err != nil {
		s.log.Error("backup alert: find administrators", logKeyErr, err)
		return
	}
	var to []string
	for rows.Next() {
		var e string
		if rows.Scan(&e) == nil {
			to = append(to, e)
		}
	}
	rows.Close()
	db := ""
	if s.cfg.DB != "" {
		db = " --db postgres://…"
	}
	text := fmt.Sprintf("A scheduled backup of Coffer failed at %s.\n\n%v\n\nThe last good backups are kept. Run \"coffer backup status --data DIR\" on the server for each target's state, fix the cause, and run \"coffer backup now --data DIR%s\".\n",
		s.now().UTC().Format(time.RFC3339), cause, db)
	for _, addr := range to {
		if err := s.a.auth.Notifier.Notify(ctx, notify.Message{To: addr, Subject: "Coffer backup failed", Text: text, Kind: "backup.failed"}); err != nil {
			s.log.Error("backup alert", logKeyErr, err)
		}
	}
}
