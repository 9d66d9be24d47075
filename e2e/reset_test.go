package e2e

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// resetWait is the server's --mfa-reset-wait in these tests.
const resetWait = 2 * time.Second

// resetMail is one notification read from the server's mail directory.
type resetMail struct {
	Name, Subject, Body string
}

// mailsTo reads the reset messages the server wrote to DATA/mail for address,
// oldest first, parsing each as a mail client would.
func mailsTo(tb testing.TB, srv *testserver.Server, address string) []resetMail {
	tb.Helper()
	dir := filepath.Join(srv.DataDir, "mail")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		tb.Fatal(err)
	}
	var out []resetMail
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			tb.Fatalf("parse %s: %v", e.Name(), err)
		}
		body, err := io.ReadAll(m.Body)
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		// Only the reset's mails: sign-ins are notified too.
		if m.Header.Get("To") == address && strings.HasPrefix(m.Header.Get("X-Coffer-Event"), "reset.") {
			out = append(out, resetMail{Name: e.Name(), Subject: m.Header.Get("Subject"), Body: string(body)})
		}
	}
	return out
}

var resetLinkRE = regexp.MustCompile(`https://\S+(/mfa-reset(?:/cancel)?\?token=\S+)`)

// resetLinks returns the reset links of the newest mail to address whose
// subject contains subject, as paths with their query ("/mfa-reset?token=…").
func resetLinks(tb testing.TB, srv *testserver.Server, address, subject string) map[string]string {
	tb.Helper()
	ms := mailsTo(tb, srv, address)
	for i := len(ms) - 1; i >= 0; i-- {
		if !strings.Contains(ms[i].Subject, subject) {
			continue
		}
		out := map[string]string{}
		for _, m := range resetLinkRE.FindAllStringSubmatch(ms[i].Body, -1) {
			path, _, _ := strings.Cut(m[1], "?")
			out[path] = m[1]
		}
		return out
	}
	tb.Fatalf("no mail to %s about %q among %d", address, subject, len(ms))
	return nil
}

var resetCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var resetTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// getPage fetches a page and returns its status and body.
func getPage(tb testing.TB, hc *http.Client, u string) (int, string) {
	tb.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// submitResetPage opens a reset link's page and presses its button, as a
// browser would: the form's CSRF token and link token are posted back.
func submitResetPage(tb testing.TB, srv *testserver.Server, hc *http.Client, link string) (int, string) {
	tb.Helper()
	status, body := getPage(tb, hc, srv.URL+link)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d\n%s", strings.SplitN(link, "?", 2)[0], status, body)
	}
	csrf, tok := resetCSRFRE.FindStringSubmatch(body), resetTokenRE.FindStringSubmatch(body)
	if csrf == nil || tok == nil {
		tb.Fatalf("page has no form:\n%s", body)
	}
	path, _, _ := strings.Cut(link, "?")
	resp, err := hc.PostForm(srv.URL+path, url.Values{"csrf_token": {html.UnescapeString(csrf[1])}, "token": {html.UnescapeString(tok[1])}})
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (m *member) userID(tb testing.TB) int64 {
	tb.Helper()
	me, err := m.C.Me(context.Background(), m.Session)
	if err != nil {
		tb.Fatal(err)
	}
	return me.ID
}

// totpAt is the code of a base32 secret at t.
func totpAt(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	s, err := mfa.DecodeSecret(secret)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := mfa.TOTPCode(s, t)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestResetSupportAssisted(t *testing.T) {
	srv := testserver.Start(t, "--mfa-reset-wait="+resetWait.String())
	ctx := context.Background()
	const org = "Reset Ltd"
	owner := signedInMember(t, srv, "127.0.0.2", "owner@example.com", org, "owner")
	adviser := signedInMember(t, srv, "127.0.0.3", "adviser@example.com", org, "adviser")
	mem := signedInMember(t, srv, "127.0.0.4", "member@example.com", org, "standard")
	mem2 := signedInMember(t, srv, "127.0.0.5", "member2@example.com", org, "standard")
	memID, mem2ID, ownerID := mem.userID(t), mem2.userID(t), owner.userID(t)

	// Starting a reset needs a fresh second factor: step up once (it holds
	// for five minutes, longer than this test).
	owner.stepUp(t)
	adviser.stepUp(t)

	t.Run("Refusals", func(t *testing.T) {
		_, err := owner.C.StartMemberReset(ctx, owner.Session, owner.OrgID, ownerID)
		wantAPIError(t, err, http.StatusForbidden, "forbidden") // nobody resets themselves
		_, err = mem.C.StartMemberReset(ctx, mem.Session, mem.OrgID, mem2ID)
		wantAPIError(t, err, http.StatusForbidden, "forbidden") // a standard member cannot
		_, err = adviser.C.StartMemberReset(ctx, adviser.Session, adviser.OrgID, ownerID)
		wantAPIError(t, err, http.StatusForbidden, "forbidden") // only an owner resets an owner
		_, err = owner.C.StartMemberReset(ctx, owner.Session, owner.OrgID, 999999)
		wantAPIError(t, err, http.StatusNotFound, "not_found")
		if n := len(mailsTo(t, srv, owner.Email)); n != 0 {
			t.Fatalf("refused resets sent %d mails", n)
		}
	})

	t.Run("ConfirmWaitReenroll", func(t *testing.T) {
		r, err := owner.C.StartMemberReset(ctx, owner.Session, owner.OrgID, memID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "awaiting_confirmation" || r.StartedBy != "Member owner@example.com" || r.EffectiveAt != nil {
			t.Fatalf("started %+v", r)
		}
		_, err = adviser.C.StartMemberReset(ctx, adviser.Session, adviser.OrgID, memID)
		wantAPIError(t, err, http.StatusConflict, "conflict") // one open reset per member

		links := resetLinks(t, srv, mem.Email, "Confirm the reset")
		browser := srv.HTTPClient("127.0.0.4")
		// Opening the page (as a mail scanner would) changes nothing.
		for range 2 {
			status, body := getPage(t, browser, srv.URL+links["/mfa-reset"])
			if status != http.StatusOK || !strings.Contains(body, `id="reset-started-by">Member owner@example.com<`) || !strings.Contains(body, "Reset Ltd") {
				t.Fatalf("confirm page: %d\n%s", status, body)
			}
		}
		if mine, err := mem.C.MyReset(ctx, mem.Session); err != nil || mine == nil || mine.Status != "awaiting_confirmation" {
			t.Fatalf("member's view before confirming: %+v, %v", mine, err)
		}
		status, body := submitResetPage(t, srv, browser, links["/mfa-reset"])
		if status != http.StatusOK || !strings.Contains(body, `id="reset-confirmed"`) {
			t.Fatalf("confirm: %d\n%s", status, body)
		}
		got, err := owner.C.MemberReset(ctx, owner.Session, owner.OrgID, memID)
		if err != nil || got == nil || got.Status != "waiting" || got.EffectiveAt == nil {
			t.Fatalf("admin's view after confirming: %+v, %v", got, err)
		}
		// The link is single-use.
		if status, body := getPage(t, browser, srv.URL+links["/mfa-reset"]); status != http.StatusGone || strings.Contains(body, mem.Email) {
			t.Fatalf("used link: %d\n%s", status, body)
		}
		if ms := mailsTo(t, srv, adviser.Email); len(ms) == 0 || !strings.Contains(ms[len(ms)-1].Subject, "confirmed") {
			t.Fatal("the adviser was not told of the confirmation")
		}

		// During the waiting period the old factor is still required.
		lr, err := mem.C.Login(ctx, mem.Email, mem.Password)
		if err != nil || lr.Status != "mfa_required" || !slices.Contains(lr.Methods, "totp") {
			t.Fatalf("login during the wait: %+v, %v", lr, err)
		}

		time.Sleep(time.Until(*got.EffectiveAt) + 1100*time.Millisecond)
		lr, err = mem.C.Login(ctx, mem.Email, mem.Password)
		if err != nil || lr.Status != "mfa_enrollment_required" {
			t.Fatalf("login after the wait: %+v, %v", lr, err)
		}
		if _, err := mem.C.Me(ctx, mem.Session); err == nil {
			t.Fatal("a session from before the reset still works")
		}
		oldSecret, oldCodes := mem.Secret, mem.RecoveryCodes
		en, err := mem.C.EnrollTOTP(ctx, lr.LoginToken)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := mem.C.ConfirmTOTP(ctx, lr.LoginToken, oathTOTP(t, en.Secret, time.Now()))
		if err != nil || conf.SessionToken == "" || len(conf.RecoveryCodes) == 0 {
			t.Fatalf("enroll the new app: %+v, %v", conf, err)
		}
		if _, err := mem.C.Me(ctx, conf.SessionToken); err != nil {
			t.Fatalf("new session: %v", err)
		}
		mem.Session, mem.Secret = conf.SessionToken, en.Secret
		// The old app's codes and recovery codes are refused.
		lr, err = mem.C.Login(ctx, mem.Email, mem.Password)
		if err != nil || lr.Status != "mfa_required" {
			t.Fatalf("login with the new app: %+v, %v", lr, err)
		}
		_, err = mem.C.LoginMFA(ctx, lr.LoginToken, "totp", totpAt(t, oldSecret, time.Now()))
		wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
		_, err = mem.C.LoginMFA(ctx, lr.LoginToken, "recovery_code", oldCodes[0])
		wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
		if got, err := owner.C.MemberReset(ctx, owner.Session, owner.OrgID, memID); err != nil || got != nil {
			t.Fatalf("reset still shown after completion: %+v, %v", got, err)
		}
		if ms := mailsTo(t, srv, mem.Email); !strings.Contains(ms[len(ms)-1].Subject, "was reset") {
			t.Fatalf("member not told of the completion: %q", ms[len(ms)-1].Subject)
		}
	})

	t.Run("CancelDuringTheWait", func(t *testing.T) {
		if _, err := adviser.C.StartMemberReset(ctx, adviser.Session, adviser.OrgID, mem2ID); err != nil {
			t.Fatal(err)
		}
		browser := srv.HTTPClient("127.0.0.5")
		first := resetLinks(t, srv, mem2.Email, "Confirm the reset")
		if status, body := submitResetPage(t, srv, browser, first["/mfa-reset"]); status != http.StatusOK {
			t.Fatalf("confirm: %d\n%s", status, body)
		}
		second := resetLinks(t, srv, mem2.Email, "will be reset")
		status, body := submitResetPage(t, srv, browser, second["/mfa-reset/cancel"])
		if status != http.StatusOK || !strings.Contains(body, `id="reset-cancelled"`) {
			t.Fatalf("cancel: %d\n%s", status, body)
		}
		// The first mail's cancel link is dead now too.
		if status, _ := getPage(t, browser, srv.URL+first["/mfa-reset/cancel"]); status != http.StatusGone {
			t.Fatalf("cancel link after cancelling: %d", status)
		}
		time.Sleep(resetWait + 1100*time.Millisecond)
		lr, err := mem2.C.Login(ctx, mem2.Email, mem2.Password)
		if err != nil || lr.Status != "mfa_required" {
			t.Fatalf("login after a cancelled reset: %+v, %v", lr, err)
		}
		if _, err := mem2.C.Me(ctx, mem2.Session); err != nil {
			t.Fatalf("session ended by a cancelled reset: %v", err)
		}
	})

	t.Run("CancelByMemberAndByAdmin", func(t *testing.T) {
		if _, err := owner.C.StartMemberReset(ctx, owner.Session, owner.OrgID, mem2ID); err != nil {
			t.Fatal(err)
		}
		if err := mem2.C.CancelMyReset(ctx, mem2.Session); err != nil {
			t.Fatal(err)
		}
		if mine, err := mem2.C.MyReset(ctx, mem2.Session); err != nil || mine != nil {
			t.Fatalf("after cancelling: %+v, %v", mine, err)
		}
		wantAPIError(t, mem2.C.CancelMyReset(ctx, mem2.Session), http.StatusNotFound, "not_found")
		if _, err := owner.C.StartMemberReset(ctx, owner.Session, owner.OrgID, mem2ID); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, mem.C.CancelMemberReset(ctx, mem.Session, mem.OrgID, mem2ID), http.StatusForbidden, "forbidden")
		if err := adviser.C.CancelMemberReset(ctx, adviser.Session, adviser.OrgID, mem2ID); err != nil {
			t.Fatal(err)
		}
		if got, err := owner.C.MemberReset(ctx, owner.Session, owner.OrgID, mem2ID); err != nil || got != nil {
			t.Fatalf("after the adviser cancelled: %+v, %v", got, err)
		}
	})

	t.Run("NoTokenInTheLog", func(t *testing.T) {
		if log := srv.Log.String(); strings.Contains(log, "cfr_") || strings.Contains(log, "cfc_") {
			t.Fatalf("a reset token reached the log:\n%s", log)
		}
	})

	t.Run("DeadLinks", func(t *testing.T) {
		browser := srv.HTTPClient("127.0.0.6")
		for _, link := range []string{
			"/mfa-reset?token=cfr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"/mfa-reset",
			"/mfa-reset/cancel?token=cfc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"/mfa-reset/cancel?token=nonsense",
		} {
			status, body := getPage(t, browser, srv.URL+link)
			if status != http.StatusGone || !strings.Contains(body, "This link is not valid any more") {
				t.Errorf("GET %s: %d", link, status)
			}
		}
	})
}

// TestResetLostDeviceWithRecoveryCode is recovery without anyone's help:
// sign in with a recovery code, then replace the lost authenticator app in
// one step.
func TestResetLostDeviceWithRecoveryCode(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	c := client.New(srv.URL, srv.HTTPClient("127.0.0.7"))
	e := enrollUser(t, srv, c, "lost@example.com", "Lost Phone", "correct horse battery staple 42")

	lr, err := c.Login(ctx, e.Email, e.Password)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := c.LoginMFA(ctx, lr.LoginToken, "recovery_code", e.RecoveryCodes[0])
	if err != nil {
		t.Fatalf("sign in with a recovery code: %v", err)
	}
	var factors struct {
		Factors []struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"factors"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/mfa/factors", sr.SessionToken, nil, &factors); err != nil || len(factors.Factors) != 1 {
		t.Fatalf("factors: %+v, %v", factors, err)
	}
	old := factors.Factors[0].ID
	// The session is fresh: no step-up is needed right after signing in.
	en, err := c.EnrollTOTP(ctx, sr.SessionToken)
	if err != nil {
		t.Fatalf("enroll the new app: %v", err)
	}
	var conf client.Confirmation
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/totp/confirm", sr.SessionToken,
		map[string]any{"code": oathTOTP(t, en.Secret, time.Now()), "replace_factor_id": old}, &conf); err != nil {
		t.Fatalf("confirm the new app: %v", err)
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/mfa/factors", sr.SessionToken, nil, &factors); err != nil || len(factors.Factors) != 1 || factors.Factors[0].ID == old {
		t.Fatalf("factors after replacing: %+v, %v", factors, err)
	}
	lr, err = c.Login(ctx, e.Email, e.Password)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LoginMFA(ctx, lr.LoginToken, "totp", oathTOTP(t, e.Secret, time.Now()))
	wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
	// The used recovery code is spent.
	_, err = c.LoginMFA(ctx, lr.LoginToken, "recovery_code", e.RecoveryCodes[0])
	wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
	// The next step's code: the server accepts one step either side, and
	// the confirmation used the current one.
	if _, err := c.LoginMFA(ctx, lr.LoginToken, "totp", totpAt(t, en.Secret, time.Now().Add(30*time.Second))); err != nil {
		t.Fatalf("sign in with the new app: %v", err)
	}
}

// TestBrowserReset clicks through a support-assisted reset in headless
// Chromium: the owner starts it from the members page, the member confirms
// it on the page the mailed link opens, the owner sees it waiting and
// cancels it.
func TestBrowserReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := testserver.Start(t, "--mfa-reset-wait=1h")
	owner := signedInMember(t, srv, "127.0.0.2", "owner@example.com", "Browser Reset Ltd", "owner")
	mem := signedInMember(t, srv, "127.0.0.3", "member@example.com", "Browser Reset Ltd", "standard")
	memID := mem.userID(t)
	b := newBrowserTab(t, ctx, srv.URL)

	t.Log("1. the owner signs in and starts a reset from the members page")
	b.expectPage(b.signIn(owner.Email, owner.Password), http.StatusOK, "/login/mfa")
	b.fill("#code", totpAt(t, owner.Secret, time.Now().Add(30*time.Second)))
	b.expectPage(b.click("#mfa-submit"), http.StatusOK, "/dashboard")
	members := "/orgs/" + strconv.FormatInt(owner.OrgID, 10) + "/members"
	b.expectPage(b.navigate(members), http.StatusOK, members)
	if b.has("#reset-start-" + strconv.FormatInt(owner.userID(t), 10)) {
		t.Fatal("the members page offers the owner a reset of their own factors")
	}
	b.expectPage(b.click("#reset-start-"+strconv.FormatInt(memID, 10)), http.StatusOK, members)
	if msg := b.text(`[role="status"]`); !strings.Contains(msg, "reset of the member's two-step verification was started") {
		t.Fatalf("after starting: %q", msg)
	}
	if badge := b.text("#member-reset-" + strconv.FormatInt(memID, 10)); !strings.Contains(badge, "awaiting confirmation") {
		t.Fatalf("badge %q", badge)
	}
	b.screenshot("reset-started")

	t.Log("2. the member opens the mailed link and confirms")
	link := resetLinks(t, srv, mem.Email, "Confirm the reset")["/mfa-reset"]
	b.expectPage(b.navigate(link), http.StatusOK, "/mfa-reset")
	b.expectStyled()
	if by := b.text("#reset-started-by"); by != "Member owner@example.com" {
		t.Fatalf("started by %q", by)
	}
	b.screenshot("reset-confirm")
	b.expectPage(b.click("#reset-confirm-submit"), http.StatusOK, "/mfa-reset")
	b.mustHave("#reset-confirmed")
	b.expectPage(b.navigate(link), http.StatusGone, "/mfa-reset")

	t.Log("3. the owner sees it waiting and cancels it")
	b.expectPage(b.navigate(members), http.StatusOK, members)
	if badge := b.text("#member-reset-" + strconv.FormatInt(memID, 10)); !strings.Contains(badge, "takes effect") {
		t.Fatalf("badge %q", badge)
	}
	b.expectPage(b.click("#reset-cancel-"+strconv.FormatInt(memID, 10)), http.StatusOK, members)
	if msg := b.text(`[role="status"]`); !strings.Contains(msg, "was cancelled") {
		t.Fatalf("after cancelling: %q", msg)
	}
	if b.has("#member-reset-" + strconv.FormatInt(memID, 10)) {
		t.Fatal("the cancelled reset is still shown")
	}
}
