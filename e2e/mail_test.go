package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/notify"
	"coffer/internal/store/sqlite"
	"coffer/internal/testmailpit"
	"coffer/internal/testserver"
)

// addAuthenticator adds one more authenticator app from m's session: each
// sends a factor.added notification.
func addAuthenticator(tb testing.TB, m *member) {
	tb.Helper()
	ctx := context.Background()
	en, err := m.C.EnrollTOTP(ctx, m.Session)
	if err != nil {
		tb.Fatalf("enroll: %v", err)
	}
	start := time.Now()
	if _, err := m.C.ConfirmTOTP(ctx, m.Session, oathTOTP(tb, secretFromURI(tb, en.OtpauthURI), time.Now())); err != nil {
		tb.Fatalf("confirm: %v", err)
	}
	// Sending is an insert: the request does not wait on a mail server,
	// even one that is down.
	if d := time.Since(start); d > 5*time.Second {
		tb.Fatalf("adding a factor took %v", d)
	}
}

// outboxRows reads the running server's outbox from its database.
func outboxRows(tb testing.TB, srv *testserver.Server) []*notify.OutboxMail {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(srv.DataDir, "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	rows, err := st.FindOutboxMail(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// waitOutbox polls the outbox until done says yes, for at most 60 s.
func waitOutbox(tb testing.TB, srv *testserver.Server, what string, done func([]*notify.OutboxMail) bool) []*notify.OutboxMail {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := outboxRows(tb, srv)
		if done(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			for _, r := range rows {
				tb.Logf("outbox row %d: %s, %d attempts, %q", r.ID, r.Status, r.Attempts, r.LastError)
			}
			tb.Fatalf("outbox: %s did not happen within 60s; server log:\n%s", what, srv.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMailThroughSMTP: with a mail server configured (STARTTLS with a
// private CA, AUTH with the password from a file), a security notification
// arrives there with a text and an HTML part and the sessions link, and
// nothing is written to DATA/mail.
func TestMailThroughSMTP(t *testing.T) {
	requireTool(t, "oathtool")
	mp := testmailpit.Start(t, testmailpit.Options{STARTTLS: true, Auth: true})
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("mail server secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, "--smtp-addr", mp.SMTPAddr, "--smtp-from", "Coffer <coffer@books.example>", "--smtp-tls", "starttls",
		"--smtp-ca-file", mp.CAFile, "--smtp-user", "coffer-mailer", "--smtp-password-file", pwFile)
	m := signedInMember(t, srv, "127.0.0.81", "mailer@example.com", "Mail Ltd", "owner")
	addAuthenticator(t, m)

	var got *testmailpit.Message
	deadline := time.Now().Add(30 * time.Second)
	for got == nil {
		for _, msg := range mp.Messages(t) {
			if len(msg.To) == 1 && msg.To[0].Address == m.Email && strings.Contains(msg.Subject, "authenticator app was added") {
				got = &msg
			}
		}
		if got == nil && time.Now().After(deadline) {
			t.Fatalf("no factor.added mail in Mailpit; server log:\n%s", srv.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Username != "coffer-mailer" || got.From.Address != "coffer@books.example" {
		t.Fatalf("sent as %q from %q", got.Username, got.From.Address)
	}
	// The server's own URL (--addr's host, here 127.0.0.1) and port.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	sessions := "https://127.0.0.1:" + port + "/settings/sessions"
	if !strings.Contains(got.Text, sessions) || !strings.Contains(got.HTML, `<a href="`+sessions+`">`) || !strings.Contains(got.HTML, "<p>") {
		t.Fatalf("bodies lack the sessions link %s:\ntext:\n%s\nhtml:\n%s", sessions, got.Text, got.HTML)
	}
	if h := mp.Headers(t, got.ID); len(h["X-Coffer-Event"]) != 1 || h["X-Coffer-Event"][0] != "factor.added" || len(h["Date"]) != 1 {
		t.Fatalf("headers: %v", h)
	}
	rows := waitOutbox(t, srv, "the row marked sent", func(rows []*notify.OutboxMail) bool {
		for _, r := range rows {
			if r.MessageID+"@books.example" == got.MessageID {
				return r.Status == notify.StatusSent
			}
		}
		return false
	})
	if len(rows) == 0 {
		t.Fatal("no outbox rows")
	}
	if files, _ := filepath.Glob(filepath.Join(srv.DataDir, "mail", "*.eml")); len(files) != 0 {
		t.Fatalf("%d messages written to DATA/mail with a mail server configured", len(files))
	}
}

// TestMailSurvivesMailServerDown: the mail server goes down; notifications
// keep being accepted, wait in the outbox and are retried; when the server
// is back every one arrives, exactly once (counted by Message-ID).
func TestMailSurvivesMailServerDown(t *testing.T) {
	requireTool(t, "oathtool")
	mp := testmailpit.Start(t, testmailpit.Options{})
	srv := testserver.Start(t, "--smtp-addr", mp.SMTPAddr, "--smtp-from", "Coffer <coffer@books.example>", "--smtp-tls", "none",
		"--smtp-timeout", "2s", "--mail-retry-base", "200ms")
	m := signedInMember(t, srv, "127.0.0.82", "outage@example.com", "Outage Ltd", "owner")
	waitOutbox(t, srv, "every message before the outage sent", func(rows []*notify.OutboxMail) bool {
		for _, r := range rows {
			if r.Status != notify.StatusSent {
				return false
			}
		}
		return true
	})
	before := len(outboxRows(t, srv))

	mp.Stop()
	const n = 3
	for range n {
		addAuthenticator(t, m)
	}
	waitOutbox(t, srv, "the new messages retried while the server is down", func(rows []*notify.OutboxMail) bool {
		if len(rows) < before+n {
			return false
		}
		for _, r := range rows[before:] {
			if r.Status != notify.StatusPending || r.Attempts < 2 || r.LastError == "" {
				return false
			}
		}
		return true
	})

	mp.Restart(t)
	rows := waitOutbox(t, srv, "every message sent after the server came back", func(rows []*notify.OutboxMail) bool {
		for _, r := range rows {
			if r.Status != notify.StatusSent {
				return false
			}
		}
		return true
	})
	mp.Wait(t, len(rows), 10*time.Second)
	// Give a duplicate, if there were one, the time to arrive.
	time.Sleep(time.Second)
	ms := mp.Messages(t)
	byID := map[string]int{}
	added := 0
	for _, msg := range ms {
		byID[msg.MessageID]++
		if len(msg.To) == 1 && msg.To[0].Address == m.Email && strings.Contains(msg.Subject, "authenticator app was added") {
			added++
		}
	}
	for _, r := range rows {
		if c := byID[r.MessageID+"@books.example"]; c != 1 {
			t.Errorf("outbox row %d (%s) arrived %d times", r.ID, r.Kind, c)
		}
	}
	if len(ms) != len(rows) {
		t.Errorf("Mailpit has %d messages for %d outbox rows", len(ms), len(rows))
	}
	if added != n {
		t.Errorf("%d factor.added mails arrived, want %d", added, n)
	}
}
