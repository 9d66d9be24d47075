package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPair is a certificate and key written to files.
type testPair struct {
	CertFile, KeyFile string
	Serial            *big.Int
	Cert              *x509.Certificate
}

// mustWritePair writes a self-signed ECDSA certificate for localhost and
// 127.0.0.1, valid from notBefore to notAfter, into dir as name.crt and
// name.key.
func mustWritePair(tb testing.TB, dir, name string, notBefore, notAfter time.Time) testPair {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return mustWritePairWithKey(tb, dir, name, key, notBefore, notAfter)
}

// mustWritePairWithKey is mustWritePair with a given key.
func mustWritePairWithKey(tb testing.TB, dir, name string, key crypto.Signer, notBefore, notAfter time.Time) testPair {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	p := testPair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"), Serial: serial, Cert: cert}
	mustWrite(tb, p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	mustWrite(tb, p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return p
}

func mustWrite(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTLS serves a handler that answers "ok" with tlsConfig(getCert) on
// loopback, as serve does, and returns its address.
func startTLS(tb testing.TB, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig:         tlsConfig(getCert),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are expected
	}
	go hs.ServeTLS(ln, "", "")
	tb.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// servedSerial makes a new TLS connection and returns the serial of the
// certificate the server presents.
func servedSerial(tb testing.TB, addr string) *big.Int {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		tb.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	day := 24 * time.Hour
	first := mustWritePair(t, dir, "first", now.Add(-day), now.Add(90*day))
	second := mustWritePair(t, dir, "second", now.Add(-day), now.Add(90*day))
	expired := mustWritePair(t, dir, "expired", now.Add(-90*day), now.Add(-day))
	future := mustWritePair(t, dir, "future", now.Add(day), now.Add(90*day))
	live := testPair{CertFile: filepath.Join(dir, "live.crt"), KeyFile: filepath.Join(dir, "live.key")}
	install := func(p testPair) {
		mustWrite(t, live.CertFile, mustRead(t, p.CertFile))
		mustWrite(t, live.KeyFile, mustRead(t, p.KeyFile))
	}
	install(first)

	var logs syncBuffer
	r, err := newCertReloader(live.CertFile, live.KeyFile, time.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLS(t, r.GetCertificate)

	// One keep-alive connection, used before and after every reload.
	var dials int
	var dialMu sync.Mutex
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dialMu.Lock()
			dials++
			dialMu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, a)
		},
	}
	defer tr.CloseIdleConnections()
	keepAlive := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() *big.Int {
		t.Helper()
		resp, err := keepAlive.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("request on the kept-alive connection: %v", err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			t.Fatalf("answer %q", b)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber
	}
	if got := get(); got.Cmp(first.Serial) != 0 {
		t.Fatalf("serves serial %x, want the first %x", got, first.Serial)
	}

	t.Run("OK", func(t *testing.T) {
		install(second)
		if err := r.Reload(); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		if got := servedSerial(t, addr); got.Cmp(second.Serial) != 0 {
			t.Errorf("a new handshake gets serial %x, want the second %x", got, second.Serial)
		}
		if got := get(); got.Cmp(first.Serial) != 0 {
			t.Errorf("the kept-alive connection now reports serial %x; it should still be the first connection (%x)", got, first.Serial)
		}
		for _, want := range []string{"TLS certificate reloaded", `subject="CN=second"`, "serial=" + second.Serial.Text(16), "not_after=" + second.Cert.NotAfter.UTC().Format(time.RFC3339)} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs.String())
			}
		}
	})

	for _, tt := range []struct {
		name     string
		cert     []byte
		key      []byte
		wantErr  string
		withFile bool
	}{
		{name: "ErrExpired", cert: mustRead(t, expired.CertFile), key: mustRead(t, expired.KeyFile), wantErr: "expired"},
		{name: "ErrNotYetValid", cert: mustRead(t, future.CertFile), key: mustRead(t, future.KeyFile), wantErr: "not valid before"},
		{name: "ErrKeyMismatch", cert: mustRead(t, first.CertFile), key: mustRead(t, second.KeyFile), wantErr: "private key does not match"},
		{name: "ErrGarbage", cert: []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), key: mustRead(t, first.KeyFile), wantErr: "load TLS certificate"},
		{name: "ErrHalfWritten", cert: mustRead(t, first.CertFile)[:100], key: mustRead(t, first.KeyFile), wantErr: "load TLS certificate"},
		{name: "ErrEmptyKey", cert: mustRead(t, first.CertFile), key: nil, wantErr: "load TLS certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mustWrite(t, live.CertFile, tt.cert)
			mustWrite(t, live.KeyFile, tt.key)
			before := len(logs.String())
			err := r.Reload()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Reload = %v, want an error with %q", err, tt.wantErr)
			}
			if got := servedSerial(t, addr); got.Cmp(second.Serial) != 0 {
				t.Errorf("after a bad reload a new handshake gets serial %x, want the previous %x", got, second.Serial)
			}
			line := logs.String()[before:]
			if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "still serving the previous one") || !strings.Contains(line, "serial="+second.Serial.Text(16)) {
				t.Errorf("log of the refused reload: %q", line)
			}
		})
	}
	t.Run("ErrMissingFile", func(t *testing.T) {
		os.Remove(live.CertFile)
		if err := r.Reload(); err == nil {
			t.Fatal("Reload of a missing file succeeded")
		}
		if got := servedSerial(t, addr); got.Cmp(second.Serial) != 0 {
			t.Errorf("serial %x, want the previous %x", got, second.Serial)
		}
	})

	if got := get(); got.Cmp(first.Serial) != 0 {
		t.Errorf("the kept-alive connection reports serial %x, want the first %x", got, first.Serial)
	}
	dialMu.Lock()
	defer dialMu.Unlock()
	if dials != 1 {
		t.Errorf("the keep-alive client dialled %d times, want 1 (the connection was dropped)", dials)
	}
	for _, secret := range []string{"PRIVATE KEY", string(mustRead(t, first.KeyFile)[28:60])} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds key material %q", secret)
		}
	}
}

func TestNewCertReloader_Refuses(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	expired := mustWritePair(t, dir, "expired", now.Add(-48*time.Hour), now.Add(-time.Hour))
	good := mustWritePair(t, dir, "good", now.Add(-time.Hour), now.Add(48*time.Hour))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := newCertReloader(expired.CertFile, expired.KeyFile, time.Now, log); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired certificate: %v", err)
	}
	if _, err := newCertReloader(good.CertFile, expired.KeyFile, time.Now, log); err == nil {
		t.Error("mismatched key accepted")
	}
	// The injected clock decides validity.
	if _, err := newCertReloader(good.CertFile, good.KeyFile, func() time.Time { return now.Add(72 * time.Hour) }, log); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("certificate past its NotAfter by the injected clock: %v", err)
	}
}

// TestTLSConfig checks what tlsConfig negotiates with Go's own client: TLS
// 1.3 with the hybrid post-quantum group by default, only the configured
// AEAD suites for TLS 1.2, and resumption that works.
func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	start := func(p testPair) string {
		r, err := newCertReloader(p.CertFile, p.KeyFile, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		roots.AddCert(p.Cert)
		return startTLS(t, r.GetCertificate)
	}
	addr := start(mustWritePair(t, dir, "ecdsa", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	rsaAddr := start(mustWritePairWithKey(t, dir, "rsa", rsaKey, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	dialAt := func(t *testing.T, addr string, conf *tls.Config) tls.ConnectionState {
		t.Helper()
		conf.RootCAs, conf.ServerName = roots, "localhost"
		conn, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		st := conn.ConnectionState()
		if st.Version == tls.VersionTLS13 {
			// Take in the session ticket, sent after the handshake.
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			conn.Read(make([]byte, 1))
		}
		return st
	}
	dial := func(t *testing.T, conf *tls.Config) tls.ConnectionState {
		t.Helper()
		return dialAt(t, addr, conf)
	}

	t.Run("TLS 1.3 with X25519MLKEM768", func(t *testing.T) {
		st := dial(t, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
			t.Errorf("negotiated %s with group %v, want TLS 1.3 with X25519MLKEM768", tls.VersionName(st.Version), st.CurveID)
		}
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q, want h2", st.NegotiatedProtocol)
		}
	})
	for _, id := range tlsConfig(nil).CipherSuites {
		name := tls.CipherSuiteName(id)
		t.Run("TLS 1.2 "+name, func(t *testing.T) {
			if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
				t.Fatalf("%s is not an ECDHE AEAD suite", name)
			}
			for _, s := range tls.InsecureCipherSuites() {
				if s.ID == id {
					t.Fatalf("%s is on Go's insecure list", name)
				}
			}
			at := addr
			if strings.Contains(name, "_RSA_") {
				at = rsaAddr
			}
			st := dialAt(t, at, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{id}})
			if st.Version != tls.VersionTLS12 || st.CipherSuite != id {
				t.Errorf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
	t.Run("TLS 1.2 refuses a non-AEAD suite", func(t *testing.T) {
		conf := &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}
		if conn, err := tls.Dial("tcp", addr, conf); err == nil {
			conn.Close()
			t.Fatal("handshake succeeded with CBC suites only")
		}
	})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run("resumption "+tls.VersionName(v), func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(4)
			dial(t, &tls.Config{MinVersion: v, MaxVersion: v, ClientSessionCache: cache})
			if st := dial(t, &tls.Config{MinVersion: v, MaxVersion: v, ClientSessionCache: cache}); !st.DidResume {
				t.Error("the second connection did not resume")
			}
		})
	}
}

func TestRedirectHandler(t *testing.T) {
	h := redirectHandler("coffer.example", 8443)
	for _, tt := range []struct {
		name, method, target, host string
		want                       string
	}{
		{"path and query kept", "GET", "/orgs/3/invoices?page=2&q=a%20b", "coffer.example:8080", "https://coffer.example:8443/orgs/3/invoices?page=2&q=a%20b"},
		{"host without port", "GET", "/login", "books.example.org", "https://books.example.org:8443/login"},
		{"host upper case and trailing dot", "GET", "/", "Books.Example.ORG.:80", "https://books.example.org:8443/"},
		{"IPv4", "GET", "/x", "127.0.0.1:8080", "https://127.0.0.1:8443/x"},
		{"IPv6", "GET", "/x", "[::1]:8080", "https://[::1]:8443/x"},
		{"IPv6 without port", "GET", "/x", "[::1]", "https://[::1]:8443/x"},
		{"POST keeps its method by 308", "POST", "/api/v1/login", "localhost:8080", "https://localhost:8443/api/v1/login"},
		{"no Host", "GET", "/", "", "https://coffer.example:8443/"},
		{"user info", "GET", "/", "evil@example.com", "https://coffer.example:8443/"},
		{"underscore", "GET", "/", "bad_host:80", "https://coffer.example:8443/"},
		{"port not a number", "GET", "/", "example.com:http", "https://coffer.example:8443/"},
		{"empty label", "GET", "/", "a..example", "https://coffer.example:8443/"},
		{"label with a leading hyphen", "GET", "/", "-a.example", "https://coffer.example:8443/"},
		{"IPv6 zone", "GET", "/", "[fe80::1%25eth0]:80", "https://coffer.example:8443/"},
		{"host name in brackets", "GET", "/", "[example.com]", "https://coffer.example:8443/"},
		{"percent-encoded host", "GET", "/", "ex%61mple.com", "https://coffer.example:8443/"},
		{"path that looks like a host", "GET", "//evil.example/x", "coffer.example", "https://coffer.example:8443//evil.example/x"},
		{"backslash in the path", "GET", `/\evil.example`, "coffer.example", "https://coffer.example:8443/%5Cevil.example"},
		{"OPTIONS *", "OPTIONS", "*", "coffer.example", "https://coffer.example:8443/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://placeholder"+strings.TrimPrefix(tt.target, "*"), strings.NewReader("body that is never read"))
			if tt.target == "*" {
				req.URL = &url.URL{Path: "*"}
			}
			req.Host = tt.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusPermanentRedirect {
				t.Errorf("status %d, want 308", rec.Code)
			}
			if got := rec.Header().Get("Location"); got != tt.want {
				t.Errorf("Location %q, want %q", got, tt.want)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body %q, want none", rec.Body.String())
			}
			if v := rec.Header().Get("Strict-Transport-Security"); v != "" {
				t.Errorf("HSTS over plain HTTP: %q", v)
			}
		})
	}
	t.Run("port 443 is left out", func(t *testing.T) {
		for host, want := range map[string]string{"coffer.example:80": "https://coffer.example/a?b", "[::1]:80": "https://[::1]/a?b"} {
			req := httptest.NewRequest("GET", "http://x/a?b", nil)
			req.Host = host
			rec := httptest.NewRecorder()
			redirectHandler("localhost", 443).ServeHTTP(rec, req)
			if got := rec.Header().Get("Location"); got != want {
				t.Errorf("Host %q: Location %q, want %q", host, got, want)
			}
		}
	})
}

func TestPublicHost(t *testing.T) {
	for addr, want := range map[string]string{
		"localhost:8443":      "localhost",
		"127.0.0.1:0":         "127.0.0.1",
		":8443":               "localhost",
		"0.0.0.0:8443":        "localhost",
		"[::]:8443":           "localhost",
		"[::1]:8443":          "::1",
		"Books.Example:8443":  "books.example",
		"bad_name:8443":       "localhost",
		"no port":             "localhost",
		"coffer.example:8443": "coffer.example",
	} {
		if got := publicHost(addr); got != want {
			t.Errorf("publicHost(%q) = %q, want %q", addr, got, want)
		}
	}
}

// FuzzRedirectHost checks that whatever the Host header, an accepted host
// comes back out of a URL as itself: no user info, no second authority, no
// path or port smuggled in.
func FuzzRedirectHost(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:80", "[::1]:80", "a@b", "[::1%25x]", "b.example:1:2", "x/y", "1.2.3.4", "[1.2.3.4]", "é.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hostport string) {
		host, ok := redirectHost(hostport)
		if !ok {
			return
		}
		u, err := url.Parse("https://" + net.JoinHostPort(host, "8443") + "/p")
		if err != nil {
			t.Fatalf("Host %q gave host %q, which does not parse in a URL: %v", hostport, host, err)
		}
		if u.Hostname() != host || u.Port() != "8443" || u.User != nil || u.Path != "/p" {
			t.Fatalf("Host %q gave host %q, which reads back as %+v", hostport, host, u)
		}
		if ip := net.ParseIP(host); ip == nil && !isDNSName(host) {
			t.Fatalf("Host %q gave %q, neither an IP address nor a DNS name", hostport, host)
		}
	})
}

func TestServeConfig_RedirectAddr(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"", true}, // off
		{":80", true},
		{"127.0.0.1:8080", true},
		{"[::1]:80", true},
		{"8080", false},
		{"localhost", false},
	} {
		c := DefaultServeConfig(Env{Getenv: func(string) string { return "" }})
		c.RedirectAddr = tt.addr
		err := c.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("--http-redirect-addr %q: Validate = %v, want ok=%v", tt.addr, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--http-redirect-addr") {
			t.Errorf("--http-redirect-addr %q: the error does not name the flag: %v", tt.addr, err)
		}
	}
}

func TestServeHelp_Transport(t *testing.T) {
	var out bytes.Buffer
	if code := Run(t.Context(), []string{"serve", "-h"}, Env{Stdout: &out, Stderr: &out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--http-redirect-addr", "308", "SIGHUP", "TLS 1.3", "--tls-cert"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve -h lacks %q:\n%s", want, out.String())
		}
	}
}
