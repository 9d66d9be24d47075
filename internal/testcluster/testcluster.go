// Package testcluster runs several real Coffer nodes on one fresh
// PostgreSQL database, optionally behind a real nginx configured with the
// repository's deploy/nginx/coffer.conf, for end-to-end tests of what must
// hold across nodes and for load tests.
//
// Every node is a separate OS process (cmd/coffer, built once per test
// binary), so nodes share nothing but the database and the master key,
// as on separate machines, and Kill is a real SIGKILL.
package testcluster

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"coffer/internal/keyring"
	"coffer/internal/testpg"
	"coffer/internal/testserver"
	"coffer/internal/testtools"
)

// Environment variable scripts/test sets so a missing nginx fails the
// tests that need it instead of skipping them.
const EnvRequireNginx = "COFFER_REQUIRE_NGINX"

// Options says what to start.
type Options struct {
	// Nodes is how many Coffer nodes to run (default 2).
	Nodes int
	// Nginx puts nginx in front of the nodes (Cluster.URL).
	Nginx bool
	// Args are extra coffer serve flags for every node.
	Args []string
	// Concurrent starts every node at the same moment on the fresh
	// database (all with the same, pre-made master key), so that they
	// race to apply the migrations and to set the database up. Without it
	// node 0 starts first and the others after it is ready.
	Concurrent bool
}

// Cluster is a set of running nodes on one database.
type Cluster struct {
	// DB is the nodes' --db.
	DB string
	// Nodes are the running nodes; Restart replaces an entry.
	Nodes []*testserver.Server
	// URL is nginx's https://localhost:PORT with Nginx, else Nodes[0].URL.
	URL string
	// NginxAddr is 127.0.0.1:PORT of nginx ("" without Nginx).
	NginxAddr string
	// NginxDir holds nginx.conf, coffer.conf (the filled-in template),
	// the logs and nginx's temporary files.
	NginxDir string

	tb       testing.TB
	bin      string
	dirs     []string
	addrs    []string
	args     []string
	procs    []*os.Process
	nginxCA  *x509.CertPool
	nginxLog *testtools.SyncBuffer
}

// Start starts the cluster; everything stops when the test ends.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	if o.Nodes <= 0 {
		o.Nodes = 2
	}
	c := &Cluster{tb: tb, bin: CofferBinary(tb), DB: testpg.DSN(tb)}
	var nginxBin string
	if o.Nginx {
		nginxBin = "/usr/sbin/nginx" // Debian's, not on a non-root PATH
		if _, err := os.Stat(nginxBin); err != nil {
			nginxBin = testtools.Binary(tb, "nginx", EnvRequireNginx, "apt-get install nginx")
		}
		c.NginxAddr = testtools.FreeAddr(tb)
		c.URL = "https://localhost:" + port(c.NginxAddr)
	}
	root := tb.TempDir()
	// One certificate for every node, as nodes behind a proxy would have
	// from an internal CA: nginx trusts exactly it. Written where coffer
	// serve keeps its self-signed pair, which it then uses as is.
	certPEM, keyPEM := nodeCertificate(tb)
	c.args = append([]string{"--db", c.DB}, o.Args...)
	if o.Nginx {
		c.args = append(c.args, "--trusted-proxy", "127.0.0.1/32", "--public-url", c.URL)
	}
	for i := 0; i < o.Nodes; i++ {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			tb.Fatal(err)
		}
		writeFile(tb, filepath.Join(dir, "tls-cert.pem"), certPEM, 0o644)
		writeFile(tb, filepath.Join(dir, "tls-key.pem"), keyPEM, 0o600)
		c.dirs = append(c.dirs, dir)
		c.addrs = append(c.addrs, testtools.FreeAddr(tb))
	}
	c.Nodes = make([]*testserver.Server, o.Nodes)
	c.procs = make([]*os.Process, o.Nodes)
	if o.Concurrent {
		if _, _, err := keyring.LoadOrCreateMasterKey(filepath.Join(c.dirs[0], keyring.KeyFileName)); err != nil {
			tb.Fatalf("make master key: %v", err)
		}
		c.copyMasterKey(tb)
		var wg sync.WaitGroup
		for i := range c.dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.start(i)
			}()
		}
		wg.Wait()
		for i, n := range c.Nodes {
			if n == nil {
				tb.Fatalf("node %d did not start", i)
			}
		}
	} else {
		c.start(0)
		c.copyMasterKey(tb)
		for i := 1; i < o.Nodes; i++ {
			c.start(i)
		}
	}
	if o.Nginx {
		c.startNginx(tb, nginxBin, filepath.Join(root, "nginx"), certPEM)
	} else {
		c.URL = c.Nodes[0].URL
	}
	return c
}

// start runs node i on its data directory and address. With Concurrent
// it runs on several goroutines: a failure there fails the test and ends
// only its goroutine, leaving c.Nodes[i] nil, which Start checks.
func (c *Cluster) start(i int) {
	args := append([]string{"--addr", c.addrs[i]}, c.args...)
	s, p := testserver.StartProcess(c.tb, c.bin, c.dirs[i], args...)
	c.Nodes[i], c.procs[i] = s, p
}

// copyMasterKey gives every other node node 0's master key (0600): the
// nodes must unwrap the same data keys.
func (c *Cluster) copyMasterKey(tb testing.TB) {
	tb.Helper()
	key, err := os.ReadFile(filepath.Join(c.dirs[0], keyring.KeyFileName))
	if err != nil {
		tb.Fatalf("read node 0's master key: %v", err)
	}
	for _, d := range c.dirs[1:] {
		writeFile(tb, filepath.Join(d, keyring.KeyFileName), key, 0o600)
	}
}

// Kill ends node i with SIGKILL: no drain, no shutdown, requests in
// flight cut off. It returns when the process is gone.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	if err := c.procs[i].Kill(); err != nil {
		c.tb.Fatalf("kill node %d: %v", i, err)
	}
	// Shutdown (SIGTERM to a dead process is harmless) waits for the exit
	// and keeps its code for the test's cleanup.
	if _, ok := c.Nodes[i].Shutdown(30 * time.Second); !ok {
		c.tb.Fatalf("node %d still runs after SIGKILL", i)
	}
}

// Restart starts node i again on its data directory and address (after
// Kill, or after a Shutdown of c.Nodes[i]) and replaces c.Nodes[i].
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	if _, ok := c.Nodes[i].Shutdown(30 * time.Second); !ok {
		c.tb.Fatalf("node %d did not stop within 30s", i)
	}
	args := append([]string{"--addr", c.addrs[i]}, c.args...)
	c.Nodes[i], c.procs[i] = testserver.StartProcess(c.tb, c.bin, c.dirs[i], args...)
}

// HTTPClient returns a client for c.URL (nginx, or node 0 without nginx)
// that trusts its certificate and keeps cookies; localAddr, if non-empty,
// is the source address (any of 127.0.0.0/8), so tests act as distinct
// clients — behind nginx the nodes see it through X-Forwarded-For.
func (c *Cluster) HTTPClient(localAddr string) *http.Client {
	if c.NginxAddr == "" {
		return c.Nodes[0].HTTPClient(localAddr)
	}
	return testtools.HTTPClient(c.nginxCA, c.NginxAddr, localAddr)
}

// NginxLog returns what nginx wrote to its error log and its stderr.
func (c *Cluster) NginxLog() string {
	if c.NginxDir == "" {
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(c.NginxDir, "error.log"))
	return c.nginxLog.String() + string(b)
}

// TemplatePath is deploy/nginx/coffer.conf in the module's directory.
func TemplatePath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(moduleDir(tb), "deploy", "nginx", "coffer.conf")
}

// NginxParams are the values of deploy/nginx/coffer.conf's placeholders.
type NginxParams struct {
	Listen, ServerName, Cert, Key, NodeCA, NodeTLSName string
	// Nodes are the nodes' HOST:PORT; the template's "server @NODE@" line
	// is repeated once for each.
	Nodes []string
}

// FillTemplate replaces the template's @NAME@ placeholders. It fails when
// a value is empty or holds a character that would end an nginx
// directive, when the template has no @NODE@ line, or when a placeholder
// is left over.
func FillTemplate(tmpl string, p NginxParams) (string, error) {
	vals := map[string]string{"@LISTEN@": p.Listen, "@SERVER_NAME@": p.ServerName, "@CERT@": p.Cert,
		"@KEY@": p.Key, "@NODE_CA@": p.NodeCA, "@NODE_TLS_NAME@": p.NodeTLSName}
	if len(p.Nodes) == 0 {
		return "", fmt.Errorf("no nodes")
	}
	check := func(name, v string) error {
		if v == "" {
			return fmt.Errorf("%s is empty", name)
		}
		if strings.ContainsAny(v, ";{}#'\"\\ \t\r\n$@") {
			return fmt.Errorf("%s %q holds a character nginx would read as syntax", name, v)
		}
		return nil
	}
	for k, v := range vals {
		if err := check(k, v); err != nil {
			return "", err
		}
	}
	for _, n := range p.Nodes {
		if err := check("@NODE@", n); err != nil {
			return "", err
		}
	}
	var out strings.Builder
	nodeLines := 0
	for _, line := range strings.SplitAfter(tmpl, "\n") {
		if strings.Contains(line, "@NODE@") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			nodeLines++
			for _, n := range p.Nodes {
				out.WriteString(strings.ReplaceAll(line, "@NODE@", n))
			}
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			for k, v := range vals {
				line = strings.ReplaceAll(line, k, v)
			}
			if i := strings.IndexByte(line, '@'); i >= 0 {
				return "", fmt.Errorf("placeholder left in %q", strings.TrimSpace(line))
			}
		}
		out.WriteString(line)
	}
	if nodeLines != 1 {
		return "", fmt.Errorf("want exactly one server @NODE@ line, found %d", nodeLines)
	}
	return out.String(), nil
}

// startNginx fills in the template, wraps it in a main configuration that
// keeps every file nginx writes in dir, starts nginx in the foreground and
// waits until a request through it reaches a node.
func (c *Cluster) startNginx(tb testing.TB, bin, dir string, nodeCert []byte) {
	tb.Helper()
	c.NginxDir = dir
	c.nginxLog = &testtools.SyncBuffer{}
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	cert, key := filepath.Join(dir, "nginx-cert.pem"), filepath.Join(dir, "nginx-key.pem")
	testtools.WriteSelfSignedCert(tb, cert, key, "PRIVATE KEY")
	nodeCA := filepath.Join(dir, "nodes-ca.pem")
	writeFile(tb, nodeCA, nodeCert, 0o644)
	tmpl, err := os.ReadFile(TemplatePath(tb))
	if err != nil {
		tb.Fatalf("read the nginx template: %v", err)
	}
	site, err := FillTemplate(string(tmpl), NginxParams{Listen: c.NginxAddr, ServerName: "localhost", Cert: cert, Key: key,
		NodeCA: nodeCA, NodeTLSName: "localhost", Nodes: c.addrs})
	if err != nil {
		tb.Fatalf("fill in %s: %v", TemplatePath(tb), err)
	}
	writeFile(tb, filepath.Join(dir, "coffer.conf"), []byte(site), 0o644)
	// Test-only main context: as root, workers would run as nobody, who
	// cannot enter the test's 0700 temporary directories.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	main := user + `worker_processes 1;
error_log ` + filepath.Join(dir, "error.log") + ` warn;
events { worker_connections 1024; }
http {
    access_log ` + filepath.Join(dir, "access.log") + `;
    client_body_temp_path ` + filepath.Join(dir, "tmp", "body") + `;
    proxy_temp_path ` + filepath.Join(dir, "tmp", "proxy") + `;
    fastcgi_temp_path ` + filepath.Join(dir, "tmp", "fastcgi") + `;
    uwsgi_temp_path ` + filepath.Join(dir, "tmp", "uwsgi") + `;
    scgi_temp_path ` + filepath.Join(dir, "tmp", "scgi") + `;
    include ` + filepath.Join(dir, "coffer.conf") + `;
}
`
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(tb, conf, []byte(main), 0o644)
	cmd := exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf,
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	cmd.Stdout, cmd.Stderr = c.nginxLog, c.nginxLog
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop; kill if it lingers.
		_ = cmd.Process.Signal(quitSignal)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	c.nginxCA = x509.NewCertPool()
	pemCert, err := os.ReadFile(cert)
	if err != nil {
		tb.Fatal(err)
	}
	c.nginxCA.AppendCertsFromPEM(pemCert)
	hc := c.HTTPClient("")
	defer hc.CloseIdleConnections()
	hc.Timeout = 2 * time.Second
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(c.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			tb.Fatalf("nginx exited:\n%s", c.NginxLog())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no answer through nginx within 30s (last error %v):\n%s", err, c.NginxLog())
		}
	}
}

// quitSignal is nginx's graceful stop.
var quitSignal = syscall.SIGQUIT

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// CofferBinary builds cmd/coffer once per test binary and returns its
// path: ~/.cache/coffer-test-tools/cluster/coffer-HASH (HASH names the
// module's directory), replaced atomically so test binaries building at
// the same time never run a half-written file.
func CofferBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir := moduleDir(tb)
		cache, err := os.UserCacheDir()
		if err != nil {
			binErr = fmt.Errorf("find a cache directory: %w", err)
			return
		}
		sum := sha256.Sum256([]byte(dir))
		out := filepath.Join(cache, "coffer-test-tools", "cluster")
		if err := os.MkdirAll(out, 0o700); err != nil {
			binErr = err
			return
		}
		final := filepath.Join(out, "coffer-"+hex.EncodeToString(sum[:6]))
		tmp, err := os.CreateTemp(out, "build-*")
		if err != nil {
			binErr = err
			return
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/coffer")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/coffer: %v\n%s", err, b)
			return
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			binErr = err
			return
		}
		binPath = final
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// moduleDir is the directory of go.mod, found upwards from the test's
// working directory (its package directory).
func moduleDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module coffer")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("cannot find the coffer module's go.mod above the working directory")
		}
		dir = parent
	}
}

// nodeCertificate returns a fresh self-signed certificate (and its key)
// for localhost and 127.0.0.1, valid for 397 days (coffer serve renews a
// certificate expiring within 30), which nginx takes as the nodes' CA.
func nodeCertificate(tb testing.TB) (certPEM, keyPEM []byte) {
	tb.Helper()
	return testtools.SelfSignedCert(tb, 397*24*time.Hour, "PRIVATE KEY")
}

func writeFile(tb testing.TB, path string, b []byte, mode os.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
