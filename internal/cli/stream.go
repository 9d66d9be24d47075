package cli

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"coffer/internal/backup"
	"coffer/internal/backup/stream"
)

const restoreAtHelp = `Usage: coffer restore --at TIME --to NEWDIR [--target URL | --data DIR] [--master-key-file F | --master-key env|vault]

Restores the database as it was at TIME (RFC 3339, e.g. 2026-11-25T10:30:00Z)
from the continuous backup stream that "coffer serve" ships to its backup
targets every --stream-every (default 2 s): the newest image taken at or
before TIME. "coffer backup points" lists what can be restored. NEWDIR
must be new or empty; nothing is written unless the image passes SQLite's
integrity check. The stream is SQLite's: on PostgreSQL (--db), point-in-time
recovery is PostgreSQL's own WAL archiving (archive_command; see the README).
`

// isRestoreAt reports whether restore's arguments ask for a moment rather
// than a backup ID.
func isRestoreAt(args []string) bool {
	for _, a := range args {
		if a == "--at" || a == "-at" || strings.HasPrefix(a, "--at=") || strings.HasPrefix(a, "-at=") {
			return true
		}
	}
	return false
}

// parseAt reads a restore time: RFC 3339, with or without fractions.
func parseAt(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: give a time like 2026-11-25T10:30:00Z (RFC 3339, with its zone)", s)
}

func runRestoreAt(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	bf.dir = ""
	fs := newFlagSet("restore", restoreAtHelp, env)
	bf.add(fs, true, true)
	to := fs.String("to", "", "new or empty directory to restore into")
	atFlag := fs.String("at", "", "the moment to restore, RFC 3339")
	toDB := fs.String("to-db", "", "not for --at: point-in-time recovery on PostgreSQL is PostgreSQL's own WAL archiving")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *toDB != "" {
		return errPGStream
	}
	if *to == "" || *atFlag == "" {
		fmt.Fprintln(env.Stderr, "give --at TIME and --to NEWDIR")
		fs.Usage()
		return errUsage
	}
	at, err := parseAt(*atFlag)
	if err != nil {
		return err
	}
	kek, target, err := bf.restoreSource(ctx, *to, env)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := stream.RestoreTo(ctx, target, kek, at, *to)
	if err != nil {
		return err
	}
	if err := copyMasterKey(bf.keyFile, *to); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored the database as it was at %s (generation %s, %d segments, %s) into %s\n",
		r.At.UTC().Format(time.RFC3339Nano), r.Generation, r.Segments, time.Since(start).Round(time.Millisecond), *to)
	fmt.Fprintf(env.Stdout, "start it with: coffer serve --data %s\n", *to)
	return nil
}

const pointsHelp = `Usage: coffer backup points [--data DIR] [--target URL]

(With --db postgres://…: refused, pointing to PostgreSQL's own WAL
archiving, which is how point-in-time recovery works there.)

Lists the moments the continuous backup stream can restore to: one line a
generation, "FROM  TO  SEGMENTS  GENERATION"; any moment from FROM to the
last TO can be restored with "coffer restore --at TIME".
`

func backupPoints(ctx context.Context, args []string, env Env) error {
	bf := newBackupFlags(env)
	fs := newFlagSet("backup points", pointsHelp, env)
	bf.add(fs, false, true)
	bf.addDB(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if bf.db != "" {
		return errPGStream
	}
	targets, err := openTargets(ctx, bf.dir, bf.targets, env.Getenv)
	if err != nil {
		return err
	}
	for _, t := range targets {
		ps, err := stream.Points(ctx, t)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintf(env.Stdout, "%s: no continuous backup yet\n", t.Name())
		}
		for _, p := range ps {
			fmt.Fprintf(env.Stdout, "%s  %s  %d  %s\n", p.From.UTC().Format(time.RFC3339Nano), p.To.UTC().Format(time.RFC3339Nano), p.Segments, p.Generation)
		}
	}
	return nil
}

// startStream ships the live database's changes to the backup targets
// every cfg.Backup.StreamEvery until the returned stop is called; stop
// ships once more first. A target that cannot be reached at start does not
// keep Coffer from serving: it is logged and tried again.
func startStream(ctx context.Context, cfg ServeConfig, a *app, getenv func(string) string, log *slog.Logger) (stop func(), err error) {
	if cfg.Backup.StreamEvery <= 0 {
		return func() {}, nil
	}
	if cfg.DB != "" {
		log.Info("continuous backup (--stream-every) is off: it ships SQLite's pages; point-in-time recovery on PostgreSQL is PostgreSQL's own WAL archiving (archive_command), see the README's PostgreSQL backups; scheduled pg_dump backups run as set by --backup-every")
		return func() {}, nil
	}
	kek, err := backupKEK(cfg.DataDir, "", cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	// A connection pool of its own, read-only: the shipper's reads never
	// take a connection from the server's pool.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, backup.DatabaseFile)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("continuous backup: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var targets []backup.Target
		for {
			var err error
			if targets, err = openTargets(ctx, cfg.DataDir, cfg.Backup.Targets, getenv); err == nil {
				break
			}
			log.Error("continuous backup: a target cannot be opened; trying again in 30s", logKeyErr, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(30 * time.Second):
			}
		}
		s, err := stream.New(stream.Options{DB: db, Targets: targets, KEK: kek, Interval: cfg.Backup.StreamEvery, Retain: cfg.Backup.StreamRetain, Log: log})
		if err != nil {
			log.Error("continuous backup", logKeyErr, err)
			return
		}
		log.Info("continuous backup on", "every", cfg.Backup.StreamEvery, "targets", len(targets))
		s.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		db.Close()
	}, nil
}
