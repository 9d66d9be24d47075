package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"coffer/internal/errs"
	"coffer/internal/session"
	"coffer/internal/store/sqlstore"
)

// liveSession stores a session of userID created at created and last used
// at seen.
func liveSession(t *testing.T, s *sqlstore.Store, userID int64, created, seen time.Time, ua string) *session.Session {
	t.Helper()
	tok, hash, err := session.NewToken(session.SessionPrefix)
	if err != nil || tok == "" {
		t.Fatal(err)
	}
	ss := &session.Session{UserID: userID, TokenHash: hash, CreatedAt: created, LastSeenAt: seen, ExpiresAt: created.Add(12 * time.Hour),
		MFAAt: created, MFAMethod: "totp", IP: "192.0.2.7", UserAgent: ua}
	if err := s.CreateSession(t.Context(), 0, ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

func TestFindUserSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		ctx := t.Context()
		idle := 15 * time.Minute
		now := t0.Add(time.Hour)
		live1 := liveSession(t, f.s, f.standard.ID, t0, now.Add(-time.Minute), "Firefox")
		live2 := liveSession(t, f.s, f.standard.ID, t0, now.Add(-2*time.Minute), "Chrome")
		liveSession(t, f.s, f.standard.ID, t0, now.Add(-idle), "idle")                  // idle exactly the timeout: ended
		liveSession(t, f.s, f.standard.ID, t0.Add(-13*time.Hour), now, "past absolute") // expired absolutely
		liveSession(t, f.s, f.owner.ID, t0, now, "someone else")

		got, err := f.s.FindUserSessions(ctx, f.standard.ID, now, idle)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != live1.ID || got[1].ID != live2.ID {
			t.Fatalf("sessions = %+v, want %d then %d (most recent first)", got, live1.ID, live2.ID)
		}
		if got[0].UserAgent != "Firefox" || got[0].IP != "192.0.2.7" || got[0].MFAMethod != "totp" || !got[0].LastSeenAt.Equal(now.Add(-time.Minute)) {
			t.Errorf("session fields = %+v", got[0])
		}
		if len(got[0].TokenHash) != 0 {
			t.Errorf("listing read the token hash")
		}
	})
}

func TestDeleteUserSession(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		ctx := t.Context()
		mine := liveSession(t, f.s, f.standard.ID, t0, t0, "")
		theirs := liveSession(t, f.s, f.owner.ID, t0, t0, "")
		t.Run("ErrNotFound for another user's session", func(t *testing.T) {
			if err := f.s.DeleteUserSession(ctx, f.standard.ID, theirs.ID); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v, want not found", err)
			}
			if _, err := f.s.FindSessionByTokenHash(ctx, theirs.TokenHash); err != nil {
				t.Fatalf("the other user's session was touched: %v", err)
			}
		})
		t.Run("OK", func(t *testing.T) {
			if err := f.s.DeleteUserSession(ctx, f.standard.ID, mine.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.s.FindSessionByTokenHash(ctx, mine.TokenHash); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("session still there: %v", err)
			}
		})
		t.Run("ErrNotFound twice", func(t *testing.T) {
			if err := f.s.DeleteUserSession(ctx, f.standard.ID, mine.ID); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v, want not found", err)
			}
		})
	})
}

func TestDeleteOtherSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		ctx := t.Context()
		keep := liveSession(t, f.s, f.standard.ID, t0, t0, "")
		liveSession(t, f.s, f.standard.ID, t0, t0, "")
		liveSession(t, f.s, f.standard.ID, t0, t0, "")
		other := liveSession(t, f.s, f.owner.ID, t0, t0, "")
		n, err := f.s.DeleteOtherSessions(ctx, f.standard.ID, keep.ID)
		if err != nil || n != 2 {
			t.Fatalf("DeleteOtherSessions = %d, %v; want 2", n, err)
		}
		for _, ss := range []*session.Session{keep, other} {
			if _, err := f.s.FindSessionByTokenHash(ctx, ss.TokenHash); err != nil {
				t.Errorf("session %d should remain: %v", ss.ID, err)
			}
		}
	})
}

func TestRevokeMemberSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		errRefused := errs.Errorf(errs.EFORBIDDEN, "refused")
		tests := []struct {
			name     string
			actor    func(f *resetFixture) int64
			target   func(f *resetFixture) int64
			guardErr error
			wantCode string
			wantN    int
			wantRole [2]string
		}{
			{"OK owner signs out standard", func(f *resetFixture) int64 { return f.owner.ID }, func(f *resetFixture) int64 { return f.standard.ID }, nil, "", 2, [2]string{"owner", "standard"}},
			{"guard refuses", func(f *resetFixture) int64 { return f.adviser.ID }, func(f *resetFixture) int64 { return f.owner.ID }, errRefused, errs.EFORBIDDEN, 0, [2]string{"adviser", "owner"}},
			{"ErrNotFound target outside the organisation", func(f *resetFixture) int64 { return f.owner.ID }, func(f *resetFixture) int64 { return f.outsider.ID }, nil, errs.ENOTFOUND, 0, [2]string{}},
			{"ErrNotFound actor outside the organisation", func(f *resetFixture) int64 { return f.outsider.ID }, func(f *resetFixture) int64 { return f.standard.ID }, nil, errs.ENOTFOUND, 0, [2]string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newResetFixture(t)
				ctx := t.Context()
				target := tt.target(f)
				a := liveSession(t, f.s, target, t0, t0, "")
				b := liveSession(t, f.s, target, t0, t0, "")
				var seen [2]string
				n, err := f.s.RevokeMemberSessions(ctx, f.org.ID, tt.actor(f), target, func(actorRole, targetRole string) error {
					seen = [2]string{actorRole, targetRole}
					return tt.guardErr
				})
				if errs.Code(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
					t.Fatalf("err = %v, want code %q", err, tt.wantCode)
				}
				if tt.guardErr != nil && !errors.Is(err, tt.guardErr) {
					t.Fatalf("err = %v, want the guard's error as is", err)
				}
				if n != tt.wantN || seen != tt.wantRole {
					t.Fatalf("n = %d roles = %v; want %d %v", n, seen, tt.wantN, tt.wantRole)
				}
				for _, ss := range []*session.Session{a, b} {
					_, ferr := f.s.FindSessionByTokenHash(ctx, ss.TokenHash)
					if gone := errs.Code(ferr) == errs.ENOTFOUND; gone != (tt.wantN > 0) {
						t.Errorf("session %d gone = %t, want %t", ss.ID, gone, tt.wantN > 0)
					}
				}
			})
		}
	})
}
