package notices_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/notices"
	"coffer/internal/notify"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

var t0 = time.Date(2030, time.March, 4, 9, 0, 0, 0, time.UTC)

func TestNoticeValidate(t *testing.T) {
	tests := []struct {
		name string
		n    notices.Notice
		want string // substring of the message, "" for valid
	}{
		{"OK info", notices.Notice{Kind: notices.KindInfo, Title: "Maintenance", Body: "Tonight."}, ""},
		{"OK action with due date", notices.Notice{Kind: notices.KindActionRequired, Title: "Passkeys", Body: "From 1 March.", DueAt: t0}, ""},
		{"action without due date", notices.Notice{Kind: notices.KindActionRequired, Title: "t", Body: "b"}, "needs a due date"},
		{"info with due date", notices.Notice{Kind: notices.KindInfo, Title: "t", Body: "b", DueAt: t0}, "Only a required action"},
		{"unknown kind", notices.Notice{Kind: "urgent", Title: "t", Body: "b"}, "kind of notice"},
		{"empty title", notices.Notice{Kind: notices.KindInfo, Title: "  ", Body: "b"}, "title"},
		{"two-line title", notices.Notice{Kind: notices.KindInfo, Title: "a\nb", Body: "b"}, "title"},
		{"long title", notices.Notice{Kind: notices.KindInfo, Title: strings.Repeat("x", notices.MaxTitle+1), Body: "b"}, "title"},
		{"empty body", notices.Notice{Kind: notices.KindInfo, Title: "t"}, "text"},
		{"control character", notices.Notice{Kind: notices.KindInfo, Title: "t", Body: "a\x00b"}, "control characters"},
		{"every problem at once", notices.Notice{Kind: "x"}, "title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.n.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), tt.want) {
				t.Fatalf("Validate = %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func TestReportValidate(t *testing.T) {
	tests := []struct {
		name        string
		r           notices.Report
		want        string
		wantContact string
	}{
		{"OK anonymous", notices.Report{Summary: "XSS in invoices", Details: "Steps..."}, "", ""},
		{"OK contact normalised", notices.Report{Contact: " Alice@Example.COM ", Summary: "s", Details: "d"}, "", "alice@example.com"},
		{"bad contact", notices.Report{Contact: "not an address", Summary: "s", Details: "d"}, "valid email", ""},
		{"no summary", notices.Report{Details: "d"}, "summary", ""},
		{"multi-line summary", notices.Report{Summary: "a\nb", Details: "d"}, "summary", ""},
		{"no details", notices.Report{Summary: "s"}, "Describe", ""},
		{"details too long", notices.Report{Summary: "s", Details: strings.Repeat("x", notices.MaxDetails+1)}, "Describe", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			err := r.Validate()
			if tt.want == "" {
				if err != nil || r.Contact != tt.wantContact {
					t.Fatalf("Validate = %v, contact %q", err, r.Contact)
				}
				return
			}
			if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), tt.want) {
				t.Fatalf("Validate = %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

// mailbox is a notify.Notifier keeping messages in memory: a real
// transport for what these tests look at (who was told what).
type mailbox struct{ got []notify.Message }

func (m *mailbox) Notify(_ context.Context, msg notify.Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	m.got = append(m.got, msg)
	return nil
}

type fixture struct {
	st      *sqlstore.Store
	auth    *auth.Service
	board   *notices.Service
	reports *notices.Reports
	mail    *mailbox
	op, u   *auth.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := testdb.Open(t, filepath.Join(t.TempDir(), "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	keys, err := keyring.OpenLocal(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	as, err := auth.NewService(st, keys, keyring.AAD, auth.NewHashPool(2, 8, 8), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	as.Now = func() time.Time { return t0 }
	f := &fixture{st: st, auth: as, mail: &mailbox{}}
	as.Notifier = f.mail
	f.board = notices.NewService(st, log)
	f.board.Now = func() time.Time { return t0 }
	f.reports = notices.NewReports(st, as, as, f.board)
	f.reports.PublicURL = func() string { return "https://books.example.com" }
	f.op = &auth.User{Email: "op@example.com", Name: "Op", PasswordHash: "x", IsAdmin: true, CreatedAt: t0}
	f.u = &auth.User{Email: "user@example.com", Name: "User", PasswordHash: "x", CreatedAt: t0}
	for _, u := range []*auth.User{f.op, f.u} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) auditCount(t *testing.T, action, outcome string) int {
	t.Helper()
	var n int
	if err := f.st.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM audit_events WHERE action = ? AND outcome = ?`, action, outcome).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPost(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := auth.Client{IP: "192.0.2.1"}
	t.Run("ErrForbidden for a user who is not an operator", func(t *testing.T) {
		err := f.board.Post(ctx, f.u, &notices.Notice{Kind: notices.KindInfo, Title: "t", Body: "b"}, c)
		if errs.Code(err) != errs.EFORBIDDEN || f.auditCount(t, "notice.post", "failure") != 1 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("OK and unread until read", func(t *testing.T) {
		n := &notices.Notice{Kind: notices.KindActionRequired, Title: " Passkeys required ", Body: "For advisers.", DueAt: t0.Add(48 * time.Hour)}
		if err := f.board.Post(ctx, f.op, n, c); err != nil {
			t.Fatal(err)
		}
		if n.Title != "Passkeys required" || !n.PublishedAt.Equal(t0) || f.auditCount(t, "notice.post", "success") != 1 {
			t.Fatalf("posted = %+v", n)
		}
		unread, err := f.board.Unread(ctx, f.u)
		if err != nil || len(unread) != 1 || unread[0].ID != n.ID {
			t.Fatalf("unread = %+v, %v", unread, err)
		}
		if err := f.board.MarkRead(ctx, f.u, n.ID); err != nil {
			t.Fatal(err)
		}
		if unread, _ := f.board.Unread(ctx, f.u); len(unread) != 0 {
			t.Fatalf("still unread: %+v", unread)
		}
		if unread, _ := f.board.Unread(ctx, f.op); len(unread) != 1 {
			t.Fatalf("the operator's read state changed: %+v", unread)
		}
	})
}

func TestSubmitReport(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := auth.Client{IP: "198.51.100.9", UserAgent: "reporter"}
	secret := "SQL injection in the journal search"
	rep := &notices.Report{Contact: "finder@example.net", Summary: secret, Details: "Send ' OR 1=1 to /search."}
	if err := f.reports.Submit(ctx, rep, c); err != nil {
		t.Fatal(err)
	}
	t.Run("stored sealed, bound to its row", func(t *testing.T) {
		var body []byte
		if err := f.st.DB().QueryRowContext(ctx, `SELECT body_enc FROM vuln_reports WHERE id = ?`, rep.ID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if len(body) == 0 || bytes.Contains(body, []byte("SQL injection")) || bytes.Contains(body, []byte("finder@")) {
			t.Fatalf("stored body is not sealed: %q", body)
		}
		// Moved to another row, the ciphertext no longer opens.
		if _, err := f.st.DB().ExecContext(ctx, `INSERT INTO vuln_reports (id, received_at, body_enc) VALUES (?, ?, ?)`, rep.ID+100, t0.Unix(), body); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reports.Get(ctx, f.op, rep.ID+100, c); err == nil {
			t.Fatal("a sealed report copied to another row opened")
		}
	})
	t.Run("operators told, without the report", func(t *testing.T) {
		if len(f.mail.got) != 1 || f.mail.got[0].To != f.op.Email {
			t.Fatalf("mail = %+v", f.mail.got)
		}
		m := f.mail.got[0]
		if strings.Contains(m.Text, secret) || strings.Contains(m.Text, "finder@") || !strings.Contains(m.Text, "https://books.example.com/admin/security-reports/") {
			t.Fatalf("notification text = %q", m.Text)
		}
	})
	t.Run("ErrForbidden reading as a user", func(t *testing.T) {
		if _, err := f.reports.List(ctx, f.u, c); errs.Code(err) != errs.EFORBIDDEN {
			t.Fatalf("err = %v", err)
		}
		if _, err := f.reports.Get(ctx, f.u, rep.ID, c); errs.Code(err) != errs.EFORBIDDEN {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("OK operator reads it, audited", func(t *testing.T) {
		got, err := f.reports.Get(ctx, f.op, rep.ID, c)
		if err != nil || got.Summary != secret || got.Contact != "finder@example.net" || got.Details != rep.Details {
			t.Fatalf("report = %+v, %v", got, err)
		}
		if f.auditCount(t, "security_report.read", "success") != 1 {
			t.Fatal("reading was not audited")
		}
	})
	t.Run("ErrRateLimit past the client's hourly limit", func(t *testing.T) {
		for i := 1; i < notices.ReportsPerClientHour; i++ {
			if err := f.reports.Submit(ctx, &notices.Report{Summary: "s", Details: "d"}, c); err != nil {
				t.Fatalf("report %d: %v", i+1, err)
			}
		}
		err := f.reports.Submit(ctx, &notices.Report{Summary: "s", Details: "d"}, c)
		if errs.Code(err) != errs.ERATELIMIT {
			t.Fatalf("err = %v, want rate limited", err)
		}
		if err := f.reports.Submit(ctx, &notices.Report{Summary: "s", Details: "d"}, auth.Client{IP: "198.51.100.10"}); err != nil {
			t.Fatalf("another client was refused: %v", err)
		}
	})
}
