package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// These tests click through security keys and passkeys in headless
// Chromium with the DevTools virtual authenticator: a CTAP2 authenticator
// inside the browser that really creates keys and signs, so the server sees
// what it would see from a USB key or a phone's platform authenticator.

// virtualAuthenticator adds a CTAP2 authenticator to the tab that answers
// at once (automatic presence) and passes user verification.
func (b *browserTab) virtualAuthenticator(transport webauthn.AuthenticatorTransport, resident bool) webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("enable WebAuthn domain: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   transport,
		HasResidentKey:              resident,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatalf("add virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

func (b *browserTab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatalf("get credentials: %v", err)
	}
	return res.Credentials
}

// signInTOTP signs in with the password and the authenticator code of the
// next time step (enrollment used the current one).
func (b *browserTab) signInTOTP(email, password, secret string) {
	b.t.Helper()
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	key, err := mfa.DecodeSecret(secret)
	if err != nil {
		b.t.Fatal(err)
	}
	code, err := mfa.TOTPCode(key, time.Now().Add(30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	b.fill("#code", code)
	b.expectPage(b.clickKey("#mfa-submit"), http.StatusOK, "/dashboard")
}

// registerKey registers a security key (or passkey) on the settings page.
func (b *browserTab) registerKey(name string, passkey bool) {
	b.t.Helper()
	b.expectPage(b.navigate("/settings/security/webauthn"), http.StatusOK, "/settings/security/webauthn")
	b.expectStyled()
	b.fill("#webauthn-name", name)
	if passkey {
		if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#webauthn-passkey"))); err != nil {
			b.t.Fatal(err)
		}
	}
	resp := b.clickKey("#webauthn-submit")
	b.expectPage(resp, http.StatusOK, "/settings/security")
	if msg := b.text(`[role="status"]`); msg != "Factor added." {
		b.t.Fatalf("after registering the security page says %q; page text:\n%s", msg, b.text("main"))
	}
	if !b.has(`#factors tr[data-kind="webauthn"] input[value=` + jsQuote(name) + `]`) {
		b.t.Fatalf("the factor list lacks the security key %q:\n%s", name, b.text("#factors"))
	}
}

// clickKey clicks a button that runs the security-key script, which ends
// in a form post. When no page follows, the script's error says why.
func (b *browserTab) clickKey(sel string) *network.Response {
	b.t.Helper()
	b.mustHave(sel)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s on %s: %v; the page says %q", sel, b.path(), err, b.text("[data-webauthn-error]"))
	}
	return resp
}

// chooseWebAuthn switches the second-step page to the security key, unless
// it offers the key first.
func (b *browserTab) chooseWebAuthn() {
	b.t.Helper()
	if b.has("#use-webauthn") {
		b.expectPage(b.click("#use-webauthn"), http.StatusOK, "/login/mfa")
	}
	b.mustHave(`#mfa-form[data-webauthn="get"] input[name="method"][value="webauthn"]`)
}

// copiedCredential is webauthn.Credential without the fields for
// extensions that cdproto always sends and that Chromium's CTAP2
// authenticator refuses ("CMTG is not supported").
type copiedCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

type addCopiedCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      *copiedCredential        `json:"credential"`
}

// addCopiedCredential is WebAuthn.addCredential with copiedCredential.
var addCopiedCredential = cdp.Command[addCopiedCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

// auditCount counts audit events of action (and outcome) for the email.
func auditCount(t *testing.T, srv *testserver.Server, email, action, outcome string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE subject = ? AND action = ? AND outcome = ?`, email, action, outcome).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrowserWebAuthnSecurityKey registers a USB security key from the
// settings page, signs in with password and key, then shows that a copy
// of the key (its private key in another authenticator, with a signature
// counter behind the original's) is refused and audited.
func TestBrowserWebAuthnSecurityKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Log.String())
		}
	})
	c := apiClient(t, srv, "127.0.0.1")
	const email, password = "grace@example.com", "compiler cobol navy 1952"
	e := enrollUser(t, srv, c, email, "Grace Hopper", password)
	b := newBrowserTab(t, ctx, srv.URL)
	keyA := b.virtualAuthenticator(webauthn.AuthenticatorTransportUsb, false)

	t.Log("1. sign in with the authenticator app, register a security key")
	b.signInTOTP(email, password, e.Secret)
	b.registerKey("Blue key", false)
	if n := auditCount(t, srv, email, "mfa.webauthn.register", "success"); n != 1 {
		t.Fatalf("%d successful mfa.webauthn.register events, want 1", n)
	}
	creds := b.credentials(keyA)
	if len(creds) != 1 || creds[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator holds %+v, want one credential for localhost", creds)
	}
	b.screenshot("webauthn-registered")
	b.signOut()

	t.Log("2. sign in with the password and the security key")
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	b.chooseWebAuthn()
	b.mustHave(`#mfa-form[data-webauthn="get"] input[name="method"][value="webauthn"]`)
	b.screenshot("webauthn-mfa")
	b.expectPage(b.clickKey("#mfa-submit"), http.StatusOK, "/dashboard")
	if n := auditCount(t, srv, email, "login.mfa.webauthn", "success"); n != 1 {
		t.Fatalf("%d successful login.mfa.webauthn events, want 1", n)
	}
	b.signOut()

	t.Log("3. a copy of the key with a lower signature counter is refused")
	orig := b.credentials(keyA)[0]
	if orig.SignCount < 1 {
		t.Fatalf("the key's signature counter is %v after two uses; the test needs a counting authenticator", orig.SignCount)
	}
	keyB := b.virtualAuthenticator(webauthn.AuthenticatorTransportUsb, false)
	// The copy: the same private key, id, site and user, with a counter
	// behind the original's (it answers with 1).
	clone := copiedCredential{CredentialID: orig.CredentialID, IsResidentCredential: orig.IsResidentCredential, RpID: orig.RpID,
		PrivateKey: orig.PrivateKey, UserHandle: orig.UserHandle, SignCount: 0}
	if _, err := chromedp.Call(b.ctx, addCopiedCredential, addCopiedCredentialParams{AuthenticatorID: keyB, Credential: &clone}); err != nil {
		t.Fatalf("add the copied credential: %v", err)
	}
	if _, err := chromedp.Call(b.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: keyA}); err != nil {
		t.Fatalf("remove the original key: %v", err)
	}
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	b.chooseWebAuthn()
	resp := b.clickKey("#mfa-submit")
	b.expectPage(resp, http.StatusUnauthorized, "/login/mfa")
	if msg := b.text(`[role="alert"]`); !strings.Contains(msg, "could not be verified") {
		t.Fatalf("refusal says %q, want that the key could not be verified", msg)
	}
	if len(b.credentials(keyB)) != 1 {
		t.Fatal("the copied credential is gone from authenticator B: it was not what signed")
	}
	if n := auditCount(t, srv, email, "mfa.webauthn.clone_detected", "failure"); n != 1 {
		t.Fatalf("%d mfa.webauthn.clone_detected events, want 1", n)
	}
	if n := auditCount(t, srv, email, "login.mfa.webauthn", "success"); n != 1 {
		t.Fatalf("%d successful login.mfa.webauthn events after the copy, want still 1", n)
	}
	b.screenshot("webauthn-clone-refused")
	b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
}

// TestBrowserPasskeySignIn registers a passkey on a platform authenticator
// (fingerprint or face, here a virtual one that verifies the user) and
// signs in with "Sign in with a passkey", no email and no password. Once
// the member's organisation turns passkey sign-in off, the same passkey is
// refused with a message that says to use the password.
func TestBrowserPasskeySignIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Log.String())
		}
	})
	m := signedInMember(t, srv, "127.0.0.1", "katherine@example.com", "Langley Books", "owner")
	b := newBrowserTab(t, ctx, srv.URL)
	b.virtualAuthenticator(webauthn.AuthenticatorTransportInternal, true)

	t.Log("1. register a passkey")
	b.signInTOTP(m.Email, m.Password, m.Secret)
	b.registerKey("Laptop fingerprint", true)
	if !strings.Contains(b.text(`#factors tr[data-kind="webauthn"]`), "passkey") {
		t.Errorf("the factor list does not call it a passkey:\n%s", b.text("#factors"))
	}
	b.signOut()

	t.Log("2. sign in with the passkey alone")
	b.expectPage(b.navigate("/login"), http.StatusOK, "/login")
	b.screenshot("passkey-login")
	resp := b.clickKey("#passkey-submit")
	b.expectPage(resp, http.StatusOK, "/dashboard")
	b.expectNoScriptCookies("__Host-coffer_session")
	if n := auditCount(t, srv, m.Email, "login.passkey", "success"); n != 1 {
		t.Fatalf("%d successful login.passkey events, want 1", n)
	}
	b.signOut()

	t.Log("3. the organisation turns passkey sign-in off: the passkey alone is refused")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE orgs SET allow_passkey_sign_in = 0 WHERE id = ?`, m.OrgID); err != nil {
		t.Fatal(err)
	}
	b.expectPage(b.navigate("/login"), http.StatusOK, "/login")
	resp = b.clickKey("#passkey-submit")
	b.expectPage(resp, http.StatusForbidden, "/login/passkey")
	if msg := b.text(`[role="alert"]`); !strings.Contains(msg, "requires your password") {
		t.Fatalf("refusal says %q, want that the organisation requires the password", msg)
	}
	b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
	b.screenshot("passkey-refused")

	t.Log("4. the passkey still works as the second step after the password")
	b.expectPage(b.signIn(m.Email, m.Password), http.StatusOK, "/login/mfa")
	b.chooseWebAuthn()
	b.expectPage(b.clickKey("#mfa-submit"), http.StatusOK, "/dashboard")
}
