package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"coffer/internal/access"
	"coffer/internal/session"
)

// TestOrgFactorRules checks an organisation's second-factor settings on
// every request: with phishing-resistant factors required, owners and
// advisers whose session was verified by a code are sent to step up with a
// security key, passkey or push; with SMS forbidden, a session verified by
// SMS is sent to step up with something else.
func TestOrgFactorRules(t *testing.T) {
	e := newMatrixEnv(t)
	ctx := t.Context()
	setMethod := func(role access.Role, method string) {
		t.Helper()
		if _, err := e.store.DB().ExecContext(ctx, `UPDATE sessions SET mfa_method = ? WHERE token_hash = ?`, method, session.HashToken(e.tokens[role])); err != nil {
			t.Fatal(err)
		}
	}
	settings := func(mut func(*access.Settings)) {
		t.Helper()
		st := access.DefaultSettings()
		mut(&st)
		if _, err := e.store.UpdateOrgSettings(ctx, e.org.ID, st); err != nil {
			t.Fatal(err)
		}
	}
	api := func(role access.Role) (int, string) {
		r := e.request(Route{Method: http.MethodGet, Pattern: "/api/v1/orgs/{org}/accounts", API: true}, e.tokens[role])
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		return rec.Code, rec.Body.String()
	}
	page := func(role access.Role) (int, string) {
		r := e.request(Route{Method: http.MethodGet, Pattern: "/orgs/{org}/accounts"}, e.tokens[role])
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		return rec.Code, rec.Header().Get("Location")
	}

	settings(func(st *access.Settings) { st.RequirePhishingResistant = true })
	for _, tt := range []struct {
		role   access.Role
		method string
		ok     bool
	}{
		{access.Owner, "totp", false},
		{access.Adviser, "sms", false},
		{access.Adviser, "recovery_code", false},
		{access.Owner, "webauthn", true},
		{access.Adviser, "push", true},
		{access.Owner, "passkey", true},
		// Other roles keep their usual factors for everyday work.
		{access.Standard, "totp", true},
		{access.ReadOnly, "hotp", true},
	} {
		t.Run(fmt.Sprintf("phishing-resistant/%s/%s", tt.role, tt.method), func(t *testing.T) {
			setMethod(tt.role, tt.method)
			code, body := api(tt.role)
			if tt.ok != (code == http.StatusOK) {
				t.Fatalf("API answered %d %s", code, body)
			}
			if !tt.ok && !strings.Contains(body, `"step_up_required"`) {
				t.Fatalf("API refusal is not a step-up: %s", body)
			}
			code, loc := page(tt.role)
			if tt.ok != (code == http.StatusOK) {
				t.Fatalf("page answered %d (Location %q)", code, loc)
			}
			if !tt.ok && (code != http.StatusSeeOther || !strings.HasPrefix(loc, "/step-up?") || !strings.Contains(loc, "strong=1")) {
				t.Fatalf("page refusal %d to %q, want a strong step-up", code, loc)
			}
		})
	}

	settings(func(st *access.Settings) { st.ForbidSMS = true })
	for _, tt := range []struct {
		method string
		ok     bool
	}{{"sms", false}, {"totp", true}, {"hotp", true}} {
		t.Run("forbid-sms/"+tt.method, func(t *testing.T) {
			setMethod(access.Standard, tt.method)
			if code, body := api(access.Standard); tt.ok != (code == http.StatusOK) {
				t.Fatalf("API answered %d %s", code, body)
			}
		})
	}
}
