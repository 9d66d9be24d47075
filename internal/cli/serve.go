package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/anomaly"
	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/web"
)

const serveHelp = `Usage: coffer serve [flags]

Serves Coffer over HTTPS only. On first run it creates the data directory
(mode 0700) with the SQLite database (unless --db names a PostgreSQL one,
which several nodes can share: see the README's Operations section), a
256-bit master key (master.key, 0600)
and, unless --tls-cert/--tls-key are given, a self-signed certificate for
localhost. A plain-HTTP request to the port is refused. Only TLS 1.2 (with
forward-secret AEAD suites) and TLS 1.3 are offered.

With --tls-cert/--tls-key, SIGHUP reloads the pair from the files: new
connections get the new certificate, established ones carry on, and a pair
that does not parse, does not match or is not valid now is refused (logged;
the old one stays). The self-signed certificate is only renewed at start.

--http-redirect-addr HOST:PORT (off by default) also listens for plain HTTP
there and answers every request with a 308 redirect to the same path over
HTTPS, and nothing else.

Environment: COFFER_DATA, COFFER_DB and COFFER_ADDR set the defaults of
--data, --db and --addr.

Security notifications (a factor added or removed, a reset started, a
sign-in denied on Coffer Verify) go by mail: see --smtp-addr below.
`

// ServeConfig is the configuration of coffer serve.
type ServeConfig struct {
	DataDir string
	// DB is empty for SQLite in DataDir, or a postgres:// URL.
	DB              string
	Addr            string
	TLSCert         string
	TLSKey          string
	RedirectAddr    string
	LogLevel        string
	LogFormat       string
	HashWorkers     int
	SecurityContact string
	SecurityTxt     securityTxtConfig
	Anomaly         anomalyConfig
	// PublicURL is where users reach Coffer (links in notifications, the
	// WebAuthn origin); default: https://HOST:PORT of --addr.
	PublicURL string
	Auth      auth.Config
	MasterKey masterKeyConfig
	SMS       smsConfig
	Backup    backupConfig
	SMTP      smtpConfig
	// Ops is /metrics' token and the drain and shutdown timing.
	Ops opsConfig
}

// DefaultServeConfig returns the defaults, with COFFER_* environment on top.
func DefaultServeConfig(env Env) ServeConfig {
	c := ServeConfig{
		DataDir:     dataDirDefault(env),
		DB:          env.Getenv("COFFER_DB"),
		Addr:        "localhost:8443",
		LogLevel:    "info",
		LogFormat:   "text",
		HashWorkers: 0,
		Auth:        auth.DefaultConfig(),
		MasterKey:   defaultMasterKeyConfig(env),
		SMS:         smsConfig{Provider: smsProviderOutbox},
		// The flags' defaults, for configurations built without flags.
		SecurityContact: "mailto:security@localhost",
		SecurityTxt:     securityTxtConfig{Languages: "en"},
		Backup:          defaultBackupConfig(),
		SMTP:            defaultSMTPConfig(),
		Ops:             defaultOpsConfig(env),
	}
	if v := env.Getenv("COFFER_ADDR"); v != "" {
		c.Addr = v
	}
	return c
}

// Validate reports every problem at once.
func (c ServeConfig) Validate() error {
	var problems []error
	if c.DataDir == "" {
		problems = append(problems, errors.New("--data must not be empty"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		problems = append(problems, fmt.Errorf("--addr %q: want HOST:PORT", c.Addr))
	}
	if c.PublicURL != "" {
		if u, err := neturl.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			problems = append(problems, fmt.Errorf("--public-url %q: want https://HOST[:PORT]", c.PublicURL))
		}
	}
	if c.RedirectAddr != "" {
		if _, _, err := net.SplitHostPort(c.RedirectAddr); err != nil {
			problems = append(problems, fmt.Errorf("--http-redirect-addr %q: want HOST:PORT", c.RedirectAddr))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.HashWorkers < 0 || c.HashWorkers > 256 {
		problems = append(problems, fmt.Errorf("--hash-workers %d must be between 0 (one per core) and 256", c.HashWorkers))
	}
	if err := c.MasterKey.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.SMS.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := validateSecurityContact(c.SecurityContact); err != nil {
		problems = append(problems, err)
	}
	if err := c.SecurityTxt.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Backup.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.SMTP.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Anomaly.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Ops.validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Auth.Validate(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

func runServe(ctx context.Context, args []string, env Env) error {
	cfg := DefaultServeConfig(env)
	fs := newFlagSet("serve", serveHelp+serveSMSHelp+serveSMTPHelp+serveAnomalyHelp+serveOpsHelp, env)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.DB, "db", cfg.DB, dbFlagUsage)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "HTTPS listen address HOST:PORT")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain file (default: self-signed, generated in the data directory)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&cfg.RedirectAddr, "http-redirect-addr", "", "also listen for plain HTTP on HOST:PORT and redirect every request to HTTPS (default: off)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	fs.IntVar(&cfg.HashWorkers, "hash-workers", cfg.HashWorkers, "concurrent password hashes (0: one per CPU core)")
	fs.StringVar(&cfg.SecurityContact, "security-contact", "mailto:security@localhost", "Contact line of /.well-known/security.txt")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL users reach Coffer at, e.g. https://books.example.com (links in notifications, the WebAuthn origin; default: https:// and --addr)")
	cfg.MasterKey.addFlags(fs)
	cfg.SMS.addFlags(fs)
	cfg.SecurityTxt.addFlags(fs)
	cfg.Backup.addFlags(fs)
	cfg.SMTP.addFlags(fs)
	cfg.Ops.addFlags(fs)
	a := &cfg.Auth
	cfg.Anomaly.addFlags(fs, &authFlagTarget{clientAttempts: &a.ClientAttemptsPerMinute})
	fs.Func("argon2-time", "argon2id passes (default 2)", uintFlag(&a.Argon2.Time))
	fs.Func("argon2-memory-kib", "argon2id memory in KiB (default 19456)", uintFlag(&a.Argon2.MemoryKiB))
	fs.DurationVar(&a.Session.IdleTimeout, "session-idle", a.Session.IdleTimeout, "session idle timeout")
	fs.DurationVar(&a.Session.AbsoluteTimeout, "session-absolute", a.Session.AbsoluteTimeout, "session absolute timeout")
	fs.DurationVar(&a.PushTTL, "push-ttl", a.PushTTL, "how long a Coffer Verify push request waits for an answer (5s to 5m)")
	fs.DurationVar(&a.ResetWait, "mfa-reset-wait", a.ResetWait, "waiting period between a member confirming a support-assisted two-step verification reset and the reset taking effect")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log, err := newLogger(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, env, log)
}

func uintFlag(dst *uint32) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("want a whole number: %w", err)
		}
		*dst = uint32(v)
		return nil
	}
}

func serve(ctx context.Context, cfg ServeConfig, env Env, log *slog.Logger) error {
	a, createdKey, err := openAppKeys(ctx, cfg.DataDir, cfg.DB, cfg.Auth, cfg.HashWorkers, log, cfg.MasterKey)
	if err != nil {
		return err
	}
	defer a.Close()
	defer resumeRotations(ctx, a, log)()
	if a.auth.SMS, err = cfg.SMS.provider(cfg.DataDir, env); err != nil {
		return err
	}
	if createdKey {
		log.Info("generated master key", "path", filepath.Join(cfg.DataDir, "master.key"))
	}
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		certFile, keyFile = filepath.Join(cfg.DataDir, "tls-cert.pem"), filepath.Join(cfg.DataDir, "tls-key.pem")
		made, err := ensureSelfSigned(certFile, keyFile, time.Now())
		if err != nil {
			return err
		}
		if made {
			log.Info("generated self-signed TLS certificate", "path", certFile)
		}
	}
	certs, err := newCertReloader(certFile, keyFile, time.Now, log)
	if err != nil {
		return err
	}
	certs.logServing("serving TLS certificate")
	detector, err := cfg.Anomaly.newDetector(a, log)
	if err != nil {
		return err
	}
	defer detector.Close()
	a.auth.Observer = detector
	members := access.NewService(anomaly.Watch(a.store, detector), a.auth, a.keys, keyring.OrgAAD, log)
	metricsToken, err := cfg.Ops.metricsToken()
	if err != nil {
		return err
	}
	srv, err := web.NewServer(web.Deps{Auth: a.auth, Orgs: a.store, Ledger: a.ledger, Idempotency: a.store, Members: members, Log: log, Findings: detector}, web.Options{SecurityContact: cfg.SecurityContact, TrustedProxies: cfg.Anomaly.TrustedProxies,
		SecurityPolicyURL: cfg.SecurityTxt.PolicyURL, SecurityLanguages: cfg.SecurityTxt.Languages, SecurityExpires: cfg.SecurityTxt.Expires,
		DB: a.store.DB().SQL(), MetricsToken: metricsToken})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         tlsConfig(certs.GetCertificate),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	host := publicHost(cfg.Addr)
	url := fmt.Sprintf("https://%s", net.JoinHostPort(host, strconv.Itoa(addr.Port)))
	a.auth.PublicURL = url
	if cfg.PublicURL != "" {
		a.auth.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	detector.PublicURL = a.auth.PublicURL
	detector.Start()
	fmt.Fprintf(env.Stdout, "Coffer is serving at %s\n", url)
	var redirect *http.Server
	var redirectLn net.Listener
	if cfg.RedirectAddr != "" {
		redirectLn, err = net.Listen("tcp", cfg.RedirectAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (--http-redirect-addr): %w", cfg.RedirectAddr, err)
		}
		defer redirectLn.Close()
		redirect = redirectServer(redirectHandler(host, addr.Port), log)
		defer redirect.Close() // on an early return; after Shutdown, a no-op
		fmt.Fprintf(env.Stdout, "Plain HTTP on http://%s redirects to HTTPS\n", redirectLn.Addr())
	}
	if n, err := a.store.CountUsers(ctx); err == nil && n == 0 {
		fmt.Fprintf(env.Stdout, "No users yet. Create the first administrator (it will be asked to set up an authenticator app at first sign-in):\n"+
			"  printf '%%s\\n' 'a long passphrase' | go run ./cmd/coffer admin user add --data %s --email you@example.com --name \"Your Name\" --password-stdin --org \"Your Business Ltd\" --role owner\n", cfg.DataDir)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopMail, err := startMail(runCtx, cfg.SMTP, a, a.auth.PublicURL, env.Getenv, log)
	if err != nil {
		return err
	}
	defer stopMail()
	if cfg.TLSCert != "" {
		// Subscribed before OnListen: whoever knows the server runs may
		// send SIGHUP.
		reloadOnSIGHUP(runCtx, certs)
	}
	if env.OnListen != nil {
		env.OnListen(ln.Addr().String())
	}
	go sweep(runCtx, a, log)
	defer startBackups(runCtx, cfg, a, env.Getenv, log)()
	stopStream, err := startStream(runCtx, cfg, a, env.Getenv, log)
	if err != nil {
		return err
	}
	defer stopStream()

	errc := make(chan error, 2)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	if redirect != nil {
		go func() {
			if err := redirect.Serve(redirectLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http redirect: %w", err)
			}
		}()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Draining: /readyz says 503 so load balancers stop sending new
	// requests, while this node still serves whatever they send meanwhile.
	srv.StartDraining()
	if cfg.Ops.DrainDelay > 0 {
		log.Info("draining", "drain_delay", cfg.Ops.DrainDelay.String())
		select {
		case <-time.After(cfg.Ops.DrainDelay):
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.Ops.ShutdownTimeout)
	defer cancel()
	var redirectErr error
	if redirect != nil {
		redirectErr = redirect.Shutdown(shutCtx)
	}
	err = errors.Join(hs.Shutdown(shutCtx), redirectErr)
	a.auth.FlushRefusals(shutCtx)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func sweep(ctx context.Context, a *app, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.auth.FlushRefusals(ctx)
			if err := a.auth.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("sweep expired sessions", "err", err)
			}
		}
	}
}

// ensureSelfSigned creates a self-signed certificate for localhost unless a
// valid one (not expiring within 30 days) is already there.
func ensureSelfSigned(certFile, keyFile string, now time.Time) (bool, error) {
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && pair.Leaf != nil && pair.Leaf.NotAfter.After(now.Add(30*24*time.Hour)) {
		return false, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return false, fmt.Errorf("generate TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Coffer self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(397 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return false, fmt.Errorf("create TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return false, fmt.Errorf("encode TLS key: %w", err)
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return false, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// writeFileAtomic writes through a temporary file and a rename, so a crash
// never leaves half a file behind.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
