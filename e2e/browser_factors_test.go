package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// TestBrowserSecurityPage goes through the security page as a person
// would: the factor list, renaming, switching to a new authenticator app by
// scanning its QR code, and the refusal to remove the last factor.
func TestBrowserSecurityPage(t *testing.T) {
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	c := apiClient(t, srv, "127.0.0.22")
	u := apiEnroll(t, srv, c, "security-page@example.com")
	fs, _, err := c.Factors(ctx, u.Session)
	if err != nil || len(fs) != 1 {
		t.Fatalf("factors: %v %v", fs, err)
	}
	old := fs[0]

	b := newBrowserTab(t, ctx, srv.URL)
	b.expectPage(b.signIn(u.Email, u.Password), http.StatusOK, "/login/mfa")
	b.fill("#code", nextStepCode(t, u.Secret))
	b.expectPage(b.click("#mfa-submit"), http.StatusOK, "/dashboard")

	t.Log("the list shows the factor; the only one has no remove button")
	b.expectPage(b.navigate("/settings/security"), http.StatusOK, "/settings/security")
	b.expectStyled()
	row := fmt.Sprintf("#factor-%d", old.ID)
	b.mustHave(row)
	if b.has(fmt.Sprintf("#factor-remove-%d", old.ID)) {
		t.Fatal("the only factor offers a remove button")
	}

	t.Log("rename it")
	b.fill(fmt.Sprintf("#factor-name-%d", old.ID), "Old phone")
	b.expectPage(b.click(fmt.Sprintf("#factor-rename-%d", old.ID)), http.StatusOK, "/settings/security")
	if v := tabEval[string](b, fmt.Sprintf(`document.querySelector("#factor-name-%d").value`, old.ID)); v != "Old phone" {
		t.Fatalf("name after renaming = %q", v)
	}

	t.Log("switch to a new app: scan the QR code on the page, confirm a code")
	b.expectPage(b.click(fmt.Sprintf("#factor-switch-%d", old.ID)), http.StatusOK, "/settings/security/totp/add")
	if h := b.text("h1#enroll-heading"); h != "Switch to a new authenticator app" {
		t.Fatalf("switch page heading %q", h)
	}
	src := b.attr("img#totp-qr", "src")
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("no QR code on the switch page: %.40q", src)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	secret := secretFromURI(t, decodeQR(t, png))
	b.fill("#code", oathTOTP(t, secret, time.Now()))
	b.expectPage(b.click("#enroll-submit"), http.StatusOK, "/settings/security")
	if !strings.Contains(b.text(`[role="status"]`), "Authenticator app switched") {
		t.Errorf("no confirmation after the switch: %q", b.text(`[role="status"]`))
	}
	if b.has(row) {
		t.Fatal("the old app is still listed after the switch")
	}
	fs, _, err = c.Factors(ctx, u.Session)
	if err != nil || len(fs) != 1 || fs[0].ID == old.ID {
		t.Fatalf("factors after the switch: %+v, %v", fs, err)
	}
	if n := countMail(t, srv.DataDir, u.Email, "factor.switched"); n != 1 {
		t.Errorf("%d switch notifications", n)
	}

	t.Log("the old app no longer signs in")
	b.signOut()
	b.expectPage(b.signIn(u.Email, u.Password), http.StatusOK, "/login/mfa")
	old1, err := mfa.DecodeSecret(u.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := mfa.TOTPCode(old1, time.Now())
	b.fill("#code", code)
	b.expectPage(b.click("#mfa-submit"), http.StatusUnauthorized, "/login/mfa")
	b.expectNoCSPViolations()
}
