package backup

import (
	"strconv"
	"strings"
	"testing"
)

// pgRestoreScript is what pg_restore --data-only --table=schema_migrations
// --file=- prints (PostgreSQL 15), around the rows.
const pgRestoreScript = `--
-- PostgreSQL database dump
--

\restrict abc

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.schema_migrations (version, applied_at) FROM stdin;
%s\.


--
-- PostgreSQL database dump complete
--

\unrestrict abc
`

func TestDumpSchemaVersion(t *testing.T) {
	script := func(rows string) string { return strings.Replace(pgRestoreScript, "%s", rows, 1) }
	tests := []struct {
		name    string
		script  string
		want    int
		wantErr string
	}{
		{"OK", script("1\t1700000000\n17\t1700000001\n2\t1700000002\n"), 17, ""},
		{"OK no rows", script(""), 0, ""},
		{"OK other column order", "COPY s.schema_migrations (applied_at, version) FROM stdin;\n5\t9\n5\t3\n\\.\n", 9, ""},
		{"OK unqualified", "COPY schema_migrations (version, applied_at) FROM stdin;\n4\t0\n\\.\n", 4, ""},
		{"ErrOtherTable", "COPY public.users (version, x) FROM stdin;\n99\t0\n\\.\n", 0, "no schema_migrations data"},
		{"ErrLookalike", "COPY public.not_schema_migrations (version) FROM stdin;\n99\n\\.\n", 0, "no schema_migrations data"},
		{"ErrNoVersionColumn", "COPY public.schema_migrations (applied_at) FROM stdin;\n1\n\\.\n", 0, "no schema_migrations data"},
		{"ErrNotNumber", script("x\t1\n"), 0, "not a number"},
		{"ErrNegative", script("-3\t1\n"), 0, "not a number"},
		{"ErrNULL", script("\\N\t1\n"), 0, "not a number"},
		{"ErrShortRow", "COPY public.schema_migrations (applied_at, version) FROM stdin;\n1\n\\.\n", 0, "has no version"},
		{"ErrUnterminated", "COPY public.schema_migrations (version, applied_at) FROM stdin;\n1\t2\n", 0, "without its terminator"},
		{"ErrEmpty", "", 0, "no schema_migrations data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dumpSchemaVersion([]byte(tt.script))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %d, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// FuzzDumpSchemaVersion: any output parses or fails cleanly; a version
// found is one of the numbers in the COPY's rows.
func FuzzDumpSchemaVersion(f *testing.F) {
	f.Add([]byte(strings.Replace(pgRestoreScript, "%s", "1\t1\n17\t2\n", 1)))
	f.Add([]byte("COPY s.schema_migrations (applied_at, version) FROM stdin;\n5\t9\n\\.\n"))
	f.Add([]byte("COPY schema_migrations (version) FROM stdin;\n\\.\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := dumpSchemaVersion(b)
		if err != nil {
			if v != 0 {
				t.Fatalf("error %v with version %d", err, v)
			}
			return
		}
		if v < 0 {
			t.Fatalf("negative version %d", v)
		}
		if v > 0 && !strings.Contains(string(b), strconv.Itoa(v)) {
			t.Fatalf("version %d is not in the input", v)
		}
	})
}

// lastValue is the value a program sees for key in env: the last one.
func lastValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestPGEnv: the client programs get the database through the
// environment, the URL's TLS settings included, and a bad URL's error
// does not repeat it.
func TestPGEnv(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGSSLMODE", "")
	tests := []struct {
		name    string
		dsn     string
		want    []string
		wantErr bool
	}{
		{"OK", "postgres://alice:s3cret-pw@db.example:6543/books?sslmode=require&connect_timeout=7",
			[]string{"PGHOST=db.example", "PGPORT=6543", "PGUSER=alice", "PGDATABASE=books", "PGPASSWORD=s3cret-pw", "PGSSLMODE=require", "PGCONNECT_TIMEOUT=7", "PGAPPNAME=coffer-backup"}, false},
		{"OK postgresql scheme, no password", "postgresql://bob@127.0.0.1/coffer?sslmode=disable",
			[]string{"PGHOST=127.0.0.1", "PGPORT=5432", "PGUSER=bob", "PGDATABASE=coffer", "PGSSLMODE=disable"}, false},
		{"OK several hosts", "postgres://bob@a.example:5001,b.example:5002/coffer?sslmode=disable",
			[]string{"PGHOST=a.example,b.example", "PGPORT=5001,5002"}, false},
		{"ErrKeyValue", "host=x password=s3cret-pw dbname=y", nil, true},
		{"ErrBadURL", "postgres://alice:s3cret-pw@db.example:notaport/books", nil, true},
		{"ErrOtherScheme", "mysql://alice:s3cret-pw@db/books", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env, err := pgEnv(tt.dsn)
			if tt.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				k, want, _ := strings.Cut(w, "=")
				if got, ok := lastValue(env, k); !ok || got != want {
					t.Errorf("%s=%q, want %q", k, got, want)
				}
			}
			if pw, _ := lastValue(env, "PGPASSWORD"); pw != "" && !strings.Contains(tt.dsn, ":"+pw+"@") {
				t.Errorf("PGPASSWORD=%q, not the URL's", pw)
			}
		})
	}
}
