package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"coffer/internal/testserver"
)

// browserTimeout bounds each browser test: the browser, the server and
// every step share it, so a hung page fails the test instead of CI.
const browserTimeout = 90 * time.Second

// cspRecorder runs in every document before the page's own code (scripts
// the DevTools protocol injects are exempt from the page's CSP) and keeps
// each CSP violation the page reports, so the test sees refused styles,
// scripts or images that a screenshot might not show.
const cspRecorder = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});`

// browserTab is one headless Chromium tab, driven step by step by a test.
type browserTab struct {
	t    *testing.T
	ctx  context.Context
	base string // the server's URL, https://localhost:PORT
	shot string // where screenshots go
}

// newBrowserTab starts headless Chromium with a throwaway profile. The browser
// ends with ctx or the test.
func newBrowserTab(t *testing.T, ctx context.Context, base string) *browserTab {
	t.Helper()
	bin := requireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.IgnoreCertErrors, // the test server's certificate is self-signed
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the tab, then the browser process,
	// then (registered earlier by t.TempDir) the profile directory.
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(tabCtx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder}); err != nil {
		t.Fatalf("install CSP recorder: %v", err)
	}
	shot := os.Getenv("COFFER_E2E_SCREENSHOTS") // keep screenshots for a person to look at
	if shot == "" {
		shot = t.TempDir()
	} else if err := os.MkdirAll(shot, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browserTab{t: t, ctx: tabCtx, base: base, shot: shot}
}

// navigate loads base+path (or an absolute URL) and returns the response of
// the document the browser ended on, after any redirects.
func (b *browserTab) navigate(path string) *network.Response {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.base + path
	}
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", path, err)
	}
	return resp
}

// click clicks the element and waits for the page it leads to, returning
// that page's response. The element must cause a navigation.
func (b *browserTab) click(sel string) *network.Response {
	b.t.Helper()
	b.mustHave(sel)
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s on %s: %v", sel, b.path(), err)
	}
	return resp
}

// fill types value into an empty field, key by key, as a person would.
func (b *browserTab) fill(sel, value string) {
	b.t.Helper()
	b.mustHave(sel)
	if err := chromedp.Do(b.ctx, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value)); err != nil {
		b.t.Fatalf("type into %s: %v", sel, err)
	}
}

// tabEval runs a JavaScript expression in the page.
func tabEval[T any](b *browserTab, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// jsQuote quotes s as a JavaScript string literal.
func jsQuote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// has reports whether an element matches sel now (queries that wait would
// hang until the timeout on a wrong page; this fails fast instead).
func (b *browserTab) has(sel string) bool {
	b.t.Helper()
	return tabEval[bool](b, "document.querySelector("+jsQuote(sel)+") !== null")
}

func (b *browserTab) mustHave(sel string) {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("no %s on %s; page text:\n%s", sel, b.path(), b.text("main"))
	}
}

// text is the trimmed text of the first element matching sel, "" if none.
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	return tabEval[string](b, "(document.querySelector("+jsQuote(sel)+")?.textContent ?? '').trim()")
}

// attr is the attribute as written in the HTML, "" if absent.
func (b *browserTab) attr(sel, name string) string {
	b.t.Helper()
	b.mustHave(sel)
	return tabEval[string](b, "document.querySelector("+jsQuote(sel)+").getAttribute("+jsQuote(name)+") ?? ''")
}

// path is the current location's path and query.
func (b *browserTab) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatalf("location %q: %v", loc, err)
	}
	return u.RequestURI()
}

// expectPage checks that the browser shows path (the query string is
// ignored unless path has one) and, when status is not 0, that the
// document came with that status.
func (b *browserTab) expectPage(resp *network.Response, status int, path string) {
	b.t.Helper()
	got := b.path()
	if !strings.Contains(path, "?") {
		got, _, _ = strings.Cut(got, "?")
	}
	if got != path {
		b.t.Fatalf("on %s, want %s; page text:\n%s", b.path(), path, b.text("main"))
	}
	if status != 0 && resp != nil && int(resp.Status) != status {
		b.t.Fatalf("%s answered %d, want %d", path, resp.Status, status)
	}
	b.expectNoCSPViolations()
}

// expectNoCSPViolations fails if the page broke its own CSP, which would
// mean a style, script or image the page needs was refused.
func (b *browserTab) expectNoCSPViolations() {
	b.t.Helper()
	if v := tabEval[[]string](b, "window.__cspViolations ?? []"); len(v) > 0 {
		b.t.Errorf("%s violates its Content-Security-Policy: %v", b.path(), v)
	}
}

// expectStyled checks that the stylesheet loaded and applies: a person
// would otherwise see an unstyled page.
func (b *browserTab) expectStyled() {
	b.t.Helper()
	rules := tabEval[int](b, `[...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)`)
	if rules == 0 {
		b.t.Errorf("%s has no CSS rules: the stylesheet did not load", b.path())
	}
}

// expectNoScriptCookies checks that page scripts can read no cookie, while
// the browser does hold Coffer's cookies (so the check is not vacuous): all
// of them are HttpOnly, Secure, SameSite=Strict and __Host- prefixed.
func (b *browserTab) expectNoScriptCookies(wantCookie string) {
	b.t.Helper()
	if c := tabEval[string](b, "document.cookie"); c != "" {
		b.t.Errorf("document.cookie = %q on %s, want empty (every cookie HttpOnly)", c, b.path())
	}
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatalf("get cookies: %v", err)
	}
	found := false
	for _, c := range res.Cookies {
		if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict || !strings.HasPrefix(c.Name, "__Host-") || c.Path != "/" {
			b.t.Errorf("cookie %s: httpOnly=%v secure=%v sameSite=%q path=%q; want HttpOnly, Secure, Strict, __Host-, /", c.Name, c.HTTPOnly, c.Secure, c.SameSite, c.Path)
		}
		found = found || c.Name == wantCookie
	}
	if !found {
		b.t.Errorf("the browser holds no %s cookie on %s", wantCookie, b.path())
	}
}

// screenshot saves the whole page as a PNG and logs where.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	f := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(f, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot of %s: %s", b.path(), f)
}

// responseHeader finds a response header whatever its case (HTTP/2 lowercases).
func responseHeader(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// signIn fills the sign-in form and submits it.
func (b *browserTab) signIn(email, password string) *network.Response {
	b.t.Helper()
	b.expectPage(b.navigate("/login"), http.StatusOK, "/login")
	b.fill("#email", email)
	b.fill("#password", password)
	return b.click("#login-submit")
}

// signOut uses the sign-out button in the page header and checks the
// sign-in page says so.
func (b *browserTab) signOut() {
	b.t.Helper()
	resp := b.click(`form[action="/logout"] button[type="submit"]`)
	b.expectPage(resp, http.StatusOK, "/login")
	if msg := b.text(`[role="status"]`); !strings.Contains(msg, "signed out") {
		b.t.Fatalf("after signing out the sign-in page says %q, want a signed-out notice", msg)
	}
	// The session is gone: the dashboard sends the browser to sign in.
	b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
}

var browserRecoveryCodeRE = regexp.MustCompile(`^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$`)

// TestBrowserSignInLifecycle clicks through a new user's life with
// two-step sign-in in headless Chromium: forced authenticator setup from
// the QR code on the page, recovery codes, sign-out, sign-in with a TOTP
// code and with a recovery code, and refusal of a used recovery code.
func TestBrowserSignInLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	b := newBrowserTab(t, ctx, srv.URL)

	const (
		email    = "ada@example.com"
		name     = "Ada Lovelace"
		password = "analytical engine notes 1843"
	)

	t.Log("1. a new user signs in with a password and must set up an authenticator app")
	srv.AddUser(t, email, name, password)
	b.expectPage(b.navigate("/"), http.StatusOK, "/login")
	b.expectStyled()
	b.expectPage(b.signIn(email, password), http.StatusOK, "/enroll")
	// No way around the setup: neither the second-step page nor the
	// dashboard lets the browser in.
	b.expectPage(b.navigate("/login/mfa"), http.StatusOK, "/enroll")
	b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
	if b.has("#dashboard-title") {
		t.Fatal("the dashboard showed before two-step setup")
	}
	// Going to the sign-in page abandons the half-finished sign-in, so sign
	// in again to reach the setup.
	b.expectPage(b.signIn(email, password), http.StatusOK, "/enroll")
	b.expectStyled()
	b.expectNoScriptCookies("__Host-coffer_login")
	b.screenshot("enroll")

	t.Log("2. scan the QR code on the page, confirm with a code, get recovery codes")
	src := b.attr("img#totp-qr", "src")
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("img#totp-qr src = %.40q…, want a data:image/png;base64 URL", src)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("QR data URL: %v", err)
	}
	uri := decodeQR(t, png)
	// What the phone's camera sees: the QR code as the browser draws it.
	shown, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("img#totp-qr")))
	if err != nil {
		t.Fatalf("screenshot of the QR code: %v", err)
	}
	if got := decodeQR(t, shown); got != uri {
		t.Fatalf("the QR code as drawn says %q, its image says %q", got, uri)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "issuer=Coffer") {
		t.Fatalf("QR code says %q, want an otpauth://totp URI with issuer Coffer", uri)
	}
	secret := secretFromURI(t, uri)
	manual := strings.ReplaceAll(b.text("code#totp-secret"), " ", "")
	if manual != secret {
		t.Fatalf("manual key %q differs from the QR code's secret %q", manual, secret)
	}
	b.fill("#code", oathTOTP(t, secret, time.Now()))
	resp := b.click("#enroll-submit")
	b.expectPage(resp, http.StatusOK, "/enroll") // the codes are the answer to the form post
	if h := b.text("h1"); h != "Save your recovery codes" {
		t.Fatalf("after confirming the code the page says %q; page text:\n%s", h, b.text("main"))
	}
	codes := tabEval[[]string](b, `[...document.querySelectorAll("ol#recovery-codes li code")].map(c => c.textContent.trim())`)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10: %q", len(codes), codes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !browserRecoveryCodeRE.MatchString(c) || seen[c] {
			t.Fatalf("recovery codes %q: want 10 distinct xxxx-xxxx-xxxx-xxxx codes", codes)
		}
		seen[c] = true
	}
	href := b.attr("a#download-codes", "href")
	body, ok := strings.CutPrefix(href, "data:text/plain;charset=utf-8,")
	if !ok {
		t.Fatalf("download link %.40q…, want a data:text/plain URL", href)
	}
	txt, err := url.PathUnescape(body)
	if err != nil {
		t.Fatalf("download link: %v", err)
	}
	for _, c := range codes {
		if !strings.Contains(txt, "\n"+c+"\n") {
			t.Fatalf("the download lacks code %s:\n%s", c, txt)
		}
	}
	if !strings.Contains(txt, email) {
		t.Errorf("the download does not say whose codes they are:\n%s", txt)
	}
	b.screenshot("recovery-codes")

	t.Log("3. continue to the dashboard, then sign out")
	resp = b.click("a#codes-continue")
	b.expectPage(resp, http.StatusOK, "/dashboard")
	if csp := responseHeader(resp, "Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("dashboard Content-Security-Policy = %q, want default-src 'none', script-src 'self', no unsafe-inline", csp)
	}
	if h := b.text("h1#dashboard-title"); h != "Welcome, "+name {
		t.Fatalf("dashboard title %q, want %q", h, "Welcome, "+name)
	}
	if n := b.text("#recovery-codes-left"); n != "10" {
		t.Errorf("dashboard shows %q recovery codes left, want 10", n)
	}
	b.expectStyled()
	b.expectNoScriptCookies("__Host-coffer_session")
	b.screenshot("dashboard")
	// The CSP holds in the browser: an inline script does not run.
	ran := tabEval[bool](b, `(() => {
		const s = document.createElement("script");
		s.textContent = "window.__inlineRan = true";
		document.body.appendChild(s);
		return window.__inlineRan === true;
	})()`)
	if ran {
		t.Error("an inline script ran on the dashboard: the CSP does not protect it")
	}
	if v := tabEval[[]string](b, "window.__cspViolations"); len(v) != 1 || !strings.HasPrefix(v[0], "script-src") {
		t.Errorf("CSP violations after the inline script: %q, want one script-src violation", v)
	}
	b.signOut()

	t.Log("4. sign in with the password and a fresh authenticator code")
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	// The setup used the current step; the server accepts one step of
	// drift and refuses a step twice, so use the next step's code.
	b.fill("#code", oathTOTP(t, secret, time.Now().Add(30*time.Second)))
	b.expectPage(b.click("#mfa-submit"), http.StatusOK, "/dashboard")
	if h := b.text("h1#dashboard-title"); h != "Welcome, "+name {
		t.Fatalf("dashboard title %q after TOTP sign-in", h)
	}
	b.signOut()

	t.Log("5. sign in with the password and a recovery code")
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	b.expectPage(b.click("a#use-recovery"), http.StatusOK, "/login/mfa?method=recovery_code")
	b.fill("#code", codes[0])
	// A recovery code usually means a lost device: the security page
	// says what to do next.
	b.expectPage(b.click("#mfa-submit"), http.StatusOK, "/settings/security")
	if !b.has("#recovery-signin") {
		t.Error("after a recovery-code sign-in the security page does not say how to replace the lost device")
	}
	if n := b.text("#recovery-codes-left"); n != "9" {
		t.Errorf("after using a recovery code the security page shows %q left, want 9", n)
	}
	b.signOut()

	t.Log("6. the same recovery code does not work twice")
	b.expectPage(b.signIn(email, password), http.StatusOK, "/login/mfa")
	b.expectPage(b.click("a#use-recovery"), http.StatusOK, "/login/mfa")
	b.fill("#code", codes[0])
	b.expectPage(b.click("#mfa-submit"), http.StatusUnauthorized, "/login/mfa")
	if msg := b.text(`[role="alert"]`); !strings.Contains(msg, "incorrect or has already been used") {
		t.Fatalf("reusing a recovery code shows %q, want that it is incorrect or already used", msg)
	}
	if !b.has("#mfa-submit") {
		t.Fatal("after the refused code the page offers no way to try again")
	}
	b.expectNoScriptCookies("__Host-coffer_login")
	b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
	if b.has("#dashboard-title") {
		t.Fatal("a used recovery code gave a session")
	}
}

// TestBrowserCSRF checks that a sign-in form posted from another origin is
// refused: from a page on another site in Chromium, and with a Go client
// that leaves out the token or says the request is cross-site.
func TestBrowserCSRF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	const email, password = "grace@example.com", "first compiler moth 1947"
	srv.AddUser(t, email, "Grace Hopper", password)

	t.Run("OtherSitePage", func(t *testing.T) {
		// An attacker's page on another origin (plain http on 127.0.0.1)
		// whose form posts a sign-in to Coffer.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id="f" method="post" action="%s/login">
<input type="hidden" name="csrf_token" value="guessed">
<input type="hidden" name="email" value="%s">
<input type="hidden" name="password" value="%s">
<button id="go" type="submit">Win a prize</button></form>`, srv.URL, email, password)
		}))
		defer evil.Close()
		b := newBrowserTab(t, ctx, srv.URL)
		// The victim has visited Coffer, so the browser holds its CSRF cookie.
		b.expectPage(b.navigate("/login"), http.StatusOK, "/login")
		b.navigate(evil.URL)
		resp := b.click("#go")
		if resp.Status != http.StatusForbidden {
			t.Fatalf("cross-site sign-in post answered %d, want 403; page text:\n%s", resp.Status, b.text("main"))
		}
		if msg := b.text("main"); !strings.Contains(msg, "another site") {
			t.Errorf("the refusal says %q, want that the form came from another site", msg)
		}
		b.expectPage(b.navigate("/dashboard"), http.StatusOK, "/login")
	})

	t.Run("HTTPClient", func(t *testing.T) {
		c := srv.HTTPClient("")
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		// Get the CSRF cookie and token as a browser would.
		resp, err := c.Get(srv.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("no csrf_token in the sign-in page:\n%s", page)
		}
		token := string(m[1])
		post := func(form url.Values, site string) int {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if site != "" {
				req.Header.Set("Sec-Fetch-Site", site)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		creds := url.Values{"email": {email}, "password": {password}}
		with := func(tok string) url.Values {
			v := url.Values{"csrf_token": {tok}}
			for k, vs := range creds {
				v[k] = vs
			}
			return v
		}
		for _, tt := range []struct {
			name string
			form url.Values
			site string
			want int
		}{
			{"NoToken", creds, "", http.StatusForbidden},
			{"WrongToken", with(strings.Repeat("A", len(token))), "", http.StatusForbidden},
			{"CrossSite", with(token), "cross-site", http.StatusForbidden},
			{"SameSiteOtherOrigin", with(token), "same-site", http.StatusForbidden},
			// The same post from Coffer's own page goes through, so the
			// refusals above are the CSRF check and nothing else.
			{"SameOrigin", with(token), "same-origin", http.StatusSeeOther},
		} {
			if got := post(tt.form, tt.site); got != tt.want {
				t.Errorf("%s: POST /login answered %d, want %d", tt.name, got, tt.want)
			}
		}
	})
}
