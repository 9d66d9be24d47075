package sqlstore_test

import (
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/store/sqlstore"
)

func mustSMSCode(tb testing.TB, s *sqlstore.Store, userID, factorID int64, purpose string, mac string, at time.Time) *auth.SMSCode {
	tb.Helper()
	c := &auth.SMSCode{UserID: userID, FactorID: factorID, Purpose: purpose, SessionID: 7, CodeMAC: []byte(mac), CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	if err := s.CreateSMSCode(tb.Context(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestSMSCodes(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		alice := mustUser(t, s, "alice@example.com")
		bob := mustUser(t, s, "bob@example.com")
		fa := mustFactor(t, s, alice.ID, -1)
		fb := mustFactor(t, s, bob.ID, -1)

		t.Run("ErrNone", func(t *testing.T) {
			_, err := s.FindLatestSMSCode(ctx, alice.ID, auth.SMSPurposeVerify)
			wantCode(t, err, errs.ENOTFOUND)
		})

		t.Run("OKNewestReplacesOlder", func(t *testing.T) {
			old := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "old", t0)
			conf := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeConfirm, "confirm", t0)
			bobs := mustSMSCode(t, s, bob.ID, fb.ID, auth.SMSPurposeVerify, "bob", t0)
			nw := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "new", t0.Add(time.Minute))
			got, err := s.FindLatestSMSCode(ctx, alice.ID, auth.SMSPurposeVerify)
			if err != nil || got.ID != nw.ID || string(got.CodeMAC) != "new" || got.SessionID != 7 || !got.ExpiresAt.Equal(t0.Add(6*time.Minute)) || !got.UsedAt.IsZero() {
				t.Fatalf("latest = %+v, %v", got, err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM sms_codes WHERE id = ?`, old.ID); n != 0 {
				t.Errorf("older code of the same purpose kept")
			}
			// Another purpose and another user are untouched.
			if n := count(t, s, `SELECT COUNT(*) FROM sms_codes WHERE id IN (?, ?)`, conf.ID, bobs.ID); n != 2 {
				t.Errorf("other codes deleted: %d left", n)
			}
			// Expired codes of any purpose go with the next send.
			mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "later", t0.Add(time.Hour))
			if n := count(t, s, `SELECT COUNT(*) FROM sms_codes WHERE user_id = ?`, alice.ID); n != 1 {
				t.Errorf("%d codes left for alice, want 1", n)
			}
		})

		t.Run("OKUseOnce", func(t *testing.T) {
			c := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "x", t0)
			if wins := race(t, 20, func() (bool, error) { return s.UseSMSCode(ctx, c.ID, t0.Add(time.Minute), 5) }); wins != 1 {
				t.Fatalf("%d of 20 concurrent uses succeeded, want 1", wins)
			}
			got, _ := s.FindLatestSMSCode(ctx, alice.ID, auth.SMSPurposeVerify)
			if !got.UsedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("used_at = %v", got.UsedAt)
			}
			if n, err := s.RecordSMSCodeFailure(ctx, c.ID); n != 0 || err != nil {
				t.Errorf("failure on a used code = %d, %v", n, err)
			}
		})

		t.Run("ErrExpired", func(t *testing.T) {
			c := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "x", t0)
			for _, tt := range []struct {
				at   time.Time
				want bool
			}{
				{t0.Add(5 * time.Minute), false},
				{t0.Add(5*time.Minute - time.Second), true},
			} {
				if ok, err := s.UseSMSCode(ctx, c.ID, tt.at, 5); ok != tt.want || err != nil {
					t.Fatalf("UseSMSCode at %v = %v, %v; want %v", tt.at, ok, err, tt.want)
				}
			}
		})

		t.Run("ErrTooManyAttempts", func(t *testing.T) {
			c := mustSMSCode(t, s, alice.ID, fa.ID, auth.SMSPurposeVerify, "x", t0)
			for want := 1; want <= 5; want++ {
				if n, err := s.RecordSMSCodeFailure(ctx, c.ID); n != want || err != nil {
					t.Fatalf("failure %d = %d, %v", want, n, err)
				}
			}
			if ok, err := s.UseSMSCode(ctx, c.ID, t0, 5); ok || err != nil {
				t.Fatalf("use after 5 failures = %v, %v", ok, err)
			}
		})

		t.Run("OKCascade", func(t *testing.T) {
			mustSMSCode(t, s, bob.ID, fb.ID, auth.SMSPurposeConfirm, "x", t0)
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM mfa_factors WHERE id = ?`, fb.ID); err != nil {
				t.Fatal(err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM sms_codes WHERE user_id = ?`, bob.ID); n != 0 {
				t.Errorf("%d codes outlive their phone", n)
			}
		})

		t.Run("ErrPurpose", func(t *testing.T) {
			err := s.CreateSMSCode(ctx, &auth.SMSCode{UserID: alice.ID, FactorID: fa.ID, Purpose: "other", CodeMAC: []byte("x"), CreatedAt: t0, ExpiresAt: t0})
			if err == nil {
				t.Fatal("unknown purpose stored")
			}
		})
	})
}
