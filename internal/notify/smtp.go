package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// TLS modes of SMTPConfig.
const (
	// SMTPStartTLS upgrades a plain connection (port 587); the server must
	// offer STARTTLS.
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS = "tls"
	// SMTPNoTLS is plain text, allowed only to a loopback address (a relay
	// on the same machine).
	SMTPNoTLS = "none"
)

// SMTPConfig is a mail server to send through.
type SMTPConfig struct {
	// Addr is HOST:PORT.
	Addr string
	// From is the sender, "Name <address>" or an address.
	From string
	// TLS is SMTPStartTLS (the default), SMTPImplicitTLS or SMTPNoTLS.
	TLS string
	// RootCAs verifies the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// User and Password authenticate (PLAIN, else LOGIN) when User is set.
	User, Password string
	// Timeout bounds one delivery, connection to QUIT (default 30 s).
	Timeout time.Duration
	// HelloName is the name given in EHLO (default "localhost").
	HelloName string
}

// Validate reports every problem at once.
func (c SMTPConfig) Validate() error {
	var problems []error
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		problems = append(problems, fmt.Errorf("SMTP server %q: want HOST:PORT", c.Addr))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		problems = append(problems, fmt.Errorf("SMTP sender %q: want an address such as \"Coffer <coffer@example.com>\"", c.From))
	}
	switch c.TLS {
	case "", SMTPStartTLS, SMTPImplicitTLS:
	case SMTPNoTLS:
		if host != "" && !isLoopback(host) {
			problems = append(problems, fmt.Errorf("SMTP without TLS is allowed only to a loopback address, not %s: use starttls or tls", host))
		}
	default:
		problems = append(problems, fmt.Errorf("SMTP TLS mode %q: use starttls, tls or none", c.TLS))
	}
	if c.User == "" && c.Password != "" {
		problems = append(problems, errors.New("an SMTP password was given without a user"))
	}
	if c.User != "" && c.Password == "" {
		problems = append(problems, errors.New("an SMTP user was given without a password"))
	}
	if strings.ContainsAny(c.User+c.HelloName, "\r\n") {
		problems = append(problems, errors.New("SMTP user and hello name must be one line"))
	}
	return errors.Join(problems...)
}

// SMTP is the Transport through a mail server (net/smtp).
type SMTP struct {
	cfg  SMTPConfig
	host string
	from string // the envelope sender, a bare address
	// dial is replaceable in tests.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ Transport = (*SMTP)(nil)

// NewSMTP checks cfg and returns the transport. It does not connect: a
// server that is down at start only delays mail.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = SMTPStartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	from, _ := mail.ParseAddress(cfg.From)
	d := &net.Dialer{Timeout: cfg.Timeout}
	return &SMTP{cfg: cfg, host: host, from: from.Address, dial: d.DialContext}, nil
}

// tlsConfig verifies the server's certificate for its host name.
func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
}

// Send implements Transport: one connection per message, closed when ctx
// ends or the timeout passes. A 5xx answer to the recipient or the data
// wraps ErrPermanent; everything else is worth a retry.
func (s *SMTP) Send(ctx context.Context, e *Email) error {
	if e.From == "" {
		c := *e
		c.From = s.cfg.From
		e = &c
	}
	rcpt, err := mail.ParseAddress(e.To)
	if err != nil {
		return fmt.Errorf("smtp: recipient %q: %w (%w)", e.To, err, ErrPermanent)
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("smtp: %w (%w)", err, ErrPermanent)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.dial(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", s.cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.cfg.TLS == SMTPImplicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp: TLS with %s: %w", s.cfg.Addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp: greeting from %s: %w", s.cfg.Addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if s.cfg.TLS == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp: %s does not offer STARTTLS; configure TLS on the server, or use --smtp-tls tls for a port-465 server", s.cfg.Addr)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("smtp: STARTTLS with %s: %w", s.cfg.Addr, err)
		}
	}
	if s.cfg.User != "" {
		a, err := s.auth(c)
		if err != nil {
			return err
		}
		if err := c.Auth(a); err != nil {
			return fmt.Errorf("smtp: authenticate as %s: %w", s.cfg.User, err)
		}
	}
	// net/smtp announces BODY=8BITMIME itself when the server offers it.
	eightBit, _ := c.Extension("8BITMIME")
	raw, err := e.Bytes(eightBit)
	if err != nil {
		return fmt.Errorf("smtp: %w (%w)", err, ErrPermanent)
	}
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", classify(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp: write message: %w", err)
	}
	// Close reads the server's answer to the message: from here on the
	// server has it (or refused it).
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", classify(err))
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// auth picks PLAIN, else LOGIN, from what the server offers. Both send the
// password as is, so they run only over TLS or to a loopback server.
func (s *SMTP) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, fmt.Errorf("smtp: %s offers no authentication but a user is configured", s.cfg.Addr)
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	_, isTLS := c.TLSConnectionState()
	if !isTLS && !isLoopback(s.host) {
		return nil, errors.New("smtp: refusing to send a password without TLS")
	}
	switch {
	case has("PLAIN"):
		return &plainAuth{user: s.cfg.User, pass: s.cfg.Password}, nil
	case has("LOGIN"):
		return &loginAuth{user: s.cfg.User, pass: s.cfg.Password}, nil
	}
	return nil, fmt.Errorf("smtp: %s offers %s; Coffer speaks PLAIN and LOGIN", s.cfg.Addr, mechs)
}

// plainAuth is RFC 4616 PLAIN. net/smtp's PlainAuth would refuse a loopback
// server addressed by IP without TLS, which SMTPNoTLS allows; the TLS check
// is in SMTP.auth.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("smtp: unexpected PLAIN challenge")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): user name
// and password, each on request.
type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:", "user name", "username":
		return []byte(a.user), nil
	case "password:", "password":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("smtp: unexpected LOGIN challenge %q", fromServer)
}

// classify marks a 5xx reply permanent.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
		return fmt.Errorf("%w (%w)", err, ErrPermanent)
	}
	return err
}

// isLoopback reports a loopback IP or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
