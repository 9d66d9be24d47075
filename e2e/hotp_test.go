package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"
)

// oathHOTP is the token: oathtool, a third-party RFC 4226 implementation,
// computes the code for counter n of a hex secret.
func oathHOTP(tb testing.TB, hexSecret string, n int) string {
	tb.Helper()
	bin := requireTool(tb, "oathtool")
	out, err := exec.Command(bin, "--hotp", fmt.Sprintf("--counter=%d", n), hexSecret).CombinedOutput()
	if err != nil {
		tb.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// wantRefused fails unless err is an API error with status, code and a
// message containing msg.
func wantRefused(t *testing.T, err error, status int, code, msg string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("error = %v, want %d %s containing %q", err, status, code, msg)
	}
	return e
}

// TestHOTP drives a hardware token (oathtool standing in for its button)
// through the API: registration from a seed-file line and two codes,
// sign-in, replay, a counter jump of 50 refused with the drift message,
// resynchronisation with two consecutive codes, and the counter never
// going back.
func TestHOTP(t *testing.T) {
	requireTool(t, "oathtool")
	srv := testserver.Start(t)
	ctx := context.Background()
	c := client.New(srv.URL, srv.HTTPClient(""))
	const email, password = "token@example.com", "amber violin harbour 3318"
	srv.AddUser(t, email, "Token User", password)
	e := enrollAfterAdd(t, c, email, password)

	raw := make([]byte, 20)
	rand.Read(raw)
	seed := hex.EncodeToString(raw)
	press := func(n int) string { return oathHOTP(t, seed, n) }
	login := func(t *testing.T, code string) (*client.SessionResult, error) {
		t.Helper()
		lr, err := c.Login(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		return c.LoginMFA(ctx, lr.LoginToken, "hotp", code)
	}

	t.Run("ErrRegisterWrongCodes", func(t *testing.T) {
		_, err := c.RegisterHOTP(ctx, e.Session, "Desk token", seed, press(0), press(2))
		wantRefused(t, err, http.StatusBadRequest, "invalid", "do not come from this secret")
	})
	var tokenID int64
	t.Run("OKRegister", func(t *testing.T) {
		f, err := c.RegisterHOTP(ctx, e.Session, "Desk token", "TK00012345 "+strings.ToUpper(seed), press(0), press(1))
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		if f.Type != "hotp" || f.Name != "Desk token" || f.Hint != "TK00012345" {
			t.Fatalf("factor = %+v", f)
		}
		tokenID = f.ID
		lr, err := c.Login(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(lr.Methods, "hotp") {
			t.Fatalf("methods = %v, want hotp", lr.Methods)
		}
	})
	t.Run("OKSignIn", func(t *testing.T) {
		s, err := login(t, press(2))
		if err != nil {
			t.Fatalf("sign in with counter 2: %v", err)
		}
		if _, err := c.Me(ctx, s.SessionToken); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrReplay", func(t *testing.T) {
		_, err := login(t, press(2))
		wantRefused(t, err, http.StatusUnauthorized, "unauthorized", "That code has already been used. Press the token's button")
	})
	t.Run("ErrDrift", func(t *testing.T) {
		_, err := login(t, press(52))
		wantRefused(t, err, http.StatusUnauthorized, "unauthorized", "counter has drifted. Enter two consecutive codes")
	})
	t.Run("OKResyncAtSignIn", func(t *testing.T) {
		if _, err := login(t, press(52)+" "+press(53)); err != nil {
			t.Fatalf("resync: %v", err)
		}
	})
	t.Run("ErrCounterNeverGoesBack", func(t *testing.T) {
		// Far behind, a code is just wrong; just behind, it says why.
		for n, msg := range map[int]string{3: "", 20: "", 40: "already been used", 53: "already been used"} {
			_, err := login(t, press(n))
			wantRefused(t, err, http.StatusUnauthorized, "unauthorized", msg)
		}
		if _, err := login(t, press(54)); err != nil {
			t.Fatalf("next code after resync: %v", err)
		}
	})
	t.Run("OKResyncEndpoint", func(t *testing.T) {
		s, err := login(t, press(55))
		if err != nil {
			t.Fatal(err)
		}
		err = c.ResyncHOTP(ctx, s.SessionToken, tokenID, press(301), press(300))
		wantRefused(t, err, http.StatusUnauthorized, "unauthorized", "do not match")
		if err := c.ResyncHOTP(ctx, s.SessionToken, tokenID, press(300), press(301)); err != nil {
			t.Fatalf("resync: %v", err)
		}
		if _, err := login(t, press(299)); err == nil {
			t.Fatal("a code from before the resync was accepted")
		}
		if _, err := login(t, press(302)); err != nil {
			t.Fatalf("after resync: %v", err)
		}
	})
	t.Run("ErrRegisterNeedsFreshFactor", func(t *testing.T) {
		staleStepUp(t, srv, email)
		_, err := c.RegisterHOTP(ctx, e.Session, "Spare", seed, press(0), press(1))
		wantRefused(t, err, http.StatusForbidden, "step_up_required", "")
	})
}
