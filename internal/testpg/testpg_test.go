package testpg

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDSN(t *testing.T) {
	admin := os.Getenv(EnvDSN)
	var name string
	t.Run("OK", func(t *testing.T) {
		dsn := DSN(t)
		ctx := t.Context()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to the new database: %v", err)
		}
		// Left open on purpose: the drop must not wait for it.
		var tables int
		if err := conn.QueryRow(ctx, `SELECT current_database(), (SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^coffer_test_[0-9a-f]{16}$`).MatchString(name) {
			t.Errorf("database name %q, want coffer_test_ and 16 hex digits", name)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables, want none", tables)
		}
		if other := DSN(t); other == dsn {
			t.Errorf("two calls gave the same DSN %q", dsn)
		}
	})
	if t.Skipped() || name == "" {
		return
	}
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still there after its test ended", name)
	}
}

// TestDSNWithoutCluster runs TestHelperDSN in a child process without a
// cluster: the test is skipped, or fails when PostgreSQL is required, and
// either way says how to get one.
func TestDSNWithoutCluster(t *testing.T) {
	tests := []struct {
		name    string
		require string
		want    string
		fails   bool
	}{
		{"skips", "", "--- SKIP: TestHelperDSN", false},
		{"fails when required", "1", "--- FAIL: TestHelperDSN", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperDSN$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "COFFER_TESTPG_HELPER=1", EnvDSN+"=", EnvRequire+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.fails {
				t.Errorf("child exit: %v, want failure %v\n%s", err, tt.fails, out)
			}
			if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "run scripts/test") {
				t.Errorf("child output lacks %q or how to run:\n%s", tt.want, out)
			}
			if strings.Contains(string(out), "reached") {
				t.Errorf("DSN returned without a cluster:\n%s", out)
			}
		})
	}
}

func TestHelperDSN(t *testing.T) {
	if os.Getenv("COFFER_TESTPG_HELPER") != "1" {
		t.Skip("run by TestDSNWithoutCluster")
	}
	DSN(t)
	t.Log("reached")
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, dsn, want string
		err             bool
	}{
		{"URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/coffer_test_x?sslmode=disable", false},
		{"URL without database", "postgres://u:p%40ss@localhost:5433", "postgres://u:p%40ss@localhost:5433/coffer_test_x", false},
		{"postgresql scheme", "postgresql://h/db", "postgresql://h/coffer_test_x", false},
		{"URL with dbname parameter", "postgres://h/a?dbname=b", "postgres://h/coffer_test_x?dbname=coffer_test_x", false},
		{"key=value", "host=127.0.0.1 port=5432 user=postgres dbname=postgres", "host=127.0.0.1 port=5432 user=postgres dbname=postgres dbname=coffer_test_x", false},
		{"other scheme", "mysql://h/db", "", true},
		{"empty", " ", "", true},
		{"bad URL", "postgres://h:port/db", "", true},
		{"not for pgx", "host=h sslmode=sometimes", "", true},
		{"pgx reads it otherwise", "postgres://#", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.dsn, "coffer_test_x")
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("withDatabase(%q) = %q, %v; want %q, error %v", tt.dsn, got, err, tt.want, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), tt.dsn) {
				t.Errorf("error %q repeats the DSN", err)
			}
		})
	}
}

// FuzzWithDatabase: whatever DSN pgx accepts, the rewritten one names the
// new database and keeps the server and credentials; an error is one of
// a few fixed messages, so it never repeats the DSN.
func FuzzWithDatabase(f *testing.F) {
	for _, s := range []string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"postgres://u:secret@h/db?dbname=x&application_name=a",
		"postgresql://[::1]:5432/db",
		"host=/tmp port=5432 dbname='my db' password=secret",
		"user=a",
	} {
		f.Add(s)
	}
	// A password file could answer differently for the new database.
	f.Setenv("PGPASSFILE", filepath.Join(f.TempDir(), "none"))
	const name = "coffer_test_0123456789abcdef"
	f.Fuzz(func(t *testing.T, dsn string) {
		got, err := withDatabase(dsn, name)
		if err != nil {
			// Fixed messages only: none can carry a password.
			switch err.Error() {
			case "not a valid postgres:// URL", "want a postgres:// URL or a key=value list", "empty",
				"not a DSN pgx accepts", "cannot name another database in it; use postgres://USER@HOST:PORT/postgres?sslmode=disable":
			default:
				t.Fatalf("unexpected error %q", err)
			}
			return
		}
		before, err := pgx.ParseConfig(dsn)
		if err != nil {
			return // not a DSN pgx takes: nothing to keep
		}
		after, err := pgx.ParseConfig(got)
		if err != nil {
			t.Fatalf("rewritten %q: %v (from %q)", got, err, dsn)
		}
		if after.Database != name {
			t.Fatalf("rewritten %q names database %q, want %q (from %q)", got, after.Database, name, dsn)
		}
		if after.Host != before.Host || after.Port != before.Port || after.User != before.User || after.Password != before.Password {
			t.Fatalf("rewriting %q changed the server or credentials: %q", dsn, got)
		}
	})
}
