package sqlstore_test

import (
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/anomaly"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/store/sqlstore"
)

func mustOrg(tb testing.TB, s *sqlstore.Store, name string, owner *auth.User) *access.Org {
	tb.Helper()
	o := &access.Org{Name: name, Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := s.CreateOrg(tb.Context(), o, owner.ID, nil, nil); err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestFindings(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		ownerA, ownerB := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
		staffA := mustUser(t, s, "staff@example.com")
		orgA, orgB := mustOrg(t, s, "A Ltd", ownerA), mustOrg(t, s, "B Ltd", ownerB)
		if err := s.AddMember(ctx, &access.Membership{OrgID: orgA.ID, UserID: staffA.ID, Role: access.Standard, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		mk := func(rule string, userID, orgID int64, ip string, at time.Time) *anomaly.Finding {
			f := &anomaly.Finding{Rule: rule, Severity: anomaly.Low, UserID: userID, OrgID: orgID, IP: ip, Detail: "seen", Actions: []string{anomaly.AlertUser}, CreatedAt: at}
			if err := s.CreateFinding(ctx, f); err != nil {
				t.Fatal(err)
			}
			return f
		}
		userF := mk(anomaly.RuleNewDevice, staffA.ID, 0, "10.0.0.1", t0) // staff's account finding: org A sees it
		orgAF := mk(anomaly.RuleRoleEscalation, staffA.ID, orgA.ID, "", t0.Add(time.Second))
		orgBF := mk(anomaly.RuleExportVolume, ownerB.ID, orgB.ID, "", t0.Add(2*time.Second))
		platF := mk(anomaly.RuleSpraying, 0, 0, "192.0.2.1", t0.Add(3*time.Second)) // platform only

		ids := func(fs []*anomaly.Finding) []int64 {
			var out []int64
			for _, f := range fs {
				out = append(out, f.ID)
			}
			return out
		}
		tests := []struct {
			name  string
			org   int64
			want  []int64
			email string
		}{
			{"org A: its own and its member's", orgA.ID, []int64{orgAF.ID, userF.ID}, "staff@example.com"},
			{"org B: only its own", orgB.ID, []int64{orgBF.ID}, "b@example.com"},
			{"platform: everything", 0, []int64{platF.ID, orgBF.ID, orgAF.ID, userF.ID}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fs, err := s.FindFindings(ctx, tt.org, anomaly.FindingFilter{})
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(fs); len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) || got[len(got)-1] != tt.want[len(tt.want)-1] {
					t.Fatalf("ids = %v, want %v", got, tt.want)
				}
				if tt.email != "" && fs[0].UserEmail != tt.email {
					t.Errorf("email = %q, want %q", fs[0].UserEmail, tt.email)
				}
			})
		}

		t.Run("ResolveFinding", func(t *testing.T) {
			// Another organisation's finding is not found, never forbidden.
			_, err := s.ResolveFinding(ctx, orgB.ID, orgAF.ID, ownerB.ID, t0)
			wantCode(t, err, errs.ENOTFOUND)
			_, err = s.ResolveFinding(ctx, orgB.ID, platF.ID, ownerB.ID, t0)
			wantCode(t, err, errs.ENOTFOUND)
			f, err := s.ResolveFinding(ctx, orgA.ID, userF.ID, ownerA.ID, t0.Add(time.Minute))
			if err != nil || f.Status != anomaly.StatusResolved || f.ResolvedBy != ownerA.ID || !f.ResolvedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("resolve = %+v, %v", f, err)
			}
			_, err = s.ResolveFinding(ctx, orgA.ID, userF.ID, ownerA.ID, t0)
			wantCode(t, err, errs.ECONFLICT)
			open, err := s.FindFindings(ctx, orgA.ID, anomaly.FindingFilter{Status: anomaly.StatusOpen})
			if err != nil || len(open) != 1 || open[0].ID != orgAF.ID {
				t.Fatalf("open = %v, %v", ids(open), err)
			}
			// A platform administrator resolves anything.
			if _, err := s.ResolveFinding(ctx, 0, platF.ID, ownerA.ID, t0); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("HasFindingSince", func(t *testing.T) {
			for _, tt := range []struct {
				rule  string
				user  int64
				ip    string
				since time.Time
				want  bool
			}{
				{anomaly.RuleSpraying, 0, "192.0.2.1", t0, true},
				{anomaly.RuleSpraying, 0, "192.0.2.2", t0, false},
				{anomaly.RuleSpraying, 0, "192.0.2.1", t0.Add(time.Hour), false},
				{anomaly.RuleNewDevice, staffA.ID, "", t0, true},
				{anomaly.RuleNewDevice, ownerA.ID, "", t0, false},
			} {
				got, err := s.HasFindingSince(ctx, tt.rule, tt.user, tt.ip, tt.since)
				if err != nil || got != tt.want {
					t.Errorf("HasFindingSince(%s, %d, %q) = %t, %v; want %t", tt.rule, tt.user, tt.ip, got, err, tt.want)
				}
			}
		})

		t.Run("recipients", func(t *testing.T) {
			admins, err := s.OrgAdmins(ctx, orgA.ID)
			if err != nil || len(admins) != 1 || admins[0].Email != "a@example.com" {
				t.Errorf("org A admins = %+v, %v", admins, err)
			}
			orgs, err := s.UsersOrgIDs(ctx, []int64{staffA.ID, ownerB.ID})
			if err != nil || len(orgs) != 2 {
				t.Errorf("orgs = %v, %v", orgs, err)
			}
			if orgs, err := s.UsersOrgIDs(ctx, nil); err != nil || orgs != nil {
				t.Errorf("no users: %v, %v", orgs, err)
			}
			_, err = s.UserEmail(ctx, 999)
			wantCode(t, err, errs.ENOTFOUND)
		})
	})
}

func TestSignals(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "u@example.com")
		for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
			// Within one second: nanosecond times keep them ordered.
			sg := &anomaly.Signal{Kind: anomaly.SignalPasswordBad, UserID: u.ID, Account: "h", IP: ip, At: t0.Add(time.Duration(i) * time.Millisecond)}
			if err := s.RecordSignal(ctx, sg); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordSignal(ctx, &anomaly.Signal{Kind: anomaly.SignalSignIn, UserID: u.ID, IP: "10.0.0.1", Country: "GB", Lat: 51.5, Lon: -0.12, HasLoc: true, At: t0}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    anomaly.SignalFilter
			want int
		}{
			{"by client", anomaly.SignalFilter{Kind: anomaly.SignalPasswordBad, IP: "10.0.0.1"}, 2},
			{"by user", anomaly.SignalFilter{Kind: anomaly.SignalPasswordBad, UserID: u.ID}, 3},
			{"since", anomaly.SignalFilter{Kind: anomaly.SignalPasswordBad, Since: t0.Add(time.Millisecond)}, 2},
			{"limit", anomaly.SignalFilter{Kind: anomaly.SignalPasswordBad, Limit: 1}, 1},
			{"other kind", anomaly.SignalFilter{Kind: anomaly.SignalSignIn}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.FindSignals(ctx, tt.f)
				if err != nil || len(got) != tt.want {
					t.Fatalf("got %d, %v; want %d", len(got), err, tt.want)
				}
			})
		}
		got, _ := s.FindSignals(ctx, anomaly.SignalFilter{Kind: anomaly.SignalPasswordBad})
		if !got[0].At.After(got[1].At) {
			t.Errorf("not newest first: %v, %v", got[0].At, got[1].At)
		}
		in, _ := s.FindSignals(ctx, anomaly.SignalFilter{Kind: anomaly.SignalSignIn})
		if !in[0].HasLoc || in[0].Country != "GB" || in[0].Lat != 51.5 {
			t.Errorf("sign-in = %+v", in[0])
		}

		t.Run("ExpireStepUp", func(t *testing.T) {
			mustSession(t, s, u.ID, 0, "cfs_a", t0, t0, t0.Add(time.Hour))
			n, err := s.ExpireStepUp(ctx, u.ID)
			if err != nil || n != 1 {
				t.Fatalf("ExpireStepUp = %d, %v", n, err)
			}
			if c := count(t, s, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND mfa_at = 0`, u.ID); c != 1 {
				t.Errorf("%d sessions expired for step-up, want 1", c)
			}
		})
	})
}
