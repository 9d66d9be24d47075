package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/cli"
	"coffer/internal/testmailpit"
	"coffer/internal/testserver"
)

// forwardedFor adds the X-Forwarded-For a reverse proxy would, so a test
// on loopback can sign in "from" anywhere through the trusted-proxy
// setting.
type forwardedFor struct {
	ip string
	rt http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.rt.RoundTrip(r)
}

// waitFor polls cond until it holds or the bound passes: anomaly rules run
// on a background queue, a moment after the request that triggers them.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func findingOf(fs []client.Finding, rule string, match func(client.Finding) bool) *client.Finding {
	for i := range fs {
		if fs[i].Rule == rule && (match == nil || match(fs[i])) {
			return &fs[i]
		}
	}
	return nil
}

// TestAttackRun is the scripted attack run of issue 7, bounded and on
// loopback: password spraying over 50 accounts, impossible travel with
// client addresses forged through the trusted-proxy header, and push
// bombing. Each must produce its finding, its emails, and the step-up or
// lock its rule calls for.
func TestAttackRun(t *testing.T) {
	if testing.Short() {
		t.Skip("attack run: slow")
	}
	geo := filepath.Join(t.TempDir(), "geo.csv")
	// London and Sydney: 17,000 km apart.
	if err := os.WriteFile(geo, []byte("# prefix,latitude,longitude,country\n203.0.113.0/24,51.5074,-0.1278,GB\n198.51.100.0/24,-33.8688,151.2093,AU\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Alerts go through the outbox to a real SMTP server.
	mp := testmailpit.Start(t, testmailpit.Options{})
	srv := testserver.Start(t, "--trusted-proxy", "127.0.0.0/8", "--geoip-csv", geo, "--login-attempts-per-client", "120",
		"--smtp-addr", mp.SMTPAddr, "--smtp-from", "Coffer <coffer@attack.example>", "--smtp-tls", "none")
	// countMail counts the messages of kind to the address that reached
	// the SMTP server.
	countMail := func(_ testing.TB, _ string, to, kind string) int {
		n := 0
		for _, m := range mp.Messages(t) {
			if len(m.To) == 0 || m.To[0].Address != to {
				continue
			}
			if h := mp.Headers(t, m.ID); len(h["X-Coffer-Event"]) > 0 && h["X-Coffer-Event"][0] == kind {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	// The first user is the platform administrator.
	admin := signedInMember(t, srv, "127.0.0.2", "owner@sprayed.test", "Sprayed Ltd", "owner")

	t.Run("password spraying over 50 accounts", func(t *testing.T) {
		const known, unknown = 30, 20
		for i := range known {
			srv.AddMember(t, fmt.Sprintf("staff%02d@sprayed.test", i), fmt.Sprintf("Staff %d", i), "a long and private passphrase 7", "Sprayed Ltd", "standard")
		}
		attacker := client.New(srv.URL, srv.HTTPClient("127.0.0.9"))
		for i := range known + unknown {
			email := fmt.Sprintf("staff%02d@sprayed.test", i)
			if i >= known {
				email = fmt.Sprintf("nobody%02d@sprayed.test", i)
			}
			var e *client.Error
			if _, err := attacker.Login(ctx, email, "Summer2025!"); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
				t.Fatalf("spray %s: %v, want 401", email, err)
			}
		}
		var f *client.Finding
		waitFor(t, "spraying finding for the organisation", func() bool {
			fs, err := admin.C.Findings(ctx, admin.Session, admin.OrgID, "open")
			if err != nil {
				t.Fatal(err)
			}
			f = findingOf(fs, "password_spraying", func(f client.Finding) bool { return f.OrgID == admin.OrgID })
			return f != nil
		})
		if f.IP != "127.0.0.9" || f.Severity != "high" || f.UserID != 0 {
			t.Errorf("finding = %+v", f)
		}
		all, err := admin.C.AdminFindings(ctx, admin.Session, "")
		if err != nil {
			t.Fatal(err)
		}
		if findingOf(all, "password_spraying", func(f client.Finding) bool { return f.OrgID == 0 }) == nil {
			t.Errorf("no platform spraying finding in %+v", all)
		}
		waitFor(t, "the administrators' email", func() bool {
			return countMail(t, srv.DataDir, admin.Email, "anomaly.admin.password_spraying") >= 1
		})
		// One finding per attack, not one per failed password.
		if n := countMail(t, srv.DataDir, admin.Email, "anomaly.admin.password_spraying"); n > 2 {
			t.Errorf("%d spraying emails, want one for the organisation and one for the platform", n)
		}
		res, err := admin.C.ResolveFinding(ctx, admin.Session, admin.OrgID, f.ID)
		if err != nil || res.Status != "resolved" || res.ResolvedBy == 0 || res.ResolvedAt == nil {
			t.Fatalf("resolve: %+v, %v", res, err)
		}
		var e *client.Error
		if _, err := admin.C.ResolveFinding(ctx, admin.Session, admin.OrgID, f.ID); !errors.As(err, &e) || e.Status != http.StatusConflict {
			t.Errorf("second resolve: %v, want 409", err)
		}
		// A standard member may not see the findings.
		staff := enrollAfterAdd(t, client.New(srv.URL, srv.HTTPClient("127.0.0.5")), "staff00@sprayed.test", "a long and private passphrase 7")
		if _, err := client.New(srv.URL, srv.HTTPClient("127.0.0.5")).Findings(ctx, staff.Session, admin.OrgID, ""); !errors.As(err, &e) || e.Status != http.StatusForbidden {
			t.Errorf("standard member listing findings: %v, want 403", err)
		}
		if _, err := client.New(srv.URL, srv.HTTPClient("127.0.0.5")).AdminFindings(ctx, staff.Session, ""); !errors.As(err, &e) || e.Status != http.StatusNotFound {
			t.Errorf("non-admin listing platform findings: %v, want 404", err)
		}
	})

	t.Run("impossible travel through forged proxy headers", func(t *testing.T) {
		m := signedInMember(t, srv, "127.0.0.3", "traveller@travel.test", "Travel Ltd", "owner")
		from := func(ip string) *client.Client {
			hc := srv.HTTPClient("127.0.0.3")
			hc.Transport = forwardedFor{ip: ip, rt: hc.Transport}
			return client.New(srv.URL, hc)
		}
		signIn := func(c *client.Client, code string) string {
			lr, err := c.Login(ctx, m.Email, m.Password)
			if err != nil {
				t.Fatal(err)
			}
			sr, err := c.LoginMFA(ctx, lr.LoginToken, "recovery_code", code)
			if err != nil {
				t.Fatal(err)
			}
			return sr.SessionToken
		}
		signIn(from("203.0.113.10"), m.RecoveryCodes[0]) // London
		sydney := from("198.51.100.20")
		session := signIn(sydney, m.RecoveryCodes[1]) // Sydney, seconds later
		var f *client.Finding
		waitFor(t, "impossible travel finding", func() bool {
			fs, err := sydney.Findings(ctx, session, m.OrgID, "")
			if err != nil {
				var e *client.Error
				if errors.As(err, &e) && e.Status == http.StatusForbidden {
					return false // step-up already required: look as the admin
				}
				t.Fatal(err)
			}
			f = findingOf(fs, "impossible_travel", nil)
			return f != nil
		})
		if f.UserEmail != m.Email || f.IP != "198.51.100.20" || f.Severity != "high" {
			t.Errorf("finding = %+v", f)
		}
		waitFor(t, "the traveller's email", func() bool {
			return countMail(t, srv.DataDir, m.Email, "anomaly.impossible_travel") >= 1
		})
		// The session was verified seconds ago, yet a sensitive action now
		// asks for a second factor again.
		waitFor(t, "step-up required", func() bool {
			var e *client.Error
			err := sydney.Do(ctx, "GET", fmt.Sprintf("/api/v1/orgs/%d/export", m.OrgID), session, nil, nil)
			return errors.As(err, &e) && e.Status == http.StatusForbidden
		})
		// The sign-ins from the two places were seen from their forged
		// addresses, not from the loopback peer.
		fs, err := admin.C.AdminFindings(ctx, admin.Session, "")
		if err != nil {
			t.Fatal(err)
		}
		if findingOf(fs, "new_region", func(f client.Finding) bool { return f.IP == "198.51.100.20" && f.UserEmail == m.Email }) == nil {
			t.Errorf("no new-region finding from the forged address: %+v", fs)
		}
	})

	t.Run("push bombing locks the account", func(t *testing.T) {
		m := signedInMember(t, srv, "127.0.0.4", "victim@push.test", "Push Ltd", "owner")
		dev := newVerifyDevice(t, srv)
		p, err := m.C.StartVerifyPairing(ctx, m.Session, "")
		if err != nil {
			t.Fatal(err)
		}
		if code, out, stderr := dev.run("", "pair", "--ca-file", dev.caFile(), p.PairingURL); code != 0 {
			t.Fatalf("pair: %d %s %s", code, out, stderr)
		}
		attacker := client.New(srv.URL, srv.HTTPClient("127.0.0.10"))
		lr, err := attacker.Login(ctx, m.Email, m.Password) // the attacker has the password
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			ps, err := attacker.StartLoginPush(ctx, lr.LoginToken)
			if err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
			res := dev.approve(func([]int) string { return "deny\ny\n" })
			attacker.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
			waitApprove(t, res)
		}
		var f *client.Finding
		waitFor(t, "MFA fatigue finding", func() bool {
			fs, err := admin.C.AdminFindings(ctx, admin.Session, "open")
			if err != nil {
				t.Fatal(err)
			}
			f = findingOf(fs, "mfa_fatigue", func(f client.Finding) bool { return f.UserEmail == m.Email })
			return f != nil
		})
		if f.Severity != "high" {
			t.Errorf("finding = %+v", f)
		}
		waitFor(t, "the victim's emails", func() bool {
			return countMail(t, srv.DataDir, m.Email, "anomaly.mfa_fatigue") >= 1 && countMail(t, srv.DataDir, m.Email, "account.locked") >= 1
		})
		// Locked: the correct password no longer starts a sign-in, and the
		// victim's sessions were ended.
		var e *client.Error
		if _, err := attacker.Login(ctx, m.Email, m.Password); !errors.As(err, &e) || e.Status != http.StatusTooManyRequests {
			t.Fatalf("login while locked: %v, want 429", err)
		}
		if _, err := m.C.Me(ctx, m.Session); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
			t.Errorf("old session while locked: %v, want 401", err)
		}
		// Until an administrator unlocks it.
		var out testserver.SyncBuffer
		env := cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if code := cli.Run(ctx, []string{"admin", "user", "unlock", "--data", srv.DataDir, "--email", m.Email}, env); code != 0 {
			t.Fatalf("unlock: %d %s", code, out.String())
		}
		if lr, err := m.C.Login(ctx, m.Email, m.Password); err != nil || lr.Status != "mfa_required" {
			t.Fatalf("login after unlock: %+v, %v", lr, err)
		}
	})
}
