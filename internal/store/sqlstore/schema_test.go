package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coffer/internal/store/postgres"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testpg"
)

// The two engines' migrations must leave the same schema: the store's
// queries are written once for both. These tests open a store on each and
// compare what the databases themselves report, so a migration added for
// one engine and forgotten (or translated differently) for the other
// fails here rather than in production on the engine tested less.

// openBoth opens a fresh store on SQLite and on PostgreSQL.
func openBoth(tb testing.TB) (lite, pg *sqlstore.Store) {
	tb.Helper()
	dsn := testpg.DSN(tb)
	ctx := tb.Context()
	lite, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "c.db"))
	if err != nil {
		tb.Fatalf("open SQLite: %v", err)
	}
	tb.Cleanup(func() { lite.Close() })
	pg, err = postgres.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { pg.Close() })
	return lite, pg
}

func TestSchemaParity(t *testing.T) {
	lite, pg := openBoth(t)
	ctx := t.Context()
	a, err := describe(ctx, lite.DB().SQL(), sqlstore.SQLite)
	if err != nil {
		t.Fatalf("describe SQLite: %v", err)
	}
	b, err := describe(ctx, pg.DB().SQL(), sqlstore.Postgres)
	if err != nil {
		t.Fatalf("describe PostgreSQL: %v", err)
	}
	// A broken describe would make everything "equal": make sure it saw
	// the schema (every table, and the kinds of line compared).
	for _, want := range []string{"table users", "column users 2 email text not null", "key users unique (email)",
		"fk accounts (tax_rate_id) -> tax_rates (id) on update NO ACTION on delete NO ACTION",
		"index mfa_resets_open on mfa_resets (user_id) unique partial", "trigger mfa_factors_secret_live_key_i on mfa_factors"} {
		if !slices.Contains(a, want) {
			t.Errorf("SQLite schema lacks %q: describe is broken or the schema changed; update this test", want)
		}
	}
	if d := diff(a, b); d != "" {
		t.Errorf("the SQLite and PostgreSQL schemas differ; make the migrations in internal/store/sqlstore/migrations/{sqlite,postgres} agree:\n%s", d)
	}
}

// TestSchemaParityDetects shows the comparison catches each kind of drift:
// the schema of one engine is changed inside a transaction (DDL is
// transactional on both), described, and rolled back.
func TestSchemaParityDetects(t *testing.T) {
	lite, pg := openBoth(t)
	ctx := t.Context()
	stores := map[sqlstore.Dialect]*sqlstore.Store{sqlstore.SQLite: lite, sqlstore.Postgres: pg}
	base := map[sqlstore.Dialect][]string{}
	for d, s := range stores {
		lines, err := describe(ctx, s.DB().SQL(), d)
		if err != nil {
			t.Fatalf("describe %s: %v", d, err)
		}
		base[d] = lines
	}
	tests := []struct {
		name   string
		engine sqlstore.Dialect
		ddl    string
		want   string // a line of the diff
	}{
		{"extra table", sqlstore.Postgres, `CREATE TABLE widgets (id BIGINT PRIMARY KEY)`, "+ table widgets"},
		{"missing table", sqlstore.SQLite, `DROP TABLE vuln_reports`, "+ table vuln_reports"},
		{"extra column", sqlstore.Postgres, `ALTER TABLE users ADD COLUMN nickname TEXT NOT NULL DEFAULT ''`, "+ column users 10 nickname text not null"},
		{"nullable column", sqlstore.Postgres, `ALTER TABLE users ALTER COLUMN name DROP NOT NULL`, "+ column users 3 name text null"},
		{"column type", sqlstore.Postgres, `ALTER TABLE anomaly_signals ALTER COLUMN lat TYPE REAL`, "+ column anomaly_signals 10 lat float32 not null"},
		{"column name", sqlstore.SQLite, `ALTER TABLE vuln_reports RENAME COLUMN received_at TO received`, "- column vuln_reports 2 received integer not null"},
		{"column order", sqlstore.SQLite, `CREATE TABLE v2 (id INTEGER PRIMARY KEY, body_enc BLOB NOT NULL, received_at INTEGER NOT NULL);
			DROP TABLE vuln_reports; ALTER TABLE v2 RENAME TO vuln_reports`, "- column vuln_reports 2 body_enc blob not null"},
		{"missing index", sqlstore.Postgres, `DROP INDEX totp_factors_user`, "- index totp_factors_user on mfa_factors (user_id)"},
		{"index not unique", sqlstore.SQLite, `DROP INDEX journals_one_reversal; CREATE INDEX journals_one_reversal ON journals(reverses_id) WHERE reverses_id IS NOT NULL`, "+ index journals_one_reversal on journals (reverses_id) unique partial"},
		{"index not partial", sqlstore.Postgres, `DROP INDEX data_keys_one_active; CREATE UNIQUE INDEX data_keys_one_active ON data_keys(org_id, state)`, "+ index data_keys_one_active on data_keys (org_id, state) unique"},
		{"unique constraint", sqlstore.Postgres, `ALTER TABLE orgs DROP CONSTRAINT orgs_name_key`, "- key orgs unique (name)"},
		{"foreign key action", sqlstore.Postgres, `ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey, ADD FOREIGN KEY (user_id) REFERENCES users(id)`, "+ fk sessions (user_id) -> users (id) on update NO ACTION on delete NO ACTION"},
		{"missing trigger", sqlstore.Postgres, `DROP TRIGGER contacts_tax_number_live_key_u ON contacts`, "- trigger contacts_tax_number_live_key_u on contacts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := stores[tt.engine].DB().SQL().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, tt.ddl); err != nil {
				t.Fatalf("%s: %v", tt.ddl, err)
			}
			changed, err := describe(ctx, tx, tt.engine)
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			// As in TestSchemaParity: SQLite's lines on the left, "-";
			// PostgreSQL's on the right, "+".
			var d string
			if tt.engine == sqlstore.SQLite {
				d = diff(changed, base[sqlstore.Postgres])
			} else {
				d = diff(base[sqlstore.SQLite], changed)
			}
			if !slices.Contains(strings.Split(d, "\n"), tt.want) {
				t.Errorf("after %s the diff lacks %q; diff:\n%s", tt.ddl, tt.want, d)
			}
		})
	}
}

func TestSchemaVersionParity(t *testing.T) {
	lite, pg := openBoth(t)
	ctx := t.Context()
	a, err := lite.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SQLite schema version: %v", err)
	}
	b, err := pg.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL schema version: %v", err)
	}
	if a != b || a == 0 {
		t.Fatalf("schema version: SQLite %d, PostgreSQL %d; both engines need a migration of each number from the PostgreSQL baseline on", a, b)
	}
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// describe renders a database's schema as sorted lines, one per fact, in
// the same words on both engines:
//
//	table T
//	column T N NAME TYPE not null|null      (N: position from 1)
//	key T primary key (A, B) / key T unique (A)
//	fk T (A) -> U (B) on update X on delete Y
//	index I on T (A, B) [unique] [partial]
//	trigger G on T
//
// Types are classes: integer (SQLite INTEGER, PostgreSQL bigint), text,
// blob (BLOB, bytea), real (SQLite REAL, double precision); anything else
// shows as the engine names it, and so differs. A primary key column is
// NOT NULL: PostgreSQL makes it so, and SQLite's INTEGER PRIMARY KEY is.
// Left out: schema_migrations (the migration runner's own table, created
// by code, not by a migration) and the indexes an engine makes for a
// primary key or UNIQUE constraint (those are the key lines).
func describe(ctx context.Context, q queryer, d sqlstore.Dialect) ([]string, error) {
	var lines []string
	var err error
	if d == sqlstore.Postgres {
		lines, err = describePostgres(ctx, q)
	} else {
		lines, err = describeSQLite(ctx, q)
	}
	slices.Sort(lines)
	return lines, err
}

func describeSQLite(ctx context.Context, q queryer) ([]string, error) {
	var lines []string
	tables, err := strings1(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations'`)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		lines = append(lines, "table "+t)
		var pk []string
		err := each(ctx, q, func(r *sql.Rows) error {
			var cid, notNull, pkPos int
			var name, typ string
			if err := r.Scan(&cid, &name, &typ, &notNull, &pkPos); err != nil {
				return err
			}
			if pkPos > 0 {
				pk = append(pk, fmt.Sprintf("%03d%s", pkPos, name))
			}
			lines = append(lines, column(t, cid+1, name, sqliteType(typ), notNull == 1 || pkPos > 0))
			return nil
		}, `SELECT cid, name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, t)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t, err)
		}
		if len(pk) > 0 {
			slices.Sort(pk) // by position in the key
			for i := range pk {
				pk[i] = pk[i][3:]
			}
			lines = append(lines, "key "+t+" primary key ("+strings.Join(pk, ", ")+")")
		}
		// Listed first, then each one's columns: no query runs while
		// another's rows are open.
		type sqliteIndex struct {
			name, origin    string
			unique, partial bool
		}
		var idx []sqliteIndex
		err = each(ctx, q, func(r *sql.Rows) error {
			var i sqliteIndex
			if err := r.Scan(&i.name, &i.unique, &i.origin, &i.partial); err != nil {
				return err
			}
			idx = append(idx, i)
			return nil
		}, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, t)
		if err != nil {
			return nil, fmt.Errorf("indexes of %s: %w", t, err)
		}
		for _, i := range idx {
			cols, err := strings1(ctx, q, `SELECT COALESCE(name, '<expression>') FROM pragma_index_info(?) ORDER BY seqno`, i.name)
			if err != nil {
				return nil, fmt.Errorf("columns of index %s: %w", i.name, err)
			}
			switch i.origin {
			case "pk": // the key line above
			case "u":
				lines = append(lines, "key "+t+" unique ("+strings.Join(cols, ", ")+")")
			default:
				lines = append(lines, index(i.name, t, cols, i.unique, i.partial))
			}
		}
		type fk struct {
			table, update, delete string
			from, to              []string
		}
		fks := map[int]*fk{}
		err = each(ctx, q, func(r *sql.Rows) error {
			var id int
			var table, from, update, del string
			var to sql.NullString
			if err := r.Scan(&id, &table, &from, &to, &update, &del); err != nil {
				return err
			}
			f := fks[id]
			if f == nil {
				f = &fk{table: table, update: update, delete: del}
				fks[id] = f
			}
			f.from = append(f.from, from)
			f.to = append(f.to, cmpOr(to.String, "<primary key>"))
			return nil
		}, `SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t)
		if err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", t, err)
		}
		for _, f := range fks {
			lines = append(lines, foreignKey(t, f.from, f.table, f.to, f.update, f.delete))
		}
	}
	err = each(ctx, q, func(r *sql.Rows) error {
		var name, table string
		if err := r.Scan(&name, &table); err != nil {
			return err
		}
		lines = append(lines, "trigger "+name+" on "+table)
		return nil
	}, `SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		return nil, fmt.Errorf("triggers: %w", err)
	}
	return lines, nil
}

// sqliteType is the class of a declared type, by SQLite's affinity rules.
func sqliteType(declared string) string {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return "integer"
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return "text"
	case strings.Contains(t, "BLOB"), t == "":
		return "blob"
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return "real"
	}
	return "numeric " + declared
}

// pgFKAction names pg_constraint's confupdtype/confdeltype as SQLite does.
var pgFKAction = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

func describePostgres(ctx context.Context, q queryer) ([]string, error) {
	var lines []string
	// Tables and columns of the current schema, where the store creates
	// them.
	err := each(ctx, q, func(r *sql.Rows) error {
		var table, name, typ string
		var pos int
		var notNull bool
		if err := r.Scan(&table, &pos, &name, &typ, &notNull); err != nil {
			return err
		}
		if pos == 1 {
			lines = append(lines, "table "+table)
		}
		lines = append(lines, column(table, pos, name, postgresType(typ), notNull))
		return nil
	}, `SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)::int, a.attname,
			format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
		ORDER BY c.relname, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	// Primary keys, UNIQUE constraints and foreign keys, columns in key
	// order.
	err = each(ctx, q, func(r *sql.Rows) error {
		var table, typ, from, refTable, to, upd, del string
		if err := r.Scan(&table, &typ, &from, &refTable, &to, &upd, &del); err != nil {
			return err
		}
		switch typ {
		case "p":
			lines = append(lines, "key "+table+" primary key ("+from+")")
		case "u":
			lines = append(lines, "key "+table+" unique ("+from+")")
		case "f":
			lines = append(lines, foreignKey(table, strings.Split(from, ", "), refTable, strings.Split(to, ", "), pgFKAction[upd], pgFKAction[del]))
		}
		return nil
	}, `SELECT c.relname, k.contype::text,
			(SELECT string_agg(a.attname, ', ' ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
				JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
			COALESCE(f.relname, ''),
			COALESCE((SELECT string_agg(a.attname, ', ' ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
				JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n), ''),
			k.confupdtype::text, k.confdeltype::text
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_class f ON f.oid = k.confrelid
		WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u', 'f') AND c.relname <> 'schema_migrations'`)
	if err != nil {
		return nil, fmt.Errorf("constraints: %w", err)
	}
	// Indexes other than those backing a constraint.
	err = each(ctx, q, func(r *sql.Rows) error {
		var name, table, cols string
		var unique, partial bool
		if err := r.Scan(&name, &table, &cols, &unique, &partial); err != nil {
			return err
		}
		lines = append(lines, index(name, table, strings.Split(cols, ", "), unique, partial))
		return nil
	}, `SELECT i.relname, c.relname,
			(SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, x.indnatts) k),
			x.indisunique, x.indpred IS NOT NULL
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema()
			AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p', 'u', 'x'))`)
	if err != nil {
		return nil, fmt.Errorf("indexes: %w", err)
	}
	err = each(ctx, q, func(r *sql.Rows) error {
		var name, table string
		if err := r.Scan(&name, &table); err != nil {
			return err
		}
		lines = append(lines, "trigger "+name+" on "+table)
		return nil
	}, `SELECT g.tgname, c.relname FROM pg_trigger g
		JOIN pg_class c ON c.oid = g.tgrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND NOT g.tgisinternal`)
	if err != nil {
		return nil, fmt.Errorf("triggers: %w", err)
	}
	return lines, nil
}

// postgresType is the class of a PostgreSQL type, in describe's words.
func postgresType(t string) string {
	switch t {
	case "bigint":
		return "integer"
	case "text":
		return "text"
	case "bytea":
		return "blob"
	case "double precision":
		return "real"
	case "integer", "smallint":
		return "int32" // INTEGER is 64 bits on SQLite: use BIGINT
	case "real":
		return "float32" // REAL is 8 bytes on SQLite: use DOUBLE PRECISION
	}
	return t
}

func column(table string, pos int, name, typ string, notNull bool) string {
	null := "null"
	if notNull {
		null = "not null"
	}
	return fmt.Sprintf("column %s %d %s %s %s", table, pos, name, typ, null)
}

func index(name, table string, cols []string, unique, partial bool) string {
	s := "index " + name + " on " + table + " (" + strings.Join(cols, ", ") + ")"
	if unique {
		s += " unique"
	}
	if partial {
		s += " partial"
	}
	return s
}

func foreignKey(table string, from []string, refTable string, to []string, update, del string) string {
	return fmt.Sprintf("fk %s (%s) -> %s (%s) on update %s on delete %s",
		table, strings.Join(from, ", "), refTable, strings.Join(to, ", "), update, del)
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// each runs a query and calls fn for every row.
func each(ctx context.Context, q queryer, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// strings1 returns the first column of every row.
func strings1(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	var out []string
	err := each(ctx, q, func(r *sql.Rows) error {
		var s string
		if err := r.Scan(&s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}, query, args...)
	return out, err
}

// diff lists the lines only in a (SQLite) with "- " and only in b
// (PostgreSQL) with "+ ", both sorted; "" when they are the same.
func diff(a, b []string) string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "(- only on SQLite, + only on PostgreSQL)\n" + strings.Join(out, "\n")
}

// TestDestroyedKeyTriggers runs the same statements on both engines: a
// value sealed (format 2) under a destroyed data key is refused on insert
// and update of each sealed column, anything else is stored. The
// PostgreSQL triggers are a translation of SQLite's; this pins the
// translation down.
func TestDestroyedKeyTriggers(t *testing.T) {
	lite, pg := openBoth(t)
	ctx := t.Context()
	sealed := func(format byte, keyID int64, n int) []byte {
		b := []byte{format, byte(keyID >> 24), byte(keyID >> 16), byte(keyID >> 8), byte(keyID), 0x99, 0x98}
		return b[:n]
	}
	// Each bank account needs a ledger account of its own: before makes
	// the next one, and the insert takes the newest.
	const newAccount = `INSERT INTO accounts (org_id, code, name, type) VALUES (1, (SELECT 'B' || COUNT(*) FROM accounts), 'Bank', 'asset')`
	columns := []struct {
		table, column, before, insert string
		notNull                       bool
	}{
		{"contacts", "bank_details_enc", "", `INSERT INTO contacts (org_id, name, created_at, updated_at, bank_details_enc) VALUES (1, 'c', 0, 0, ?)`, false},
		{"contacts", "tax_number_enc", "", `INSERT INTO contacts (org_id, name, created_at, updated_at, tax_number_enc) VALUES (1, 'c', 0, 0, ?)`, false},
		{"bank_accounts", "account_number_enc", newAccount, `INSERT INTO bank_accounts (org_id, account_id, name, created_at, account_number_enc) VALUES (1, (SELECT MAX(id) FROM accounts), 'b', 0, ?)`, false},
		{"mfa_factors", "secret_enc", "", `INSERT INTO mfa_factors (user_id, secret_enc, created_at) VALUES (1, ?, 0)`, true},
	}
	for _, s := range []*sqlstore.Store{lite, pg} {
		t.Run(s.Dialect().String(), func(t *testing.T) {
			db := s.DB()
			var destroyed, live int64
			for _, q := range []struct {
				query string
				id    *int64
			}{
				{`INSERT INTO users (email, name, password_hash, created_at) VALUES ('a@example.com', 'A', '', 0) RETURNING id`, nil},
				{`INSERT INTO orgs (name, currency, created_at) VALUES ('O', 'GBP', 0) RETURNING id`, nil},
				{`INSERT INTO data_keys (org_id, version, wrapped, kek_id, state, created_at) VALUES (1, 1, ?, 'k', 'destroyed', 0) RETURNING id`, &destroyed},
				{`INSERT INTO data_keys (org_id, version, wrapped, kek_id, state, created_at) VALUES (1, 2, ?, 'k', 'active', 0) RETURNING id`, &live},
			} {
				var id int64
				var args []any
				if strings.Contains(q.query, "?") {
					args = append(args, []byte{0})
				}
				if err := db.QueryRowContext(ctx, q.query, args...).Scan(&id); err != nil {
					t.Fatalf("%s: %v", q.query, err)
				}
				if q.id != nil {
					*q.id = id
				}
			}
			tests := []struct {
				name   string
				value  []byte
				refuse bool
			}{
				{"destroyed key", sealed(2, destroyed, 7), true},
				{"destroyed key, shortest", sealed(2, destroyed, 5), true},
				{"live key", sealed(2, live, 7), false},
				{"truncated id", sealed(2, destroyed, 4), false},
				{"format 1", sealed(1, destroyed, 7), false},
				{"unknown key", sealed(2, live+100, 7), false},
				{"no value", nil, false},
			}
			for _, c := range columns {
				insert := func(t *testing.T, v []byte) *sql.Row {
					if c.before != "" {
						if _, err := db.ExecContext(ctx, c.before); err != nil {
							t.Fatalf("%s: %v", c.before, err)
						}
					}
					return db.QueryRowContext(ctx, c.insert+` RETURNING id`, v)
				}
				for _, tt := range tests {
					if tt.value == nil && c.notNull {
						continue
					}
					t.Run(c.table+"."+c.column+"/"+tt.name, func(t *testing.T) {
						// On insert.
						var id int64
						err := insert(t, tt.value).Scan(&id)
						if tt.refuse != (err != nil) || err != nil && !strings.Contains(err.Error(), "sealed with a destroyed data key") {
							t.Fatalf("insert: err = %v, want refused %v", err, tt.refuse)
						}
						// On update of a row holding a live value.
						if err := insert(t, sealed(2, live, 7)).Scan(&id); err != nil {
							t.Fatalf("insert a live value: %v", err)
						}
						_, err = db.ExecContext(ctx, `UPDATE `+c.table+` SET `+c.column+` = ? WHERE id = ?`, tt.value, id)
						if tt.refuse != (err != nil) || err != nil && !strings.Contains(err.Error(), "sealed with a destroyed data key") {
							t.Fatalf("update: err = %v, want refused %v", err, tt.refuse)
						}
					})
				}
			}
			// UPDATE OF: a row holding a value whose key was destroyed
			// after it was written still takes changes to other columns,
			// but not that value written again.
			var retiring, id int64
			if err := db.QueryRowContext(ctx, `INSERT INTO data_keys (org_id, version, wrapped, kek_id, state, created_at) VALUES (1, 3, ?, 'k', 'retiring', 0) RETURNING id`, []byte{0}).Scan(&retiring); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, columns[0].insert+` RETURNING id`, sealed(2, retiring, 7)).Scan(&id); err != nil {
				t.Fatalf("insert under a retiring key: %v", err)
			}
			if _, err := db.ExecContext(ctx, `UPDATE data_keys SET state = 'destroyed' WHERE id = ?`, retiring); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `UPDATE contacts SET name = 'renamed' WHERE id = ?`, id); err != nil {
				t.Errorf("update of another column: %v", err)
			}
			if _, err := db.ExecContext(ctx, `UPDATE contacts SET bank_details_enc = bank_details_enc WHERE id = ?`, id); err == nil || !strings.Contains(err.Error(), "sealed with a destroyed data key") {
				t.Errorf("rewrite of a value under the now destroyed key: err = %v, want refused", err)
			}
		})
	}
}
