package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/auth"
	"coffer/internal/errs"
)

// pairedDevice is a Verify device paired through the service, with its
// private key, signing requests the way client.Device does.
type pairedDevice struct {
	f    *fixture
	id   string
	key  ed25519.PrivateKey
	user *auth.User
}

func (f *fixture) mustPairDevice(e *enrolled) *pairedDevice {
	f.tb.Helper()
	f.svc.PublicURL = "https://coffer.example"
	ss := e.issued.Session
	p, err := f.svc.BeginVerifyPairing(f.ctx, auth.Actor{Session: ss, User: e.user}, "Phone", f.client)
	if err != nil {
		f.tb.Fatalf("begin pairing: %v", err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d, err := f.svc.CompleteVerifyPairing(f.ctx, tokenOf(f.tb, p.URL), pub, "laptop", f.client)
	if err != nil {
		f.tb.Fatalf("complete pairing: %v", err)
	}
	return &pairedDevice{f: f, id: d.DeviceID, key: priv, user: e.user}
}

func tokenOf(tb testing.TB, pairingURL string) string {
	u, err := url.Parse(pairingURL)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Fragment
}

// request builds a signed device request at the fixture's clock.
func (d *pairedDevice) request(method, path string, body []byte, at time.Time, nonce string) auth.DeviceRequest {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(d.key, client.DeviceRequestMessage(method, path, ts, nonce, body))
	return auth.DeviceRequest{DeviceID: d.id, Timestamp: ts, Nonce: nonce, Signature: base64.RawURLEncoding.EncodeToString(sig), Method: method, Path: path, Body: body}
}

func (d *pairedDevice) auth() *auth.Device {
	d.f.tb.Helper()
	dev, err := d.f.svc.AuthenticateDevice(d.f.ctx, d.request("GET", "/api/v1/mfa/verify/requests", nil, d.f.now(), fmt.Sprint(time.Now().UnixNano())), d.f.client)
	if err != nil {
		d.f.tb.Fatalf("authenticate device: %v", err)
	}
	return dev
}

func (d *pairedDevice) sign(p *auth.PushRequest, number int) []byte {
	return ed25519.Sign(d.key, client.PushApprovalMessage(p.Challenge, number))
}

// shortCtx bounds a wait on a request nobody answers.
func shortCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(tb.Context(), 400*time.Millisecond)
	tb.Cleanup(cancel)
	return ctx
}

func TestVerifyPairing(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	f.svc.PublicURL = "https://coffer.example"
	actor := auth.Actor{Session: e.issued.Session, User: e.user}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)

	t.Run("OneUse", func(t *testing.T) {
		p, err := f.svc.BeginVerifyPairing(f.ctx, actor, "", f.client)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.URL, "https://coffer.example/verify/pair#") || len(p.QRPNG) == 0 {
			t.Fatalf("pairing %q", p.URL)
		}
		tok := tokenOf(t, p.URL)
		d, err := f.svc.CompleteVerifyPairing(f.ctx, tok, pub, "laptop", f.client)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "laptop" || d.Account != aliceEmail || d.TOTPSecret == "" {
			t.Fatalf("paired %+v", d)
		}
		fs, _ := f.store.FindFactors(f.ctx, e.user.ID, auth.KindPush, true)
		if len(fs) != 1 || string(fs[0].PublicData) != string(pub) || len(fs[0].SecretEnc) == 0 {
			t.Fatalf("push factors %+v", fs)
		}
		_, err = f.svc.CompleteVerifyPairing(f.ctx, tok, pub, "laptop", f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
	t.Run("Expired", func(t *testing.T) {
		p, err := f.svc.BeginVerifyPairing(f.ctx, actor, "Phone", f.client)
		if err != nil {
			t.Fatal(err)
		}
		f.advance(11 * time.Minute)
		pub2, _, _ := ed25519.GenerateKey(rand.Reader)
		_, err = f.svc.CompleteVerifyPairing(f.ctx, tokenOf(t, p.URL), pub2, "x", f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
	t.Run("StaleSessionNeedsStepUp", func(t *testing.T) {
		// The session's second factor is now more than 5 minutes old.
		_, err := f.svc.BeginVerifyPairing(f.ctx, actor, "Phone", f.client)
		wantErr(t, err, errs.ESTEPUP)
	})
	t.Run("BadInput", func(t *testing.T) {
		tests := []struct {
			name, token string
			key         []byte
			code        string
		}{
			{"malformed token", "not-a-token", pub, errs.EUNAUTHORIZED},
			{"unknown token", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), pub, errs.EUNAUTHORIZED},
			{"short key", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), pub[:31], errs.EINVALID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := f.svc.CompleteVerifyPairing(f.ctx, tt.token, tt.key, "", f.client)
				wantErr(t, err, tt.code)
			})
		}
	})
}

func TestDeviceAuthentication(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	d := f.mustPairDevice(e)
	tests := []struct {
		name string
		req  func() auth.DeviceRequest
		ok   bool
	}{
		{"valid", func() auth.DeviceRequest { return d.request("GET", "/p", nil, f.now(), "n1") }, true},
		{"replayed", func() auth.DeviceRequest { return d.request("GET", "/p", nil, f.now(), "n1") }, false},
		{"59s behind", func() auth.DeviceRequest { return d.request("GET", "/p", nil, f.now().Add(-59*time.Second), "n2") }, true},
		{"61s ahead", func() auth.DeviceRequest { return d.request("GET", "/p", nil, f.now().Add(61*time.Second), "n3") }, false},
		{"body changed", func() auth.DeviceRequest {
			r := d.request("POST", "/p", []byte(`{"number":42}`), f.now(), "n4")
			r.Body = []byte(`{"number":43}`)
			return r
		}, false},
		{"path changed", func() auth.DeviceRequest {
			r := d.request("POST", "/api/v1/mfa/verify/requests/1/deny", nil, f.now(), "n5")
			r.Path = "/api/v1/mfa/verify/requests/2/deny"
			return r
		}, false},
		{"other key", func() auth.DeviceRequest {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			r := (&pairedDevice{f: f, id: d.id, key: k}).request("GET", "/p", nil, f.now(), "n6")
			return r
		}, false},
		{"unknown device", func() auth.DeviceRequest {
			r := d.request("GET", "/p", nil, f.now(), "n7")
			r.DeviceID = base64.RawURLEncoding.EncodeToString(make([]byte, 16))
			return r
		}, false},
		{"no nonce", func() auth.DeviceRequest { return d.request("GET", "/p", nil, f.now(), "") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := f.svc.AuthenticateDevice(f.ctx, tt.req(), f.client)
			if tt.ok {
				if err != nil || dev.User.ID != e.user.ID {
					t.Fatalf("err = %v", err)
				}
				return
			}
			wantErr(t, err, errs.EUNAUTHORIZED)
		})
	}
}

func TestPushApproval(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	d := f.mustPairDevice(e)
	dev := d.auth()

	// Each case starts a new login, past the fatigue window of the last
	// case's refusals.
	start := func(t *testing.T) (string, *auth.PushRequest) {
		t.Helper()
		f.advance(16 * time.Minute)
		res := f.mustLogin(aliceEmail)
		p, err := f.svc.StartLoginPush(f.ctx, res.LoginToken, f.client)
		if err != nil {
			t.Fatalf("start push: %v", err)
		}
		return res.LoginToken, p
	}

	t.Run("ChoicesHoldTheNumber", func(t *testing.T) {
		_, p := start(t)
		ps, err := f.svc.WaitPushRequests(f.ctx, dev, 0)
		if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
			t.Fatalf("prompts %+v, %v", ps, err)
		}
		n := ps[0].Numbers
		if len(n) != 3 || !slices.Contains(n, p.Number) || n[0] == n[1] || n[1] == n[2] || n[0] == n[2] {
			t.Fatalf("choices %v for %d", n, p.Number)
		}
		again, _ := f.svc.WaitPushRequests(f.ctx, dev, 0)
		if !slices.Equal(again[0].Numbers, n) {
			t.Fatalf("choices changed between polls: %v, %v", n, again[0].Numbers)
		}
	})
	t.Run("ApprovedOnce", func(t *testing.T) {
		tok, p := start(t)
		if err := f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number), f.client); err != nil {
			t.Fatal(err)
		}
		iss, err := f.svc.VerifySecondFactor(f.ctx, tok, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		if err != nil {
			t.Fatal(err)
		}
		if iss.Session.MFAMethod != auth.MethodPush {
			t.Fatalf("session method %q", iss.Session.MFAMethod)
		}
		if len(f.events("login.mfa.push")) == 0 {
			t.Fatal("no audit event")
		}
		// Approving again, or using the approval for another login, fails.
		err = f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number), f.client)
		wantErr(t, err, errs.ECONFLICT)
		tok2, _ := start(t)
		_, err = f.svc.VerifySecondFactor(f.ctx, tok2, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
	t.Run("BadApprovalSignature", func(t *testing.T) {
		_, p := start(t)
		err := f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number+1), f.client)
		wantErr(t, err, errs.EINVALID)
		got, _ := f.store.FindPushRequest(f.ctx, e.user.ID, p.ID)
		if got.Status != auth.PushPending {
			t.Fatalf("status %q after a bad signature", got.Status)
		}
	})
	t.Run("WrongNumberDenies", func(t *testing.T) {
		tok, p := start(t)
		wrong := 10 + (p.Number-10+1)%90
		err := f.svc.ApprovePush(f.ctx, dev, p.ID, wrong, d.sign(p, wrong), f.client)
		wantErr(t, err, errs.EINVALID)
		// The right number afterwards does not help: the game is over.
		err = f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number), f.client)
		wantErr(t, err, errs.ECONFLICT)
		_, err = f.svc.VerifySecondFactor(f.ctx, tok, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "number") {
			t.Fatalf("message %q", e.Message)
		}
		if len(f.events("mfa.push.wrong_number")) != 1 {
			t.Fatal("wrong number not audited")
		}
	})
	t.Run("PendingIsNotAFailure", func(t *testing.T) {
		tok, p := start(t)
		_, err := f.svc.VerifySecondFactor(shortCtx(t), tok, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		if !errors.Is(err, auth.ErrPushPending) || errs.Code(err) == errs.EUNAUTHORIZED {
			t.Fatalf("err = %v, want ErrPushPending", err)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		tok, p := start(t)
		f.advance(auth.DefaultPushTTL)
		err := f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number), f.client)
		wantErr(t, err, errs.ECONFLICT)
		_, err = f.svc.VerifySecondFactor(f.ctx, tok, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "expired") {
			t.Fatalf("message %q", e.Message)
		}
	})
	t.Run("BoundToItsAttempt", func(t *testing.T) {
		_, p := start(t)
		if err := f.svc.ApprovePush(f.ctx, dev, p.ID, p.Number, d.sign(p, p.Number), f.client); err != nil {
			t.Fatal(err)
		}
		other := f.mustLogin(aliceEmail)
		_, err := f.svc.VerifySecondFactor(f.ctx, other.LoginToken, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
	t.Run("OtherUsersRequest", func(t *testing.T) {
		b := f.mustEnroll(bobEmail)
		_, p := start(t)
		res := f.mustLogin(bobEmail)
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodPush, PushID: p.ID}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		// Bob has no device: no push for him.
		_, err = f.svc.StartLoginPush(f.ctx, res.LoginToken, f.client)
		wantErr(t, err, errs.EINVALID)
		if b.user.ID == e.user.ID {
			t.Fatal("one user")
		}
	})
}

func TestPushFatigueLimit(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	d := f.mustPairDevice(e)
	dev := d.auth()
	res := f.mustLogin(aliceEmail)
	// Denied, wrong number, ignored: three refusals.
	for i, answer := range []string{"deny", "wrong", "ignore"} {
		p, err := f.svc.StartLoginPush(f.ctx, res.LoginToken, f.client)
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		switch answer {
		case "deny":
			err = f.svc.DenyPush(f.ctx, dev, p.ID, false, f.client)
		case "wrong":
			w := 10 + (p.Number-10+1)%90
			err = f.svc.ApprovePush(f.ctx, dev, p.ID, w, d.sign(p, w), f.client)
			if errs.Code(err) == errs.EINVALID {
				err = nil
			}
		case "ignore":
			f.advance(auth.DefaultPushTTL)
		}
		if err != nil {
			t.Fatalf("%s: %v", answer, err)
		}
	}
	_, err := f.svc.StartLoginPush(f.ctx, res.LoginToken, f.client)
	if e := wantErr(t, err, errs.ERATELIMIT); e.RetryAfter != 900 || !strings.Contains(e.Message, "paused for 15 minutes") {
		t.Fatalf("refusal %+v", e)
	}
	if len(f.events("mfa.push.rate_limited")) != 1 {
		t.Fatal("not audited")
	}
	// After the window, pushes resume.
	f.advance(16 * time.Minute)
	res = f.mustLogin(aliceEmail)
	if _, err := f.svc.StartLoginPush(f.ctx, res.LoginToken, f.client); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestPushTTLConfig(t *testing.T) {
	tests := []struct {
		ttl time.Duration
		ok  bool
	}{{0, true}, {5 * time.Second, true}, {60 * time.Second, true}, {4 * time.Second, false}, {6 * time.Minute, false}}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			c := auth.DefaultConfig()
			c.PushTTL = tt.ttl
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}
