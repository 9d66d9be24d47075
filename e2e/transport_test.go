package e2e

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"coffer/internal/testserver"
)

// testCA is a certificate authority made for one test, so that a server
// certificate it issues can be verified as a browser would: by a chain to a
// trusted root, not by trusting the server certificate itself.
type testCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	PEMFile string // the root, for clients and testssl --add-ca
	Pool    *x509.CertPool
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          mustSerial(tb),
		Subject:               pkix.Name{CommonName: "Coffer test root CA " + tb.Name(), Organization: []string{"Coffer tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, PEMFile: filepath.Join(tb.TempDir(), "ca.pem"), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	writeFileAtomic(tb, ca.PEMFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return ca
}

func mustSerial(tb testing.TB) *big.Int {
	tb.Helper()
	// 128 random bits, as CAs use (CA/Browser Forum: at least 64).
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// issue makes a server certificate for localhost and 127.0.0.1, valid for
// 90 days from an hour ago, with a new key of the given kind ("ecdsa" or
// "rsa"), and writes the pair as PEM to certFile and keyFile (replacing
// each file in one rename, as a certificate manager should).
func (ca *testCA) issue(tb testing.TB, kind, certFile, keyFile string) *x509.Certificate {
	tb.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: mustSerial(tb),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(90 * 24 * time.Hour),
		// Signatures only: no RSA key transport suite is offered, so no
		// KeyEncipherment even for an RSA key.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
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
	writeFileAtomic(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writeFileAtomic(tb, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return cert
}

func writeFileAtomic(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// startWithCA starts `coffer serve --tls-cert --tls-key` with a certificate
// from ca. The pair lives in the data directory under the names of the
// generated one, which testserver reads; --tls-cert makes serve use it
// as given (and reload it on SIGHUP) instead of managing it.
func startWithCA(tb testing.TB, ca *testCA, kind string, args ...string) (*testserver.Server, *x509.Certificate) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
	leaf := ca.issue(tb, kind, certFile, keyFile)
	srv := testserver.StartIn(tb, dir, append([]string{"--tls-cert", certFile, "--tls-key", keyFile}, args...)...)
	return srv, leaf
}

// TestTransportRedirect checks --http-redirect-addr on a real listener:
// every plain-HTTP request gets a bare 308 to the same path over HTTPS, and
// following it lands on the HTTPS server.
func TestTransportRedirect(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, "--http-redirect-addr", "127.0.0.1:0")
	m := regexp.MustCompile(`Plain HTTP on http://(\S+) redirects to HTTPS`).FindStringSubmatch(srv.Log.String())
	if m == nil {
		t.Fatalf("serve did not say where it redirects from:\n%s", srv.Log.String())
	}
	plainAddr := m[1]
	_, httpsPort, _ := net.SplitHostPort(srv.Addr)
	noFollow := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	for _, tt := range []struct {
		name, method, path, host, body string
		want                           string
	}{
		{"GET", "GET", "/login?next=%2Fdashboard&x=1", plainAddr, "", "https://127.0.0.1:" + httpsPort + "/login?next=%2Fdashboard&x=1"},
		{"host name", "GET", "/healthz", "localhost", "", "https://localhost:" + httpsPort + "/healthz"},
		{"POST with a body", "POST", "/api/v1/login", "localhost:80", `{"email":"a@example.com","password":"never read"}`, "https://localhost:" + httpsPort + "/api/v1/login"},
		{"odd Host falls back to the configured host", "GET", "/x", "evil.example@127.0.0.1", "", "https://127.0.0.1:" + httpsPort + "/x"},
		{"path that looks like a host stays a path", "GET", "//evil.example/", plainAddr, "", "https://127.0.0.1:" + httpsPort + "//evil.example/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+plainAddr+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect {
				t.Errorf("status %s, want 308", resp.Status)
			}
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("Location %q, want %q", got, tt.want)
			}
			if len(body) != 0 {
				t.Errorf("body %q, want none", body)
			}
			for _, h := range []string{"Strict-Transport-Security", "Set-Cookie", "Content-Type"} {
				if v := resp.Header.Values(h); len(v) > 0 {
					t.Errorf("%s over plain HTTP: %q", h, v)
				}
			}
		})
	}

	t.Run("no Host (HTTP/1.0)", func(t *testing.T) {
		got := rawExchange(t, plainAddr, "GET /a?b=c HTTP/1.0\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.0 308 ") || !strings.Contains(got, "\r\nLocation: https://127.0.0.1:"+httpsPort+"/a?b=c\r\n") {
			t.Errorf("answer %q", got)
		}
	})
	t.Run("oversized headers are refused", func(t *testing.T) {
		got := rawExchange(t, plainAddr, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
			t.Errorf("answer %.80q, want 431", got)
		}
	})
	t.Run("a client that never finishes its headers is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", plainAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n")
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, conn) // returns when the server hangs up
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("the server waited %v for the headers", d)
		}
	})
	t.Run("following it reaches the HTTPS server", func(t *testing.T) {
		roots := x509.NewCertPool()
		pemData, err := os.ReadFile(filepath.Join(srv.DataDir, "tls-cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		roots.AppendCertsFromPEM(pemData)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := c.Get("http://" + plainAddr + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.Request.URL.String() != "https://127.0.0.1:"+httpsPort+"/login" {
			t.Fatalf("ended at %s with %s (TLS %v)", resp.Request.URL, resp.Status, resp.TLS != nil)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Error("no HSTS over HTTPS")
		}
	})
}

// rawExchange writes req on a new connection and returns what comes back
// until the server closes it.
func rawExchange(tb testing.TB, addr, req string) string {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	resp.Write(&b)
	return b.String()
}

// TestTransportCertReload replaces the certificate files of a running
// server and sends it SIGHUP, as an operator (or certbot's deploy hook)
// would: new connections get the new certificate, an open one carries on,
// and a bad pair is refused while the good one stays.
func TestTransportCertReload(t *testing.T) {
	t.Parallel()
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	srv, first := startWithCA(t, ca, "ecdsa", "--log-level", "info")
	certFile, keyFile := filepath.Join(srv.DataDir, "tls-cert.pem"), filepath.Join(srv.DataDir, "tls-key.pem")
	hup := func() {
		t.Helper()
		if err := self.Signal(syscall.SIGHUP); err != nil {
			t.Skipf("cannot send SIGHUP here: %v", err)
		}
	}
	newHandshakeSerial := func() *big.Int {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", srv.Addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("handshake (verified against the test CA): %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10s; server log:\n%s", what, srv.Log.String())
			}
		}
	}

	// One HTTP/2 connection, opened now and used after every reload.
	var dials atomic.Int32
	keepAlive := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, "tcp4", srv.Addr)
		},
	}}
	get := func() *x509.Certificate {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
		resp, err := keepAlive.Do(req)
		if err != nil {
			t.Fatalf("request on the open connection: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %s", resp.Status)
		}
		if dials.Load() > 1 {
			t.Fatalf("the client had to dial again (%d dials): the connection was dropped", dials.Load())
		}
		return resp.TLS.PeerCertificates[0]
	}
	if got := get(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("serves %x, want the first certificate %x", got.SerialNumber, first.SerialNumber)
	}

	second := ca.issue(t, "ecdsa", certFile, keyFile)
	hup()
	waitFor("new certificate on a new handshake", func() bool { return newHandshakeSerial().Cmp(second.SerialNumber) == 0 })
	wantLog := "serial=" + second.SerialNumber.Text(16)
	waitFor("log line of the reload", func() bool { return strings.Contains(srv.Log.String(), wantLog) })
	t.Logf("reload logged: %s", grepLine(srv.Log.String(), "TLS certificate reloaded"))
	if got := get(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("the open connection now reports %x; it should be the same connection, made with %x", got.SerialNumber, first.SerialNumber)
	}

	// A bad pair: the certificate of a third key with the second's key.
	secondKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca.issue(t, "ecdsa", certFile, keyFile)
	writeFileAtomic(t, keyFile, secondKey)
	hup()
	waitFor("log line of the refused reload", func() bool {
		return strings.Contains(srv.Log.String(), "TLS certificate not reloaded")
	})
	t.Logf("refusal logged: %s", grepLine(srv.Log.String(), "TLS certificate not reloaded"))
	if got := newHandshakeSerial(); got.Cmp(second.SerialNumber) != 0 {
		t.Errorf("after a bad pair, new handshakes get %x, want the previous %x", got, second.SerialNumber)
	}
	if got := get(); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("the open connection reports %x, want %x", got.SerialNumber, first.SerialNumber)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the keep-alive client dialled %d times, want 1", n)
	}
	if strings.Contains(srv.Log.String(), "PRIVATE KEY") {
		t.Error("the server log holds key material")
	}
}

func grepLine(log, s string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, s) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// testsslFinding is one entry of testssl.sh's flat JSON (--jsonfile).
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
	CVE      string `json:"cve"`
}

// testsslExcluded are findings of MEDIUM or above that come from the test
// setup, not from Coffer; each is excluded by id, never by severity.
var testsslExcluded = map[string]string{
	// HIGH "Neither CRL nor OCSP URI provided": the test CA runs no
	// revocation service, so its certificates carry no CRL or OCSP URI; a
	// real CA's certificate has one (and serve passes the file through).
	"cert_revocation": "the test CA publishes no CRL or OCSP responder",
}

// testsslOfferedSuites are the only cipher suites Coffer may offer (IANA
// names): its six TLS 1.2 ECDHE AEAD suites and TLS 1.3's three.
var testsslOfferedSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
}

// TestTLSScanner runs testssl.sh, a third-party TLS scanner, against a
// running Coffer with an ECDSA and with an RSA certificate from a test CA
// (given to testssl with --add-ca, so its chain-of-trust check stays on),
// and fails on any weak protocol or cipher and any finding of MEDIUM or
// above that testsslExcluded does not explain.
//
// The checks run are -p (protocols) -s (cipher categories) -f (forward
// secrecy and groups) -E (every cipher per protocol) -P (server
// preference) -S (server defaults and certificate) -h (HTTP headers and
// cookies, at /login, which sets cookies) -U (every vulnerability check):
// a full scan without the client simulations (-c), ~30 s instead of ~45.
func TestTLSScanner(t *testing.T) {
	if testing.Short() {
		t.Skip("a TLS scan takes ~30 s")
	}
	bin := requireTool(t, "testssl")
	t.Parallel()
	ca := newTestCA(t)
	for _, kind := range []string{"ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv, _ := startWithCA(t, ca, kind)
			findings := runTestssl(t, bin, ca, "https://"+srv.Addr+"/login")
			checkTestssl(t, findings)
		})
	}
}

func runTestssl(tb testing.TB, bin string, ca *testCA, uri string) []testsslFinding {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
		"-p", "-s", "-f", "-E", "-P", "-S", "-h", "-U",
		"--add-ca", ca.PEMFile, "--jsonfile", out, uri)
	cmd.Dir = tb.TempDir()
	start := time.Now()
	text, err := cmd.CombinedOutput()
	tb.Logf("testssl %s: %v, exit status %d", uri, time.Since(start).Round(time.Second), cmd.ProcessState.ExitCode())
	if ctx.Err() != nil {
		tb.Fatalf("testssl did not finish in time:\n%s", text)
	}
	data, rerr := os.ReadFile(out)
	if rerr != nil {
		tb.Fatalf("testssl wrote no JSON (%v, %v):\n%s", err, rerr, text)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(data, &findings); err != nil {
		tb.Fatalf("testssl JSON: %v\n%s", err, data)
	}
	if len(findings) < 50 {
		tb.Fatalf("only %d findings: the scan did not run through:\n%s", len(findings), text)
	}
	return findings
}

func checkTestssl(t *testing.T, findings []testsslFinding) {
	t.Helper()
	byID := map[string]testsslFinding{}
	bySeverity := map[string]int{}
	var ciphers []string
	for _, f := range findings {
		byID[f.ID] = f
		bySeverity[f.Severity]++
		switch f.Severity {
		case "MEDIUM", "HIGH", "CRITICAL":
			if why, ok := testsslExcluded[f.ID]; ok {
				t.Logf("excluded %s %s: %q (%s)", f.Severity, f.ID, f.Finding, why)
				continue
			}
			t.Errorf("%s %s: %s %s", f.Severity, f.ID, f.Finding, f.CVE)
		case "FATAL":
			t.Errorf("scan problem %s: %s", f.ID, f.Finding)
		}
		// -E reports each offered suite as cipher-<proto>_x<hex>, its IANA
		// name last.
		if strings.HasPrefix(f.ID, "cipher-") || strings.HasPrefix(f.ID, "cipher_x") {
			fields := strings.Fields(f.Finding)
			name := fields[len(fields)-1]
			ciphers = append(ciphers, fields[0]+" "+fields[1]+" "+name)
			if !slices.Contains(testsslOfferedSuites, name) {
				t.Errorf("weak or unexpected cipher suite offered: %s", f.Finding)
			}
		}
	}
	var sev []string
	for s, n := range bySeverity {
		sev = append(sev, fmt.Sprintf("%s=%d", s, n))
	}
	sort.Strings(sev)
	t.Logf("%d findings by severity: %s", len(findings), strings.Join(sev, " "))

	want := func(id string, ok func(string) bool, desc string) {
		t.Helper()
		f, found := byID[id]
		switch {
		case !found:
			t.Errorf("no %s finding: the check did not run", id)
		case !ok(f.Finding):
			t.Errorf("%s: %q, want %s", id, f.Finding, desc)
		}
	}
	notOffered := func(s string) bool { return strings.HasPrefix(s, "not offered") }
	offered := func(s string) bool { return strings.HasPrefix(s, "offered") }
	var protos []string
	for _, p := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"} {
		protos = append(protos, p+": "+byID[p].Finding)
	}
	t.Logf("protocols: %s", strings.Join(protos, "; "))
	t.Logf("cipher suites offered: %s", strings.Join(ciphers, ", "))
	t.Logf("certificate: chain of trust %q, name %q, key %q", byID["cert_chain_of_trust"].Finding, byID["cert_trust"].Finding, byID["cert_keySize"].Finding)
	for _, p := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1"} {
		want(p, notOffered, "not offered")
	}
	want("TLS1_2", offered, "offered")
	want("TLS1_3", offered, "offered")
	for _, c := range []string{"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"} {
		want(c, notOffered, "not offered")
	}
	want("cipherlist_STRONG", offered, "offered")
	want("PFS", offered, "offered")
	if len(ciphers) == 0 {
		t.Error("no cipher suite reported (-E did not run)")
	}
	// The trust check stays on: the chain to the test CA must verify.
	want("cert_chain_of_trust", func(s string) bool { return strings.HasPrefix(s, "passed") }, "passed")
	want("cert_trust", func(s string) bool { return strings.HasPrefix(s, "Ok") }, "Ok (name matches)")
	want("HSTS_time", func(s string) bool { return strings.Contains(s, "63072000 seconds") }, "two years")
	want("cookie_secure", func(s string) bool { return strings.HasPrefix(s, "All") }, "all cookies Secure")

	var vulns []string
	for _, id := range []string{"heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"} {
		f, ok := byID[id]
		if !ok {
			t.Errorf("no %s finding: the vulnerability check did not run", id)
			continue
		}
		if f.Severity != "OK" && f.Severity != "INFO" {
			t.Errorf("%s: %s %q", id, f.Severity, f.Finding)
		}
		vulns = append(vulns, id+"="+f.Severity)
	}
	t.Logf("vulnerabilities: %s", strings.Join(vulns, " "))
	for _, f := range findings {
		if f.Severity == "LOW" || f.Severity == "WARN" {
			t.Logf("%s %s: %s", f.Severity, f.ID, f.Finding)
		}
	}
}
