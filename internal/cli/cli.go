// Package cli is the coffer command line: each subcommand with its own
// flags and usage text.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/notify"
	"coffer/internal/store/postgres"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
)

// Env is the process environment a command runs in; tests supply their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// OnListen, if set, is called with the server's address once it listens.
	OnListen func(addr string)
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

const usage = `Coffer — self-hosted accounting with mandatory two-factor sign-in.

Usage:
  coffer serve [flags]                 run the HTTPS server
  coffer admin user add [flags]        create a user (password on standard input)
  coffer admin user unlock [flags]     lift a sign-in lockout
  coffer admin org delete [flags]      delete an organisation and destroy its data keys
  coffer keys status|rotate|rotate-master [flags]
                                       data keys, rotation, master key rotation
  coffer verify pair|list|approve|code [flags]
                                       Coffer Verify: approve sign-ins from this device
  coffer backup now|list|verify|status|prune [flags]
                                       encrypted backups
  coffer restore ID --to NEWDIR [flags]
                                       restore a backup into a new data directory
  coffer audit verify|checkpoint [flags]
                                       check the tamper-evident audit log
  coffer help [command]                show help

Run "coffer <command> -h" for a command's flags.
`

// errUsage means the usage text was already printed.
var errUsage = errors.New("usage")

// Run runs the command line args (without the program name) and returns the
// process exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	err := run(ctx, args, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(env.Stderr, "coffer: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], env)
	case "admin":
		return runAdmin(ctx, args[1:], env)
	case "keys":
		return runKeys(ctx, args[1:], env)
	case "verify":
		return runVerify(ctx, args[1:], env)
	case "backup":
		return runBackup(ctx, args[1:], env)
	case "restore":
		return runRestore(ctx, args[1:], env)
	case "audit":
		return runAudit(ctx, args[1:], env)
	case "help", "-h", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, env)
		}
		fmt.Fprint(env.Stdout, usage)
		return nil
	default:
		fmt.Fprintf(env.Stderr, "coffer: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// dataDirDefault is where Coffer keeps its files unless told otherwise.
func dataDirDefault(env Env) string {
	if v := env.Getenv("COFFER_DATA"); v != "" {
		return v
	}
	return "coffer-data"
}

// app is what every command that touches the data needs.
type app struct {
	dir    string
	store  *sqlstore.Store
	keys   *keyring.Envelope
	auth   *auth.Service
	ledger *ledger.Service
	log    *slog.Logger
	// outbox holds notifications until coffer serve's worker delivers them.
	outbox *notify.Outbox
}

func (a *app) Close() error { return a.store.Close() }

// openAppKeys prepares the data directory (0700), the database and the
// master key from the provider mk (the file: 0600), opens the keyring and
// wires the services.
func openAppKeys(ctx context.Context, dir, db string, cfg auth.Config, workers int, log *slog.Logger, mk masterKeyConfig) (*app, bool, error) {
	if dir == "" {
		return nil, false, errors.New("no data directory given (--data)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data directory: %w", err)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, false, fmt.Errorf("data directory: %w", err)
	} else if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("data directory %s is accessible to other users (mode %v); run: chmod 700 %s", dir, st.Mode().Perm(), dir)
	}
	if mk.Getenv == nil {
		mk.Getenv = func(string) string { return "" }
	}
	st, err := openStore(ctx, dir, db)
	if err != nil {
		return nil, false, err
	}
	kek, bootstrap, created, err := loadKEK(ctx, dir, st, mk)
	if err != nil {
		st.Close()
		return nil, false, err
	}
	keys, err := keyring.OpenEnvelope(ctx, kek, st, bootstrap)
	clear(bootstrap)
	if err != nil {
		st.Close()
		return nil, false, err
	}
	if err := st.SetAuditKey(ctx, keys); err != nil {
		st.Close()
		return nil, false, err
	}
	if mk.Provider == providerFile {
		if err := dropOldKeyFile(ctx, dir, st, kek, log); err != nil {
			st.Close()
			return nil, false, err
		}
	}
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	pool := auth.NewHashPool(workers, 4*workers, 64)
	// On PostgreSQL other nodes may share the books: limits must hold
	// across them.
	cfg.SharedClientLimit = db != ""
	svc, err := auth.NewService(st, keys, keyring.AAD, pool, cfg, log)
	if err != nil {
		st.Close()
		return nil, false, err
	}
	// Notifications wait in the outbox until coffer serve delivers them,
	// to the mail server or to DATA/mail (serve_smtp.go).
	outbox := notify.NewOutbox(st, keys, keyring.AAD, log)
	svc.Notifier = outbox
	led := ledger.NewService(st, keys, keyring.OrgAAD, log)
	return &app{dir: dir, store: st, keys: keys, auth: svc, ledger: led, log: log, outbox: outbox}, created, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: use text or json", format)
	}
}

func newFlagSet(name, help string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, help)
		fmt.Fprintln(env.Stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and refuses stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// errorText is the user-facing text of a domain error, the full chain of
// any other.
func errorText(err error) string {
	if e := errs.As(err); e != nil && e.Code != errs.EINTERNAL {
		return e.Message
	}
	return err.Error()
}

const dbFlagUsage = "database: empty for SQLite in the data directory (default), or postgres://USER@HOST:PORT/DB?sslmode=verify-full for PostgreSQL; the password from PGPASSWORD or ~/.pgpass, never in the URL (default $COFFER_DB)"

// dataFlags registers --data and --db, which every command that opens the
// books takes.
func dataFlags(fs *flag.FlagSet, env Env) (dir, db *string) {
	return fs.String("data", dataDirDefault(env), "data directory"), fs.String("db", env.Getenv("COFFER_DB"), dbFlagUsage)
}

// openStore opens the books: SQLite in the data directory unless db names
// a PostgreSQL database.
func openStore(ctx context.Context, dir, db string) (*sqlstore.Store, error) {
	switch {
	case db == "":
		return sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return postgres.Open(ctx, db)
	default:
		return nil, errors.New("--db: give a postgres:// URL, or leave it empty for SQLite in the data directory")
	}
}
