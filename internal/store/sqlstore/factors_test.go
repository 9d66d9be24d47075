package sqlstore_test

import (
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
	"coffer/internal/store/sqlstore"
)

func mustKindFactor(tb testing.TB, s *sqlstore.Store, userID int64, kind string, credID []byte) *auth.Factor {
	tb.Helper()
	f := &auth.Factor{UserID: userID, Kind: kind, Name: kind, Counter: -1, CredentialID: credID, CreatedAt: t0}
	if err := s.SaveFactor(tb.Context(), f, false, nil); err != nil {
		tb.Fatal(err)
	}
	if err := s.ConfirmFactor(tb.Context(), userID, f.ID, 0, nil, false, 0); err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestDeleteFactor_NeverTheLast(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		other := mustUser(t, s, "bob@example.com")
		a := mustFactor(t, s, u.ID, 1)
		b := mustKindFactor(t, s, u.ID, auth.KindWebAuthn, []byte("cred-b"))

		wantCode(t, s.DeleteFactor(ctx, other.ID, a.ID), errs.ENOTFOUND)
		if err := s.DeleteFactor(ctx, u.ID, a.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteFactor(ctx, u.ID, b.ID), errs.ECONFLICT)
		if fs, _ := s.FindFactors(ctx, u.ID, "", true); len(fs) != 1 || fs[0].ID != b.ID {
			t.Fatalf("factors left: %v", fs)
		}
		// Two concurrent removals of the last two factors: one must fail.
		c := mustKindFactor(t, s, u.ID, auth.KindHOTP, nil)
		ids := []int64{b.ID, c.ID}
		var next atomic.Int32
		wins := race(t, 2, func() (bool, error) {
			id := ids[next.Add(1)-1]
			err := s.DeleteFactor(ctx, u.ID, id)
			if errs.Code(err) == errs.ECONFLICT {
				return false, nil
			}
			return err == nil, err
		})
		if wins != 1 {
			t.Fatalf("%d of 2 concurrent removals succeeded, want 1", wins)
		}
		// An unconfirmed factor can always go.
		p := &auth.Factor{UserID: u.ID, Kind: auth.KindSMS, Name: "phone", Counter: -1, CreatedAt: t0}
		if err := s.SaveFactor(ctx, p, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteFactor(ctx, u.ID, p.ID); err != nil {
			t.Fatalf("delete unconfirmed: %v", err)
		}
	})
}

func TestRenameAndTouchFactor(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		other := mustUser(t, s, "bob@example.com")
		f := mustFactor(t, s, u.ID, 1)
		wantCode(t, s.RenameFactor(ctx, other.ID, f.ID, "mine now"), errs.ENOTFOUND)
		if err := s.RenameFactor(ctx, u.ID, f.ID, "Work phone"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchFactor(ctx, f.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindFactor(ctx, u.ID, f.ID)
		if err != nil || got.Name != "Work phone" || !got.LastUsedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("factor = %+v, %v", got, err)
		}
	})
}

func TestConfirmFactor_Replaces(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		old := mustFactor(t, s, u.ID, 1)
		next := &auth.Factor{UserID: u.ID, Kind: auth.KindTOTP, Name: "new", Counter: -1, CreatedAt: t0}
		if err := s.SaveFactor(ctx, next, true, nil); err != nil {
			t.Fatal(err)
		}
		// Replacing a factor that is not the user's leaves the new one
		// unconfirmed: all or nothing.
		stranger := mustUser(t, s, "eve@example.com")
		theirs := mustFactor(t, s, stranger.ID, 1)
		wantCode(t, s.ConfirmFactor(ctx, u.ID, next.ID, 7, nil, false, theirs.ID), errs.ENOTFOUND)
		if got, _ := s.FindFactor(ctx, u.ID, next.ID); got.Confirmed {
			t.Fatal("a failed replacement confirmed the new factor")
		}
		if err := s.ConfirmFactor(ctx, u.ID, next.ID, 7, nil, false, old.ID); err != nil {
			t.Fatal(err)
		}
		fs, _ := s.FindFactors(ctx, u.ID, "", true)
		if len(fs) != 1 || fs[0].ID != next.ID || fs[0].Counter != 7 {
			t.Fatalf("after the switch: %v", fs)
		}
	})
}

func TestFindFactorByCredentialID(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		f := mustKindFactor(t, s, u.ID, auth.KindWebAuthn, []byte{1, 2, 3})
		got, err := s.FindFactorByCredentialID(ctx, []byte{1, 2, 3})
		if err != nil || got.ID != f.ID {
			t.Fatalf("by credential: %+v, %v", got, err)
		}
		_, err = s.FindFactorByCredentialID(ctx, nil)
		wantCode(t, err, errs.ENOTFOUND)
		// A credential registers once, whoever tries again.
		dup := &auth.Factor{UserID: mustUser(t, s, "bob@example.com").ID, Kind: auth.KindWebAuthn, Counter: -1, CredentialID: []byte{1, 2, 3}, CreatedAt: t0}
		wantCode(t, s.SaveFactor(ctx, dup, false, nil), errs.ECONFLICT)
	})
}

func TestUserFactorRules(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		rules, err := s.UserFactorRules(ctx, u.ID)
		if err != nil || rules != (auth.FactorRules{PasskeySignIn: true}) {
			t.Fatalf("no organisation: %+v, %v", rules, err)
		}
		owner := mustUser(t, s, "owner@example.com")
		mkOrg := func(name string, role access.Role, st access.Settings) {
			o := &access.Org{Name: name, Currency: "GBP", CreatedAt: t0, Settings: st}
			if err := s.CreateOrg(ctx, o, owner.ID, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.AddMember(ctx, &access.Membership{OrgID: o.ID, UserID: u.ID, Role: role, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		st := access.DefaultSettings()
		st.RequirePhishingResistant = true
		mkOrg("Strict but I only read", access.ReadOnly, st)
		if rules, _ := s.UserFactorRules(ctx, u.ID); rules.RequirePhishingResistant {
			t.Fatal("a read-only member is held to the owners' and advisers' rule")
		}
		mkOrg("Strict and I advise", access.Adviser, st)
		st = access.DefaultSettings()
		st.ForbidSMS, st.ForbidPasskeySignIn = true, true
		mkOrg("No SMS", access.Standard, st)
		rules, err = s.UserFactorRules(ctx, u.ID)
		if err != nil || rules != (auth.FactorRules{ForbidSMS: true, RequirePhishingResistant: true, PasskeySignIn: false}) {
			t.Fatalf("combined: %+v, %v", rules, err)
		}
	})
}

func TestChallenges_TakenOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "ann@example.com")
		ch := func(data string) *auth.Challenge {
			return &auth.Challenge{UserID: u.ID, Purpose: "webauthn_login", PendingID: 3, Data: []byte(data), CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
		}
		if err := s.SaveChallenge(ctx, ch("first")); err != nil {
			t.Fatal(err)
		}
		// A new challenge for the same ceremony replaces the old one.
		if err := s.SaveChallenge(ctx, ch("second")); err != nil {
			t.Fatal(err)
		}
		_, err := s.TakeChallenge(ctx, u.ID, "webauthn_login", 4, 0)
		wantCode(t, err, errs.ENOTFOUND)
		wins := race(t, 10, func() (bool, error) {
			got, err := s.TakeChallenge(ctx, u.ID, "webauthn_login", 3, 0)
			if errs.Code(err) == errs.ENOTFOUND {
				return false, nil
			}
			if err == nil && string(got.Data) != "second" {
				t.Errorf("took %q", got.Data)
			}
			return err == nil, err
		})
		if wins != 1 {
			t.Fatalf("%d of 10 concurrent takes won, want 1", wins)
		}

		tok := session.HashToken("cfc_token")
		byTok := &auth.Challenge{Purpose: "passkey_login", TokenHash: tok, Data: []byte("x"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := s.SaveChallenge(ctx, byTok); err != nil {
			t.Fatal(err)
		}
		_, err = s.TakeChallengeByToken(ctx, "webauthn_login", tok)
		wantCode(t, err, errs.ENOTFOUND)
		if got, err := s.TakeChallengeByToken(ctx, "passkey_login", tok); err != nil || string(got.Data) != "x" {
			t.Fatalf("by token: %+v, %v", got, err)
		}
		_, err = s.TakeChallengeByToken(ctx, "passkey_login", tok)
		wantCode(t, err, errs.ENOTFOUND)

		// Expired challenges are swept.
		if err := s.SaveChallenge(ctx, ch("old")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteExpired(ctx, t0.Add(6*time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM mfa_challenges`); n != 0 {
			t.Fatalf("%d challenges left after the sweep", n)
		}
	})
}
