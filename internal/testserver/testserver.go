// Package testserver runs a real Coffer server (the same code path as
// `coffer serve`) on loopback with a temporary data directory, for
// end-to-end, browser and load tests.
package testserver

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/cli"
	"coffer/internal/testdb"
	"coffer/internal/testpg"
	"coffer/internal/testtools"
)

// Server is a running Coffer server.
type Server struct {
	// URL is https://localhost:PORT (a host name, as WebAuthn needs).
	URL string
	// Addr is the listening address, 127.0.0.1:PORT.
	Addr    string
	DataDir string
	// DB is the --db the server runs on: empty for SQLite in DataDir.
	DB string
	// Log holds what the server wrote to stdout and stderr.
	Log    *SyncBuffer
	cancel context.CancelFunc
	done   chan int
	roots  *x509.CertPool
}

// SyncBuffer is a buffer safe for concurrent writes and reads.
type SyncBuffer = testtools.SyncBuffer

// Start runs `coffer serve --data <tmp> --addr 127.0.0.1:0 args...` and
// waits until it listens. The server stops when the test ends.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	return StartIn(tb, dir, args...)
}

// StartIn is Start with a given data directory (to restart on old data).
func StartIn(tb testing.TB, dir string, args ...string) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dir, Log: &SyncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	listening := make(chan string, 1)
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: s.Log, Stderr: s.Log, Getenv: func(string) string { return "" },
		OnListen: func(addr string) { listening <- addr }}
	for i, a := range args {
		if a == "--db" && i+1 < len(args) {
			s.DB = args[i+1]
		}
	}
	full := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)
	if s.DB == "" && testdb.Postgres() {
		// The whole end-to-end suite can run on PostgreSQL too.
		s.DB = testpg.DSN(tb)
		full = append(full, "--db", s.DB)
	}
	go func() { s.done <- cli.Run(ctx, full, env) }()
	select {
	case s.Addr = <-listening:
	case code := <-s.done:
		cancel()
		tb.Fatalf("coffer serve exited with %d before listening:\n%s", code, s.Log.String())
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatalf("coffer serve did not listen within 60s:\n%s", s.Log.String())
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	s.URL = "https://localhost:" + port
	pem, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		tb.Fatalf("read server certificate: %v", err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pem) {
		tb.Fatalf("bad server certificate PEM")
	}
	tb.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
}

// HTTPClient returns a client that trusts the server's self-signed
// certificate and keeps cookies. localAddr, if non-empty, is the source IP
// to connect from (any of 127.0.0.0/8), so tests can act as distinct clients.
func (s *Server) HTTPClient(localAddr string) *http.Client {
	return testtools.HTTPClient(s.roots, s.Addr, localAddr)
}

// AddUser runs `coffer admin user add` against the server's data directory
// while it serves.
func (s *Server) AddUser(tb testing.TB, email, name, password string, extra ...string) {
	tb.Helper()
	var out SyncBuffer
	env := cli.Env{Stdin: strings.NewReader(password + "\n"), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	args := append([]string{"admin", "user", "add", "--data", s.DataDir, "--db", s.DB, "--email", email, "--name", name, "--password-stdin"}, extra...)
	if code := cli.Run(context.Background(), args, env); code != 0 {
		tb.Fatalf("admin user add %s: exit %d: %s", email, code, out.String())
	}
}

// AddMember creates a user who belongs to org with role (creating the
// organisation when role is owner and it does not exist).
func (s *Server) AddMember(tb testing.TB, email, name, password, org, role string) {
	tb.Helper()
	s.AddUser(tb, email, name, password, "--org", org, "--role", role)
}
