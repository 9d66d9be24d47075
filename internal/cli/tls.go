package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Log keys of the transport layer.
const (
	logKeyCertPath     = "cert"
	logKeyCertSubject  = "subject"
	logKeyCertSerial   = "serial"
	logKeyCertNotAfter = "not_after"
	logKeyErr          = "err"
)

// tlsConfig allows TLS 1.2 and 1.3 only, and for 1.2 only forward-secret
// AEAD suites (1.3's suites are all of that kind and not configurable).
// The certificate comes from getCert on every handshake, so a reload applies
// to new connections while established ones keep theirs.
//
// Left at Go's defaults on purpose: the key exchange groups (X25519MLKEM768
// first, then the hybrid and classic ECDHE groups), and session tickets,
// whose keys are random per process, rotated daily and never written
// anywhere; TLS 1.3 resumption always runs a fresh (EC)DHE exchange.
func tlsConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// certReloader serves a certificate and key pair from files and replaces it,
// without touching established connections, when Reload finds a valid new
// pair. A bad new pair leaves the served one in place.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once; unlike Reload, a bad pair is an
// error, since there is nothing to fall back to.
func newCertReloader(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, now: now, log: log}
	cert, err := loadCertificate(certFile, keyFile, now())
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	return r, nil
}

// GetCertificate is the tls.Config hook: the current pair.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Reload reads the pair again. On success new handshakes get it; on failure
// the error is logged and returned, and the old pair stays.
func (r *certReloader) Reload() error {
	cert, err := loadCertificate(r.certFile, r.keyFile, r.now())
	if err != nil {
		old := r.cert.Load().Leaf
		r.log.Error("TLS certificate not reloaded; still serving the previous one",
			logKeyCertPath, r.certFile, logKeyErr, err,
			logKeyCertSubject, old.Subject.String(), logKeyCertSerial, old.SerialNumber.Text(16))
		return err
	}
	r.cert.Store(cert)
	r.logServing("TLS certificate reloaded")
	return nil
}

// logServing says which certificate is served, never anything of the key.
func (r *certReloader) logServing(msg string) {
	leaf := r.cert.Load().Leaf
	r.log.Info(msg, logKeyCertPath, r.certFile, logKeyCertSubject, leaf.Subject.String(),
		logKeyCertSerial, leaf.SerialNumber.Text(16), logKeyCertNotAfter, leaf.NotAfter.UTC().Format(time.RFC3339))
}

// loadCertificate reads a PEM pair and checks that it can be served: both
// parse, the key belongs to the first certificate, and that certificate is
// valid at now.
func loadCertificate(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	// LoadX509KeyPair parses both, checks that the key matches the leaf's
	// public key, and fills in Leaf.
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s: %w", certFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		return nil, fmt.Errorf("load TLS certificate %s: no certificate parsed", certFile)
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("TLS certificate %s expired at %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("TLS certificate %s is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// reloadOnSIGHUP calls r.Reload for every SIGHUP until ctx ends. The signal
// is subscribed before it returns, so a SIGHUP sent after cannot kill the
// process.
func reloadOnSIGHUP(ctx context.Context, r *certReloader) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.Reload() // logged by Reload
			}
		}
	}()
}

// redirectServer is the optional plain-HTTP listener: it tells every request
// to come back over HTTPS and serves nothing else. Its limits are tighter
// than the HTTPS server's since it has no reason to read a body or wait.
func redirectServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// redirectHandler answers every request with 308 Permanent Redirect to the
// same path and query over HTTPS on httpsPort, at the host the client asked
// for when that is a plain host name or IP address, else at fallbackHost.
// No body, and no HSTS: browsers ignore it over plain HTTP (RFC 6797 §8.1)
// and a man in the middle could strip or forge it there anyway.
func redirectHandler(fallbackHost string, httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := redirectHost(r.Host)
		if !ok {
			host = fallbackHost
		}
		authority := net.JoinHostPort(host, strconv.Itoa(httpsPort))
		if httpsPort == 443 {
			authority = strings.TrimSuffix(authority, ":443")
		}
		// EscapedPath re-encodes anything odd (a backslash, say); a path
		// such as //other.example stays a path behind the authority.
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" // "OPTIONS *", or an absolute-form URL without a path
		}
		target := "https://" + authority + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		h := w.Header()
		h.Set("Location", target)
		h.Set("Content-Length", "0")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// redirectHost returns the host of a Host header, without its port and
// normalised, when it is a DNS name or an IP address. Anything else (user
// info, an IPv6 zone, a port that is not a number, odd characters) is
// refused, so only a host we re-serialise ourselves reaches a Location.
func redirectHost(hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport // no port
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
			if net.ParseIP(host) == nil {
				return "", false
			}
		}
	} else if strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return "", false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !isDNSName(host) {
		return "", false
	}
	return host, true
}

// isDNSName reports whether s is a host name of letter-digit-hyphen labels
// (RFC 1123), in lower case.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// publicHost is the host to put in URLs for a listen address: its host,
// unless that is empty, a wildcard or not a host name, then localhost.
func publicHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "localhost"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "localhost"
	}
	if h, ok := redirectHost(host); ok {
		return h
	}
	return "localhost"
}
