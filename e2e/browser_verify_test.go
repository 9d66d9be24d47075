package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"coffer/internal/testserver"
)

// TestBrowserVerifyPush signs in in Chromium with Coffer Verify: the
// sign-in page offers the push first, shows the number to pick, and its
// script moves on to the dashboard once the device (the real `coffer
// verify approve`) answers with that number.
func TestBrowserVerifyPush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	srv := testserver.Start(t)
	m := signedInMember(t, srv, "127.0.0.31", "browser-push@example.com", "Push Books Ltd", "owner")
	dev := newVerifyDevice(t, srv)
	p, err := m.C.StartVerifyPairing(ctx, m.Session, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := dev.run("", "pair", p.PairingURL, "--ca-file", dev.caFile()); code != 0 {
		t.Fatalf("pair: exit %d\n%s\n%s", code, out, stderr)
	}

	b := newBrowserTab(t, ctx, srv.URL)
	b.expectPage(b.signIn(m.Email, m.Password), http.StatusOK, "/login/mfa")
	// Phishing-resistant methods come first: the page offers the push.
	b.expectPage(b.click("#mfa-push-submit"), http.StatusOK, "/login/mfa/push")
	shown := strings.TrimSpace(b.text("#push-number"))
	n, err := strconv.Atoi(shown)
	if err != nil || n < 10 || n > 99 {
		t.Fatalf("the page shows %q, want a two-digit number", shown)
	}
	res := dev.approve(func([]int) string { return shown + "\n" })
	r := waitApprove(t, res)
	if r.code != 0 {
		t.Fatalf("approve: %s", r)
	}
	// push.js has been waiting on the server; it goes on by itself.
	deadline := time.Now().Add(30 * time.Second)
	for b.path() != "/dashboard" {
		if time.Now().After(deadline) {
			t.Fatalf("still on %s after the device approved; status: %q", b.path(), b.text("#push-status"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !b.has("#dashboard-title") {
		t.Fatal("no dashboard after the push approval")
	}
	b.expectNoCSPViolations()

	t.Log("a wrong number on the device: the page says so and offers to send again")
	b.signOut()
	b.expectPage(b.signIn(m.Email, m.Password), http.StatusOK, "/login/mfa")
	b.expectPage(b.click("#mfa-push-submit"), http.StatusOK, "/login/mfa/push")
	shown = strings.TrimSpace(b.text("#push-number"))
	r = waitApprove(t, dev.approve(func(nums []int) string {
		for _, x := range nums {
			if strconv.Itoa(x) != shown {
				return strconv.Itoa(x) + "\n"
			}
		}
		return "\n"
	}))
	if r.code == 0 {
		t.Fatalf("approve with a wrong number succeeded: %s", r)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(b.text("#push-status"), "number") {
		if time.Now().After(deadline) {
			t.Fatalf("the page does not report the wrong number: %q", b.text("#push-status"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b.path() == "/dashboard" || !tabEval[bool](b, `!document.querySelector("#mfa-push-again").hidden`) {
		t.Fatal("after a wrong number the page does not offer to send again")
	}
}
