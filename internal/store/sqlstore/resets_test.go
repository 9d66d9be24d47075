package sqlstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
	"coffer/internal/store/sqlstore"
)

// resetFixture is an organisation with an owner, an adviser and a
// standard member, and a second organisation the standard member is not in.
type resetFixture struct {
	s                        *sqlstore.Store
	org, other               *access.Org
	owner, adviser, standard *auth.User
	outsider                 *auth.User
}

func newResetFixture(t *testing.T) *resetFixture {
	t.Helper()
	s := mustStore(t)
	ctx := t.Context()
	f := &resetFixture{s: s, owner: mustUser(t, s, "owner@example.com"), adviser: mustUser(t, s, "adviser@example.com"),
		standard: mustUser(t, s, "standard@example.com"), outsider: mustUser(t, s, "outsider@example.com")}
	f.org = &access.Org{Name: "Books Ltd", Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := s.CreateOrg(ctx, f.org, f.owner.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	f.other = &access.Org{Name: "Other Ltd", Currency: "GBP", CreatedAt: t0, Settings: access.DefaultSettings()}
	if err := s.CreateOrg(ctx, f.other, f.outsider.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		u    *auth.User
		role access.Role
	}{{f.adviser, access.Adviser}, {f.standard, access.Standard}} {
		if err := s.AddMember(ctx, &access.Membership{OrgID: f.org.ID, UserID: m.u.ID, Role: m.role, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

var resetSeq atomic.Int64

// newReset is an unconfirmed reset of userID in orgID by startedBy, with
// fresh tokens, created at t0.
func newReset(orgID, startedBy, userID int64) *auth.Reset {
	n := resetSeq.Add(1)
	return &auth.Reset{UserID: userID, OrgID: orgID, StartedBy: startedBy, Status: auth.ResetAwaiting,
		ConfirmHash: session.HashToken(fmt.Sprintf("confirm-%d", n)), CancelHash: session.HashToken(fmt.Sprintf("cancel-%d", n)),
		CreatedAt: t0, ConfirmBy: t0.Add(auth.ResetLinkTTL)}
}

func allow(string, string) error { return nil }

func TestCreateReset(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			f := newResetFixture(t)
			var gotActor, gotTarget string
			r := newReset(f.org.ID, f.adviser.ID, f.standard.ID)
			err := f.s.CreateReset(t.Context(), r, t0, func(a, b string) error { gotActor, gotTarget = a, b; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 || r.OrgName != "Books Ltd" || r.StartedByName != f.adviser.Name {
				t.Fatalf("created %+v", r)
			}
			if gotActor != "adviser" || gotTarget != "standard" {
				t.Fatalf("guard saw %q, %q", gotActor, gotTarget)
			}
			got, err := f.s.FindResetByConfirmHash(t.Context(), r.ConfirmHash)
			if err != nil || got.ID != r.ID || got.Status != auth.ResetAwaiting || !got.ConfirmBy.Equal(r.ConfirmBy) || got.OrgName != "Books Ltd" {
				t.Fatalf("find by confirm hash: %+v, %v", got, err)
			}
		})
		t.Run("Refusals", func(t *testing.T) {
			f := newResetFixture(t)
			refuse := func(string, string) error { return errs.Errorf(errs.EFORBIDDEN, "no") }
			for _, tt := range []struct {
				name               string
				org, actor, target int64
				guard              auth.ResetGuard
				want               string
			}{
				{"GuardRefuses", f.org.ID, f.adviser.ID, f.owner.ID, refuse, errs.EFORBIDDEN},
				{"ActorNotMember", f.org.ID, f.outsider.ID, f.standard.ID, allow, errs.ENOTFOUND},
				{"TargetNotMember", f.org.ID, f.owner.ID, f.outsider.ID, allow, errs.ENOTFOUND},
				{"CrossOrganisation", f.other.ID, f.outsider.ID, f.standard.ID, allow, errs.ENOTFOUND},
			} {
				t.Run(tt.name, func(t *testing.T) {
					wantCode(t, f.s.CreateReset(t.Context(), newReset(tt.org, tt.actor, tt.target), t0, tt.guard), tt.want)
				})
			}
			if n := count(t, f.s, `SELECT COUNT(*) FROM mfa_resets`); n != 0 {
				t.Fatalf("%d resets stored by refused starts", n)
			}
		})
		t.Run("OneOpenPerUser", func(t *testing.T) {
			f := newResetFixture(t)
			ctx := t.Context()
			first := newReset(f.org.ID, f.owner.ID, f.standard.ID)
			if err := f.s.CreateReset(ctx, first, t0, allow); err != nil {
				t.Fatal(err)
			}
			wantCode(t, f.s.CreateReset(ctx, newReset(f.org.ID, f.adviser.ID, f.standard.ID), t0.Add(time.Hour), allow), errs.ECONFLICT)
			// Once the link expired unconfirmed, a new reset may start and the
			// old one is closed as expired.
			later := t0.Add(auth.ResetLinkTTL)
			second := newReset(f.org.ID, f.adviser.ID, f.standard.ID)
			if err := f.s.CreateReset(ctx, second, later, allow); err != nil {
				t.Fatalf("after expiry: %v", err)
			}
			old, _ := f.s.FindResetByConfirmHash(ctx, first.ConfirmHash)
			if old.Status != auth.ResetExpired {
				t.Fatalf("old reset status %q, want expired", old.Status)
			}
		})
		t.Run("RacingStartsMakeOne", func(t *testing.T) {
			f := newResetFixture(t)
			wins := race(t, 8, func() (bool, error) {
				err := f.s.CreateReset(t.Context(), newReset(f.org.ID, f.owner.ID, f.standard.ID), t0, allow)
				if errs.Code(err) == errs.ECONFLICT {
					return false, nil
				}
				return err == nil, err
			})
			if wins != 1 {
				t.Fatalf("%d racing starts succeeded, want 1", wins)
			}
		})
	})
}

func TestConfirmAndCancelReset(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		ctx := t.Context()
		r := newReset(f.org.ID, f.owner.ID, f.standard.ID)
		if err := f.s.CreateReset(ctx, r, t0, allow); err != nil {
			t.Fatal(err)
		}
		t.Run("ConfirmAfterLinkExpiry", func(t *testing.T) {
			wantCode(t, f.s.ConfirmReset(ctx, r.ID, r.ConfirmBy, r.ConfirmBy.Add(time.Hour), []byte("x")), errs.ENOTFOUND)
		})
		later := session.HashToken("later cancel")
		effective := t0.Add(time.Hour + 24*time.Hour)
		t.Run("ConfirmOnce", func(t *testing.T) {
			wins := race(t, 4, func() (bool, error) {
				err := f.s.ConfirmReset(ctx, r.ID, t0.Add(time.Hour), effective, later)
				if errs.Code(err) == errs.ENOTFOUND {
					return false, nil
				}
				return err == nil, err
			})
			if wins != 1 {
				t.Fatalf("%d confirmations, want 1", wins)
			}
			got, err := f.s.FindResetByCancelHash(ctx, later)
			if err != nil || got.Status != auth.ResetWaiting || !got.EffectiveAt.Equal(effective) || !got.ConfirmedAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("after confirm: %+v, %v", got, err)
			}
			// The first mail's cancel link still finds it.
			if got, err := f.s.FindResetByCancelHash(ctx, r.CancelHash); err != nil || got.ID != r.ID {
				t.Fatalf("first cancel link: %+v, %v", got, err)
			}
		})
		t.Run("OpenLookups", func(t *testing.T) {
			// A waiting reset stays open after the confirmation link's expiry.
			now := r.ConfirmBy.Add(time.Hour)
			for _, tt := range []struct {
				name  string
				org   int64
				user  int64
				found bool
			}{
				{"AnyOrg", 0, f.standard.ID, true},
				{"ItsOrg", f.org.ID, f.standard.ID, true},
				{"OtherOrg", f.other.ID, f.standard.ID, false},
				{"OtherUser", f.org.ID, f.adviser.ID, false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got, err := f.s.FindOpenReset(ctx, tt.org, tt.user, now)
					if tt.found && (err != nil || got.ID != r.ID || got.StartedByName != f.owner.Name) {
						t.Fatalf("got %+v, %v", got, err)
					}
					if !tt.found {
						wantCode(t, err, errs.ENOTFOUND)
					}
				})
			}
			list, err := f.s.FindOpenResets(ctx, f.org.ID, now)
			if err != nil || len(list) != 1 || list[0].UserID != f.standard.ID {
				t.Fatalf("open resets: %+v, %v", list, err)
			}
			if list, _ := f.s.FindOpenResets(ctx, f.other.ID, now); len(list) != 0 {
				t.Fatalf("other organisation sees %d resets", len(list))
			}
		})
		t.Run("CancelOnce", func(t *testing.T) {
			now := t0.Add(2 * time.Hour)
			if err := f.s.CancelReset(ctx, r.ID, f.standard.ID, now); err != nil {
				t.Fatal(err)
			}
			wantCode(t, f.s.CancelReset(ctx, r.ID, f.standard.ID, now), errs.ENOTFOUND)
			got, _ := f.s.FindResetByConfirmHash(ctx, r.ConfirmHash)
			if got.Status != auth.ResetCancelled || got.ClosedBy != f.standard.ID || !got.ClosedAt.Equal(now) {
				t.Fatalf("after cancel: %+v", got)
			}
			wantCode(t, errOnly(f.s.FindOpenReset(ctx, 0, f.standard.ID, now)), errs.ENOTFOUND)
			if _, err := f.s.CompleteDueReset(ctx, f.standard.ID, effective.Add(time.Hour)); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("a cancelled reset completed: %v", err)
			}
		})
	})
}

func errOnly[T any](_ T, err error) error { return err }

func TestCompleteDueReset(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		ctx := t.Context()
		u, bystander := f.standard, f.adviser
		for _, id := range []int64{u.ID, bystander.ID} {
			mustFactor(t, f.s, id, 1)
			if err := f.s.ReplaceRecoveryCodes(ctx, id, []*auth.RecoveryCode{{Salt: []byte("s"), Hash: []byte("h")}}); err != nil {
				t.Fatal(err)
			}
			mustSession(t, f.s, id, 0, fmt.Sprintf("cfs_session-%d", id), t0, t0, t0.Add(time.Hour))
			mustPending(t, f.s, id, fmt.Sprintf("cfl_pending-%d", id), t0.Add(time.Hour))
			if err := f.s.SaveChallenge(ctx, &auth.Challenge{UserID: id, Purpose: "test", Data: []byte("{}"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		r := newReset(f.org.ID, f.owner.ID, u.ID)
		if err := f.s.CreateReset(ctx, r, t0, allow); err != nil {
			t.Fatal(err)
		}
		t.Run("NotConfirmed", func(t *testing.T) {
			wantCode(t, errOnly(f.s.CompleteDueReset(ctx, u.ID, t0.Add(48*time.Hour))), errs.ENOTFOUND)
		})
		effective := t0.Add(25 * time.Hour)
		if err := f.s.ConfirmReset(ctx, r.ID, t0.Add(time.Hour), effective, session.HashToken("later")); err != nil {
			t.Fatal(err)
		}
		t.Run("BeforeEffective", func(t *testing.T) {
			wantCode(t, errOnly(f.s.CompleteDueReset(ctx, u.ID, effective.Add(-time.Second))), errs.ENOTFOUND)
			if n := count(t, f.s, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ?`, u.ID); n != 1 {
				t.Fatalf("factors before the wait ended: %d", n)
			}
		})
		t.Run("Due", func(t *testing.T) {
			users, err := f.s.FindDueResetUsers(ctx, effective)
			if err != nil || len(users) != 1 || users[0] != u.ID {
				t.Fatalf("due users %v, %v", users, err)
			}
			got, err := f.s.CompleteDueReset(ctx, u.ID, effective)
			if err != nil || got.ID != r.ID || got.Status != auth.ResetCompleted || got.OrgName != "Books Ltd" {
				t.Fatalf("complete: %+v, %v", got, err)
			}
			for _, table := range []string{"mfa_factors", "recovery_codes", "sessions", "pending_logins", "mfa_challenges"} {
				if n := count(t, f.s, `SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`, u.ID); n != 0 {
					t.Errorf("%s: %d rows of the reset user left", table, n)
				}
				if n := count(t, f.s, `SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`, bystander.ID); n != 1 {
					t.Errorf("%s: %d rows of another user, want 1", table, n)
				}
			}
			wantCode(t, errOnly(f.s.CompleteDueReset(ctx, u.ID, effective)), errs.ENOTFOUND)
			if users, _ := f.s.FindDueResetUsers(ctx, effective); len(users) != 0 {
				t.Fatalf("still due: %v", users)
			}
		})
	})
}

func TestFindOrgAdmins(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		f := newResetFixture(t)
		admins, err := f.s.FindOrgAdmins(t.Context(), f.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range admins {
			got = append(got, a.Email)
		}
		if fmt.Sprint(got) != "[owner@example.com adviser@example.com]" {
			t.Fatalf("admins %v", got)
		}
	})
}
