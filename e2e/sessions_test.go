package e2e

// End-to-end tests of the sessions page and API: listing, signing one
// session out, signing out all others, and an owner signing a member out
// everywhere. Addresses 127.0.0.110–119.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"
)

// extraSession signs m in once more, with a recovery code (so no TOTP
// step has to pass), from the client c.
func extraSession(t *testing.T, c *client.Client, m *member) string {
	t.Helper()
	ctx := context.Background()
	if len(m.RecoveryCodes) == 0 {
		t.Fatal("no recovery codes left")
	}
	code := m.RecoveryCodes[0]
	m.RecoveryCodes = m.RecoveryCodes[1:]
	lr, err := c.Login(ctx, m.Email, m.Password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	res, err := c.LoginMFA(ctx, lr.LoginToken, "recovery_code", code)
	if err != nil {
		t.Fatalf("login with a recovery code: %v", err)
	}
	return res.SessionToken
}

// wantSignedOut fails unless the session's next request is refused.
func wantSignedOut(t *testing.T, c *client.Client, session string) {
	t.Helper()
	_, err := c.Me(context.Background(), session)
	wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
}

func TestSessions(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	owner := signedInMember(t, srv, "127.0.0.110", "owner@sessions.example", "Sessions Ltd", "owner")
	mem := signedInMember(t, srv, "127.0.0.111", "member@sessions.example", "Sessions Ltd", "standard")
	phone := client.New(srv.URL, srv.HTTPClient("127.0.0.112"))
	laptop := client.New(srv.URL, srv.HTTPClient("127.0.0.113"))

	t.Run("list marks this session", func(t *testing.T) {
		other := extraSession(t, phone, mem)
		list, err := mem.C.Sessions(ctx, mem.Session)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("sessions = %+v, want 2", list)
		}
		current := 0
		for _, s := range list {
			if s.Current {
				current++
				if s.IP != "127.0.0.111" {
					t.Errorf("this session's IP = %s, want 127.0.0.111", s.IP)
				}
			}
			if s.Device != "Go program" || s.CreatedAt.IsZero() || s.LastSeenAt.IsZero() {
				t.Errorf("session %+v: device or times missing", s)
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current, want 1", current)
		}
		// The other session sees itself as current.
		theirs, err := phone.Sessions(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		var otherID int64
		for _, s := range theirs {
			if s.Current {
				otherID = s.ID
			}
		}

		t.Run("revoke one: its next request is refused", func(t *testing.T) {
			if err := mem.C.RevokeSession(ctx, mem.Session, otherID); err != nil {
				t.Fatal(err)
			}
			wantSignedOut(t, phone, other)
			if _, err := mem.C.Me(ctx, mem.Session); err != nil {
				t.Fatalf("this session ended too: %v", err)
			}
			if countMail(t, srv.DataDir, mem.Email, "session.revoked") != 1 {
				t.Error("no notification of the revoked session")
			}
		})
		t.Run("another user's session is not found", func(t *testing.T) {
			ownList, err := owner.C.Sessions(ctx, owner.Session)
			if err != nil || len(ownList) != 1 {
				t.Fatalf("owner's sessions = %+v, %v", ownList, err)
			}
			wantAPIError(t, mem.C.RevokeSession(ctx, mem.Session, ownList[0].ID), http.StatusNotFound, "not_found")
			if _, err := owner.C.Me(ctx, owner.Session); err != nil {
				t.Fatalf("the owner's session ended: %v", err)
			}
		})
	})

	t.Run("revoke others", func(t *testing.T) {
		a, b := extraSession(t, phone, mem), extraSession(t, laptop, mem)
		n, err := mem.C.RevokeOtherSessions(ctx, mem.Session)
		if err != nil || n != 2 {
			t.Fatalf("revoke others = %d, %v; want 2", n, err)
		}
		wantSignedOut(t, phone, a)
		wantSignedOut(t, laptop, b)
		if list, err := mem.C.Sessions(ctx, mem.Session); err != nil || len(list) != 1 || !list[0].Current {
			t.Fatalf("left = %+v, %v", list, err)
		}
	})

	t.Run("sessions page", func(t *testing.T) {
		br := newBrowser(t, srv, "127.0.0.114")
		web := extraSession(t, laptop, mem)
		br.signIn(web)
		page := br.get("/settings/sessions", http.StatusOK)
		if !strings.Contains(page, `id="session-current"`) || !strings.Contains(page, "127.0.0.111") {
			t.Fatalf("sessions page lacks the current marker or the other session:\n%s", firstLines(page, 80))
		}
		st, h, _ := br.post("/settings/sessions/revoke-others", page, url.Values{})
		if st != http.StatusSeeOther || h.Get("Location") != "/settings/sessions?done=others" {
			t.Fatalf("revoke others = %d %s", st, h.Get("Location"))
		}
		wantSignedOut(t, mem.C, mem.Session)
		mem.Session = web
		mem.C = laptop
	})

	t.Run("owner signs a member out everywhere", func(t *testing.T) {
		me, err := mem.C.Me(ctx, mem.Session)
		if err != nil {
			t.Fatal(err)
		}
		second := extraSession(t, phone, mem)
		staleStepUp(t, srv, owner.Email)
		_, err = owner.C.RevokeMemberSessions(ctx, owner.Session, owner.OrgID, me.ID)
		wantAPIError(t, err, http.StatusForbidden, "step_up_required")
		if _, err := mem.C.Me(ctx, mem.Session); err != nil {
			t.Fatalf("refused revoke ended the session: %v", err)
		}
		_, err = mem.C.RevokeMemberSessions(ctx, mem.Session, mem.OrgID, me.ID)
		wantAPIError(t, err, http.StatusForbidden, "forbidden")

		owner.stepUp(t)
		n, err := owner.C.RevokeMemberSessions(ctx, owner.Session, owner.OrgID, me.ID)
		if err != nil || n != 2 {
			t.Fatalf("revoke member = %d, %v; want 2", n, err)
		}
		wantSignedOut(t, mem.C, mem.Session)
		wantSignedOut(t, phone, second)
		if _, err := owner.C.Me(ctx, owner.Session); err != nil {
			t.Fatalf("the owner was signed out: %v", err)
		}
		if countMail(t, srv.DataDir, mem.Email, "session.revoked_by_admin") != 1 {
			t.Error("the member was not told")
		}
		if auditCount(t, srv, owner.Email, "session.revoke_member", "success") != 1 || auditCount(t, srv, mem.Email, "session.revoke", "success") != 1 ||
			auditCount(t, srv, mem.Email, "session.revoke_others", "success") != 2 {
			t.Error("revocations missing from the audit log")
		}
		_, err = owner.C.RevokeMemberSessions(ctx, owner.Session, owner.OrgID, 99999)
		wantAPIError(t, err, http.StatusNotFound, "not_found")

		t.Run("from the members page", func(t *testing.T) {
			again := extraSession(t, phone, mem)
			br := newBrowser(t, srv, "127.0.0.115")
			br.signIn(owner.Session)
			page := br.get(fmt.Sprintf("/orgs/%d/members", owner.OrgID), http.StatusOK)
			if !strings.Contains(page, fmt.Sprintf(`id="sessions-revoke-%d"`, me.ID)) {
				t.Fatalf("members page has no sign-out button for the member:\n%s", firstLines(page, 120))
			}
			st, h, _ := br.post(fmt.Sprintf("/orgs/%d/members/%d/sessions/revoke", owner.OrgID, me.ID), page, url.Values{})
			if st != http.StatusSeeOther || !strings.HasSuffix(h.Get("Location"), "/members?done=sessions_revoked") {
				t.Fatalf("sign out from the members page = %d %s", st, h.Get("Location"))
			}
			wantSignedOut(t, phone, again)
		})
	})
}
