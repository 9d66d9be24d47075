// Package testpg gives tests a fresh, empty PostgreSQL database in the
// throwaway cluster that scripts/test starts, and finds the PostgreSQL
// client programs (pg_dump, pg_restore, psql) that match it.
//
// Each test gets a database of its own, named coffer_test_ and 16 random
// hex digits, dropped when the test ends, so tests run in parallel and a
// failed test leaves nothing behind for the next one.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables scripts/test sets.
const (
	// EnvDSN names the cluster: a DSN to its maintenance database, e.g.
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
	EnvDSN = "COFFER_TEST_POSTGRES"
	// EnvRequire=1 turns a missing cluster into a failure, not a skip.
	EnvRequire = "COFFER_REQUIRE_POSTGRES"
)

// namePrefix starts the name of every database DSN creates.
const namePrefix = "coffer_test_"

// DSN creates an empty database in the cluster named by
// COFFER_TEST_POSTGRES and returns a DSN to it; the database is dropped
// (closing any connection left open) when the test and its subtests end.
// Without COFFER_TEST_POSTGRES the test is skipped, or fails when
// COFFER_REQUIRE_POSTGRES=1 (as scripts/test sets).
func DSN(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(EnvDSN)
	if admin == "" {
		msg := "PostgreSQL tests need a cluster: run scripts/test, which starts one, or set " + EnvDSN +
			" to a DSN of a maintenance database (postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable)"
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatal(msg + " (" + EnvRequire + "=1 makes this a failure)")
		}
		tb.Skip(msg)
	}
	name, err := newName()
	if err != nil {
		tb.Fatalf("testpg: %v", err)
	}
	dsn, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("testpg: %s: %v", EnvDSN, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is ours (a fixed prefix and hex digits), so it needs no
	// quoting; quoted anyway, as any identifier built into SQL should be.
	if err := adminExec(ctx, admin, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("testpg: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("testpg: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// newName returns coffer_test_ followed by 16 random hex digits.
func newName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	return namePrefix + hex.EncodeToString(b[:]), nil
}

// adminExec runs one statement on the maintenance database, on a
// connection of its own: CREATE and DROP DATABASE cannot run in a
// transaction, and nothing is left open afterwards.
func adminExec(ctx context.Context, admin, stmt string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvDSN, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// withDatabase returns dsn with its database replaced by name. dsn is a
// postgres:// (or postgresql://) URL or a key=value list, as libpq and
// pgx accept. pgx, which will read the result, checks the rewrite: the
// same server and user, the new database. Errors are fixed messages that
// never quote dsn: it may hold a password.
func withDatabase(dsn, name string) (string, error) {
	out, err := rewriteDatabase(dsn, name)
	if err != nil {
		return "", err
	}
	before, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", errors.New("not a DSN pgx accepts")
	}
	after, err := pgx.ParseConfig(out)
	if err != nil || after.Database != name || after.Host != before.Host || after.Port != before.Port ||
		after.User != before.User || after.Password != before.Password {
		return "", errors.New("cannot name another database in it; use postgres://USER@HOST:PORT/postgres?sslmode=disable")
	}
	return out, nil
}

func rewriteDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("not a valid postgres:// URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		// A dbname parameter would win over the path.
		q := u.Query()
		if q.Has("dbname") {
			q.Set("dbname", name)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	if strings.Contains(dsn, "://") {
		return "", errors.New("want a postgres:// URL or a key=value list")
	}
	if strings.TrimSpace(dsn) == "" {
		return "", errors.New("empty")
	}
	// A key=value list: a later key wins, so appending dbname overrides
	// one already there.
	return dsn + " dbname=" + name, nil
}
