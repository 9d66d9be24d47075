package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/notify"
)

func TestSMTPConfig_Validate(t *testing.T) {
	ok := func(mod func(*smtpConfig)) smtpConfig {
		c := defaultSMTPConfig()
		c.Addr, c.From = "smtp.example.com:587", "Coffer <coffer@example.com>"
		mod(&c)
		return c
	}
	for _, tt := range []struct {
		name    string
		cfg     smtpConfig
		wantErr string
	}{
		{"OKNone", defaultSMTPConfig(), ""},
		{"OKStartTLSWithUser", ok(func(c *smtpConfig) { c.User = "u" }), ""},
		{"OKLoopbackPlain", ok(func(c *smtpConfig) { c.Addr, c.TLS = "127.0.0.1:1025", "none" }), ""},
		{"ErrFromWithoutAddr", smtpConfig{From: "c@example.com", Timeout: time.Second, RetryBase: time.Second}, "need --smtp-addr"},
		{"ErrAddrWithoutFrom", ok(func(c *smtpConfig) { c.From = "" }), "needs --smtp-from"},
		{"ErrPlainToRemote", ok(func(c *smtpConfig) { c.TLS = "none" }), "only to a loopback address"},
		{"ErrTLSMode", ok(func(c *smtpConfig) { c.TLS = "ssl" }), "use starttls, tls or none"},
		{"ErrPasswordFileWithoutUser", ok(func(c *smtpConfig) { c.PasswordFile = "f" }), "needs --smtp-user"},
		{"ErrTimeout", ok(func(c *smtpConfig) { c.Timeout = time.Hour }), "--smtp-timeout"},
		{"ErrRetryBase", ok(func(c *smtpConfig) { c.RetryBase = 0 }), "--mail-retry-base"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestSMTPConfig_Transport: without a server, DATA/mail inline; the
// password comes from the environment or a file, never a flag, and a user
// without one is refused.
func TestSMTPConfig_Transport(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	tr, _, inline, err := defaultSMTPConfig().transport(dir, noEnv)
	if _, isDir := tr.(*notify.Dir); err != nil || !isDir || !inline {
		t.Fatalf("no server: %T, inline %v, %v", tr, inline, err)
	}
	c := defaultSMTPConfig()
	c.Addr, c.From, c.User = "smtp.example.com:587", "coffer@example.com", "u"
	if _, _, _, err := c.transport(dir, noEnv); err == nil || !strings.Contains(err.Error(), envSMTPPassword) {
		t.Fatalf("user without a password: %v", err)
	}
	tr, _, inline, err = c.transport(dir, func(k string) string {
		if k == envSMTPPassword {
			return "from env"
		}
		return ""
	})
	if _, isSMTP := tr.(*notify.SMTP); err != nil || !isSMTP || inline {
		t.Fatalf("password from the environment: %T, %v", tr, err)
	}
	c.PasswordFile = filepath.Join(dir, "pw")
	os.WriteFile(c.PasswordFile, []byte("from file\n"), 0o600)
	if _, _, _, err := c.transport(dir, noEnv); err != nil {
		t.Fatalf("password from a file: %v", err)
	}
	c.CAFile = filepath.Join(dir, "pw")
	if _, _, _, err := c.transport(dir, noEnv); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}
