package testpg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TableHashes reads the database named by dsn and returns, for every table
// of its own, its row count and a SHA-256 over its rows in primary-key
// order (every column when a table has no primary key): two databases with
// the same map hold the same data. It is PostgreSQL's counterpart of
// testtools.TableHashes; it reads in one REPEATABLE READ snapshot.
func TableHashes(tb testing.TB, dsn string) map[string]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("testpg: table hashes: %v", err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname,
		       COALESCE((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
		                 FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord), pg_attribute a
		                 WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.attnum), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY 1, 2`)
	if err != nil {
		tb.Fatal(err)
	}
	type table struct{ schema, name, key string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.schema, &t.name, &t.key)
		return t, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, t := range tables {
		name := pgx.Identifier{t.schema, t.name}.Sanitize()
		order := t.key
		if order == "" {
			order = "ROW(" + name + ".*)::text"
		}
		r, err := tx.Query(ctx, `SELECT * FROM `+name+` ORDER BY `+order)
		if err != nil {
			tb.Fatalf("testpg: read %s: %v", name, err)
		}
		h := sha256.New()
		count := 0
		for r.Next() {
			vals, err := r.Values()
			if err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(h, "%#v\n", vals)
			count++
		}
		r.Close()
		if err := r.Err(); err != nil {
			tb.Fatal(err)
		}
		key := t.name
		if t.schema != "public" {
			key = t.schema + "." + t.name
		}
		out[key] = fmt.Sprintf("%d rows %s", count, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

// Diff describes how two TableHashes maps differ, or is "" when they do
// not.
func Diff(a, b map[string]string) string {
	var d []string
	for n, v := range a {
		if b[n] != v {
			d = append(d, fmt.Sprintf("%s: %s vs %s", n, v, b[n]))
		}
	}
	for n, v := range b {
		if _, ok := a[n]; !ok {
			d = append(d, fmt.Sprintf("%s: missing vs %s", n, v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}
