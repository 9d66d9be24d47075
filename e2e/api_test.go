package e2e

// End-to-end tests of the JSON API, driven through client/ as an integrator
// would: enrollment with a third-party QR decoder and TOTP generator, the
// second factor that no path skips, replay, recovery codes, lockout, user
// enumeration, secrets at rest, bad input, transport and the audit trail.
//
// Every test starts its own server. Sign-in limits are per source address
// and per account, so each scenario uses its own 127.0.0.N address and its
// own accounts.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/cli"
	"coffer/internal/testserver"

	_ "modernc.org/sqlite" // the "sqlite" driver, to read the audit trail
)

const (
	// apiUserAgent marks this file's requests, so that the audit trail can
	// be checked for the client's user agent.
	apiUserAgent = "coffer-e2e-api/1"
	// apiName and apiPassword pass the password policy: long enough, not
	// common, and sharing no word with the name or any email used here.
	apiName     = "Api Tester"
	apiPassword = "plum orbit varnish quietly 7"
	// apiWrongPassword is a different, equally plausible password.
	apiWrongPassword = "plum orbit varnish quietly 8"
)

var (
	// apiRecoveryCodeRE is the shape of a recovery code: 16 symbols of the
	// recovery alphabet (no 0, 1, i, l) in groups of four.
	apiRecoveryCodeRE = regexp.MustCompile(`^[2-9a-hjkm-z]{4}(-[2-9a-hjkm-z]{4}){3}$`)
	// apiTraceRE finds what a Go stack trace or panic would leave in a body.
	apiTraceRE = regexp.MustCompile(`goroutine \d+|panic|runtime/|\.go:\d+`)
)

// apiTransport sets this file's user agent and checks that every answer
// under /api/ carries the security headers, so that every request of every
// test below checks them.
type apiTransport struct {
	tb   testing.TB
	next http.RoundTripper
}

func (a *apiTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", apiUserAgent)
	}
	resp, err := a.next.RoundTrip(r)
	if err == nil && strings.HasPrefix(r.URL.Path, "/api/") {
		if problems := apiHeaderProblems(resp.Header); len(problems) > 0 {
			a.tb.Errorf("%s %s → %d: %s", r.Method, r.URL.Path, resp.StatusCode, strings.Join(problems, "; "))
		}
	}
	return resp, err
}

// apiHeaderProblems lists the security headers that h lacks.
func apiHeaderProblems(h http.Header) []string {
	var p []string
	hsts := h.Get("Strict-Transport-Security")
	if age, ok := strings.CutPrefix(hsts, "max-age="); !ok {
		p = append(p, fmt.Sprintf("Strict-Transport-Security %q", hsts))
	} else if n, err := strconv.Atoi(strings.SplitN(age, ";", 2)[0]); err != nil || n < 31536000 {
		p = append(p, fmt.Sprintf("Strict-Transport-Security max-age under a year: %q", hsts))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		p = append(p, fmt.Sprintf("Content-Security-Policy %q lacks frame-ancestors 'none'", csp))
	}
	if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
		p = append(p, fmt.Sprintf("X-Content-Type-Options %q", v))
	}
	if v := h.Get("Cache-Control"); !strings.Contains(v, "no-store") {
		p = append(p, fmt.Sprintf("Cache-Control %q", v))
	}
	return p
}

// apiHTTP returns an HTTP client for srv that connects from source address
// ip and checks security headers on every API answer.
func apiHTTP(tb testing.TB, srv *testserver.Server, ip string) *http.Client {
	tb.Helper()
	hc := srv.HTTPClient(ip)
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tb.Cleanup(tr.CloseIdleConnections)
	}
	hc.Transport = &apiTransport{tb: tb, next: hc.Transport}
	return hc
}

// apiClient returns an API client for srv connecting from ip.
func apiClient(tb testing.TB, srv *testserver.Server, ip string) *client.Client {
	tb.Helper()
	return client.New(srv.URL, apiHTTP(tb, srv, ip))
}

// apiStep runs one step of a scenario as a subtest and stops the scenario
// when it fails, since the later steps build on it.
func apiStep(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// apiWantErr checks that err is an API error with the given status and code
// whose message contains msgPart.
func apiWantErr(tb testing.TB, err error, status int, code, msgPart string) *client.Error {
	tb.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		tb.Fatalf("got %v, want a %d %s API error", err, status, code)
	}
	if ce.Status != status || ce.Code != code || !strings.Contains(ce.Message, msgPart) {
		tb.Fatalf("got %d %s %q, want %d %s with a message containing %q", ce.Status, ce.Code, ce.Message, status, code, msgPart)
	}
	return ce
}

// apiResponse is a raw HTTP answer.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// apiDo sends a raw request (for what client/ would never send) and reads
// the whole answer.
func apiDo(tb testing.TB, hc *http.Client, srv *testserver.Server, method, path string, header http.Header, body io.Reader) *apiResponse {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		tb.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return &apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// apiJSON is the header of a JSON request.
func apiJSON() http.Header { return http.Header{"Content-Type": {"application/json"}} }

// apiErrorBody parses an error answer strictly as {"error":{"code","message"}}.
func apiErrorBody(tb testing.TB, body []byte) (code, message string) {
	tb.Helper()
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
		tb.Fatalf("error body is not {\"error\":{\"code\",\"message\"}}: %v: %q", err, body)
	}
	return env.Error.Code, env.Error.Message
}

// apiNextStepCode returns oathtool's code for the step after the current
// one. The server accepts it (±1 step) and no request has used it yet:
// enrollment confirmed a code of the current step. Each account can take
// one such code without waiting for a new step.
func apiNextStepCode(tb testing.TB, secret string) string {
	tb.Helper()
	return oathTOTP(tb, secret, time.Now().Add(30*time.Second))
}

// apiWrongCodes returns n distinct 6-digit codes that oathtool does not
// produce for secret within three steps of now, so none can be accepted.
func apiWrongCodes(tb testing.TB, secret string, n int) []string {
	tb.Helper()
	bin := requireTool(tb, "oathtool")
	from := time.Now().Add(-3 * 30 * time.Second).UTC().Format("2006-01-02 15:04:05 UTC")
	out, err := exec.Command(bin, "--totp", "-b", "-w", "6", "--now", from, secret).CombinedOutput()
	if err != nil {
		tb.Fatalf("oathtool: %v: %s", err, out)
	}
	near := strings.Fields(string(out))
	if len(near) != 7 {
		tb.Fatalf("oathtool -w 6 printed %d codes, want 7", len(near))
	}
	var codes []string
	for i := 1; len(codes) < n; i++ {
		c := fmt.Sprintf("%06d", i*142857%1000000)
		if !slices.Contains(near, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

// apiUnlock runs `coffer admin user unlock` against the running server's
// data directory.
func apiUnlock(tb testing.TB, srv *testserver.Server, email string) {
	tb.Helper()
	var out testserver.SyncBuffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	if code := cli.Run(context.Background(), []string{"admin", "user", "unlock", "--data", srv.DataDir, "--email", email}, env); code != 0 {
		tb.Fatalf("admin user unlock %s: exit %d: %s", email, code, out.String())
	}
}

// apiEnroll creates a user and completes forced enrollment (see enrollUser).
func apiEnroll(tb testing.TB, srv *testserver.Server, c *client.Client, email string) *enrolled {
	tb.Helper()
	return enrollUser(tb, srv, c, email, apiName, apiPassword)
}

// apiLoginMFA signs in with the right password and returns the login token
// of the second-factor stage.
func apiLoginMFA(tb testing.TB, c *client.Client, email string) string {
	tb.Helper()
	lr, err := c.Login(context.Background(), email, apiPassword)
	if err != nil {
		tb.Fatalf("login %s: %v", email, err)
	}
	if lr.Status != "mfa_required" {
		tb.Fatalf("login %s: status %q, want mfa_required", email, lr.Status)
	}
	return lr.LoginToken
}

// apiMe returns /me for session, failing the test on error.
func apiMe(tb testing.TB, c *client.Client, session string) *client.Me {
	tb.Helper()
	me, err := c.Me(context.Background(), session)
	if err != nil {
		tb.Fatalf("me: %v", err)
	}
	return me
}

// apiWantCodes checks a set of recovery codes: ten, distinct, well formed.
func apiWantCodes(tb testing.TB, codes []string) {
	tb.Helper()
	if len(codes) != 10 {
		tb.Fatalf("got %d recovery codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !apiRecoveryCodeRE.MatchString(c) {
			tb.Errorf("recovery code %q does not look like xxxx-xxxx-xxxx-xxxx", c)
		}
		if seen[c] {
			tb.Errorf("recovery code %q given twice", c)
		}
		seen[c] = true
	}
}

// TestAPIJourney is an integrator's first sign-in from start to end:
// password, forced enrollment read from the QR code by zbarimg, a code from
// oathtool, the session, sign-out, and the second sign-in with a code.
func TestAPIJourney(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	c := apiClient(t, srv, "127.0.0.11")
	ctx := context.Background()
	const email = "journey@example.com"
	srv.AddUser(t, email, apiName, apiPassword)

	var loginToken, secret, session string
	apiStep(t, "password gives only an enrollment login", func(t *testing.T) {
		lr, err := c.Login(ctx, email, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		if lr.Status != "mfa_enrollment_required" || !slices.Equal(lr.Methods, []string{"totp"}) || !strings.HasPrefix(lr.LoginToken, "cfl_") {
			t.Fatalf("login = %+v, want mfa_enrollment_required, [totp], a cfl_ token", lr)
		}
		loginToken = lr.LoginToken
	})
	apiStep(t, "QR code decoded by zbarimg is the otpauth URI", func(t *testing.T) {
		en, err := c.EnrollTOTP(ctx, loginToken)
		if err != nil {
			t.Fatal(err)
		}
		png, err := base64.StdEncoding.DecodeString(en.QRPNGBase64)
		if err != nil {
			t.Fatalf("qr_png_base64: %v", err)
		}
		uri := decodeQR(t, png)
		if uri != en.OtpauthURI {
			t.Fatalf("QR code says %q, otpauth_uri says %q", uri, en.OtpauthURI)
		}
		shape := regexp.MustCompile(`^otpauth://totp/Coffer:` + regexp.QuoteMeta(email) +
			`\?secret=([A-Z2-7]{32})&issuer=Coffer&algorithm=SHA1&digits=6&period=30$`)
		m := shape.FindStringSubmatch(uri)
		if m == nil {
			t.Fatalf("otpauth URI %q does not have the shape otpauth://totp/Coffer:EMAIL?secret=…&issuer=Coffer&algorithm=SHA1&digits=6&period=30", uri)
		}
		if m[1] != en.Secret {
			t.Errorf("URI secret differs from the secret field")
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
		if err != nil || len(raw) != 20 {
			t.Errorf("secret is %d bytes (%v), want 20 (160 bits)", len(raw), err)
		}
		secret = m[1]
	})
	apiStep(t, "confirm with an oathtool code gives recovery codes and a session", func(t *testing.T) {
		conf, err := c.ConfirmTOTP(ctx, loginToken, oathTOTP(t, secret, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		apiWantCodes(t, conf.RecoveryCodes)
		if !strings.HasPrefix(conf.SessionToken, "cfs_") {
			t.Fatalf("session token %q lacks the cfs_ prefix", conf.SessionToken)
		}
		if conf.ExpiresAt == nil || time.Until(*conf.ExpiresAt) > 12*time.Hour+time.Minute || time.Until(*conf.ExpiresAt) < 11*time.Hour {
			t.Errorf("session expires at %v, want about 12 hours from now", conf.ExpiresAt)
		}
		session = conf.SessionToken
	})
	apiStep(t, "me", func(t *testing.T) {
		me := apiMe(t, c, session)
		if me.Email != email || me.Name != apiName || me.RecoveryCodesLeft != 10 {
			t.Errorf("me = %+v, want %s, %s, 10 recovery codes", me, email, apiName)
		}
		if d := time.Since(me.Session.MFAAt); d < -time.Minute || d > time.Minute {
			t.Errorf("session mfa_at = %v, want now", me.Session.MFAAt)
		}
	})
	apiStep(t, "logout ends the session", func(t *testing.T) {
		if err := c.Logout(ctx, session); err != nil {
			t.Fatal(err)
		}
		_, err := c.Me(ctx, session)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
	})
	apiStep(t, "second sign-in asks for the second factor", func(t *testing.T) {
		lr, err := c.Login(ctx, email, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		methods := slices.Sorted(slices.Values(lr.Methods))
		if lr.Status != "mfa_required" || !slices.Equal(methods, []string{"recovery_code", "totp"}) {
			t.Fatalf("login = %+v, want mfa_required with totp and recovery_code", lr)
		}
		loginToken = lr.LoginToken
	})
	apiStep(t, "a fresh oathtool code completes it", func(t *testing.T) {
		res, err := c.LoginMFA(ctx, loginToken, "totp", apiNextStepCode(t, secret))
		if err != nil {
			t.Fatal(err)
		}
		if res.SessionToken == session || !strings.HasPrefix(res.SessionToken, "cfs_") {
			t.Fatalf("session token %q: want a new cfs_ token", res.SessionToken)
		}
		me := apiMe(t, c, res.SessionToken)
		if me.Email != email || me.LastLoginAt == nil {
			t.Errorf("me = %+v, want %s with a last login", me, email)
		}
	})
}

// TestAPINoSessionWithoutSecondFactor checks that a password alone never
// yields a session, whatever the integrator does with the login token.
func TestAPINoSessionWithoutSecondFactor(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	srv := testserver.Start(t)
	hc := apiHTTP(t, srv, "127.0.0.21")
	c := client.New(srv.URL, hc)
	ctx := context.Background()
	const email = "gate@example.com"
	srv.AddUser(t, email, apiName, apiPassword)

	// refusedAsSession checks that token opens none of the session routes.
	refusedAsSession := func(t *testing.T, token string) {
		t.Helper()
		auth := apiJSON()
		auth.Set("Authorization", "Bearer "+token)
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/v1/me", ""},
			{http.MethodPost, "/api/v1/logout", ""},
			{http.MethodPost, "/api/v1/logout/all", ""},
			{http.MethodPost, "/api/v1/mfa/recovery-codes", `{"code":"123456"}`},
		} {
			resp := apiDo(t, hc, srv, r.method, r.path, auth, strings.NewReader(r.body))
			if resp.Status != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with a login token: %d (WWW-Authenticate %q), want 401 with a Bearer challenge",
					r.method, r.path, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}

	var secret string
	var codes []string
	apiStep(t, "enrollment login token is not a session", func(t *testing.T) {
		lr, err := c.Login(ctx, email, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		refusedAsSession(t, lr.LoginToken)
	})
	apiStep(t, "enrollment login gives a session only through confirm", func(t *testing.T) {
		lr, err := c.Login(ctx, email, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		tok := lr.LoginToken
		en, err := c.EnrollTOTP(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		good := oathTOTP(t, en.Secret, time.Now())
		_, err = c.LoginMFA(ctx, tok, "totp", good)
		apiWantErr(t, err, http.StatusForbidden, "forbidden", "")
		_, err = c.LoginMFA(ctx, tok, "recovery_code", "abcd-efgh-jkmn-pqrs")
		apiWantErr(t, err, http.StatusForbidden, "forbidden", "")
		conf, err := c.ConfirmTOTP(ctx, tok, apiWrongCodes(t, en.Secret, 1)[0])
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		if conf != nil {
			t.Fatalf("a wrong confirmation code gave %+v", conf)
		}
		refusedAsSession(t, tok)

		conf, err = c.ConfirmTOTP(ctx, tok, good)
		if err != nil {
			t.Fatalf("confirm with the right code: %v", err)
		}
		apiMe(t, c, conf.SessionToken)
		secret, codes = en.Secret, conf.RecoveryCodes

		// The login token was spent on that session.
		_, err = c.EnrollTOTP(ctx, tok)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		_, err = c.ConfirmTOTP(ctx, tok, good)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
	})
	apiStep(t, "second-factor login token is not a session and cannot enroll", func(t *testing.T) {
		tok := apiLoginMFA(t, c, email)
		refusedAsSession(t, tok)
		_, err := c.EnrollTOTP(ctx, tok)
		apiWantErr(t, err, http.StatusForbidden, "forbidden", "")
		_, err = c.ConfirmTOTP(ctx, tok, apiNextStepCode(t, secret))
		apiWantErr(t, err, http.StatusForbidden, "forbidden", "")
	})
	apiStep(t, "a login token yields one session", func(t *testing.T) {
		tok := apiLoginMFA(t, c, email)
		res, err := c.LoginMFA(ctx, tok, "recovery_code", codes[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.LoginMFA(ctx, tok, "recovery_code", codes[1])
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "expired or is not valid")
		_, err = c.LoginMFA(ctx, tok, "totp", apiNextStepCode(t, secret))
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "expired or is not valid")
		if left := apiMe(t, c, res.SessionToken).RecoveryCodesLeft; left != 9 {
			t.Errorf("recovery codes left = %d, want 9 (the refused attempts must not spend codes)", left)
		}
	})
	t.Run("enrollment login started before the account had a factor is dead after", func(t *testing.T) {
		// Someone with the password signs in while the owner is still
		// enrolling; once the owner's factor exists, that earlier login
		// must not add another authenticator (and a session) without it.
		const late = "late@example.com"
		srv.AddUser(t, late, apiName, apiPassword)
		owner, err := c.Login(ctx, late, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		other := client.New(srv.URL, apiHTTP(t, srv, "127.0.0.22"))
		stale, err := other.Login(ctx, late, apiPassword)
		if err != nil {
			t.Fatal(err)
		}
		en, err := c.EnrollTOTP(ctx, owner.LoginToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ConfirmTOTP(ctx, owner.LoginToken, oathTOTP(t, en.Secret, time.Now())); err != nil {
			t.Fatal(err)
		}
		en2, err := other.EnrollTOTP(ctx, stale.LoginToken)
		if err == nil {
			t.Errorf("an enrollment login from before the owner enrolled started a second enrollment")
			conf, err := other.ConfirmTOTP(ctx, stale.LoginToken, oathTOTP(t, en2.Secret, time.Now()))
			if err == nil && conf.SessionToken != "" {
				t.Fatalf("second factor bypassed: with only the password, the earlier login enrolled its own authenticator and got a session")
			}
			return
		}
		var ce *client.Error
		if !errors.As(err, &ce) || (ce.Status != http.StatusForbidden && ce.Status != http.StatusUnauthorized) {
			t.Fatalf("enroll with the stale login token: %v, want 401 or 403", err)
		}
		t.Logf("enroll with the stale login token: %v", err)
	})
}

// TestAPITOTPReplay checks that a TOTP code is accepted once, also when two
// sign-ins race with it.
func TestAPITOTPReplay(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	ctx := context.Background()

	t.Run("sequential", func(t *testing.T) {
		c := apiClient(t, srv, "127.0.0.31")
		u := apiEnroll(t, srv, c, "replay@example.com")
		code := apiNextStepCode(t, u.Secret)
		if _, err := c.LoginMFA(ctx, apiLoginMFA(t, c, u.Email), "totp", code); err != nil {
			t.Fatalf("first use: %v", err)
		}
		tok := apiLoginMFA(t, c, u.Email)
		_, err := c.LoginMFA(ctx, tok, "totp", code)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "already been used")
		// The refused code did not spend the login.
		if _, err := c.LoginMFA(ctx, tok, "recovery_code", u.RecoveryCodes[0]); err != nil {
			t.Fatalf("the login after a replayed code: %v", err)
		}
	})
	t.Run("concurrent on two pending logins", func(t *testing.T) {
		for round := range 3 {
			a := apiClient(t, srv, "127.0.0.32")
			b := apiClient(t, srv, "127.0.0.33")
			u := apiEnroll(t, srv, a, fmt.Sprintf("race-%d@example.com", round))
			clients := []*client.Client{a, b}
			tokens := []string{apiLoginMFA(t, a, u.Email), apiLoginMFA(t, b, u.Email)}
			code := apiNextStepCode(t, u.Secret)

			results := make([]*client.SessionResult, 2)
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					<-start
					results[i], errs[i] = clients[i].LoginMFA(ctx, tokens[i], "totp", code)
				})
			}
			close(start)
			wg.Wait()

			var won []int
			for i := range 2 {
				if errs[i] == nil {
					won = append(won, i)
				}
			}
			if len(won) != 1 {
				t.Fatalf("round %d: %d of 2 racing sign-ins with one code succeeded (errors %v), want exactly 1", round, len(won), errs)
			}
			winner, loser := won[0], 1-won[0]
			apiWantErr(t, errs[loser], http.StatusUnauthorized, "unauthorized", "already been used")
			apiMe(t, clients[winner], results[winner].SessionToken)
			_, err := clients[loser].LoginMFA(ctx, tokens[loser], "totp", code)
			apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "already been used")
		}
	})
}

// TestAPIRecoveryCodes checks that recovery codes are single use and that
// regenerating them (with a fresh TOTP code) retires the old set.
func TestAPIRecoveryCodes(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	c := apiClient(t, srv, "127.0.0.41")
	ctx := context.Background()
	u := apiEnroll(t, srv, c, "recovery@example.com")
	old := u.RecoveryCodes

	var session, pending string
	apiStep(t, "ten distinct codes", func(t *testing.T) { apiWantCodes(t, old) })
	apiStep(t, "a code works once", func(t *testing.T) {
		res, err := c.LoginMFA(ctx, apiLoginMFA(t, c, u.Email), "recovery_code", old[0])
		if err != nil {
			t.Fatal(err)
		}
		session = res.SessionToken
		if left := apiMe(t, c, session).RecoveryCodesLeft; left != 9 {
			t.Errorf("recovery codes left = %d, want 9", left)
		}
		pending = apiLoginMFA(t, c, u.Email)
		_, err = c.LoginMFA(ctx, pending, "recovery_code", old[0])
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "already been used")
		if left := apiMe(t, c, session).RecoveryCodesLeft; left != 9 {
			t.Errorf("recovery codes left after a refused reuse = %d, want 9", left)
		}
	})
	apiStep(t, "a code typed in upper case without hyphens works", func(t *testing.T) {
		typed := strings.ToUpper(strings.ReplaceAll(old[1], "-", ""))
		if _, err := c.LoginMFA(ctx, pending, "recovery_code", typed); err != nil {
			t.Fatal(err)
		}
		if left := apiMe(t, c, session).RecoveryCodesLeft; left != 8 {
			t.Errorf("recovery codes left = %d, want 8", left)
		}
	})
	var fresh []string
	apiStep(t, "regenerate needs a fresh TOTP code", func(t *testing.T) {
		_, err := c.RegenerateRecoveryCodes(ctx, session, apiWrongCodes(t, u.Secret, 1)[0])
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		code := apiNextStepCode(t, u.Secret)
		if fresh, err = c.RegenerateRecoveryCodes(ctx, session, code); err != nil {
			t.Fatal(err)
		}
		apiWantCodes(t, fresh)
		for _, f := range fresh {
			if slices.Contains(old, f) {
				t.Errorf("new code %q was in the old set", f)
			}
		}
		if left := apiMe(t, c, session).RecoveryCodesLeft; left != 10 {
			t.Errorf("recovery codes left = %d, want 10", left)
		}
		_, err = c.RegenerateRecoveryCodes(ctx, session, code)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "already been used")
	})
	apiStep(t, "old unused codes no longer work, new ones do", func(t *testing.T) {
		tok := apiLoginMFA(t, c, u.Email)
		_, err := c.LoginMFA(ctx, tok, "recovery_code", old[2])
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		if _, err := c.LoginMFA(ctx, tok, "recovery_code", fresh[0]); err != nil {
			t.Fatal(err)
		}
		if left := apiMe(t, c, session).RecoveryCodesLeft; left != 9 {
			t.Errorf("recovery codes left = %d, want 9", left)
		}
	})
}

// TestAPILockout checks that 10 consecutive failures of the password or the
// second factor lock the account for at least 30 minutes, that unknown
// emails lock the same way, and that an administrator can unlock.
func TestAPILockout(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	ctx := context.Background()

	// wantLocked checks a lockout refusal and returns it.
	wantLocked := func(t *testing.T, err error) *client.Error {
		t.Helper()
		ce := apiWantErr(t, err, http.StatusTooManyRequests, "rate_limited", "locked")
		// 30 minutes from the 10th failure, less the time since (slow
		// machines under -race get 100 s of slack).
		if s, err := strconv.Atoi(ce.RetryAfter); err != nil || s < 1700 || s > 1801 {
			t.Errorf("Retry-After %q, want about 1800 seconds (30 minutes)", ce.RetryAfter)
		}
		return ce
	}
	var wrongPassword, lockedKnown *client.Error

	t.Run("ten wrong passwords", func(t *testing.T) {
		c := apiClient(t, srv, "127.0.0.51")
		const email = "lock-password@example.com"
		srv.AddUser(t, email, apiName, apiPassword)
		for range 10 {
			_, err := c.Login(ctx, email, apiWrongPassword)
			wrongPassword = apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "incorrect")
		}
		_, err := c.Login(ctx, email, apiPassword)
		lockedKnown = wantLocked(t, err)

		apiUnlock(t, srv, email)
		lr, err := c.Login(ctx, email, apiPassword)
		if err != nil {
			t.Fatalf("the right password after unlock: %v", err)
		}
		if lr.Status != "mfa_enrollment_required" {
			t.Errorf("status %q after unlock", lr.Status)
		}
	})
	t.Run("ten wrong codes after the right password", func(t *testing.T) {
		c := apiClient(t, srv, "127.0.0.52")
		u := apiEnroll(t, srv, c, "lock-code@example.com")
		tok := apiLoginMFA(t, c, u.Email)
		for _, code := range apiWrongCodes(t, u.Secret, 10) {
			_, err := c.LoginMFA(ctx, tok, "totp", code)
			apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		}
		good := apiNextStepCode(t, u.Secret)
		_, err := c.LoginMFA(ctx, tok, "totp", good)
		wantLocked(t, err)
		_, err = c.LoginMFA(ctx, tok, "recovery_code", u.RecoveryCodes[0])
		wantLocked(t, err)
		_, err = c.Login(ctx, u.Email, apiPassword)
		wantLocked(t, err)

		apiUnlock(t, srv, u.Email)
		tok = apiLoginMFA(t, c, u.Email)
		// The code refused while locked was never checked, so it is unused.
		res, err := c.LoginMFA(ctx, tok, "totp", good)
		if err != nil {
			t.Fatalf("the right code after unlock: %v", err)
		}
		if left := apiMe(t, c, res.SessionToken).RecoveryCodesLeft; left != 10 {
			t.Errorf("recovery codes left = %d, want 10: a code was spent while locked", left)
		}
	})
	t.Run("password and code failures add up", func(t *testing.T) {
		c := apiClient(t, srv, "127.0.0.53")
		u := apiEnroll(t, srv, c, "lock-mixed@example.com")
		for range 5 {
			_, err := c.Login(ctx, u.Email, apiWrongPassword)
			apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "incorrect")
		}
		// A right password alone does not reset the count.
		tok := apiLoginMFA(t, c, u.Email)
		for _, code := range apiWrongCodes(t, u.Secret, 5) {
			_, err := c.LoginMFA(ctx, tok, "totp", code)
			apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		}
		_, err := c.LoginMFA(ctx, tok, "totp", apiNextStepCode(t, u.Secret))
		wantLocked(t, err)
	})
	t.Run("unknown email locks the same way", func(t *testing.T) {
		c := apiClient(t, srv, "127.0.0.54")
		const email = "lock-nobody@example.com"
		for range 10 {
			_, err := c.Login(ctx, email, apiPassword)
			ce := apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "incorrect")
			if wrongPassword != nil && ce.Message != wrongPassword.Message {
				t.Errorf("unknown email: %q, wrong password: %q", ce.Message, wrongPassword.Message)
			}
		}
		_, err := c.Login(ctx, email, apiPassword)
		ce := wantLocked(t, err)
		if lockedKnown != nil && (ce.Code != lockedKnown.Code || ce.Message != lockedKnown.Message) {
			t.Errorf("locked unknown email: %s %q, locked account: %s %q", ce.Code, ce.Message, lockedKnown.Code, lockedKnown.Message)
		}
	})
}

// TestAPINoUserEnumeration checks that a wrong password and an unknown
// email cannot be told apart by status, body, headers or timing. It does
// not run in parallel, so that the timing is not skewed by other tests.
func TestAPINoUserEnumeration(t *testing.T) {
	srv := testserver.Start(t)
	srv.AddUser(t, "enum-a@example.com", apiName, apiPassword)
	srv.AddUser(t, "enum-b@example.com", apiName, apiPassword)

	login := func(hc *http.Client, email, password string) (*apiResponse, time.Duration) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"email": email, "password": password})
		start := time.Now()
		r := apiDo(t, hc, srv, http.MethodPost, "/api/v1/login", apiJSON(), bytes.NewReader(body))
		return r, time.Since(start)
	}

	t.Run("identical answers", func(t *testing.T) {
		hc := apiHTTP(t, srv, "127.0.0.61")
		base, _ := login(hc, "enum-a@example.com", apiWrongPassword)
		if base.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d %s", base.Status, base.Body)
		}
		for _, tt := range []struct{ name, email, password string }{
			{"unknown email", "enum-nobody@example.com", apiWrongPassword},
			{"unknown email in upper case", "ENUM-NOBODY2@EXAMPLE.COM", apiPassword},
			{"not an email address", "enum-a", apiWrongPassword},
			{"overlong password", "enum-a@example.com", strings.Repeat("x", 5000)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := login(hc, tt.email, tt.password)
				if r.Status != base.Status || !bytes.Equal(r.Body, base.Body) {
					t.Errorf("%d %s, wrong password gave %d %s", r.Status, r.Body, base.Status, base.Body)
				}
				h1, h2 := r.Header.Clone(), base.Header.Clone()
				h1.Del("Date")
				h2.Del("Date")
				if !maps.EqualFunc(h1, h2, slices.Equal) {
					t.Errorf("headers differ:\n%v\nwrong password:\n%v", h1, h2)
				}
			})
		}
	})
	t.Run("similar timing", func(t *testing.T) {
		hc := apiHTTP(t, srv, "127.0.0.62")
		login(hc, "enum-warmup@example.com", apiWrongPassword) // connection and caches
		const rounds = 8                                       // under the 10 failures that lock enum-b
		var known, unknown []time.Duration
		for i := range rounds {
			measure := []func(){
				func() {
					r, d := login(hc, "enum-b@example.com", apiWrongPassword)
					if r.Status != http.StatusUnauthorized {
						t.Fatalf("wrong password: %d %s", r.Status, r.Body)
					}
					known = append(known, d)
				},
				func() {
					r, d := login(hc, fmt.Sprintf("enum-ghost-%d@example.com", i), apiWrongPassword)
					if r.Status != http.StatusUnauthorized {
						t.Fatalf("unknown email: %d %s", r.Status, r.Body)
					}
					unknown = append(unknown, d)
				},
			}
			if i%2 == 1 {
				slices.Reverse(measure)
			}
			for _, m := range measure {
				m()
			}
		}
		median := func(ds []time.Duration) time.Duration {
			s := slices.Sorted(slices.Values(ds))
			return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
		}
		mk, mu := median(known), median(unknown)
		ratio := float64(mk) / float64(mu)
		t.Logf("median time: wrong password %v, unknown email %v, ratio %.2f", mk, mu, ratio)
		if ratio < 0.5 || ratio > 2.0 {
			t.Errorf("wrong password takes %.2f× the time of an unknown email (medians %v vs %v), want within 0.5–2.0", ratio, mk, mu)
		}
	})
}

// TestAPISecretsNotStored reads the SQLite files and the server log as bytes
// and checks that no TOTP secret, recovery code, token or password is there
// in the clear.
func TestAPISecretsNotStored(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	c := apiClient(t, srv, "127.0.0.71")
	ctx := context.Background()
	u := apiEnroll(t, srv, c, "vault@example.com")
	loginToken := apiLoginMFA(t, c, u.Email)
	res, err := c.LoginMFA(ctx, loginToken, "totp", apiNextStepCode(t, u.Secret))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Secret)
	if err != nil {
		t.Fatal(err)
	}

	type needle struct {
		what string
		b    []byte
	}
	needles := []needle{
		{"TOTP secret (base32)", []byte(u.Secret)},
		{"TOTP secret (lower-case base32)", []byte(strings.ToLower(u.Secret))},
		{"TOTP secret (raw bytes)", raw},
		{"session token from enrollment", []byte(u.Session)},
		{"session token from enrollment (without prefix)", []byte(strings.TrimPrefix(u.Session, "cfs_"))},
		{"session token from sign-in", []byte(res.SessionToken)},
		{"session token from sign-in (without prefix)", []byte(strings.TrimPrefix(res.SessionToken, "cfs_"))},
		{"login token", []byte(loginToken)},
		{"password", []byte(apiPassword)},
	}
	for i, rc := range u.RecoveryCodes {
		needles = append(needles,
			needle{fmt.Sprintf("recovery code %d", i), []byte(rc)},
			needle{fmt.Sprintf("recovery code %d without hyphens", i), []byte(strings.ReplaceAll(rc, "-", ""))})
	}

	t.Run("database files", func(t *testing.T) {
		var all []byte
		for _, name := range []string{"coffer.db", "coffer.db-wal", "coffer.db-shm"} {
			data, err := os.ReadFile(filepath.Join(srv.DataDir, name))
			if errors.Is(err, os.ErrNotExist) && name != "coffer.db" {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, data...)
			for _, n := range needles {
				if bytes.Contains(data, n.b) {
					t.Errorf("%s holds the %s in the clear", name, n.what)
				}
			}
		}
		// Make sure the files read are the ones written to.
		if !bytes.Contains(all, []byte(u.Email)) {
			t.Fatalf("the database files do not contain %s: not the server's database?", u.Email)
		}
	})
	t.Run("server log", func(t *testing.T) {
		log := []byte(srv.Log.String())
		for _, n := range needles {
			if bytes.Contains(log, n.b) {
				t.Errorf("the server log holds the %s", n.what)
			}
		}
	})
}

// TestAPIBadInput checks that malformed requests get a 4xx with a JSON error
// body, never a 500 or a stack trace.
func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	hc := apiHTTP(t, srv, "127.0.0.81")

	const login = `{"email":"input@example.com","password":"plum orbit varnish quietly 7"}`
	// A JSON object that is still well formed when the limit cuts it, so
	// that only its size can be refused.
	big := `{"email":"input@example.com","password":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, path, ctype, auth, body string
		// unsized sends the body without a Content-Length.
		unsized bool
		status  int
	}{
		{name: "malformed JSON", path: "/api/v1/login", body: `{"email":"input@example.com","password":`, status: 400},
		{name: "broken JSON token", path: "/api/v1/login", body: `{"email":tru}`, status: 400},
		{name: "empty body", path: "/api/v1/login", body: "", status: 400},
		{name: "JSON array", path: "/api/v1/login", body: `[]`, status: 400},
		{name: "JSON string", path: "/api/v1/login", body: `"hello"`, status: 400},
		{name: "unknown field", path: "/api/v1/login", body: `{"email":"input@example.com","password":"x","is_admin":true}`, status: 400},
		{name: "number for email", path: "/api/v1/login", body: `{"email":5,"password":"x"}`, status: 400},
		{name: "object for password", path: "/api/v1/login", body: `{"email":"input@example.com","password":{}}`, status: 400},
		{name: "array for code", path: "/api/v1/login/mfa", body: `{"login_token":"cfl_x","method":"totp","code":[1]}`, status: 400},
		{name: "trailing garbage", path: "/api/v1/login", body: login + ` garbage`, status: 400},
		{name: "two objects", path: "/api/v1/login", body: login + login, status: 400},
		{name: "deeply nested", path: "/api/v1/login", body: strings.Repeat("[", 20000), status: 400},
		{name: "1 MiB body", path: "/api/v1/login", body: big, status: 413},
		{name: "1 MiB body without Content-Length", path: "/api/v1/login", body: big, unsized: true, status: 413},
		{name: "text/plain", path: "/api/v1/login", ctype: "text/plain", body: login, status: 415},
		{name: "form content type", path: "/api/v1/login", ctype: "application/x-www-form-urlencoded", body: "email=a&password=b", status: 415},
		{name: "no content type", path: "/api/v1/login", ctype: "-", body: login, status: 415},
		{name: "GET on the login route", method: http.MethodGet, path: "/api/v1/login", ctype: "-", status: 405},
		{name: "GET on the logout route", method: http.MethodGet, path: "/api/v1/logout", ctype: "-", status: 405},
		{name: "DELETE on me", method: http.MethodDelete, path: "/api/v1/me", ctype: "-", status: 405},
		{name: "unknown endpoint", method: http.MethodGet, path: "/api/v1/nope", ctype: "-", status: 404},
		{name: "unknown endpoint POST", path: "/api/v1/nope", body: `{}`, status: 404},
		{name: "me without a bearer", method: http.MethodGet, path: "/api/v1/me", ctype: "-", status: 401},
		{name: "me with a garbage bearer", method: http.MethodGet, path: "/api/v1/me", ctype: "-", auth: "Bearer not-a-token", status: 401},
		{name: "me with a session-shaped garbage bearer", method: http.MethodGet, path: "/api/v1/me", ctype: "-", auth: "Bearer cfs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", status: 401},
		{name: "me with basic auth", method: http.MethodGet, path: "/api/v1/me", ctype: "-", auth: "Basic dXNlcjpwYXNz", status: 401},
		{name: "me with an empty bearer", method: http.MethodGet, path: "/api/v1/me", ctype: "-", auth: "Bearer ", status: 401},
		{name: "enroll without a bearer", path: "/api/v1/mfa/totp/enroll", ctype: "-", status: 401},
		{name: "enroll with a garbage login token", path: "/api/v1/mfa/totp/enroll", ctype: "-", auth: "Bearer cfl_garbage", status: 401},
		{name: "regenerate codes without a bearer", path: "/api/v1/mfa/recovery-codes", body: `{"code":"123456"}`, status: 401},
		{name: "logout without a bearer", path: "/api/v1/logout", ctype: "-", status: 401},
		{name: "second factor with a garbage login token", path: "/api/v1/login/mfa", body: `{"login_token":"cfl_garbage","method":"totp","code":"123456"}`, status: 401},
		{name: "second factor with an unknown field", path: "/api/v1/login/mfa", body: `{"login_token":"cfl_x","method":"totp","code":"1","extra":1}`, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			h := http.Header{}
			switch tt.ctype {
			case "":
				h.Set("Content-Type", "application/json")
			case "-":
			default:
				h.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			var body io.Reader
			if tt.body != "" || method == http.MethodPost {
				body = strings.NewReader(tt.body)
				if tt.unsized {
					body = io.MultiReader(body) // hides the length
				}
			}
			r := apiDo(t, hc, srv, method, tt.path, h, body)
			if r.Status != tt.status {
				t.Errorf("status %d, want %d: %.200s", r.Status, tt.status, r.Body)
			}
			if r.Status >= 500 {
				t.Errorf("server error %d", r.Status)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if apiTraceRE.Match(r.Body) {
				t.Errorf("body looks like a stack trace: %.300s", r.Body)
			}
			apiErrorBody(t, r.Body)
			if r.Status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") &&
				!strings.HasPrefix(tt.path, "/api/v1/login") {
				t.Errorf("401 without a Bearer challenge (WWW-Authenticate %q)", r.Header.Get("WWW-Authenticate"))
			}
			if allow := r.Header.Get("Allow"); r.Status == http.StatusMethodNotAllowed && (allow == "" || strings.Contains(allow, method)) {
				t.Errorf("405 with Allow %q", allow)
			}
		})
	}
	if log := srv.Log.String(); strings.Contains(log, "panic") || strings.Contains(log, "internal error") {
		t.Errorf("server log shows a panic or internal error:\n%s", log)
	}
}

// TestAPITransport checks HTTPS only, TLS 1.2 or later with AEAD suites,
// and the security headers.
func TestAPITransport(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	pem, err := os.ReadFile(filepath.Join(srv.DataDir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("bad certificate PEM")
	}

	t.Run("plain HTTP is refused", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", srv.Addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil && len(got) == 0 {
			t.Fatalf("read: %v", err)
		}
		status, rest, _ := strings.Cut(string(got), "\r\n")
		if !regexp.MustCompile(`^HTTP/1\.[01] 400 `).MatchString(status) {
			t.Fatalf("answer %q, want a 400 status line", got)
		}
		for _, leak := range []string{"<", "Coffer", "coffer", "Set-Cookie", "security.txt"} {
			if strings.Contains(rest, leak) {
				t.Errorf("the refusal carries page data (%q): %q", leak, got)
			}
		}
		if len(got) > 256 {
			t.Errorf("the refusal is %d bytes long: %q", len(got), got)
		}
	})

	for _, tt := range []struct {
		name     string
		min, max uint16
		suites   []uint16
		ok       bool
	}{
		{name: "TLS 1.0", min: tls.VersionTLS10, max: tls.VersionTLS10},
		{name: "TLS 1.1", min: tls.VersionTLS10, max: tls.VersionTLS11},
		{name: "TLS 1.2 with only CBC suites", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
		{name: "TLS 1.2", min: tls.VersionTLS12, max: tls.VersionTLS12, ok: true},
		{name: "TLS 1.3", min: tls.VersionTLS13, max: tls.VersionTLS13, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tt.min, MaxVersion: tt.max, CipherSuites: tt.suites}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", srv.Addr, conf)
			if !tt.ok {
				if err == nil {
					st := conn.ConnectionState()
					conn.Close()
					t.Fatalf("handshake succeeded with %s / %s, want it refused", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				// The refusal must come from the server, not from a client
				// that could not even offer the version.
				if !strings.Contains(err.Error(), "remote error") {
					t.Errorf("handshake error %q is not the server's refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.Version != tt.max {
				t.Errorf("negotiated %s", tls.VersionName(st.Version))
			}
			if name := tls.CipherSuiteName(st.CipherSuite); !strings.Contains(name, "GCM") && !strings.Contains(name, "CHACHA20") {
				t.Errorf("negotiated suite %s is not an AEAD", name)
			}
			if st.Version == tls.VersionTLS12 && !strings.HasPrefix(tls.CipherSuiteName(st.CipherSuite), "TLS_ECDHE_") {
				t.Errorf("negotiated suite %s is not forward secret", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}

	t.Run("security headers on API answers", func(t *testing.T) {
		hc := srv.HTTPClient("127.0.0.91") // not apiHTTP: checked here, explicitly
		srv.AddUser(t, "headers@example.com", apiName, apiPassword)
		okLogin := `{"email":"headers@example.com","password":"` + apiPassword + `"}`
		for _, r := range []struct {
			name, method, path, ctype, auth, body string
		}{
			{"login 200", http.MethodPost, "/api/v1/login", "application/json", "", okLogin},
			{"login 401", http.MethodPost, "/api/v1/login", "application/json", "", `{"email":"nobody@example.com","password":"x"}`},
			{"login 400", http.MethodPost, "/api/v1/login", "application/json", "", `{`},
			{"login 413", http.MethodPost, "/api/v1/login", "application/json", "", strings.Repeat(" ", 100<<10)},
			{"login 415", http.MethodPost, "/api/v1/login", "text/plain", "", okLogin},
			{"me 401", http.MethodGet, "/api/v1/me", "", "", ""},
			{"enroll 401", http.MethodPost, "/api/v1/mfa/totp/enroll", "", "Bearer cfl_x", ""},
			{"not found", http.MethodGet, "/api/v1/nope", "", "", ""},
			{"wrong method", http.MethodGet, "/api/v1/login", "", "", ""},
		} {
			h := http.Header{}
			if r.ctype != "" {
				h.Set("Content-Type", r.ctype)
			}
			if r.auth != "" {
				h.Set("Authorization", r.auth)
			}
			resp := apiDo(t, hc, srv, r.method, r.path, h, strings.NewReader(r.body))
			if p := apiHeaderProblems(resp.Header); len(p) > 0 {
				t.Errorf("%s (%d): %s", r.name, resp.Status, strings.Join(p, "; "))
			}
		}
	})
}

// TestAPILogoutEverywhere checks that signing out everywhere ends every
// session of the user, and only theirs.
func TestAPILogoutEverywhere(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	ctx := context.Background()
	laptop := apiClient(t, srv, "127.0.0.92")
	phone := apiClient(t, srv, "127.0.0.93")
	u := apiEnroll(t, srv, laptop, "everywhere@example.com")
	bystander := apiEnroll(t, srv, phone, "bystander@example.com")

	// As a person would: wait for the app to show a new code, type it. (The
	// one test here that waits for a step; it runs in parallel.)
	byCode, err := laptop.LoginMFA(ctx, apiLoginMFA(t, laptop, u.Email), "totp", nextStepCode(t, u.Secret))
	if err != nil {
		t.Fatal(err)
	}
	byRecovery, err := phone.LoginMFA(ctx, apiLoginMFA(t, phone, u.Email), "recovery_code", u.RecoveryCodes[0])
	if err != nil {
		t.Fatal(err)
	}
	sessions := []string{u.Session, byCode.SessionToken, byRecovery.SessionToken}
	for _, s := range sessions {
		apiMe(t, laptop, s)
	}
	n, err := phone.LogoutAll(ctx, byRecovery.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sessions) {
		t.Errorf("sessions_ended = %d, want %d", n, len(sessions))
	}
	for i, s := range sessions {
		if _, err := laptop.Me(ctx, s); err == nil {
			t.Errorf("session %d still works after signing out everywhere", i)
		} else {
			apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
		}
	}
	if me := apiMe(t, phone, bystander.Session); me.Email != bystander.Email {
		t.Errorf("another user's session: %+v", me)
	}
}

// TestAPIAuditTrail runs a sign-in story and reads audit_events from the
// database: every step is there, with the client's address and user agent.
func TestAPIAuditTrail(t *testing.T) {
	t.Parallel()
	requireTool(t, "oathtool")
	requireTool(t, "zbarimg")
	srv := testserver.Start(t)
	const ip = "127.0.0.101"
	c := apiClient(t, srv, ip)
	ctx := context.Background()
	began := time.Now().Add(-time.Second)

	u := apiEnroll(t, srv, c, "audit@example.com")
	_, err := c.Login(ctx, u.Email, apiWrongPassword)
	apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
	_, err = c.Login(ctx, "audit-ghost@example.com", apiPassword)
	apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
	res, err := c.LoginMFA(ctx, apiLoginMFA(t, c, u.Email), "recovery_code", u.RecoveryCodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Logout(ctx, res.SessionToken); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogoutAll(ctx, u.Session); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		_, err := c.Login(ctx, u.Email, apiWrongPassword)
		apiWantErr(t, err, http.StatusUnauthorized, "unauthorized", "")
	}
	_, err = c.Login(ctx, u.Email, apiPassword)
	apiWantErr(t, err, http.StatusTooManyRequests, "rate_limited", "locked")
	apiUnlock(t, srv, u.Email)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT at, user_id, subject, action, outcome, ip, user_agent, detail FROM audit_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type event struct {
		at                                          int64
		userID                                      int64
		subject, action, outcome, ip, agent, detail string
	}
	var events []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.at, &e.userID, &e.subject, &e.action, &e.outcome, &e.ip, &e.agent, &e.detail); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, e := range events {
				t.Logf("audit: %s %s %s %s ip=%s ua=%q %s", time.Unix(e.at, 0).UTC().Format(time.RFC3339), e.subject, e.action, e.outcome, e.ip, e.agent, e.detail)
			}
		}
	}()

	for _, want := range []struct {
		subject, action, outcome, detail string
		fromAPI                          bool
	}{
		{u.Email, "user.create", "success", "", false},
		{u.Email, "login.password", "success", "next=enroll", true},
		{u.Email, "mfa.totp.enroll_confirm", "success", "", true},
		{u.Email, "login", "success", "session=", true},
		{u.Email, "login.password", "failure", "reason=wrong_password", true},
		{"audit-ghost@example.com", "login.password", "failure", "reason=unknown_email", true},
		{u.Email, "login.password", "success", "next=mfa", true},
		{u.Email, "login.mfa.recovery_code", "success", "remaining=9", true},
		{u.Email, "logout", "success", "", true},
		{u.Email, "logout.all", "success", "", true},
		{u.Email, "account.lockout", "failure", "until=", true},
		{u.Email, "login.password", "failure", "reason=locked", true},
		{u.Email, "account.unlock", "success", "", false},
	} {
		name := want.action + " " + want.outcome + " " + want.detail
		i := slices.IndexFunc(events, func(e event) bool {
			return e.subject == want.subject && e.action == want.action && e.outcome == want.outcome && strings.HasPrefix(e.detail, want.detail)
		})
		if i < 0 {
			t.Errorf("no audit event %q for %s", name, want.subject)
			continue
		}
		e := events[i]
		if want.fromAPI && (e.ip != ip || e.agent != apiUserAgent) {
			t.Errorf("%s: ip %q, user agent %q; want %q, %q", name, e.ip, e.agent, ip, apiUserAgent)
		}
		if !want.fromAPI && (e.ip == "" || e.agent == "") {
			t.Errorf("%s: ip %q, user agent %q; want both set", name, e.ip, e.agent)
		}
		if at := time.Unix(e.at, 0); at.Before(began) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: at %v, outside the test's run", name, at)
		}
		if want.subject == u.Email && e.userID == 0 && e.action != "login.password" {
			t.Errorf("%s: no user id", name)
		}
	}
	for _, e := range events {
		for _, secret := range append([]string{apiPassword, apiWrongPassword, u.Secret, u.Session, res.SessionToken}, u.RecoveryCodes...) {
			if strings.Contains(e.subject+e.detail+e.agent, secret) {
				t.Errorf("audit event %s %s holds a secret", e.action, e.outcome)
			}
		}
	}
}
