package sqlstore

import (
	"coffer/internal/idem"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialect is the SQL engine under a Store.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Advisory lock keys (PostgreSQL). writeLock is taken by every write
// transaction, which gives PostgreSQL the guarantee the store was written
// for on SQLite (BEGIN IMMEDIATE): write transactions run one at a time
// across every node, each seeing everything committed before it, so the
// checks inside a transaction (last owner, last factor, lock date, balance,
// payment ids) cannot race with another node's transaction. Reads never
// wait for it.
const (
	writeLock     int64 = 0x436f666665720001 // "Coffer" 1
	migrationLock int64 = 0x436f666665720002
)

//go:embed migrations/sqlite/*.up.sql migrations/postgres/*.up.sql
var migrationFS embed.FS

// DB is a database handle that speaks the store's placeholder style: '?'
// and '?N' are rewritten to '$N' on PostgreSQL, and bool arguments become
// 0/1 (both engines keep flags in integer columns).
type DB struct {
	raw   *sql.DB
	d     Dialect
	binds sync.Map // query → rewritten query
	bound atomic.Int64
}

func wrap(db *sql.DB, d Dialect) *DB { return &DB{raw: db, d: d} }

// SQL is the underlying handle, for engine-specific maintenance (backups).
func (db *DB) SQL() *sql.DB { return db.raw }

func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c := idem.ClaimFrom(ctx); c != nil && isWrite(query) {
		// A write outside a transaction, for a request with an
		// Idempotency-Key: in a transaction after all, so that the key
		// records it (see idem).
		var res sql.Result
		err := db.tx(ctx, func(tx *Tx) error {
			var err error
			res, err = tx.ExecContext(ctx, query, args...)
			return err
		})
		return res, err
	}
	return db.raw.ExecContext(ctx, db.bind(query), db.args(args)...)
}

func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.raw.QueryContext(ctx, db.bind(query), db.args(args)...)
}

func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.raw.QueryRowContext(ctx, db.bind(query), db.args(args)...)
}

// Tx is a transaction on a DB, with the same placeholder style.
type Tx struct {
	raw *sql.Tx
	db  *DB
}

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.raw.ExecContext(ctx, tx.db.bind(query), tx.db.args(args)...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.raw.QueryContext(ctx, tx.db.bind(query), tx.db.args(args)...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.raw.QueryRowContext(ctx, tx.db.bind(query), tx.db.args(args)...)
}

// querier is what *DB and *Tx share, so helpers serve both.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertID runs an INSERT and returns the new row's id. RETURNING works on
// both engines, where LastInsertId works only on SQLite.
func insertID(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	if db, ok := q.(*DB); ok && idem.ClaimFrom(ctx) != nil {
		// As in DB.ExecContext.
		var id int64
		err := db.tx(ctx, func(tx *Tx) error {
			var err error
			id, err = insertID(ctx, tx, query, args...)
			return err
		})
		return id, err
	}
	var id int64
	err := q.QueryRowContext(ctx, query+` RETURNING id`, args...).Scan(&id)
	return id, err
}

func (db *DB) bind(query string) string {
	if db.d != Postgres {
		return query
	}
	if v, ok := db.binds.Load(query); ok {
		return v.(string)
	}
	out := rebind(query)
	// The store's queries are a fixed set, but a few embed lists of ids;
	// past a bound, those are rewritten each time instead of kept.
	if db.bound.Add(1) <= maxBinds {
		db.binds.Store(query, out)
	}
	return out
}

// maxBinds bounds the rewritten queries a DB keeps.
const maxBinds = 2048

// rebind rewrites SQLite placeholders to PostgreSQL's: '?N' keeps its
// number and a bare '?' takes one more than the largest so far, as SQLite
// numbers them. Quoted strings and identifiers are left alone.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	highest := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		if quote != 0 {
			b.WriteByte(c)
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
			b.WriteByte(c)
		case '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(query[i+1 : j])
			}
			highest = max(highest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (db *DB) args(args []any) []any {
	if db.d != Postgres {
		return args
	}
	for i, a := range args {
		if v, ok := a.(bool); ok {
			if v {
				args[i] = int64(1)
			} else {
				args[i] = int64(0)
			}
		}
	}
	return args
}

// tx runs fn in a write transaction. On SQLite the driver begins it with
// BEGIN IMMEDIATE; on PostgreSQL it takes the cluster-wide write lock first
// (see writeLock) and runs at READ COMMITTED, so each statement sees what
// the previous holder committed. A deadlock or serialization failure with a
// statement outside any transaction is retried.
func (s *Store) tx(ctx context.Context, fn func(*Tx) error) error { return s.db.tx(ctx, fn) }

func (db *DB) tx(ctx context.Context, fn func(*Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tryTx(ctx, fn)
		if err == nil || !retryable(err) || attempt >= 4 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1+rand.IntN(10<<attempt)) * time.Millisecond):
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(*Tx) error) error {
	raw, err := db.raw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{raw: raw, db: db}
	if db.d == Postgres {
		if _, err := raw.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLock); err != nil {
			raw.Rollback()
			return fmt.Errorf("take write lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		raw.Rollback()
		return err
	}
	if c := idem.ClaimFrom(ctx); c != nil {
		if err := markApplied(ctx, tx, c); err != nil {
			raw.Rollback()
			return err
		}
	}
	if err := raw.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable reports a PostgreSQL serialization failure or deadlock.
func retryable(err error) bool {
	var st interface{ SQLState() string }
	if !errors.As(err, &st) {
		return false
	}
	code := st.SQLState()
	return code == "40001" || code == "40P01"
}

// readTx runs fn in a read-only transaction: one consistent snapshot
// across several queries, such as a page and its count, journals and their
// lines, or a report's parts, without taking the write lock, so a long read
// does not hold up postings.
func (s *Store) readTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.db.d == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	raw, err := s.db.raw.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer raw.Rollback()
	return fn(&Tx{raw: raw, db: s.db})
}

// migrate applies the engine's migrations not yet applied, each in its
// own transaction. On PostgreSQL a session advisory lock makes nodes that
// start together take turns: the first applies, the others find nothing
// left to do.
func (s *Store) migrate(ctx context.Context) error {
	dir := "migrations/" + s.db.d.String()
	names, err := fs.Glob(migrationFS, dir+"/*.up.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	conn, err := s.db.raw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.db.d == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		// Unlocked on a fresh context: the caller's may be done, and the
		// lock must not outlive this connection's return to the pool.
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version `+s.db.d.intType()+` PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, dir+"/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad version: %w", base, err)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", base, err)
		}
		if err := s.applyMigration(ctx, conn, version, string(body)); err != nil {
			return fmt.Errorf("apply migration %s: %w", base, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, conn *sql.Conn, version int, body string) error {
	raw, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer raw.Rollback()
	tx := &Tx{raw: raw, db: s.db}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := raw.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().Unix()); err != nil {
		return err
	}
	return raw.Commit()
}

// intType is the engine's 64-bit integer column type; on SQLite, INTEGER
// PRIMARY KEY is the row id.
func (d Dialect) intType() string {
	if d == Postgres {
		return "BIGINT"
	}
	return "INTEGER"
}

// PrepareContext prepares a statement for repeated use inside the
// transaction (bank statement imports).
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.raw.PrepareContext(ctx, tx.db.bind(query))
}

// pick returns the engine's variant of a query where the two differ.
func (d Dialect) pick(sqlite, postgres string) string {
	if d == Postgres {
		return postgres
	}
	return sqlite
}

// Exec, Query and QueryRow are the context-free forms, for tests and
// one-off maintenance.
func (db *DB) Exec(query string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), query, args...)
}

func (db *DB) Query(query string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), query, args...)
}

func (db *DB) QueryRow(query string, args ...any) *sql.Row {
	return db.QueryRowContext(context.Background(), query, args...)
}

// InsertID runs an INSERT and returns the new row's id, on either engine.
func (db *DB) InsertID(ctx context.Context, query string, args ...any) (int64, error) {
	return insertID(ctx, db, query, args...)
}
