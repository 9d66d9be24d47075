// Package postgres opens Coffer's store on PostgreSQL (pgx), for firms
// that run several stateless Coffer nodes on one database. Everything that
// must hold across nodes — sessions, revocations, rate limits, lockouts,
// used one-time codes, push approvals, step-up freshness — is in the
// database, and write transactions take a cluster-wide lock (see
// sqlstore's tx), so a guarantee that holds on SQLite holds here too.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"coffer/internal/store/sqlstore"
)

// MaxConns is each node's pool size: readers run in parallel, writers
// queue on the write lock, so more connections mostly add idle backends.
const MaxConns = 16

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string) and applies migrations. Errors never repeat the DSN,
// which may hold a password.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("read the PostgreSQL connection string: it is not a valid postgres:// URL or key=value list")
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "coffer"
	}
	// Times are unix seconds in integer columns; the session time zone
	// matters only to date arithmetic in reports, which must not move with
	// the server's locale.
	cfg.RuntimeParams["timezone"] = "UTC"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d database %q as %q: %w", cfg.Host, cfg.Port, cfg.Database, cfg.User, redact(err, cfg.Password))
	}
	s, err := sqlstore.New(ctx, db, sqlstore.Postgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// redact keeps a password out of an error message, in case a driver ever
// quotes its configuration.
func redact(err error, password string) error {
	if password == "" {
		return err
	}
	return redacted{err, password}
}

type redacted struct {
	err      error
	password string
}

func (r redacted) Error() string {
	return strings.ReplaceAll(r.err.Error(), r.password, "********")
}

func (r redacted) Unwrap() error { return r.err }
