// Package testdb opens the store that a package's tests run on: SQLite by
// default, PostgreSQL when COFFER_TEST_DB=postgres (scripts/test runs the
// store-backed packages both ways, so the domain tests are a contract suite
// for both engines).
package testdb

import (
	"os"
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
		return postgres.Open(tb.Context(), testpg.DSN(tb))
	}
	return sqlite.Open(tb.Context(), path)
}
