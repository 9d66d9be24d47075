// Package testmailpit runs a real Mailpit SMTP server on loopback for tests
// of mail delivery: random free ports, a throwaway database, killed when the
// test ends. Messages are read back through Mailpit's HTTP API.
//
// The mailpit binary is looked up on PATH, then in the test tools cache
// (~/.cache/coffer-test-tools/bin, where scripts/test installs it). When it
// is missing the test is skipped, unless COFFER_REQUIRE_MAILPIT is set (the
// test script sets it), in which case the test fails: CI cannot pass by
// skipping.
package testmailpit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coffer/internal/testtools"
)

// RequireEnv is the variable that turns a missing mailpit binary from a
// skip into a failure.
const RequireEnv = "COFFER_REQUIRE_MAILPIT"

// Options choose how the SMTP side behaves.
type Options struct {
	// STARTTLS offers STARTTLS with a fresh self-signed certificate for
	// 127.0.0.1 (Server.CAFile) and requires it.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (port-465 style) with the
	// same kind of certificate.
	ImplicitTLS bool
	// Auth requires SMTP authentication; any user and password are
	// accepted, and the user shows in Message.Username.
	Auth bool
	// AllowedRecipients, a regular expression, makes Mailpit refuse every
	// other recipient with a 5xx.
	AllowedRecipients string
}

// Server is a running Mailpit.
type Server struct {
	// SMTPAddr is 127.0.0.1:PORT.
	SMTPAddr string
	// API is http://127.0.0.1:PORT, Mailpit's web API.
	API string
	// CAFile holds the certificate (PEM) of a TLS server.
	CAFile string

	bin  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *testtools.SyncBuffer
}

// Binary returns the mailpit binary's path, skipping or failing tb when it
// is missing.
func Binary(tb testing.TB) string {
	tb.Helper()
	return testtools.Binary(tb, "mailpit", RequireEnv, "GOBIN=~/.cache/coffer-test-tools/bin go install github.com/axllent/mailpit@latest")
}

// Start runs Mailpit; it stops when the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	s := &Server{bin: Binary(tb), log: &testtools.SyncBuffer{}}
	dir := tb.TempDir()
	s.args = []string{"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check", "--quiet", "--smtp-disable-rdns"}
	if opt.STARTTLS || opt.ImplicitTLS {
		cert, key := filepath.Join(dir, "smtp-cert.pem"), filepath.Join(dir, "smtp-key.pem")
		testtools.WriteSelfSignedCert(tb, cert, key, "PRIVATE KEY")
		s.CAFile = cert
		s.args = append(s.args, "--smtp-tls-cert", cert, "--smtp-tls-key", key)
		if opt.ImplicitTLS {
			s.args = append(s.args, "--smtp-require-tls")
		} else {
			s.args = append(s.args, "--smtp-require-starttls")
		}
	}
	if opt.Auth {
		s.args = append(s.args, "--smtp-auth-accept-any")
		if !opt.STARTTLS && !opt.ImplicitTLS {
			s.args = append(s.args, "--smtp-auth-allow-insecure")
		}
	}
	if opt.AllowedRecipients != "" {
		s.args = append(s.args, "--smtp-allowed-recipients", opt.AllowedRecipients)
	}
	// A port picked free can be taken before Mailpit binds it: try again.
	var lastErr error
	for range 3 {
		s.SMTPAddr, s.API = testtools.FreeAddr(tb), "http://"+testtools.FreeAddr(tb)
		if lastErr = s.run(); lastErr == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("mailpit did not start: %v\n%s", lastErr, s.log.String())
	return nil
}

func (s *Server) run() error {
	u, _ := url.Parse(s.API)
	cmd := exec.Command(s.bin, append(append([]string{}, s.args...), "--smtp", s.SMTPAddr, "--listen", u.Host)...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mailpit: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("mailpit exited")
		default:
		}
		resp, err := http.Get(s.API + "/livez")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second); err == nil {
					c.Close()
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return errors.New("mailpit did not answer within 30s")
}

// Stop kills Mailpit (a mail server going down); Restart brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts Mailpit again on the same ports with the same database:
// the messages it had are still there.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	var err error
	for range 20 {
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("mailpit did not restart: %v\n%s", err, s.log.String())
}

// Address is one address of a message.
type Address struct {
	Name    string
	Address string
}

// Message is what Mailpit parsed of one message.
type Message struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Subject   string
	// Username is the SMTP user that sent it ("" without authentication).
	Username string
	Text     string
	HTML     string
}

// Messages returns every message, newest first, with their bodies.
func (s *Server) Messages(tb testing.TB) []Message {
	tb.Helper()
	var list struct {
		Messages []Message `json:"messages"`
	}
	s.get(tb, "/api/v1/messages?limit=1000", &list)
	for i := range list.Messages {
		s.get(tb, "/api/v1/message/"+url.PathEscape(list.Messages[i].ID), &list.Messages[i])
	}
	return list.Messages
}

// Headers returns the headers of message id as Mailpit received them.
func (s *Server) Headers(tb testing.TB, id string) map[string][]string {
	tb.Helper()
	h := map[string][]string{}
	s.get(tb, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h
}

// Wait polls until at least n messages arrived, for at most timeout, and
// returns them.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := s.Messages(tb)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit has %d messages after %v, want %d", len(ms), timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) get(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(s.API + path)
	if err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit API %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
}

// Log is what Mailpit wrote.
func (s *Server) Log() string { return s.log.String() }
