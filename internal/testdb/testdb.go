// Package testdb opens the store that a package's tests run on: SQLite by
// default, PostgreSQL when COFFER_TEST_DB=postgres (scripts/test runs the
// store-backed packages both ways, so the domain tests are a contract suite
// for both engines).
package testdb

import (
	"os"
	"sync"
	"testing"

	"coffer/internal/store/postgres"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testpg"
)

// Postgres reports whether tests run on PostgreSQL.
func Postgres() bool { return os.Getenv("COFFER_TEST_DB") == "postgres" }

// Open opens a fresh store: the SQLite file at path, or a new PostgreSQL
// database (dropped when the test ends) when COFFER_TEST_DB=postgres.
func Open(tb testing.TB, path string) (*sqlstore.Store, error) {
	tb.Helper()
	if Postgres() {
		dsn := testpg.DSN(tb)
		databases.Store(path, dsn)
		return postgres.Open(tb.Context(), dsn)
	}
	return sqlite.Open(tb.Context(), path)
}

// databases maps the path given to Open to the PostgreSQL database made
// for it, so that Reopen finds it.
var databases sync.Map

// Reopen opens a second handle on the database Open made for path, as a
// second Coffer node (or process) would: nothing shared but the database.
func Reopen(tb testing.TB, path string) (*sqlstore.Store, error) {
	tb.Helper()
	if Postgres() {
		dsn, ok := databases.Load(path)
		if !ok {
			tb.Fatalf("testdb.Reopen(%s): no database was opened for that path", path)
		}
		return postgres.Open(tb.Context(), dsn.(string))
	}
	return sqlite.Open(tb.Context(), path)
}
