package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servingLine is what coffer serve prints once its listener is bound.
var servingLine = regexp.MustCompile(`Coffer is serving at https://[^\s:]+:(\d+)`)

// StartProcess runs `bin serve --data dir --addr 127.0.0.1:0 --log-level
// warn args...` as a separate OS process (bin is a built cmd/coffer), with
// no COFFER_* or VAULT_* variable of the test's environment, and waits
// until /readyz answers 200. Unlike Start, the node shares nothing with
// the test process but the database and the files in dir, and it can be
// killed for real: the returned process is the one to send SIGKILL to.
//
// Stop and Shutdown send SIGTERM, as an operator or an orchestrator does,
// and wait for the process; a process still running when the test ends
// is killed.
func StartProcess(tb testing.TB, bin, dir string, args ...string) (*Server, *os.Process) {
	tb.Helper()
	s := &Server{DataDir: dir, Log: &SyncBuffer{}, done: make(chan int, 1)}
	for i, a := range args {
		if a == "--db" && i+1 < len(args) {
			s.DB = args[i+1]
		}
	}
	full := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Env = childEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s serve: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		code := 0
		if err := cmd.Wait(); err != nil {
			code = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		}
		close(exited)
		s.done <- code
	}()
	s.cancel = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
	// Registered first so it runs last: after Stop, a process that did not
	// stop in time is killed rather than left behind.
	tb.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	tb.Cleanup(s.Stop)

	deadline := time.Now().Add(60 * time.Second)
	for s.Addr == "" {
		if m := servingLine.FindStringSubmatch(s.Log.String()); m != nil {
			s.Addr = "127.0.0.1:" + m[1]
			break
		}
		select {
		case <-exited:
			tb.Fatalf("coffer serve (process) exited before listening:\n%s", s.Log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("coffer serve (process) did not listen within 60s:\n%s", s.Log.String())
		}
	}
	s.URL = "https://localhost:" + s.Addr[strings.LastIndexByte(s.Addr, ':')+1:]
	pem, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		tb.Fatalf("read server certificate: %v", err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pem) {
		tb.Fatalf("bad server certificate PEM")
	}
	if err := s.waitReady(exited, deadline); err != nil {
		tb.Fatalf("coffer serve (process): %v\n%s", err, s.Log.String())
	}
	return s, cmd.Process
}

// waitReady polls /readyz until it answers 200.
func (s *Server) waitReady(exited <-chan struct{}, deadline time.Time) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.roots, ServerName: "localhost"},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp4", s.Addr)
		},
	}}
	defer hc.CloseIdleConnections()
	for {
		resp, err := hc.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before /readyz answered 200")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("/readyz did not answer 200 within 60s")
		}
	}
}

// childEnv is env without the variables coffer serve reads its settings
// from, so a developer's shell cannot change what a test runs.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, "COFFER_") || strings.HasPrefix(kv, "VAULT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
