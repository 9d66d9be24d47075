package sqlstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/store/sqlstore"
)

func mustPush(tb testing.TB, s *sqlstore.Store, userID, pendingID int64, at time.Time) *auth.PushRequest {
	tb.Helper()
	r := &auth.PushRequest{UserID: userID, PendingID: pendingID, Number: 42, Challenge: []byte("challenge"), IP: "192.0.2.1", UserAgent: "ua", Place: "unknown",
		CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	if err := s.CreatePushRequest(tb.Context(), r); err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestPushRequests(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		alice := mustUser(t, s, "alice@example.com")
		bob := mustUser(t, s, "bob@example.com")

		t.Run("OtherUsersRequestIsNotFound", func(t *testing.T) {
			r := mustPush(t, s, alice.ID, 1, t0)
			if _, err := s.FindPushRequest(ctx, bob.ID, r.ID); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v", err)
			}
			if ok, _ := s.AnswerPushRequest(ctx, bob.ID, r.ID, auth.PushApproved, "", 1, nil, t0); ok {
				t.Fatal("bob answered alice's request")
			}
		})
		t.Run("AnsweredOnceAndNotAfterExpiry", func(t *testing.T) {
			r := mustPush(t, s, alice.ID, 2, t0)
			if ok, err := s.AnswerPushRequest(ctx, alice.ID, r.ID, auth.PushApproved, "", 7, []byte("sig"), t0.Add(time.Minute)); ok || err != nil {
				t.Fatalf("answered at expiry: %v %v", ok, err)
			}
			if ok, _ := s.AnswerPushRequest(ctx, alice.ID, r.ID, auth.PushApproved, "", 7, []byte("sig"), t0.Add(59*time.Second)); !ok {
				t.Fatal("not answered")
			}
			if ok, _ := s.AnswerPushRequest(ctx, alice.ID, r.ID, auth.PushDenied, auth.PushReasonNotMe, 7, nil, t0.Add(59*time.Second)); ok {
				t.Fatal("answered twice")
			}
			got, _ := s.FindPushRequest(ctx, alice.ID, r.ID)
			if got.Status != auth.PushApproved || got.FactorID != 7 || string(got.Signature) != "sig" {
				t.Fatalf("stored %+v", got)
			}
		})
		t.Run("ConsumedOnceUnderRace", func(t *testing.T) {
			r := mustPush(t, s, alice.ID, 3, t0)
			if ok, _ := s.ConsumePushRequest(ctx, alice.ID, r.ID); ok {
				t.Fatal("consumed a pending request")
			}
			s.AnswerPushRequest(ctx, alice.ID, r.ID, auth.PushApproved, "", 1, []byte("sig"), t0)
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if ok, err := s.ConsumePushRequest(ctx, alice.ID, r.ID); err == nil && ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d consumers won", wins.Load())
			}
		})
		t.Run("NewRequestSupersedesTheAttemptsPendingOne", func(t *testing.T) {
			old := mustPush(t, s, bob.ID, 9, t0)
			other := mustPush(t, s, bob.ID, 10, t0)
			mustPush(t, s, bob.ID, 9, t0.Add(5*time.Second))
			pend, err := s.FindPendingPushRequests(ctx, bob.ID, t0.Add(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pend {
				if p.ID == old.ID {
					t.Fatal("superseded request still pending")
				}
			}
			if len(pend) != 2 || pend[0].ID != other.ID {
				t.Fatalf("pending %+v", pend)
			}
		})
		t.Run("CountRefusals", func(t *testing.T) {
			u := mustUser(t, s, "carol@example.com")
			denied := mustPush(t, s, u.ID, 20, t0)
			s.AnswerPushRequest(ctx, u.ID, denied.ID, auth.PushDenied, auth.PushReasonDenied, 1, nil, t0)
			approved := mustPush(t, s, u.ID, 21, t0)
			s.AnswerPushRequest(ctx, u.ID, approved.ID, auth.PushApproved, "", 1, []byte("s"), t0)
			mustPush(t, s, u.ID, 22, t0) // ignored once it expires
			tests := []struct {
				name       string
				since, now time.Time
				want       int
			}{
				{"before expiry", t0, t0.Add(30 * time.Second), 1},
				{"after expiry", t0, t0.Add(time.Minute), 2},
				{"window passed", t0.Add(time.Second), t0.Add(time.Hour), 0},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					n, err := s.CountPushRefusals(ctx, u.ID, tt.since, tt.now)
					if err != nil || n != tt.want {
						t.Fatalf("count = %d, %v; want %d", n, err, tt.want)
					}
				})
			}
		})
	})
}

func TestRememberDeviceSignature(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		h := []byte("hash-1")
		if ok, err := s.RememberDeviceSignature(ctx, h, t0.Add(time.Minute), t0); !ok || err != nil {
			t.Fatalf("first: %v %v", ok, err)
		}
		if ok, _ := s.RememberDeviceSignature(ctx, h, t0.Add(time.Minute), t0.Add(30*time.Second)); ok {
			t.Fatal("replay accepted within the window")
		}
		// Once expired the entry is dropped (the timestamp check refuses such
		// an old request before this point).
		if ok, _ := s.RememberDeviceSignature(ctx, h, t0.Add(3*time.Minute), t0.Add(2*time.Minute)); !ok {
			t.Fatal("expired entry kept")
		}
	})
}

func TestFindUserOrgAdmins(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		member := mustUser(t, s, "member@example.com")
		owner := mustUser(t, s, "owner@example.com")
		adviser := mustUser(t, s, "adviser@example.com")
		stranger := mustUser(t, s, "stranger@example.com")
		db := s.DB()
		for _, q := range []string{
			`INSERT INTO orgs (id, name, currency, created_at) VALUES (1, 'A', 'GBP', 0), (2, 'B', 'GBP', 0)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("org fixture: %v", err)
			}
		}
		for _, m := range []struct {
			org, user int64
			role      string
		}{{1, member.ID, "standard"}, {1, owner.ID, "owner"}, {1, adviser.ID, "adviser"}, {2, owner.ID, "owner"}, {2, stranger.ID, "read_only"}} {
			if _, err := db.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, 0)`, m.org, m.user, m.role); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.FindUserOrgAdmins(ctx, member.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Email != "owner@example.com" || got[1].Email != "adviser@example.com" {
			t.Fatalf("admins %+v", got)
		}
		// An owner is not alerted about themselves; a read-only member of
		// another organisation of theirs is not an admin.
		got, _ = s.FindUserOrgAdmins(ctx, owner.ID)
		if len(got) != 1 || got[0].ID != adviser.ID {
			t.Fatalf("owner's admins %+v", got)
		}
	})
}
