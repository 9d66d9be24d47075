package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/notify"
)

// signedIn returns a live session of e, as Authenticate sees it.
func (f *fixture) signedIn(e *enrolled) (*auth.Actor, string) {
	f.tb.Helper()
	iss := f.mustSignIn(e)
	ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
	if err != nil {
		f.tb.Fatal(err)
	}
	return &auth.Actor{Session: ss, User: u}, iss.Token
}

// addTOTP enrolls a second authenticator app from a session and returns
// its secret and factor id.
func (f *fixture) addTOTP(a *auth.Actor, replace int64) ([]byte, *auth.Confirmed, error) {
	f.tb.Helper()
	en, err := f.svc.BeginTOTPEnrollment(f.ctx, *a, false, f.client)
	if err != nil {
		return nil, nil, err
	}
	secret := mustDecodeSecret(f.tb, en.Secret)
	conf, err := f.svc.ConfirmTOTPEnrollment(f.ctx, *a, f.code(secret, f.now()), replace, f.client)
	return secret, conf, err
}

func mailTo(t *testing.T, dir, kind string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "X-Coffer-Event: "+kind+"\r\n") {
			out = append(out, string(b))
		}
	}
	return out
}

func TestFactors_ListRenameRemove(t *testing.T) {
	f := newFixture(t)
	mail := t.TempDir()
	d, err := notify.NewDir(mail, "")
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Notifier = d
	alice := f.mustEnroll("alice@example.com")
	a, _ := f.signedIn(alice)

	fs, err := f.svc.Factors(f.ctx, alice.user.ID)
	if err != nil || len(fs) != 1 || fs[0].Kind != auth.KindTOTP || fs[0].Name != "Authenticator app" {
		t.Fatalf("factors = %v, %v", fs, err)
	}
	t.Run("rename", func(t *testing.T) {
		for _, bad := range []string{"", "   ", strings.Repeat("x", 61), "tab\there"} {
			_, err := f.svc.RenameFactor(f.ctx, alice.user, fs[0].ID, bad, f.client)
			wantErr(t, err, errs.EINVALID)
		}
		got, err := f.svc.RenameFactor(f.ctx, alice.user, fs[0].ID, "  Phone  ", f.client)
		if err != nil || got.Name != "Phone" {
			t.Fatalf("rename = %+v, %v", got, err)
		}
		bob := f.mustEnroll("bob@example.com")
		_, err = f.svc.RenameFactor(f.ctx, bob.user, fs[0].ID, "mine", f.client)
		wantErr(t, err, errs.ENOTFOUND)
	})
	t.Run("the only factor stays", func(t *testing.T) {
		err := f.svc.RemoveFactor(f.ctx, a.Session, alice.user, fs[0].ID, f.client)
		wantErr(t, err, errs.ECONFLICT)
		if len(f.events("mfa.factor.remove")) != 1 {
			t.Error("the refused removal is not audited")
		}
	})
	second, _, err := f.addTOTP(a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := mailTo(t, mail, "factor.added"); len(got) != 1 || !strings.Contains(got[0], "To: alice@example.com") {
		t.Fatalf("factor.added mail: %q", got)
	}
	t.Run("removal needs a fresh factor", func(t *testing.T) {
		f.advance(6 * time.Minute)
		err := f.svc.RemoveFactor(f.ctx, a.Session, alice.user, fs[0].ID, f.client)
		wantErr(t, err, errs.ESTEPUP)
		if err := f.svc.StepUp(f.ctx, a.Session, alice.user, auth.Proof{Method: auth.MethodTOTP, Code: f.code(second, f.now())}, f.client); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RemoveFactor(f.ctx, a.Session, alice.user, fs[0].ID, f.client); err != nil {
			t.Fatal(err)
		}
		left, _ := f.svc.Factors(f.ctx, alice.user.ID)
		if len(left) != 1 || left[0].ID == fs[0].ID {
			t.Fatalf("after removal: %v", left)
		}
		if got := mailTo(t, mail, "factor.removed"); len(got) != 1 || !strings.Contains(got[0], `"Phone" was removed`) {
			t.Fatalf("factor.removed mail: %q", got)
		}
	})
	t.Run("the removed app's codes stop working", func(t *testing.T) {
		f.advance(mfa.TOTPPeriod * time.Second)
		res := f.mustLogin(alice.user.Email)
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodTOTP, Code: f.code(alice.secret, f.now())}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
}

func TestSwitchAuthenticatorApp(t *testing.T) {
	f := newFixture(t)
	mail := t.TempDir()
	d, _ := notify.NewDir(mail, "")
	f.svc.Notifier = d
	alice := f.mustEnroll("alice@example.com")
	a, _ := f.signedIn(alice)
	bob := f.mustEnroll("bob@example.com")

	// Only the user's own authenticator app can be replaced.
	_, _, err := f.addTOTP(a, bob.factorID)
	wantErr(t, err, errs.ENOTFOUND)
	if fs, _ := f.svc.Factors(f.ctx, alice.user.ID); len(fs) != 1 {
		t.Fatalf("a refused switch left %d factors", len(fs))
	}
	f.advance(mfa.TOTPPeriod * time.Second)
	newSecret, conf, err := f.addTOTP(a, alice.factorID)
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.RecoveryCodes) != 0 {
		t.Error("switching apps replaced the recovery codes")
	}
	fs, _ := f.svc.Factors(f.ctx, alice.user.ID)
	if len(fs) != 1 || fs[0].ID == alice.factorID {
		t.Fatalf("after the switch: %v", fs)
	}
	if ev := f.events("mfa.totp.switch"); len(ev) != 1 {
		t.Fatalf("switch audited %d times", len(ev))
	}
	if got := mailTo(t, mail, "factor.switched"); len(got) != 1 {
		t.Fatalf("switch notifications: %d", len(got))
	}
	f.advance(mfa.TOTPPeriod * time.Second)
	res := f.mustLogin(alice.user.Email)
	_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodTOTP, Code: f.code(alice.secret, f.now())}, f.client)
	wantErr(t, err, errs.EUNAUTHORIZED)
	if _, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodTOTP, Code: f.code(newSecret, f.now())}, f.client); err != nil {
		t.Fatalf("the new app: %v", err)
	}
}

func TestStepUp_RecordsTheMethod(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll("alice@example.com")
	a, token := f.signedIn(alice)
	if a.Session.MFAMethod != auth.MethodTOTP {
		t.Fatalf("session method %q after a TOTP sign-in", a.Session.MFAMethod)
	}
	f.advance(10 * time.Minute)
	if f.svc.FreshFor(a.Session, false) {
		t.Fatal("stale session is fresh")
	}
	if err := f.svc.StepUp(f.ctx, a.Session, alice.user, auth.Proof{Method: auth.MethodRecoveryCode, Code: alice.codes[0]}, f.client); err != nil {
		t.Fatal(err)
	}
	ss, _, err := f.svc.Authenticate(f.ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if ss.MFAMethod != auth.MethodRecoveryCode || !f.svc.FreshFor(ss, false) || f.svc.FreshFor(ss, true) {
		t.Fatalf("after a recovery-code step-up: method %q, fresh %t, strong %t", ss.MFAMethod, f.svc.FreshFor(ss, false), f.svc.FreshFor(ss, true))
	}
	// Recovery codes cannot replace recovery codes.
	_, err = f.svc.RegenerateRecoveryCodes(f.ctx, ss, alice.user, auth.Proof{Method: auth.MethodRecoveryCode, Code: alice.codes[1]}, f.client)
	wantErr(t, err, errs.EINVALID)
}

func TestMethodsOffered(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll("alice@example.com")
	methods, err := f.svc.Methods(f.ctx, alice.user.ID)
	if err != nil || !slices.Equal(methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("methods = %v, %v", methods, err)
	}
	// An SMS factor is offered unless an organisation forbids it; the
	// login result lists the same.
	phone := &auth.Factor{UserID: alice.user.ID, Kind: auth.KindSMS, Name: "Phone", Counter: -1, CreatedAt: f.now()}
	if err := f.store.SaveFactor(f.ctx, phone, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ConfirmFactor(f.ctx, alice.user.ID, phone.ID, 0, nil, false, 0); err != nil {
		t.Fatal(err)
	}
	res := f.mustLogin(alice.user.Email)
	if !slices.Equal(res.Methods, []string{"totp", "sms", "recovery_code"}) {
		t.Fatalf("login methods = %v", res.Methods)
	}
	if _, err := f.store.DB().ExecContext(context.Background(), `INSERT INTO orgs (name, currency, lock_date, created_at, forbid_sms) VALUES ('No SMS Ltd', 'GBP', '', 0, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.DB().ExecContext(context.Background(), `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ((SELECT id FROM orgs WHERE name = 'No SMS Ltd'), ?, 'standard', 0)`, alice.user.ID); err != nil {
		t.Fatal(err)
	}
	res = f.mustLogin(alice.user.Email)
	if !slices.Equal(res.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("login methods with SMS forbidden = %v", res.Methods)
	}
	_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: "123456"}, f.client)
	wantErr(t, err, errs.EFORBIDDEN)
}

// TestAccountNotifications: a sign-in, a recovery code used, a password
// change and a lockout each reach the user, saying from where, and never
// carry the secret involved.
func TestAccountNotifications(t *testing.T) {
	f := newFixture(t)
	mail := t.TempDir()
	d, _ := notify.NewDir(mail, "")
	f.svc.Notifier = d
	alice := f.mustEnroll("alice@example.com")
	before := len(mailTo(t, mail, "login.new"))
	iss := f.mustSignIn(alice)
	got := mailTo(t, mail, "login.new")
	if len(got) != before+1 || !strings.Contains(got[len(got)-1], f.client.IP) || !strings.Contains(got[len(got)-1], "authenticator app") {
		t.Fatalf("new sign-in mails: %d (before %d)\n%s", len(got), before, strings.Join(got, "\n"))
	}

	res := f.mustLogin(alice.user.Email)
	if _, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodRecoveryCode, Code: alice.codes[0]}, f.client); err != nil {
		t.Fatal(err)
	}
	if got := mailTo(t, mail, "recovery_code.used"); len(got) != 1 || !strings.Contains(got[0], "9 are left") || strings.Contains(got[0], alice.codes[0]) {
		t.Fatalf("recovery code mail: %q", got)
	}

	ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
	if err != nil {
		t.Fatal(err)
	}
	const next = "a brand new passphrase for the books"
	if _, err := f.svc.ChangePassword(f.ctx, ss, u, testPassword, next, f.client); err != nil {
		t.Fatal(err)
	}
	if got := mailTo(t, mail, "password.changed"); len(got) != 1 || strings.Contains(got[0], next) {
		t.Fatalf("password mail: %q", got)
	}

	for range f.svc.Config().MaxFailures {
		f.login(alice.user.Email, "wrong password every time")
	}
	// The lockout mail is sent after the answer: wait for it (bounded).
	var locked []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if locked = mailTo(t, mail, "account.locked"); len(locked) > 0 {
			break
		}
	}
	if len(locked) != 1 || !strings.Contains(locked[0], "locked until") {
		t.Fatalf("lockout mail: %q", locked)
	}
	// An unknown address locks the same way but there is nobody to tell.
	for range f.svc.Config().MaxFailures {
		f.login("nobody@example.com", "wrong password every time")
	}
	if got := mailTo(t, mail, "account.locked"); len(got) != 1 {
		t.Fatalf("%d lockout mails after an unknown address locked, want still 1", len(got))
	}
}
