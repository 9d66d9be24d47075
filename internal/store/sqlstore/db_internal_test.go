package sqlstore

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{`WHERE a = ?2 AND b = ?1 AND c = ?2`, `WHERE a = $2 AND b = $1 AND c = $2`},
		// A bare '?' after numbered ones takes one more than the highest, as in SQLite.
		{`VALUES (?3, ?, ?1)`, `VALUES ($3, $4, $1)`},
		{`WHERE note = '?' AND a = ?`, `WHERE note = '?' AND a = $1`},
		{`WHERE "odd?name" = ? AND b = 'it''s ?'`, `WHERE "odd?name" = $1 AND b = 'it''s ?'`},
		{`LIMIT ?4 OFFSET ?5`, `LIMIT $4 OFFSET $5`},
		{`SELECT ?10, ?`, `SELECT $10, $11`},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRebind: no placeholder is left outside quotes, quoted text and
// everything else is kept, and rewriting twice changes nothing more.
func FuzzRebind(f *testing.F) {
	for _, s := range []string{`SELECT ? , ?2`, `'?' "?" ?`, `?99999999999999999999`, `'unterminated ?`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := rebind(q)
		if again := rebind(out); again != out {
			t.Fatalf("rebind is not stable: %q → %q → %q", q, out, again)
		}
		if !strings.Contains(q, "?") && out != q {
			t.Fatalf("rebind changed a query without placeholders: %q → %q", q, out)
		}
		strip := func(s string) string { // the text outside quotes
			var b strings.Builder
			var quote rune
			for _, r := range s {
				switch {
				case quote != 0:
					if r == quote {
						quote = 0
					}
				case r == '\'' || r == '"':
					quote = r
				default:
					b.WriteRune(r)
				}
			}
			return b.String()
		}
		if strings.Contains(strip(out), "?") {
			t.Fatalf("placeholder left outside quotes: %q → %q", q, out)
		}
	})
}
