package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/auth"
	"coffer/internal/cli"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlite"
)

const goodPassword = "tidal quartz magnet 9147"

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line with stdin and no environment.
func run(tb testing.TB, stdin string, args ...string) result {
	tb.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code := cli.Run(tb.Context(), args, env)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(tb testing.TB, code int, stdout, stderr string) {
	tb.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		tb.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
			r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
}

// dataDir returns a path for a data directory that does not exist yet.
func dataDir(tb testing.TB) string { return filepath.Join(tb.TempDir(), "data") }

func TestRun_Usage(t *testing.T) {
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"help", []string{"help"}, 0, "Usage:", ""},
		{"--help", []string{"--help"}, 0, "coffer serve", ""},
		{"help serve", []string{"help", "serve"}, 0, "", "--addr"},
		{"serve -h", []string{"serve", "-h"}, 0, "", "HTTPS only"},
		{"admin -h", []string{"admin", "-h"}, 0, "", "--password-stdin"},
		{"no command", nil, 2, "", "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown admin command", []string{"admin", "user", "delete"}, 2, "", `unknown admin user command "delete"`},
		{"admin without subcommand", []string{"admin"}, 2, "", "Usage:"},
		{"unknown flag", []string{"admin", "user", "add", "--frobnicate"}, 2, "", "frobnicate"},
		{"stray argument", []string{"admin", "user", "unlock", "--email", "a@example.com", "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, "", tt.args...).want(t, tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestServe_InvalidConfiguration(t *testing.T) {
	dir := dataDir(t)
	tests := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"bad address", []string{"--addr", "nonsense"}, []string{"--addr", "nonsense"}},
		{"cert without key", []string{"--tls-cert", "c.pem"}, []string{"--tls-cert and --tls-key"}},
		{"weak argon2", []string{"--argon2-memory-kib", "1024"}, []string{"memory"}},
		{"idle timeout too long", []string{"--session-idle", "5h"}, []string{"idle timeout"}},
		{"every problem at once", []string{"--addr", "nonsense", "--hash-workers", "-1"}, []string{"--addr", "--hash-workers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, "", append([]string{"serve", "--data", dir}, tt.args...)...)
			if r.code != 1 {
				t.Fatalf("exit %d, stderr %q; want 1", r.code, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q lacks %q", r.stderr, s)
				}
			}
		})
	}
	// Nothing was created for a configuration that was refused.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory created for an invalid configuration: %v", err)
	}
}

func TestAdminUserAdd(t *testing.T) {
	add := func(t *testing.T, dir, stdin string, extra ...string) result {
		t.Helper()
		args := append([]string{"admin", "user", "add", "--data", dir, "--email", "Alice@Example.com", "--name", "Alice Example"}, extra...)
		return run(t, stdin, args...)
	}

	t.Run("password must come on stdin", func(t *testing.T) {
		add(t, dataDir(t), goodPassword+"\n").want(t, 1, "", "--password-stdin")
	})
	t.Run("weak password", func(t *testing.T) {
		add(t, dataDir(t), "password\n", "--password-stdin").want(t, 1, "", "at least 12 characters")
	})
	t.Run("common password", func(t *testing.T) {
		add(t, dataDir(t), "password1234\n", "--password-stdin").want(t, 1, "", "commonly used")
	})
	t.Run("empty stdin", func(t *testing.T) {
		add(t, dataDir(t), "", "--password-stdin").want(t, 1, "", "empty")
	})
	t.Run("empty first line", func(t *testing.T) {
		add(t, dataDir(t), "\n"+goodPassword+"\n", "--password-stdin").want(t, 1, "", "empty")
	})
	t.Run("overlong password", func(t *testing.T) {
		add(t, dataDir(t), strings.Repeat("x", 5000), "--password-stdin").want(t, 1, "", "longer than 4096")
	})
	t.Run("invalid email", func(t *testing.T) {
		r := run(t, goodPassword+"\n", "admin", "user", "add", "--data", dataDir(t), "--email", "nope", "--name", "N", "--password-stdin")
		r.want(t, 1, "", "valid email address")
	})

	t.Run("success", func(t *testing.T) {
		dir := dataDir(t)
		add(t, dir, goodPassword+"\n", "--password-stdin").want(t, 0, "Created administrator alice@example.com", "")
		r := run(t, "another password 5521\n", "admin", "user", "add", "--data", dir, "--email", "bob@example.com", "--name", "Bob Example", "--password-stdin")
		r.want(t, 0, "Created user bob@example.com", "")
		add(t, dir, goodPassword+"\n", "--password-stdin").want(t, 1, "", "already exists")

		// The data directory is private and the password works.
		for _, p := range []struct {
			path string
			perm os.FileMode
		}{{dir, 0o700}, {filepath.Join(dir, keyring.KeyFileName), 0o600}} {
			st, err := os.Stat(p.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != p.perm {
				t.Errorf("%s has mode %v, want %v", p.path, st.Mode().Perm(), p.perm)
			}
		}
		svc := openService(t, dir)
		if _, err := svc.Login(t.Context(), "alice@example.com", goodPassword, auth.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("login with the password given on stdin: %v", err)
		}
	})

	t.Run("password keeps its spaces, loses its line ending", func(t *testing.T) {
		dir := dataDir(t)
		const pw = "  spaced out password 31  "
		add(t, dir, pw+"\r\nsecond line ignored\n", "--password-stdin").want(t, 0, "Created administrator", "")
		svc := openService(t, dir)
		if _, err := svc.Login(t.Context(), "alice@example.com", pw, auth.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("login with %q: %v", pw, err)
		}
		_, err := svc.Login(t.Context(), "alice@example.com", strings.TrimSpace(pw), auth.Client{IP: "192.0.2.1"})
		if errs.Code(err) != errs.EUNAUTHORIZED {
			t.Fatalf("trimmed password: %v, want refused", err)
		}
	})

	t.Run("shared data directory refused", func(t *testing.T) {
		dir := dataDir(t)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		add(t, dir, goodPassword+"\n", "--password-stdin").want(t, 1, "", "accessible to other users")
		if _, err := os.Stat(filepath.Join(dir, keyring.KeyFileName)); !os.IsNotExist(err) {
			t.Fatalf("master key written into a shared directory: %v", err)
		}
	})

	t.Run("data directory from the environment", func(t *testing.T) {
		dir := dataDir(t)
		var out, errOut bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(goodPassword + "\n"), Stdout: &out, Stderr: &errOut,
			Getenv: func(k string) string {
				if k == "COFFER_DATA" {
					return dir
				}
				return ""
			}}
		code := cli.Run(t.Context(), []string{"admin", "user", "add", "--email", "a@example.com", "--name", "A Person", "--password-stdin"}, env)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		if _, err := os.Stat(filepath.Join(dir, keyring.KeyFileName)); err != nil {
			t.Fatalf("COFFER_DATA not used: %v", err)
		}
	})
}

func TestAdminUserUnlock(t *testing.T) {
	dir := dataDir(t)
	run(t, goodPassword+"\n", "admin", "user", "add", "--data", dir, "--email", "alice@example.com", "--name", "Alice Example", "--password-stdin").
		want(t, 0, "Created administrator", "")

	// Lock the account through the service, as the server would.
	svc := openService(t, dir)
	ctx := t.Context()
	c := auth.Client{IP: "192.0.2.1"}
	for range 10 {
		svc.Login(ctx, "alice@example.com", "not the right password", c)
	}
	if _, err := svc.Login(ctx, "alice@example.com", goodPassword, c); errs.Code(err) != errs.ERATELIMIT {
		t.Fatalf("not locked: %v", err)
	}

	run(t, "", "admin", "user", "unlock", "--data", dir, "--email", " Alice@Example.com ").
		want(t, 0, "Sign-in for alice@example.com is unlocked.", "")
	if _, err := svc.Login(ctx, "alice@example.com", goodPassword, c); err != nil {
		t.Fatalf("still refused after unlock: %v", err)
	}
	run(t, "", "admin", "user", "unlock", "--data", dir, "--email", "not an email").want(t, 1, "", "valid email address")
}

// openService opens the data directory the CLI wrote, as a second process
// would while the command line works on it.
func openService(tb testing.TB, dir string) *auth.Service {
	tb.Helper()
	ctx := context.Background()
	master, created, err := keyring.LoadOrCreateMasterKey(filepath.Join(dir, keyring.KeyFileName))
	if err != nil || created {
		tb.Fatalf("master key: created %v, %v", created, err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	keys, err := keyring.OpenLocal(ctx, master, st)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	svc, err := auth.NewService(st, keys, keyring.AAD, auth.NewHashPool(1, 4, 4), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

func TestAdminUserAdd_Org(t *testing.T) {
	dir := dataDir(t)
	const pw = "correct horse battery staple 9\n"
	add := func(email string, extra ...string) result {
		return run(t, pw, append([]string{"admin", "user", "add", "--data", dir, "--email", email, "--name", "Some One", "--password-stdin"}, extra...)...)
	}
	// Joining an organisation that does not exist, other than as its
	// owner, is refused before the user is created.
	add("clerk@example.com", "--org", "Acme Ltd", "--role", "standard").want(t, 1, "", `organisation "Acme Ltd" does not exist`)
	add("owner@example.com", "--org", "Acme Ltd", "--role", "owner").want(t, 0, "Created organisation Acme Ltd", "")
	add("clerk@example.com", "--org", "Acme Ltd", "--role", "standard").want(t, 0, "is Standard of Acme Ltd", "")
	add("x@example.com", "--org", "Acme Ltd", "--role", "boss").want(t, 1, "", "unknown role")
	add("y@example.com", "--org", "Acme Ltd").want(t, 1, "", "--org and --role go together")
	add("z@example.com", "--org", "Other Ltd", "--role", "owner", "--currency", "XXX").want(t, 1, "", "unknown currency")
}
