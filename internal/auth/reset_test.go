package auth_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/notify"
)

// resetFixture is an organisation with an owner, an adviser and a
// standard member (all enrolled), a second owner, and mail written to a
// directory the tests read, as a member would read their inbox.
type resetFixture struct {
	*fixture
	mail                           string
	org                            *access.Org
	owner, owner2, adviser, member *enrolled
	other                          *access.Org
	outsider                       *enrolled
}

func newResetFixture(t testing.TB) *resetFixture {
	t.Helper()
	f := &resetFixture{fixture: newFixture(t), mail: t.TempDir()}
	d, err := notify.NewDir(f.mail, "")
	if err != nil {
		t.Fatal(err)
	}
	d.Now = f.now
	f.svc.Notifier = d
	f.svc.PublicURL = "https://books.example.com"
	f.owner = f.mustEnroll("owner@example.com")
	f.owner2 = f.mustEnroll("owner2@example.com")
	f.adviser = f.mustEnroll("adviser@example.com")
	f.member = f.mustEnroll("member@example.com")
	f.outsider = f.mustEnroll("outsider@example.com")
	f.org = &access.Org{Name: "Books Ltd", Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := f.store.CreateOrg(f.ctx, f.org, f.owner.user.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		e    *enrolled
		role access.Role
	}{{f.owner2, access.Owner}, {f.adviser, access.Adviser}, {f.member, access.Standard}} {
		if err := f.store.AddMember(f.ctx, &access.Membership{OrgID: f.org.ID, UserID: m.e.user.ID, Role: m.role, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	f.other = &access.Org{Name: "Other Ltd", Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := f.store.CreateOrg(f.ctx, f.other, f.outsider.user.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// mails returns the reset messages to address so far, oldest first.
func (f *resetFixture) mails(address string) []string {
	f.tb.Helper()
	entries, err := os.ReadDir(f.mail)
	if err != nil {
		f.tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.mail, e.Name()))
		if err != nil {
			f.tb.Fatal(err)
		}
		// Only the reset's mails: sign-ins in the fixture are notified too.
		if strings.Contains(string(b), "\r\nTo: "+address+"\r\n") && strings.Contains(string(b), "\r\nX-Coffer-Event: reset.") {
			out = append(out, string(b))
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`https://books\.example\.com(/mfa-reset(?:/cancel)?)\?token=([A-Za-z0-9_%\-]+)`)

// links returns the reset links (path → token) in a message.
func links(tb testing.TB, msg string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(msg, -1) {
		tok, err := url.QueryUnescape(m[2])
		if err != nil {
			tb.Fatal(err)
		}
		out[m[1]] = tok
	}
	return out
}

// start has by start a reset of target and returns the confirm and cancel
// tokens from the mail the target got.
func (f *resetFixture) start(by, target *enrolled) (*auth.Reset, string, string) {
	f.tb.Helper()
	before := len(f.mails(target.user.Email))
	r, err := f.svc.StartReset(f.ctx, by.user, f.org.ID, target.user.ID, f.client)
	if err != nil {
		f.tb.Fatalf("start reset: %v", err)
	}
	got := f.mails(target.user.Email)
	if len(got) != before+1 {
		f.tb.Fatalf("target got %d new mails, want 1", len(got)-before)
	}
	l := links(f.tb, got[len(got)-1])
	if l["/mfa-reset"] == "" || l["/mfa-reset/cancel"] == "" {
		f.tb.Fatalf("mail lacks the confirm and cancel links:\n%s", got[len(got)-1])
	}
	return r, l["/mfa-reset"], l["/mfa-reset/cancel"]
}

func (f *resetFixture) factorCount(userID int64) int {
	fs, err := f.svc.Factors(f.ctx, userID)
	if err != nil {
		f.tb.Fatal(err)
	}
	return len(fs)
}

func TestReset_ConfirmWaitComplete(t *testing.T) {
	f := newResetFixture(t)
	member := f.member
	memberSession := f.mustSignIn(member)
	r, confirm, _ := f.start(f.adviser, member)
	if r.Status != auth.ResetAwaiting || r.StartedByName != f.adviser.user.Name || r.OrgName != "Books Ltd" {
		t.Fatalf("started %+v", r)
	}

	t.Run("OpeningTheLinkChangesNothing", func(t *testing.T) {
		for range 2 {
			got, err := f.svc.ResetForConfirmLink(f.ctx, confirm)
			if err != nil || got.ID != r.ID || got.StartedByName != f.adviser.user.Name {
				t.Fatalf("view = %+v, %v", got, err)
			}
		}
		open, err := f.svc.OpenReset(f.ctx, 0, member.user.ID)
		if err != nil || open.Status != auth.ResetAwaiting {
			t.Fatalf("open reset after viewing: %+v, %v", open, err)
		}
	})

	f.advance(time.Hour)
	confirmedAt := f.now()
	t.Run("Confirm", func(t *testing.T) {
		got, err := f.svc.ConfirmReset(f.ctx, confirm, f.client)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != auth.ResetWaiting || !got.EffectiveAt.Equal(confirmedAt.Add(24*time.Hour)) {
			t.Fatalf("confirmed %+v", got)
		}
		if _, err := f.svc.ConfirmReset(f.ctx, confirm, f.client); !errors.Is(err, auth.ErrResetLinkInvalid) {
			t.Fatalf("second confirmation: %v", err)
		}
		mails := f.mails(member.user.Email)
		last := mails[len(mails)-1]
		if !strings.Contains(last, "takes effect at") || links(t, last)["/mfa-reset/cancel"] == "" {
			t.Fatalf("confirmation mail lacks the time or the cancel link:\n%s", last)
		}
		for _, admin := range []*enrolled{f.owner, f.owner2, f.adviser} {
			if ms := f.mails(admin.user.Email); len(ms) == 0 || !strings.Contains(ms[len(ms)-1], "confirmed the reset") {
				t.Errorf("%s was not told of the confirmation", admin.user.Email)
			}
		}
	})

	t.Run("DuringTheWaitTheOldFactorIsStillRequired", func(t *testing.T) {
		f.advance(24*time.Hour - time.Hour)
		res := f.mustLogin(member.user.Email)
		if res.Status != "mfa_required" || f.factorCount(member.user.ID) != 1 {
			t.Fatalf("login during wait: %+v, %d factors", res, f.factorCount(member.user.ID))
		}
	})

	t.Run("AWrongPasswordDoesNotApplyIt", func(t *testing.T) {
		f.advance(2 * time.Hour)
		_, err := f.login(member.user.Email, "not the password at all 123")
		wantErr(t, err, errs.EUNAUTHORIZED)
		if f.factorCount(member.user.ID) != 1 {
			t.Fatal("a wrong password completed the reset")
		}
	})

	t.Run("AfterTheWaitEnrollmentIsRequired", func(t *testing.T) {
		res := f.mustLogin(member.user.Email)
		if res.Status != "mfa_enrollment_required" || !slices.Equal(res.Methods, []string{"totp"}) {
			t.Fatalf("login after wait: %+v", res)
		}
		if n := f.factorCount(member.user.ID); n != 0 {
			t.Fatalf("%d factors left", n)
		}
		if left, _ := f.svc.RecoveryCodesLeft(f.ctx, member.user.ID); left != 0 {
			t.Fatalf("%d recovery codes left", left)
		}
		if _, _, err := f.svc.Authenticate(f.ctx, memberSession.Token); err == nil {
			t.Fatal("a session from before the reset still works")
		}
		if _, err := f.svc.OpenReset(f.ctx, 0, member.user.ID); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("reset still open: %v", err)
		}
		if len(f.events("mfa.reset.complete")) != 1 {
			t.Fatal("completion not audited")
		}
		// The new app signs in; the old app's codes are refused.
		a := f.mustPending(res.LoginToken)
		enr, err := f.svc.BeginTOTPEnrollment(f.ctx, a, false, f.client)
		if err != nil {
			t.Fatal(err)
		}
		newSecret := mustDecodeSecret(t, enr.Secret)
		conf, err := f.svc.ConfirmTOTPEnrollment(f.ctx, a, f.code(newSecret, f.now()), 0, f.client)
		if err != nil || conf.Issued == nil || len(conf.RecoveryCodes) == 0 {
			t.Fatalf("enroll the new app: %+v, %v", conf, err)
		}
		f.advance(30 * time.Second)
		next := f.mustLogin(member.user.Email)
		_, err = f.svc.VerifySecondFactor(f.ctx, next.LoginToken, auth.Proof{Method: "totp", Code: f.code(member.secret, f.now())}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		_, err = f.svc.VerifySecondFactor(f.ctx, next.LoginToken, auth.Proof{Method: "recovery_code", Code: member.codes[0]}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		if _, err := f.svc.VerifySecondFactor(f.ctx, next.LoginToken, auth.Proof{Method: "totp", Code: f.code(newSecret, f.now())}, f.client); err != nil {
			t.Fatalf("new app: %v", err)
		}
	})

	t.Run("AuditedWithOrgAndNoToken", func(t *testing.T) {
		for _, action := range []string{"mfa.reset.start", "mfa.reset.confirm", "mfa.reset.complete"} {
			evs := f.events(action)
			if len(evs) == 0 || !strings.Contains(evs[0].Detail, "org="+itoa(f.org.ID)) {
				t.Errorf("%s: %+v", action, evs)
			}
		}
		all, _ := f.store.FindAuditEvents(f.ctx, 0, 10000)
		for _, e := range all {
			if strings.Contains(e.Detail, auth.ResetConfirmPrefix) || strings.Contains(e.Detail, auth.ResetCancelPrefix) {
				t.Errorf("token in audit detail: %s %s", e.Action, e.Detail)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestReset_StartRefusals(t *testing.T) {
	f := newResetFixture(t)
	standard := f.member
	for _, tt := range []struct {
		name       string
		by, target *enrolled
		org        int64
		want       string
	}{
		{"Self", f.owner, f.owner, 0, errs.EFORBIDDEN},
		{"StandardMemberStarts", standard, f.adviser, 0, errs.EFORBIDDEN},
		{"AdviserResetsOwner", f.adviser, f.owner, 0, errs.EFORBIDDEN},
		{"TargetNotAMember", f.owner, f.outsider, 0, errs.ENOTFOUND},
		{"OtherOrganisation", f.outsider, standard, -1, errs.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			org := f.org.ID
			if tt.org == -1 {
				org = f.other.ID
			}
			_, err := f.svc.StartReset(f.ctx, tt.by.user, org, tt.target.user.ID, f.client)
			wantErr(t, err, tt.want)
		})
	}
	if n := len(f.events("mfa.reset.start")); n != 5 {
		t.Fatalf("%d refusals audited, want 5", n)
	}
	for _, e := range f.events("mfa.reset.start") {
		if e.Outcome != "failure" || !strings.Contains(e.Detail, "reason=") {
			t.Errorf("refusal audited as %+v", e)
		}
	}
	if len(f.mails(f.owner.user.Email)) != 0 || len(f.mails(standard.user.Email)) != 0 {
		t.Fatal("a refused reset sent mail")
	}
	t.Run("OwnerResetsOwner", func(t *testing.T) {
		f.start(f.owner, f.owner2)
	})
	t.Run("OneOpenResetPerUser", func(t *testing.T) {
		f.start(f.adviser, standard)
		_, err := f.svc.StartReset(f.ctx, f.owner.user, f.org.ID, standard.user.ID, f.client)
		wantErr(t, err, errs.ECONFLICT)
	})
}

func TestReset_Cancel(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cancel func(f *resetFixture, cancelToken string) error
		by     func(f *resetFixture) *enrolled
	}{
		{"ByMailedLink", func(f *resetFixture, tok string) error {
			_, err := f.svc.CancelResetByLink(f.ctx, tok, f.client)
			return err
		}, func(f *resetFixture) *enrolled { return f.member }},
		{"ByMemberSignedIn", func(f *resetFixture, _ string) error {
			_, err := f.svc.CancelOwnReset(f.ctx, f.member.user, f.client)
			return err
		}, func(f *resetFixture) *enrolled { return f.member }},
		{"ByAnotherAdmin", func(f *resetFixture, _ string) error {
			_, err := f.svc.CancelMemberReset(f.ctx, f.owner.user, f.org.ID, f.member.user.ID, f.client)
			return err
		}, func(f *resetFixture) *enrolled { return f.owner }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newResetFixture(t)
			_, confirm, cancel := f.start(f.adviser, f.member)
			if _, err := f.svc.ConfirmReset(f.ctx, confirm, f.client); err != nil {
				t.Fatal(err)
			}
			// The other organisation's owner cannot see or cancel it.
			_, err := f.svc.CancelMemberReset(f.ctx, f.outsider.user, f.other.ID, f.member.user.ID, f.client)
			wantErr(t, err, errs.ENOTFOUND)
			f.advance(time.Hour)
			if err := tt.cancel(f, cancel); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			evs := f.events("mfa.reset.cancel")
			if len(evs) != 1 || evs[0].UserID != tt.by(f).user.ID || !strings.Contains(evs[0].Detail, "org="+itoa(f.org.ID)) {
				t.Fatalf("cancel audited as %+v", evs)
			}
			ms := f.mails(f.member.user.Email)
			if !strings.Contains(ms[len(ms)-1], "cancelled the reset") {
				t.Fatalf("member not told:\n%s", ms[len(ms)-1])
			}
			if _, err := f.svc.CancelResetByLink(f.ctx, cancel, f.client); !errors.Is(err, auth.ErrResetLinkInvalid) {
				t.Fatalf("cancel link after cancel: %v", err)
			}
			// After the wait the old factor is still required.
			f.advance(48 * time.Hour)
			if res := f.mustLogin(f.member.user.Email); res.Status != "mfa_required" || f.factorCount(f.member.user.ID) != 1 {
				t.Fatalf("login after a cancelled reset: %+v", res)
			}
			if err := f.svc.CompleteDueResets(f.ctx); err != nil || f.factorCount(f.member.user.ID) != 1 {
				t.Fatalf("sweep completed a cancelled reset: %v", err)
			}
		})
	}
}

func TestReset_Links(t *testing.T) {
	f := newResetFixture(t)
	_, confirm, cancel := f.start(f.owner, f.member)
	for _, tt := range []struct {
		name  string
		token string
	}{
		{"Unknown", auth.ResetConfirmPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"WrongPrefix", strings.Replace(confirm, auth.ResetConfirmPrefix, "cfs_", 1)},
		{"CancelTokenAsConfirm", cancel},
		{"Empty", ""},
		{"Overlong", confirm + strings.Repeat("A", 200)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.ResetForConfirmLink(f.ctx, tt.token); !errors.Is(err, auth.ErrResetLinkInvalid) {
				t.Fatalf("view: %v", err)
			}
			if _, err := f.svc.ConfirmReset(f.ctx, tt.token, f.client); !errors.Is(err, auth.ErrResetLinkInvalid) {
				t.Fatalf("confirm: %v", err)
			}
		})
	}
	t.Run("ExpiredConfirmLink", func(t *testing.T) {
		f.advance(auth.ResetLinkTTL)
		if _, err := f.svc.ConfirmReset(f.ctx, confirm, f.client); !errors.Is(err, auth.ErrResetLinkInvalid) {
			t.Fatalf("confirm after 24h: %v", err)
		}
		if _, err := f.svc.OpenReset(f.ctx, 0, f.member.user.ID); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("expired reset still open: %v", err)
		}
		// A new one may start.
		f.start(f.owner, f.member)
	})
}

func TestReset_SweepCompletesDueResets(t *testing.T) {
	f := newResetFixture(t)
	_, confirm, _ := f.start(f.owner, f.member)
	if _, err := f.svc.ConfirmReset(f.ctx, confirm, f.client); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CompleteDueResets(f.ctx); err != nil || f.factorCount(f.member.user.ID) != 1 {
		t.Fatalf("sweep before the wait: %v", err)
	}
	f.advance(24 * time.Hour)
	if err := f.svc.CompleteDueResets(f.ctx); err != nil {
		t.Fatal(err)
	}
	if f.factorCount(f.member.user.ID) != 0 || f.factorCount(f.owner.user.ID) != 1 {
		t.Fatal("sweep did not complete exactly the due reset")
	}
	if res := f.mustLogin(f.member.user.Email); res.Status != "mfa_enrollment_required" {
		t.Fatalf("login after sweep: %+v", res)
	}
}

func TestConfig_ResetWait(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		ok   bool
	}{{0, false}, {time.Millisecond, false}, {time.Second, true}, {24 * time.Hour, true}, {720 * time.Hour, true}, {721 * time.Hour, false}} {
		cfg := auth.DefaultConfig()
		cfg.ResetWait = tt.wait
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("ResetWait %s: Validate = %v", tt.wait, err)
		}
	}
}

// FuzzResetLinks feeds arbitrary link tokens to the public pages' lookups:
// none but the real ones finds a reset, none panics, and every refusal is
// the one message that says nothing about why.
func FuzzResetLinks(f *testing.F) {
	rf := newResetFixture(f)
	_, confirm, cancel := rf.start(rf.owner, rf.member)
	for _, seed := range []string{"", confirm, cancel, auth.ResetConfirmPrefix, auth.ResetCancelPrefix + "x", confirm[:len(confirm)-1], "cfr_\x00", strings.Repeat("A", 120)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, tt := range []struct {
			real string
			view func(string) (*auth.Reset, error)
		}{
			{confirm, func(tok string) (*auth.Reset, error) { return rf.svc.ResetForConfirmLink(rf.ctx, tok) }},
			{cancel, func(tok string) (*auth.Reset, error) { return rf.svc.ResetForCancelLink(rf.ctx, tok) }},
		} {
			r, err := tt.view(token)
			if token == tt.real {
				if err != nil {
					t.Fatalf("the real link is refused: %v", err)
				}
				continue
			}
			if !errors.Is(err, auth.ErrResetLinkInvalid) || r != nil {
				t.Fatalf("token %q: %+v, %v", token, r, err)
			}
		}
	})
}
