package auth_test

import (
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
)

const newPassword = "copper lantern drifts 5521"

// authenticated resolves an issued session as a request would.
func (f *fixture) authenticated(iss *auth.Issued) (*auth.User, func() error) {
	f.tb.Helper()
	ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
	if err != nil {
		f.tb.Fatalf("authenticate: %v", err)
	}
	return u, func() error {
		_, err := f.svc.ChangePassword(f.ctx, ss, u, testPassword, newPassword, f.client)
		return err
	}
}

func TestChangePassword(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t)
		e := f.mustEnroll(aliceEmail)
		other := f.mustSignIn(e) // a second session, on another device
		iss := f.mustSignIn(e)   // this one, fresh
		ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.sessionCount(u.ID); got != 3 {
			t.Fatalf("sessions before = %d, want 3", got)
		}
		// A sign-in started with the old password must not finish after.
		pending := f.mustLogin(aliceEmail)
		ended, err := f.svc.ChangePassword(f.ctx, ss, u, testPassword, newPassword, f.client)
		if err != nil {
			t.Fatalf("change password: %v", err)
		}
		if ended != 2 {
			t.Errorf("other sessions ended = %d, want 2", ended)
		}
		if _, _, err := f.svc.Authenticate(f.ctx, iss.Token); err != nil {
			t.Errorf("this session ended too: %v", err)
		}
		for _, tok := range []string{other.Token, e.issued.Token} {
			_, _, err := f.svc.Authenticate(f.ctx, tok)
			wantErr(t, err, errs.EUNAUTHORIZED)
		}
		if _, _, err := f.svc.Pending(f.ctx, pending.LoginToken); errs.Code(err) != errs.EUNAUTHORIZED {
			t.Errorf("pending sign-in after the change: %v, want it gone", err)
		}
		_, err = f.login(aliceEmail, testPassword)
		wantErr(t, err, errs.EUNAUTHORIZED)
		if _, err := f.login(aliceEmail, newPassword); err != nil {
			t.Errorf("sign in with the new password: %v", err)
		}
		stored, err := f.store.FindUserByID(f.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.PasswordChangedAt.Equal(f.now().Truncate(time.Second)) {
			t.Errorf("password_changed_at = %v, want %v", stored.PasswordChangedAt, f.now())
		}
		if strings.Contains(stored.PasswordHash, newPassword) || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
			t.Errorf("stored hash %q is not an argon2id hash", stored.PasswordHash)
		}
		evs := f.events("password.change")
		if len(evs) != 1 || evs[0].Outcome != "success" || !strings.Contains(evs[0].Detail, "other_sessions_ended=2") {
			t.Errorf("audit events = %+v, want one success with other_sessions_ended=2", evs)
		}
	})

	t.Run("ErrStepUp", func(t *testing.T) {
		f := newFixture(t)
		e := f.mustEnroll(aliceEmail)
		f.advance(f.svc.Config().StepUpMaxAge + time.Second)
		_, change := f.authenticated(e.issued)
		wantErr(t, change(), errs.ESTEPUP)
		if _, err := f.login(aliceEmail, testPassword); err != nil {
			t.Errorf("old password stopped working: %v", err)
		}
	})

	t.Run("ErrWrongCurrentPassword", func(t *testing.T) {
		f := newFixture(t)
		e := f.mustEnroll(aliceEmail)
		other := f.mustSignIn(e)
		ss, u, err := f.svc.Authenticate(f.ctx, other.Token)
		if err != nil {
			t.Fatal(err)
		}
		before := f.sessionCount(u.ID)
		_, err = f.svc.ChangePassword(f.ctx, ss, u, "not my password at all", newPassword, f.client)
		if e := wantErr(t, err, errs.EINVALID); !strings.Contains(e.Message, "current password is incorrect") {
			t.Errorf("message = %q", e.Message)
		}
		if got := f.sessionCount(u.ID); got != before {
			t.Errorf("sessions = %d after a refused change, want %d", got, before)
		}
		if _, err := f.login(aliceEmail, testPassword); err != nil {
			t.Errorf("old password stopped working: %v", err)
		}
		if evs := f.events("password.change"); len(evs) != 1 || evs[0].Outcome != "failure" || evs[0].Detail != "reason=wrong_current_password" {
			t.Errorf("audit = %+v", evs)
		}
	})

	t.Run("WrongGuessesLockTheAccount", func(t *testing.T) {
		f := newFixture(t)
		e := f.mustEnroll(aliceEmail)
		ss, u, err := f.svc.Authenticate(f.ctx, e.issued.Token)
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.svc.Config().MaxFailures {
			_, err := f.svc.ChangePassword(f.ctx, ss, u, "guess number "+string(rune('a'+i))+" wrong", newPassword, f.client)
			wantErr(t, err, errs.EINVALID)
		}
		// Locked now: even the right password is refused.
		_, err = f.svc.ChangePassword(f.ctx, ss, u, testPassword, newPassword, f.client)
		wantErr(t, err, errs.ERATELIMIT)
		_, err = f.login(aliceEmail, testPassword)
		wantErr(t, err, errs.ERATELIMIT)
	})

	t.Run("ErrPolicy", func(t *testing.T) {
		for _, tt := range []struct {
			name, next, want string
		}{
			{"TooShort", "short pw 1", "at least 12"},
			{"Common", "password1234", "commonly used"},
			{"ContainsEmail", "alice@example.com rules 42", "email address or name"},
			{"SameAsCurrent", testPassword, "different from your current"},
			{"TooLong", strings.Repeat("long words ", 12) + "x", "at most 128"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := newFixture(t)
				e := f.mustEnroll(aliceEmail)
				ss, u, err := f.svc.Authenticate(f.ctx, e.issued.Token)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.svc.ChangePassword(f.ctx, ss, u, testPassword, tt.next, f.client)
				if e := wantErr(t, err, errs.EINVALID); !strings.Contains(e.Message, tt.want) {
					t.Errorf("message = %q, want it to mention %q", e.Message, tt.want)
				}
				if _, err := f.login(aliceEmail, testPassword); err != nil {
					t.Errorf("old password stopped working: %v", err)
				}
			})
		}
	})

	t.Run("ErrBusy", func(t *testing.T) {
		f := newFixture(t)
		e := f.mustEnroll(aliceEmail)
		_, change := f.authenticated(e.issued)
		release := saturate(t, f.pool)
		defer release()
		// The current password is checked in the normal lane (no device
		// cookie), which is full: refused at once, not queued.
		wantErr(t, change(), errs.EUNAVAILABLE)
	})
}

func TestNewUser(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name, email, uname, password string
		want                         string // "" for OK
	}{
		{"OK", " Bob@Example.com ", "Bob Builder", testPassword, ""},
		{"ErrEmail", "not an email", "Bob Builder", testPassword, "valid email"},
		{"ErrName", "bob@example.com", "  ", testPassword, "name of 1 to 200"},
		{"ErrPassword", "bob@example.com", "Bob Builder", "123456789012", "commonly used"},
		{"ErrAll", "", "", "x", "valid email address. Enter a name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.NewUser(f.ctx, tt.email, tt.uname, tt.password)
			if tt.want != "" {
				if e := wantErr(t, err, errs.EINVALID); !strings.Contains(e.Message, tt.want) {
					t.Errorf("message = %q, want %q in it", e.Message, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != 0 || u.Email != "bob@example.com" || u.Name != "Bob Builder" || u.IsAdmin {
				t.Errorf("user = %+v", u)
			}
			if ok, err := auth.VerifyPassword(tt.password, u.PasswordHash); err != nil || !ok {
				t.Errorf("hash does not verify: %v %v", ok, err)
			}
			// Nothing is stored: the caller stores the user.
			if _, err := f.store.FindUserByEmail(f.ctx, u.Email); errs.Code(err) != errs.ENOTFOUND {
				t.Errorf("NewUser stored the user: %v", err)
			}
		})
	}
}
