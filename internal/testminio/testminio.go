// Package testminio runs a real MinIO server on loopback for tests of the S3
// backup target: a throwaway data directory, random free ports, random root
// credentials, killed when the test ends.
//
// The minio binary is looked up on PATH, then in the test tools cache
// (~/.cache/coffer-test-tools/bin, where scripts/test installs it). When it
// is missing the test is skipped, unless COFFER_REQUIRE_MINIO is set (the
// test script sets it), in which case the test fails: CI cannot pass by
// skipping.
package testminio

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"coffer/internal/testtools"
)

// RequireEnv is the variable that turns a missing minio binary from a skip
// into a failure.
const RequireEnv = "COFFER_REQUIRE_MINIO"

// Server is a running MinIO server.
type Server struct {
	// Endpoint is 127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Secure is true for a server started by StartTLS, whose certificate
	// CAFile holds (PEM).
	Secure bool
	CAFile string

	dir string
	log *testtools.SyncBuffer
}

// Start runs MinIO over plain HTTP.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

// StartTLS runs MinIO over HTTPS with a fresh self-signed certificate for
// 127.0.0.1, written to s.CAFile.
func StartTLS(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, true)
}

// Binary returns the minio binary's path, skipping or failing tb when it is
// missing.
func Binary(tb testing.TB) string {
	tb.Helper()
	return testtools.Binary(tb, "minio", RequireEnv, "GOBIN=~/.cache/coffer-test-tools/bin go install github.com/minio/minio@latest")
}

func start(tb testing.TB, secure bool) *Server {
	tb.Helper()
	bin := Binary(tb)
	s := &Server{
		AccessKey: "coffer" + randomHex(tb, 6),
		SecretKey: randomHex(tb, 20),
		Secure:    secure,
		dir:       tb.TempDir(),
		log:       &testtools.SyncBuffer{},
	}
	args := []string{"server", filepath.Join(s.dir, "data")}
	if secure {
		certs := filepath.Join(s.dir, "certs")
		// Where MinIO looks for them: certs/public.crt, certs/private.key.
		s.CAFile = filepath.Join(certs, "public.crt")
		testtools.WriteSelfSignedCert(tb, s.CAFile, filepath.Join(certs, "private.key"), "EC PRIVATE KEY")
		args = append(args, "--certs-dir", certs)
	}
	// A port picked free can be taken before MinIO binds it: try again.
	var lastErr error
	for range 3 {
		s.Endpoint = testtools.FreeAddr(tb)
		cmd := exec.Command(bin, append(args, "--address", s.Endpoint, "--console-address", testtools.FreeAddr(tb), "--quiet")...)
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+s.AccessKey,
			"MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CALLHOME_ENABLE=off",
		)
		cmd.Stdout = s.log
		cmd.Stderr = s.log
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start minio: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if lastErr = s.waitLive(exited); lastErr == nil {
			tb.Cleanup(stop)
			return s
		}
		stop()
	}
	tb.Fatalf("minio did not start: %v\n%s", lastErr, s.log.String())
	return nil
}

// waitLive polls the liveness endpoint for at most 30 seconds.
func (s *Server) waitLive(exited <-chan struct{}) error {
	client := s.httpClient()
	scheme := "http"
	if s.Secure {
		scheme = "https"
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("minio exited")
		default:
		}
		resp, err := client.Get(scheme + "://" + s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("minio was not live after 30 s")
}

func (s *Server) httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.Secure {
		pem, _ := os.ReadFile(s.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}
}

// Transport returns an HTTP transport that trusts the server's certificate.
func (s *Server) Transport() http.RoundTripper { return s.httpClient().Transport }

// Client returns a minio-go client with the root credentials, for tests to
// look at the bucket behind the target's back.
func (s *Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:    s.Secure,
		Transport: s.httpClient().Transport,
	})
	if err != nil {
		tb.Fatalf("minio client: %v", err)
	}
	return c
}

// MakeBucket creates a bucket, with object locking (which also turns
// versioning on) when lock is true.
func (s *Server) MakeBucket(tb testing.TB, name string, lock bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		tb.Fatalf("make bucket %s: %v", name, err)
	}
}

// Log returns what MinIO wrote so far.
func (s *Server) Log() string { return s.log.String() }

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
