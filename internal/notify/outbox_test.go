package notify_test

import (
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/keyring"
	"coffer/internal/notify"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
	"coffer/internal/testmailpit"
)

// clock is a settable time for the outbox.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is an outbox over a real store and keyring.
type fixture struct {
	store *sqlstore.Store
	box   *notify.Outbox
	clock *clock
}

func newFixture(tb testing.TB, tr notify.Transport) *fixture {
	tb.Helper()
	st, err := testdb.Open(tb, filepath.Join(tb.TempDir(), "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	keys, err := keyring.OpenLocal(tb.Context(), master, st)
	if err != nil {
		tb.Fatal(err)
	}
	c := &clock{t: time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)}
	box := notify.NewOutbox(st, keys, keyring.AAD, slog.New(slog.DiscardHandler))
	box.Transport, box.Now = tr, c.Now
	box.From = "Coffer <coffer@books.example>"
	box.PublicURL = "https://books.example"
	return &fixture{store: st, box: box, clock: c}
}

func (f *fixture) rows(tb testing.TB) []*notify.OutboxMail {
	tb.Helper()
	rows, err := f.store.FindOutboxMail(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

func mustSMTP(tb testing.TB, cfg notify.SMTPConfig) *notify.SMTP {
	tb.Helper()
	if cfg.From == "" {
		cfg.From = "Coffer <coffer@books.example>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	s, err := notify.NewSMTP(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func caPool(tb testing.TB, file string) *x509.CertPool {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		tb.Fatal("no certificate in " + file)
	}
	return p
}

var resetMessage = notify.Message{
	To:      "Ann Example <ann@example.com>",
	Subject: "Confirm the reset of your two-step verification",
	Kind:    "reset.started",
	Text:    "Hello Ann,\n\nConfirm at https://books.example/mfa-reset?token=abc123.\nA <script>alert(1)</script> & more.\n",
}

// TestOutboxDeliversThroughMailpit: a notification goes into the outbox
// sealed, and the worker hands it to a real SMTP server with a text and an
// HTML part, the headers a client needs, and the sessions link.
func TestOutboxDeliversThroughMailpit(t *testing.T) {
	mp := testmailpit.Start(t, testmailpit.Options{})
	f := newFixture(t, mustSMTP(t, notify.SMTPConfig{Addr: mp.SMTPAddr, TLS: notify.SMTPNoTLS}))
	if err := f.box.Notify(t.Context(), resetMessage); err != nil {
		t.Fatal(err)
	}
	rows := f.rows(t)
	if len(rows) != 1 || rows[0].Status != notify.StatusPending {
		t.Fatalf("outbox: %+v", rows)
	}
	raw, _ := f.store.DB().QueryContext(t.Context(), `SELECT body_enc FROM mail_outbox`)
	for raw.Next() {
		var b []byte
		raw.Scan(&b)
		if strings.Contains(string(b), "abc123") || strings.Contains(string(b), "ann@example.com") {
			t.Fatal("the outbox keeps the message in clear")
		}
	}
	raw.Close()
	if n, err := f.box.DeliverDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	ms := mp.Wait(t, 1, 10*time.Second)
	m := ms[0]
	if m.MessageID != rows[0].MessageID+"@books.example" || m.Subject != resetMessage.Subject || len(m.To) != 1 || m.To[0].Address != "ann@example.com" || m.From.Address != "coffer@books.example" {
		t.Fatalf("message: %+v", m)
	}
	for _, want := range []string{"Hello Ann,", "https://books.example/mfa-reset?token=abc123", "<script>alert(1)</script>", "https://books.example/settings/sessions"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{`<a href="https://books.example/mfa-reset?token=abc123">`, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more.", `<a href="https://books.example/settings/sessions">`, "<p>Hello Ann,</p>"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML part carries the text's markup unescaped:\n%s", m.HTML)
	}
	h := mp.Headers(t, m.ID)
	for name, want := range map[string]string{
		"Date":           f.clock.Now().Format(time.RFC1123Z),
		"Mime-Version":   "1.0",
		"X-Coffer-Event": "reset.started",
		"Auto-Submitted": "auto-generated",
	} {
		if got := h[name]; len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if ct := h["Content-Type"]; len(ct) != 1 || !strings.HasPrefix(ct[0], "multipart/alternative;") {
		t.Errorf("Content-Type = %q", ct)
	}
	if rows := f.rows(t); rows[0].Status != notify.StatusSent || rows[0].Sealed != nil {
		t.Fatalf("after delivery: %+v", rows[0])
	}
}

// TestSMTPSecurity: each TLS mode and authentication against a Mailpit set
// up for it, and the refusals: an untrusted certificate, a server without
// STARTTLS, plain text to a remote host.
func TestSMTPSecurity(t *testing.T) {
	starttls := testmailpit.Start(t, testmailpit.Options{STARTTLS: true, Auth: true})
	implicit := testmailpit.Start(t, testmailpit.Options{ImplicitTLS: true, Auth: true})
	plain := testmailpit.Start(t, testmailpit.Options{})
	otherCA := testmailpit.Start(t, testmailpit.Options{STARTTLS: true})
	tests := []struct {
		name    string
		server  *testmailpit.Server
		cfg     notify.SMTPConfig
		wantErr string // "" delivers
		user    string // the SMTP user Mailpit saw
	}{
		{name: "STARTTLS and AUTH", server: starttls, cfg: notify.SMTPConfig{TLS: notify.SMTPStartTLS, RootCAs: caPool(t, starttls.CAFile), User: "coffer", Password: "s3cret"}, user: "coffer"},
		{name: "implicit TLS and AUTH", server: implicit, cfg: notify.SMTPConfig{TLS: notify.SMTPImplicitTLS, RootCAs: caPool(t, implicit.CAFile), User: "coffer", Password: "s3cret"}, user: "coffer"},
		{name: "no TLS to loopback", server: plain, cfg: notify.SMTPConfig{TLS: notify.SMTPNoTLS}},
		{name: "untrusted certificate", server: starttls, cfg: notify.SMTPConfig{TLS: notify.SMTPStartTLS, RootCAs: caPool(t, otherCA.CAFile)}, wantErr: "certificate"},
		{name: "system roots refuse a self-signed certificate", server: implicit, cfg: notify.SMTPConfig{TLS: notify.SMTPImplicitTLS}, wantErr: "certificate"},
		{name: "server without STARTTLS", server: plain, cfg: notify.SMTPConfig{TLS: notify.SMTPStartTLS}, wantErr: "does not offer STARTTLS"},
		{name: "STARTTLS required by the server", server: starttls, cfg: notify.SMTPConfig{TLS: notify.SMTPNoTLS}, wantErr: "smtp:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr = tt.server.SMTPAddr
			before := len(tt.server.Messages(t))
			subject := "Test " + tt.name
			err := mustSMTP(t, tt.cfg).Send(t.Context(), notify.Render(notify.Message{To: "ann@example.com", Subject: subject, Text: "hello"}, "", "id-"+strings.ReplaceAll(tt.name, " ", "-")+"@books.example", time.Now(), notify.RenderOptions{}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if n := len(tt.server.Messages(t)); n != before {
					t.Fatalf("a refused delivery left a message")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ms := tt.server.Wait(t, before+1, 10*time.Second)
			if ms[0].Subject != subject || ms[0].Username != tt.user {
				t.Fatalf("got %q from user %q, want %q from %q", ms[0].Subject, ms[0].Username, subject, tt.user)
			}
		})
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     notify.SMTPConfig
		wantErr string
	}{
		{"OK", notify.SMTPConfig{Addr: "smtp.example.com:587", From: "Coffer <c@example.com>", User: "u", Password: "p"}, ""},
		{"no TLS to loopback", notify.SMTPConfig{Addr: "127.0.0.1:25", From: "c@example.com", TLS: "none"}, ""},
		{"no TLS to a remote host", notify.SMTPConfig{Addr: "smtp.example.com:25", From: "c@example.com", TLS: "none"}, "only to a loopback"},
		{"bad mode", notify.SMTPConfig{Addr: "smtp.example.com:25", From: "c@example.com", TLS: "ssl"}, "use starttls, tls or none"},
		{"no port", notify.SMTPConfig{Addr: "smtp.example.com", From: "c@example.com"}, "want HOST:PORT"},
		{"bad sender", notify.SMTPConfig{Addr: "smtp.example.com:587", From: "not an address"}, "SMTP sender"},
		{"password without user", notify.SMTPConfig{Addr: "smtp.example.com:587", From: "c@example.com", Password: "p"}, "without a user"},
		{"user without password", notify.SMTPConfig{Addr: "smtp.example.com:587", From: "c@example.com", User: "u"}, "without a password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestOutboxSurvivesMailServerDown: notifications sent while the mail
// server is down wait in the outbox, are retried on the back-off schedule,
// and each arrives exactly once when the server is back.
func TestOutboxSurvivesMailServerDown(t *testing.T) {
	mp := testmailpit.Start(t, testmailpit.Options{})
	f := newFixture(t, mustSMTP(t, notify.SMTPConfig{Addr: mp.SMTPAddr, TLS: notify.SMTPNoTLS, Timeout: 2 * time.Second}))
	if err := f.box.Notify(t.Context(), notify.Message{To: "before@example.com", Subject: "Before the outage", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.box.DeliverDue(t.Context()); n != 1 {
		t.Fatalf("delivered %d before the outage", n)
	}
	mp.Stop()
	const n = 5
	for i := range n {
		if err := f.box.Notify(t.Context(), notify.Message{To: "ann@example.com", Subject: "During the outage " + string(rune('A'+i)), Text: "body", Kind: "signin.new"}); err != nil {
			t.Fatalf("Notify while the server is down: %v", err)
		}
	}
	// Attempts while it is down fail and back off: 30 s, then 60 s.
	for attempt, wait := range []time.Duration{30 * time.Second, 60 * time.Second} {
		if sent, err := f.box.DeliverDue(t.Context()); sent != 0 || err != nil {
			t.Fatalf("attempt %d: sent %d, %v", attempt+1, sent, err)
		}
		for _, r := range f.rows(t)[1:] {
			if r.Status != notify.StatusPending || r.Attempts != attempt+1 || !r.NextAttemptAt.Equal(f.clock.Now().Add(wait)) || r.LastError == "" {
				t.Fatalf("attempt %d: row %+v", attempt+1, r)
			}
		}
		if sent, _ := f.box.DeliverDue(t.Context()); sent != 0 {
			t.Fatal("retried before the back-off passed")
		}
		f.clock.Add(wait)
	}
	mp.Restart(t)
	if sent, err := f.box.DeliverDue(t.Context()); sent != n || err != nil {
		t.Fatalf("after the server came back: sent %d, %v", sent, err)
	}
	f.clock.Add(time.Hour)
	if sent, _ := f.box.DeliverDue(t.Context()); sent != 0 {
		t.Fatalf("sent %d more", sent)
	}
	ms := mp.Wait(t, n+1, 10*time.Second)
	byID := map[string]int{}
	for _, m := range ms {
		byID[m.MessageID]++
	}
	for _, r := range f.rows(t) {
		if r.Status != notify.StatusSent {
			t.Errorf("row %d is %s", r.ID, r.Status)
		}
		if c := byID[r.MessageID+"@books.example"]; c != 1 {
			t.Errorf("row %d arrived %d times", r.ID, c)
		}
	}
	if len(ms) != n+1 {
		t.Fatalf("mailpit has %d messages, want %d", len(ms), n+1)
	}
}

// TestOutboxGivesUp: a message that cannot be delivered for three days is
// marked failed and its body dropped; a permanent refusal fails at once.
func TestOutboxGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	f := newFixture(t, mustSMTP(t, notify.SMTPConfig{Addr: closed, TLS: notify.SMTPNoTLS, Timeout: time.Second}))
	f.box.Notify(t.Context(), notify.Message{To: "ann@example.com", Subject: "Never arrives", Text: "x"})
	attempts := 0
	for f.rows(t)[0].Status == notify.StatusPending {
		if attempts++; attempts > 100 {
			t.Fatal("never gave up")
		}
		f.box.DeliverDue(t.Context())
		f.clock.Add(time.Hour)
	}
	r := f.rows(t)[0]
	// 30 s, 1, 2, 4, 8, 16, 32 min, then hourly to 72 h.
	if r.Status != notify.StatusFailed || r.Sealed != nil || !strings.Contains(r.LastError, "connect") || r.Attempts < 70 || r.Attempts > 75 {
		t.Fatalf("gave up as %+v", r)
	}

	t.Run("Permanent", func(t *testing.T) {
		mp := testmailpit.Start(t, testmailpit.Options{AllowedRecipients: `@example\.com$`})
		f := newFixture(t, mustSMTP(t, notify.SMTPConfig{Addr: mp.SMTPAddr, TLS: notify.SMTPNoTLS}))
		f.box.Notify(t.Context(), notify.Message{To: "someone@elsewhere.test", Subject: "s", Text: "x"})
		f.box.DeliverDue(t.Context())
		if r := f.rows(t)[0]; r.Status != notify.StatusFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "RCPT") {
			t.Fatalf("after a refused recipient: %+v", r)
		}
	})
}

// TestOutboxRefusesTamperedBody: a sealed body moved to another row does
// not open there; that row fails instead of mailing the other message.
func TestOutboxRefusesTamperedBody(t *testing.T) {
	dir := t.TempDir()
	d, err := notify.NewDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, d)
	f.box.Notify(t.Context(), notify.Message{To: "ann@example.com", Subject: "For Ann", Text: "secret link"})
	f.box.Notify(t.Context(), notify.Message{To: "eve@example.com", Subject: "For Eve", Text: "nothing"})
	if _, err := f.store.DB().ExecContext(t.Context(), `UPDATE mail_outbox SET body_enc = (SELECT body_enc FROM mail_outbox WHERE id = 1) WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.box.DeliverDue(t.Context()); n != 1 {
		t.Fatalf("delivered %d, want only the untouched one", n)
	}
	rows := f.rows(t)
	if rows[0].Status != notify.StatusSent || rows[1].Status != notify.StatusFailed {
		t.Fatalf("rows: %+v %+v", rows[0], rows[1])
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
}

// TestOutboxInline: with a local transport, Notify delivers before it
// returns (DATA/mail is in step with the request), and a failed inline
// delivery stays in the outbox for the worker.
func TestOutboxInline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d, err := notify.NewDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, d)
	f.box.DeliverInline = true
	if err := f.box.Notify(t.Context(), resetMessage); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 || f.rows(t)[0].Status != notify.StatusSent {
		t.Fatalf("inline: %d files, row %+v", len(files), f.rows(t)[0])
	}
	b, _ := os.ReadFile(files[0])
	for _, want := range []string{"To: Ann Example <ann@example.com>\r\n", "X-Coffer-Event: reset.started\r\n", "Message-Id: <" + f.rows(t)[0].MessageID + "@books.example>\r\n", "https://books.example/mfa-reset?token=abc123"} {
		if !strings.Contains(string(b), want) && !strings.Contains(string(b), strings.Replace(want, "Message-Id", "Message-ID", 1)) {
			t.Errorf("file lacks %q:\n%s", want, b)
		}
	}

	// The directory becomes unwritable: the message waits, then goes.
	os.Chmod(dir, 0o500)
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if os.Getuid() == 0 {
		os.RemoveAll(dir)
		os.WriteFile(dir, nil, 0o600) // a file where the directory was
	}
	if err := f.box.Notify(t.Context(), notify.Message{To: "ann@example.com", Subject: "Later", Text: "x"}); err != nil {
		t.Fatalf("Notify failed with the transport: %v", err)
	}
	if r := f.rows(t)[1]; r.Status != notify.StatusPending || r.Attempts != 1 || r.LastError == "" {
		t.Fatalf("after a failed inline delivery: %+v", r)
	}
	os.Remove(dir)
	os.MkdirAll(dir, 0o700)
	os.Chmod(dir, 0o700)
	f.clock.Add(notify.DefaultBackoff.Base)
	if n, err := f.box.DeliverDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := notify.DefaultBackoff
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {7, 32 * time.Minute}, {8, time.Hour}, {50, time.Hour}} {
		if got := b.Delay(tt.attempt); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}
