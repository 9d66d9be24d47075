// Package e2e drives a real Coffer server end to end: the JSON API through
// the public client, the web UI through headless Chromium, and load.
package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// requireTool finds a third-party program the tests use. Locally a missing
// tool skips the test; in CI (CI set) it fails, so CI cannot pass vacuously.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not installed; the test script installs it", name)
		}
		tb.Skipf("%s is not installed (run the README's test command to install it)", name)
	}
	return p
}

// oathTOTP computes the current TOTP code with oathtool, a third-party
// implementation, at time at.
func oathTOTP(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	bin := requireTool(tb, "oathtool")
	out, err := exec.Command(bin, "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).CombinedOutput()
	if err != nil {
		tb.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// decodeQR reads a QR code PNG with zbarimg, a third-party decoder.
func decodeQR(tb testing.TB, png []byte) string {
	tb.Helper()
	bin := requireTool(tb, "zbarimg")
	f := filepath.Join(tb.TempDir(), "qr.png")
	if err := os.WriteFile(f, png, 0o600); err != nil {
		tb.Fatal(err)
	}
	// Only stdout is the decoded text: zbarimg reports on stderr (without
	// --nodbus, a missing D-Bus socket), which must not end up in the URI.
	var stderr strings.Builder
	// QR codes only: other symbologies can "find" a spurious barcode in
	// the QR pattern (seen: a stray "C2:B" line under load).
	cmd := exec.Command(bin, "--raw", "-q", "--nodbus", "-Sdisable", "-Sqrcode.enable", f)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("zbarimg: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// secretFromURI takes the base32 secret out of an otpauth URI.
func secretFromURI(tb testing.TB, uri string) string {
	tb.Helper()
	_, _, secret, err := mfa.ParseTOTPURI(uri)
	if err != nil {
		tb.Fatalf("parse otpauth URI: %v", err)
	}
	return mfa.EncodeSecret(secret)
}

// enrolled is a user who finished forced enrollment through the API.
type enrolled struct {
	Email, Password, Secret string
	RecoveryCodes           []string
	Session                 string
}

// enrollUser creates a user and completes password + forced TOTP
// enrollment through the API, reading the QR code with zbarimg and
// computing the code with oathtool.
func enrollUser(tb testing.TB, srv *testserver.Server, c *client.Client, email, name, password string) *enrolled {
	tb.Helper()
	ctx := context.Background()
	srv.AddUser(tb, email, name, password)
	lr, err := c.Login(ctx, email, password)
	if err != nil {
		tb.Fatalf("login: %v", err)
	}
	if lr.Status != "mfa_enrollment_required" {
		tb.Fatalf("login status = %q, want mfa_enrollment_required", lr.Status)
	}
	en, err := c.EnrollTOTP(ctx, lr.LoginToken)
	if err != nil {
		tb.Fatalf("enroll: %v", err)
	}
	png, err := base64.StdEncoding.DecodeString(en.QRPNGBase64)
	if err != nil {
		tb.Fatalf("qr png base64: %v", err)
	}
	uri := decodeQR(tb, png)
	if uri != en.OtpauthURI {
		tb.Fatalf("QR code says %q, API says %q", uri, en.OtpauthURI)
	}
	secret := secretFromURI(tb, uri)
	conf, err := c.ConfirmTOTP(ctx, lr.LoginToken, oathTOTP(tb, secret, time.Now()))
	if err != nil {
		tb.Fatalf("confirm: %v", err)
	}
	return &enrolled{Email: email, Password: password, Secret: secret, RecoveryCodes: conf.RecoveryCodes, Session: conf.SessionToken}
}

// nextStepCode waits (bounded) for the next 30 s TOTP step and returns its
// code, for tests that need a code not used before.
func nextStepCode(tb testing.TB, secret string) string {
	tb.Helper()
	now := time.Now()
	next := now.Truncate(30 * time.Second).Add(30 * time.Second)
	time.Sleep(time.Until(next) + 50*time.Millisecond)
	return oathTOTP(tb, secret, time.Now())
}

// member is an enrolled, signed-in member of an organisation.
type member struct {
	*enrolled
	OrgID int64
	C     *client.Client
}

// signedInMember creates a user with role in org (creating org for an
// owner), enrolls TOTP through the API from the given source address and
// returns the session and the organisation's id.
func signedInMember(tb testing.TB, srv *testserver.Server, localIP, email, org, role string) *member {
	tb.Helper()
	return clusterMember(tb, srv, client.New(srv.URL, srv.HTTPClient(localIP)), email, org, role)
}

// enrollAfterAdd completes forced enrollment for an existing user, with
// the code computed locally (the QR path is covered by the API tests).
func enrollAfterAdd(tb testing.TB, c *client.Client, email, password string) *enrolled {
	tb.Helper()
	ctx := context.Background()
	lr, err := c.Login(ctx, email, password)
	if err != nil {
		tb.Fatalf("login %s: %v", email, err)
	}
	en, err := c.EnrollTOTP(ctx, lr.LoginToken)
	if err != nil {
		tb.Fatalf("enroll %s: %v", email, err)
	}
	secret, err := mfa.DecodeSecret(en.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	code, err := mfa.TOTPCode(secret, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	conf, err := c.ConfirmTOTP(ctx, lr.LoginToken, code)
	if err != nil {
		tb.Fatalf("confirm %s: %v", email, err)
	}
	return &enrolled{Email: email, Password: password, Secret: en.Secret, RecoveryCodes: conf.RecoveryCodes, Session: conf.SessionToken}
}

// stepUp verifies a fresh TOTP code for the member's session (a code for
// the next time step, which the server accepts within its ±1 window and
// which enrollment did not use).
func (m *member) stepUp(tb testing.TB) {
	tb.Helper()
	secret, err := mfa.DecodeSecret(m.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	code, err := mfa.TOTPCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.C.Do(context.Background(), "POST", "/api/v1/step-up", m.Session, map[string]string{"method": "totp", "code": code}, nil); err != nil {
		tb.Fatalf("step up: %v", err)
	}
}

// orgPath is /api/v1/orgs/{id}/rest.
func (m *member) orgPath(rest string) string {
	return fmt.Sprintf("/api/v1/orgs/%d/%s", m.OrgID, strings.TrimPrefix(rest, "/"))
}
