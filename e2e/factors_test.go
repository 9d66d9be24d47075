package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/testserver"
)

// TestFactorManagement goes through a person's factor list over the API:
// add a second authenticator app, rename it, remove one (only with a fresh
// second factor, never the last), then switch apps in one step; every
// change reaches the user's mailbox and the old app's codes stop working.
func TestFactorManagement(t *testing.T) {
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	ctx := context.Background()
	srv := testserver.Start(t)
	c := apiClient(t, srv, "127.0.0.21")
	u := apiEnroll(t, srv, c, "factors@example.com")

	fs, left, err := c.Factors(ctx, u.Session)
	if err != nil || len(fs) != 1 || fs[0].Type != "totp" || left != 10 || fs[0].LastUsedAt != nil {
		t.Fatalf("factors after enrollment = %+v, %d left, %v", fs, left, err)
	}
	first := fs[0]

	t.Log("the only factor cannot be removed")
	err = c.RemoveFactor(ctx, u.Session, first.ID)
	if code := apiErrCode(err); code != "conflict" {
		t.Fatalf("removing the only factor: %v", err)
	}

	t.Log("add a second authenticator app from the session")
	en, err := c.EnrollTOTP(ctx, u.Session)
	if err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(en.QRPNGBase64)
	if err != nil {
		t.Fatal(err)
	}
	second := secretFromURI(t, decodeQR(t, png))
	conf, err := c.ConfirmTOTP(ctx, u.Session, oathTOTP(t, second, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.RecoveryCodes) != 0 {
		t.Fatal("adding a second app replaced the recovery codes")
	}
	fs, _, err = c.Factors(ctx, u.Session)
	if err != nil || len(fs) != 2 {
		t.Fatalf("after adding: %+v, %v", fs, err)
	}
	added := fs[1]

	t.Log("rename")
	got, err := c.RenameFactor(ctx, u.Session, added.ID, "Tablet")
	if err != nil || got.Name != "Tablet" {
		t.Fatalf("rename: %+v, %v", got, err)
	}
	if _, err := c.RenameFactor(ctx, u.Session, added.ID, strings.Repeat("x", 61)); apiErrCode(err) != "invalid" {
		t.Fatalf("overlong name: %v", err)
	}
	if _, err := c.RenameFactor(ctx, u.Session, 999999, "x"); apiErrCode(err) != "not_found" {
		t.Fatalf("unknown factor: %v", err)
	}

	t.Log("remove the first app; its codes stop working")
	if err := c.RemoveFactor(ctx, u.Session, first.ID); err != nil {
		t.Fatal(err)
	}
	lr, err := c.Login(ctx, u.Email, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	code := nextStepCode(t, u.Secret)
	if _, err := c.LoginMFA(ctx, lr.LoginToken, "totp", code); apiErrCode(err) != "unauthorized" {
		t.Fatalf("a code from the removed app: %v", err)
	}
	s2, err := c.LoginMFA(ctx, lr.LoginToken, "totp", oathTOTP(t, second, time.Now()))
	if err != nil {
		t.Fatalf("a code from the remaining app: %v", err)
	}

	t.Log("switch from the tablet to a new phone in one step")
	en, err = c.EnrollTOTP(ctx, s2.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	third := secretFromURI(t, en.OtpauthURI)
	if err := c.SwitchTOTP(ctx, s2.SessionToken, oathTOTP(t, third, time.Now()), added.ID); err != nil {
		t.Fatal(err)
	}
	fs, _, err = c.Factors(ctx, s2.SessionToken)
	if err != nil || len(fs) != 1 || fs[0].ID == added.ID {
		t.Fatalf("after switching: %+v, %v", fs, err)
	}

	t.Log("each change was mailed to the user")
	for _, kind := range []string{"factor.added", "factor.removed", "factor.switched"} {
		if n := countMail(t, srv.DataDir, "factors@example.com", kind); n != 1 {
			t.Errorf("%d %s notifications, want 1", n, kind)
		}
	}
}

// countMail counts the notifications of kind to the address in the
// server's mail directory.
func countMail(tb testing.TB, dataDir, to, kind string) int {
	tb.Helper()
	dir := filepath.Join(dataDir, "mail")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		m := string(b)
		if strings.Contains(m, "To: "+to+"\r\n") && strings.Contains(m, "X-Coffer-Event: "+kind+"\r\n") {
			n++
		}
	}
	return n
}

// apiErrCode is the error code of an API error ("" if err is not one).
func apiErrCode(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
