package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"coffer/internal/notify"
)

// envSMTPPassword holds the SMTP password, so it never appears in argv.
const envSMTPPassword = "COFFER_SMTP_PASSWORD"

const serveSMTPHelp = `
Notifications go into an outbox in the database first: a request never
waits on the mail server, and a server that is down loses nothing. A worker
delivers them, retrying after --mail-retry-base (30 s), doubling up to an
hour, and gives up after three days (logged). Delivery is at least once:
every retry of a message carries the same Message-ID, so a receiver can drop
a duplicate. Without --smtp-addr they are written as .eml files (0600) to
DATA/mail. With --smtp-addr HOST:PORT they go through that server:
--smtp-tls starttls (default; the server must offer it), tls (port 465) or
none (a loopback address only); the certificate is checked against the
system's roots plus --smtp-ca-file. With --smtp-user, the password is read
from $COFFER_SMTP_PASSWORD or --smtp-password-file, never from the command
line. Links in messages and the WebAuthn origin use --public-url.
`

// smtpConfig is the mail delivery of coffer serve.
type smtpConfig struct {
	Addr         string
	From         string
	TLS          string
	User         string
	PasswordFile string
	CAFile       string
	Timeout      time.Duration
	RetryBase    time.Duration
}

func defaultSMTPConfig() smtpConfig {
	return smtpConfig{TLS: notify.SMTPStartTLS, Timeout: 30 * time.Second, RetryBase: notify.DefaultBackoff.Base}
}

func (c *smtpConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "smtp-addr", c.Addr, "mail server HOST:PORT for notifications (default: none, write them to DATA/mail)")
	fs.StringVar(&c.From, "smtp-from", c.From, `sender of notifications, e.g. "Coffer <coffer@example.com>" (required with --smtp-addr)`)
	fs.StringVar(&c.TLS, "smtp-tls", c.TLS, "starttls, tls (implicit, port 465) or none (loopback only)")
	fs.StringVar(&c.User, "smtp-user", c.User, "SMTP user (AUTH PLAIN or LOGIN); the password comes from $"+envSMTPPassword+" or --smtp-password-file")
	fs.StringVar(&c.PasswordFile, "smtp-password-file", c.PasswordFile, "file holding the SMTP password (instead of $"+envSMTPPassword+")")
	fs.StringVar(&c.CAFile, "smtp-ca-file", c.CAFile, "PEM file of CA certificates the mail server's certificate may chain to, besides the system's")
	fs.DurationVar(&c.Timeout, "smtp-timeout", c.Timeout, "time limit of one delivery, connection to QUIT")
	fs.DurationVar(&c.RetryBase, "mail-retry-base", c.RetryBase, "first retry delay of an undelivered notification; it doubles up to an hour")
}

func (c smtpConfig) validate() error {
	var problems []error
	if c.Addr == "" {
		if c.From != "" || c.User != "" || c.PasswordFile != "" || c.CAFile != "" {
			problems = append(problems, errors.New("--smtp-from, --smtp-user, --smtp-password-file and --smtp-ca-file need --smtp-addr"))
		}
	} else {
		if c.From == "" {
			problems = append(problems, errors.New(`--smtp-addr needs --smtp-from, e.g. "Coffer <coffer@example.com>"`))
		}
		if c.PasswordFile != "" && c.User == "" {
			problems = append(problems, errors.New("--smtp-password-file needs --smtp-user"))
		}
		// The password is checked when it is read; a placeholder keeps
		// Validate from reporting it missing here.
		cfg := notify.SMTPConfig{Addr: c.Addr, From: c.From, TLS: c.TLS, User: c.User}
		if c.User != "" {
			cfg.Password = "set"
		}
		if err := cfg.Validate(); err != nil {
			problems = append(problems, err)
		}
	}
	if c.Timeout < time.Second || c.Timeout > 5*time.Minute {
		problems = append(problems, fmt.Errorf("--smtp-timeout %v: between 1s and 5m", c.Timeout))
	}
	if c.RetryBase < 100*time.Millisecond || c.RetryBase > time.Hour {
		problems = append(problems, fmt.Errorf("--mail-retry-base %v: between 100ms and 1h", c.RetryBase))
	}
	return errors.Join(problems...)
}

// transport builds the mail server transport, or the DATA/mail directory
// without one (inline: true).
func (c smtpConfig) transport(dataDir string, getenv func(string) string) (tr notify.Transport, from string, inline bool, err error) {
	if c.Addr == "" {
		d, err := notify.NewDir(filepath.Join(dataDir, "mail"), "")
		if err != nil {
			return nil, "", false, err
		}
		return d, d.From, true, nil
	}
	cfg := notify.SMTPConfig{Addr: c.Addr, From: c.From, TLS: c.TLS, User: c.User, Timeout: c.Timeout}
	if c.User != "" {
		cfg.Password = getenv(envSMTPPassword)
		if c.PasswordFile != "" {
			b, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return nil, "", false, fmt.Errorf("--smtp-password-file: %w", err)
			}
			cfg.Password = strings.TrimRight(string(b), "\r\n")
		}
		if cfg.Password == "" {
			return nil, "", false, fmt.Errorf("--smtp-user %s: set the password in $%s or --smtp-password-file", c.User, envSMTPPassword)
		}
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, "", false, fmt.Errorf("--smtp-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, "", false, fmt.Errorf("--smtp-ca-file %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	s, err := notify.NewSMTP(cfg)
	if err != nil {
		return nil, "", false, err
	}
	return s, c.From, false, nil
}

// startMail points the outbox at its transport and runs the delivery
// worker until the returned stop is called (it waits for the worker, so
// the database outlives it).
func startMail(ctx context.Context, c smtpConfig, a *app, publicURL string, getenv func(string) string, log *slog.Logger) (func(), error) {
	tr, from, inline, err := c.transport(a.dir, getenv)
	if err != nil {
		return nil, err
	}
	ob := a.outbox
	ob.Transport, ob.From, ob.DeliverInline, ob.PublicURL = tr, from, inline, publicURL
	ob.Backoff.Base = c.RetryBase
	ob.Lease = max(ob.Lease, 2*c.Timeout)
	ob.Poll = min(ob.Poll, c.RetryBase)
	if c.Addr != "" {
		log.Info("notifications go through the mail server", "smtp", c.Addr, "tls", c.TLS)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ob.Run(ctx) })
	return func() { cancel(); wg.Wait() }, nil
}
