package anomaly_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/anomaly"
	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/notify"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

var t0 = time.Date(2030, time.March, 4, 9, 0, 0, 0, time.UTC)

type fixture struct {
	st      *sqlstore.Store
	svc     *anomaly.Service
	mail    string
	owner   *auth.User
	staff   *auth.User
	org     *access.Org
	now     time.Time
	context context.Context
}

func newFixture(t *testing.T, cfg anomaly.Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := testdb.Open(t, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, mail: filepath.Join(dir, "mail"), now: t0, context: t.Context()}
	mk := func(email string) *auth.User {
		u := &auth.User{Email: email, Name: email, PasswordHash: "x", CreatedAt: t0}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.owner, f.staff = mk("owner@example.com"), mk("staff@example.com")
	f.org = &access.Org{Name: "Acme", Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := st.CreateOrg(t.Context(), f.org, f.owner.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMember(t.Context(), &access.Membership{OrgID: f.org.ID, UserID: f.staff.ID, Role: access.Standard, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	mail, err := notify.NewDir(f.mail, "")
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = anomaly.New(st, nil, mail, nil, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Now = func() time.Time { return f.now }
	return f
}

func (f *fixture) eval(t *testing.T, e audit.Event, c auth.Client) {
	t.Helper()
	if e.At.IsZero() {
		e.At = f.now
	}
	if err := f.svc.Evaluate(f.context, &e, c); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) rules(t *testing.T, orgID int64) []string {
	t.Helper()
	fs, err := f.svc.Findings(f.context, orgID, anomaly.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range fs {
		out = append(out, x.Rule)
	}
	return out
}

func (f *fixture) mails(t *testing.T, to, kind string) int {
	t.Helper()
	entries, _ := os.ReadDir(f.mail)
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.mail, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "To: "+to+"\r\n") && strings.Contains(string(b), "X-Coffer-Event: "+kind+"\r\n") {
			n++
		}
	}
	return n
}

func (f *fixture) audited(t *testing.T, action string) int {
	t.Helper()
	var n int
	if err := f.st.DB().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEvaluateMFAFailures(t *testing.T) {
	f := newFixture(t, anomaly.DefaultConfig())
	fail := audit.Event{UserID: f.staff.ID, Subject: f.staff.Email, Action: "login.mfa.totp", Outcome: audit.Failure, IP: "10.0.0.1", Detail: "reason=wrong_code"}
	for i := range 4 {
		f.now = t0.Add(time.Duration(i) * time.Minute)
		f.eval(t, fail, auth.Client{IP: "10.0.0.1"})
	}
	// A locked account's refusals are not guesses.
	f.eval(t, audit.Event{UserID: f.staff.ID, Action: "login.mfa", Outcome: audit.Failure, IP: "10.0.0.1", Detail: "reason=locked"}, auth.Client{})
	if got := f.rules(t, 0); len(got) != 0 {
		t.Fatalf("findings after 4 failures: %v", got)
	}
	f.now = t0.Add(5 * time.Minute)
	f.eval(t, fail, auth.Client{IP: "10.0.0.1"})
	f.eval(t, fail, auth.Client{IP: "10.0.0.1"}) // the sixth does not fire again
	if got := f.rules(t, f.org.ID); len(got) != 1 || got[0] != anomaly.RuleMFAFailures {
		t.Fatalf("org findings = %v, want one mfa_failures (a member's finding)", got)
	}
	if n := f.mails(t, f.staff.Email, "anomaly.mfa_failures"); n != 1 {
		t.Errorf("%d alerts to the user, want 1", n)
	}
	if n := f.audited(t, "anomaly.finding"); n != 1 {
		t.Errorf("%d findings audited, want 1", n)
	}
	// Outside the window it may fire again.
	f.now = t0.Add(time.Hour)
	for range 5 {
		f.eval(t, fail, auth.Client{IP: "10.0.0.1"})
	}
	if got := f.rules(t, 0); len(got) != 2 {
		t.Errorf("findings = %v, want a second one an hour later", got)
	}
}

func TestEvaluateRoleEscalationAndExport(t *testing.T) {
	f := newFixture(t, anomaly.DefaultConfig())
	tests := []struct {
		name   string
		detail string
		want   int
	}{
		{"standard to read only", "org=1 user=2 email=staff@example.com from=standard to=read_only", 0},
		{"adviser to owner is not an escalation into power", "org=1 user=2 email=staff@example.com from=adviser to=owner", 0},
		{"standard to owner", "org=1 user=2 email=staff@example.com from=standard to=owner", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.rules(t, 0))
			f.eval(t, audit.Event{UserID: f.owner.ID, Subject: f.owner.Email, Action: "org.member.role_change", Outcome: audit.Success, Detail: tt.detail}, auth.Client{})
			if got := len(f.rules(t, 0)) - before; got != tt.want {
				t.Errorf("new findings = %d, want %d", got, tt.want)
			}
		})
	}
	fs, _ := f.svc.Findings(f.context, f.org.ID, anomaly.FindingFilter{})
	if len(fs) != 1 || fs[0].OrgID != f.org.ID || fs[0].UserID != f.staff.ID {
		t.Fatalf("escalation finding = %+v", fs)
	}
	if n := f.mails(t, f.owner.Email, "anomaly.admin.role_escalation"); n != 1 {
		t.Errorf("%d admin alerts, want 1", n)
	}

	// Exports: three a day is usual; the fourth is not, once.
	export := audit.Event{UserID: f.staff.ID, Subject: f.staff.Email, Action: "org.export", Outcome: audit.Success, Detail: "org=1 format=zip rows=1"}
	for i := range 5 {
		f.now = t0.Add(time.Duration(i) * time.Minute)
		f.eval(t, export, auth.Client{})
	}
	n := 0
	for _, r := range f.rules(t, f.org.ID) {
		if r == anomaly.RuleExportVolume {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d export findings, want 1", n)
	}

	// Resolving is audited; resolving twice conflicts.
	if _, err := f.svc.Resolve(f.context, f.org.ID, fs[0].ID, anomaly.Actor{UserID: f.owner.ID, Email: f.owner.Email}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Resolve(f.context, f.org.ID, fs[0].ID, anomaly.Actor{UserID: f.owner.ID}); err == nil {
		t.Error("resolved twice")
	}
	if n := f.audited(t, "anomaly.resolve"); n != 1 {
		t.Errorf("%d resolutions audited, want 1", n)
	}
	if _, err := f.svc.Findings(f.context, f.org.ID, anomaly.FindingFilter{Status: "bogus"}); err == nil {
		t.Error("bad status accepted")
	}
}

func TestEvaluateSignIns(t *testing.T) {
	geo, err := anomaly.ParseGeoCSV(strings.NewReader("203.0.113.0/24,51.5074,-0.1278,GB\n198.51.100.0/24,-33.8688,151.2093,AU\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, anomaly.DefaultConfig())
	f.svc, err = anomaly.New(f.st, nil, mustDir(t, f.mail), geo, anomaly.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	login := func(at time.Time, ip string) {
		f.eval(t, audit.Event{At: at, UserID: f.staff.ID, Subject: f.staff.Email, Action: "login", Outcome: audit.Success, IP: ip}, auth.Client{IP: ip, UserAgent: "Firefox", DeviceCookie: "dev-1"})
	}
	login(t0, "203.0.113.5")
	login(t0.Add(time.Hour), "203.0.113.6")
	if got := f.rules(t, 0); len(got) != 0 {
		t.Fatalf("same place and device: %v", got)
	}
	login(t0.Add(2*time.Hour), "198.51.100.9")
	got := strings.Join(f.rules(t, 0), ",")
	if got != anomaly.RuleImpossible+","+anomaly.RuleNewRegion {
		t.Errorf("findings = %s, want impossible travel and new region (the device cookie is known)", got)
	}
	if n := f.mails(t, f.staff.Email, "anomaly.impossible_travel"); n != 1 {
		t.Errorf("%d travel alerts, want 1", n)
	}
}

func mustDir(t *testing.T, path string) *notify.Dir {
	t.Helper()
	d, err := notify.NewDir(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestObserveNeverBlocks(t *testing.T) {
	cfg := anomaly.DefaultConfig()
	cfg.QueueSize = 2
	f := newFixture(t, cfg)
	e := &audit.Event{At: t0, UserID: f.staff.ID, Action: "login.mfa.totp", Outcome: audit.Failure, Detail: "reason=wrong_code"}
	done := make(chan struct{})
	go func() {
		for range 10 {
			f.svc.Observe(f.context, e, auth.Client{})
		}
		// Events no rule reads are not even queued.
		f.svc.Observe(f.context, &audit.Event{Action: "logout", Outcome: audit.Success}, auth.Client{})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked with the worker stopped")
	}
	if n := f.svc.Dropped(); n != 8 {
		t.Errorf("dropped %d, want 8", n)
	}
	// Started, the worker evaluates what was queued; Close waits for it.
	f.svc.Start()
	f.svc.Close()
	sigs, err := f.st.FindSignals(f.context, anomaly.SignalFilter{Kind: anomaly.SignalMFABad})
	if err != nil || len(sigs) != 2 {
		t.Errorf("evaluated %d queued events, %v; want 2", len(sigs), err)
	}
}
