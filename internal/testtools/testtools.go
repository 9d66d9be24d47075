// Package testtools holds what the helpers that start real servers for
// tests (MinIO, Mailpit) share: finding the binary that scripts/test
// installs, a free loopback port, a self-signed certificate for 127.0.0.1,
// and a buffer for a child process's output.
package testtools

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Binary returns the path of the program name, from PATH or from the tools
// cache scripts/test installs into (~/.cache/coffer-test-tools/bin). When it
// is missing the test is skipped with how to install it, or fails when the
// environment variable requireEnv is set (CI must not skip).
func Binary(tb testing.TB, name, requireEnv, install string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "coffer-test-tools", "bin", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv(requireEnv) != "" {
		tb.Fatalf("the %s binary is not installed but %s is set: run scripts/test, which installs it into ~/.cache/coffer-test-tools/bin", name, requireEnv)
	}
	tb.Skipf("the %s binary is not installed: run scripts/test (it installs it), or `%s`", name, install)
	return ""
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WriteSelfSignedCert writes a fresh self-signed P-256 certificate for
// 127.0.0.1 and localhost, valid for a day (PEM, 0644), and its key (PEM,
// 0600) in the encoding keyType names: "PRIVATE KEY" (PKCS #8) or "EC
// PRIVATE KEY".
func WriteSelfSignedCert(tb testing.TB, certFile, keyFile, keyType string) {
	tb.Helper()
	certPEM, keyPEM := SelfSignedCert(tb, 24*time.Hour, keyType)
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// SelfSignedCert returns a fresh self-signed P-256 certificate for
// 127.0.0.1 and localhost, valid for validFor, marked as a CA so that
// OpenSSL (nginx, MinIO's clients) accepts it as its own trust anchor, and
// its key in the encoding keyType names.
func SelfSignedCert(tb testing.TB, validFor time.Duration, keyType string) (certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	var keyDER []byte
	switch keyType {
	case "PRIVATE KEY":
		keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	case "EC PRIVATE KEY":
		keyDER, err = x509.MarshalECPrivateKey(key)
	default:
		tb.Fatalf("unknown key encoding %q", keyType)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: keyType, Bytes: keyDER})
}

// SyncBuffer collects a child process's output written from several
// goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TableHashes reads the SQLite database at path (read-only, with the
// driver registered as "sqlite") and returns, for every table, its row
// count and a SHA-256 over its rows in primary-key order: two databases
// with the same map hold the same data.
func TableHashes(tb testing.TB, path string) map[string]string {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, n := range names {
		r, err := db.Query(fmt.Sprintf(`SELECT * FROM %q ORDER BY 1`, n))
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := r.Columns()
		h := sha256.New()
		count := 0
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(h, "%#v\n", vals)
			count++
		}
		r.Close()
		out[n] = fmt.Sprintf("%d rows %s", count, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

// HTTPClient returns a client that trusts roots for "localhost", keeps
// cookies and always dials addr (IPv4; "localhost" may resolve to ::1
// first). localAddr, if non-empty, is the source IP to connect from (any of
// 127.0.0.0/8), so tests can act as distinct clients.
func HTTPClient(roots *x509.CertPool, addr, localAddr string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if localAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localAddr)}
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: "localhost"},
		MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp4", addr)
		},
		ForceAttemptHTTP2: true,
	}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 60 * time.Second}
}
