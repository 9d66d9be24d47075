package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/metrics/metricstest"
	"coffer/internal/mfa"
)

const testMetricsToken = "0123456789abcdef0123456789abcdef-metrics"

// newOpsServer is newTestServer's real store and services behind a server
// with the database handle and, when token is set, /metrics on.
func newOpsServer(t *testing.T, token string) (*testServer, *Server) {
	t.Helper()
	ts := newTestServer(t)
	srv, err := NewServer(Deps{Auth: ts.server.auth, Orgs: ts.store, Ledger: ts.ledger, Idempotency: ts.store, Log: ts.server.log},
		Options{DB: ts.store.DB().SQL(), MetricsToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return ts, srv
}

// call sends one request from client address ip through the whole handler.
func call(h http.Handler, method, path, ip string, header map[string]string, body any) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = ip + ":4711"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func authHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func TestMetricsEndpointAccess(t *testing.T) {
	_, off := newOpsServer(t, "")
	_, on := newOpsServer(t, testMetricsToken)
	offH, onH := off.Handler(), on.Handler()
	unknown := call(offH, "GET", "/no-such-page", "192.0.2.1", nil, nil)
	tests := []struct {
		name       string
		h          http.Handler
		method     string
		header     map[string]string
		wantStatus int
	}{
		{"no token configured", offH, "GET", nil, http.StatusNotFound},
		{"no token configured, any token sent", offH, "GET", authHeader(testMetricsToken), http.StatusNotFound},
		{"no token configured, POST", offH, "POST", nil, http.StatusNotFound},
		{"missing Authorization", onH, "GET", nil, http.StatusUnauthorized},
		{"wrong token", onH, "GET", authHeader("0123456789abcdef0123456789abcdef-metricX"), http.StatusUnauthorized},
		{"prefix of the token", onH, "GET", authHeader(testMetricsToken[:10]), http.StatusUnauthorized},
		{"token with a suffix", onH, "GET", authHeader(testMetricsToken + "x"), http.StatusUnauthorized},
		{"empty bearer", onH, "GET", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		{"basic scheme", onH, "GET", map[string]string{"Authorization": "Basic " + testMetricsToken}, http.StatusUnauthorized},
		{"right token, POST", onH, "POST", authHeader(testMetricsToken), http.StatusMethodNotAllowed},
		{"right token", onH, "GET", authHeader(testMetricsToken), http.StatusOK},
		{"right token, lower-case scheme", onH, "GET", map[string]string{"Authorization": "bearer " + testMetricsToken}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := call(tt.h, tt.method, "/metrics", "192.0.2.1", tt.header, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			switch w.Code {
			case http.StatusNotFound:
				if w.Body.String() != unknown.Body.String() || w.Header().Get("Content-Type") != unknown.Header().Get("Content-Type") {
					t.Errorf("404 differs from an unknown path's: %q vs %q", w.Body, unknown.Body)
				}
			case http.StatusUnauthorized:
				if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="coffer metrics"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if strings.Contains(w.Body.String(), testMetricsToken) {
					t.Error("the answer shows the token")
				}
			case http.StatusOK:
				if ct := w.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
				if _, err := metricstest.Parse(w.Body.String()); err != nil {
					t.Errorf("body does not parse: %v\n%s", err, w.Body)
				}
			}
		})
	}
}

// TestMetricsCountSignIns signs in for real through the JSON API (wrong
// password, enrollment, a wrong and a right second factor, a lockout, a
// rate limit) and reads the counts back from /metrics.
func TestMetricsCountSignIns(t *testing.T) {
	ts, srv := newOpsServer(t, testMetricsToken)
	h := srv.Handler()
	ctx := t.Context()
	a := ts.server.auth
	const pw = "a long and unusual passphrase 7"
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := a.CreateUser(ctx, e, "User "+e, pw, auth.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	login := func(ip, email, password string, want int) map[string]any {
		t.Helper()
		w := call(h, "POST", "/api/v1/login", ip, nil, map[string]string{"email": email, "password": password})
		if w.Code != want {
			t.Fatalf("login %s: status %d, want %d: %s", email, w.Code, want, w.Body)
		}
		var out map[string]any
		json.Unmarshal(w.Body.Bytes(), &out)
		return out
	}

	login("192.0.2.1", "ann@example.com", "wrong password", http.StatusUnauthorized)
	lr := login("192.0.2.1", "ann@example.com", pw, http.StatusOK)
	tok, _ := lr["login_token"].(string)
	w := call(h, "POST", "/api/v1/mfa/totp/enroll", "192.0.2.1", authHeader(tok), nil)
	if w.Code != http.StatusOK {
		t.Fatalf("enroll: %d %s", w.Code, w.Body)
	}
	var en struct{ Secret string }
	json.Unmarshal(w.Body.Bytes(), &en)
	secret, err := mfa.DecodeSecret(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, _ := mfa.TOTPCode(secret, now)
	if w := call(h, "POST", "/api/v1/mfa/totp/confirm", "192.0.2.1", authHeader(tok), map[string]string{"code": code}); w.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	// Sign in again: a wrong code, then the next step's code (the
	// current one was used by enrollment; ±1 step is accepted).
	tok, _ = login("192.0.2.1", "ann@example.com", pw, http.StatusOK)["login_token"].(string)
	prev, _ := mfa.TOTPCode(secret, now.Add(-30*time.Second))
	next, _ := mfa.TOTPCode(secret, now.Add(30*time.Second))
	wrong := "000000"
	for wrong == prev || wrong == code || wrong == next {
		wrong = string(rune(wrong[0]+1)) + wrong[1:]
	}
	if w := call(h, "POST", "/api/v1/login/mfa", "192.0.2.1", nil, map[string]string{"login_token": tok, "method": "totp", "code": wrong}); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d %s", w.Code, w.Body)
	}
	if w := call(h, "POST", "/api/v1/login/mfa", "192.0.2.1", nil, map[string]string{"login_token": tok, "method": "totp", "code": next}); w.Code != http.StatusOK {
		t.Fatalf("right code: %d %s", w.Code, w.Body)
	}

	// Bob from another address: MaxFailures wrong passwords lock the
	// account, and the next attempt is refused as locked.
	maxFailures := a.Config().MaxFailures
	for range maxFailures {
		login("192.0.2.2", "bob@example.com", "wrong password", http.StatusUnauthorized)
	}
	login("192.0.2.2", "bob@example.com", pw, http.StatusTooManyRequests)

	// A third address goes over the per-client limit (a different unknown
	// address each time, so no account limit or lockout is reached); its
	// refusals are counted when summarised.
	limit := a.Config().ClientAttemptsPerMinute
	for i := range limit + 2 {
		want := http.StatusUnauthorized
		if i >= limit {
			want = http.StatusTooManyRequests
		}
		login("192.0.2.3", fmt.Sprintf("nobody%d@example.com", i), "x", want)
	}
	a.FlushRefusals(ctx)

	w = call(h, "GET", "/metrics", "192.0.2.9", authHeader(testMetricsToken), nil)
	if w.Code != http.StatusOK {
		t.Fatalf("metrics: %d", w.Code)
	}
	samples, err := metricstest.Parse(w.Body.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Body)
	}
	wrongPasswords := 1 + maxFailures + limit
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"coffer_logins_total", map[string]string{"result": "success"}, 2}, // enrollment and the second sign-in
		{"coffer_logins_total", map[string]string{"result": "failure"}, float64(wrongPasswords)},
		{"coffer_logins_total", map[string]string{"result": "locked"}, 1},
		{"coffer_logins_total", map[string]string{"result": "refused"}, 2},
		{"coffer_second_factor_total", map[string]string{"method": "totp", "result": "success"}, 1},
		{"coffer_second_factor_total", map[string]string{"method": "totp", "result": "failure"}, 1},
		{"coffer_second_factor_total", map[string]string{"method": "sms", "result": "failure"}, 0},
		{"coffer_lockouts_total", nil, 1},
		{"coffer_http_requests_total", map[string]string{"method": "POST", "code": "429"}, 3},
		{"coffer_http_requests_total", map[string]string{"method": "POST", "code": "401"}, float64(wrongPasswords + 1)},
		{"coffer_http_request_duration_seconds_count", map[string]string{"method": "POST"}, float64(wrongPasswords + 1 + 3 + 5)},
		{"coffer_http_requests_in_flight", nil, 1}, // this scrape
		{"coffer_build_info", map[string]string{"go_version": runtime.Version()}, 1},
	}
	for _, tt := range want {
		got, ok := metricstest.Value(samples, tt.name, tt.labels)
		if !ok || got != tt.value {
			t.Errorf("%s%v = %v (found: %t), want %v", tt.name, tt.labels, got, ok, tt.value)
		}
	}
	for _, name := range []string{"coffer_db_open_connections", "coffer_db_in_use_connections", "coffer_db_idle_connections", "coffer_db_wait_count_total", "coffer_db_wait_seconds_total"} {
		if _, ok := metricstest.Value(samples, name, nil); !ok {
			t.Errorf("%s missing", name)
		}
	}
	if v, _ := metricstest.Value(samples, "coffer_db_open_connections", nil); v < 1 {
		t.Errorf("coffer_db_open_connections = %v after database work", v)
	}
	// Nothing a client sent may appear in the exposition.
	for _, secret := range []string{"example.com", "192.0.2.", "/api/", pw} {
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("exposition contains %q", secret)
		}
	}
}

// TestAuthEventMetrics maps each kind of audited event to its series.
func TestAuthEventMetrics(t *testing.T) {
	tests := []struct {
		name                    string
		action, outcome, detail string
		series                  string
		labels                  map[string]string
		want                    float64
	}{
		{"session issued", "login", "success", "session=3 method=totp", "coffer_logins_total", map[string]string{"result": "success"}, 1},
		{"first step passed is no sign-in yet", "login.password", "success", "next=mfa", "coffer_logins_total", map[string]string{"result": "success"}, 0},
		{"wrong password", "login.password", "failure", "reason=wrong_password", "coffer_logins_total", map[string]string{"result": "failure"}, 1},
		{"unknown email", "login.password", "failure", "reason=unknown_email", "coffer_logins_total", map[string]string{"result": "failure"}, 1},
		{"locked at password", "login.password", "failure", "reason=locked", "coffer_logins_total", map[string]string{"result": "locked"}, 1},
		{"locked at second factor", "login.mfa", "failure", "reason=locked", "coffer_logins_total", map[string]string{"result": "locked"}, 1},
		{"account rate limit", "login.password", "failure", "reason=account_rate_limited", "coffer_logins_total", map[string]string{"result": "refused"}, 1},
		{"refusal summary", "login.password", "failure", "reason=client_rate_limited count=17", "coffer_logins_total", map[string]string{"result": "refused"}, 17},
		{"bad refusal count", "login.password", "failure", "reason=client_rate_limited count=-1", "coffer_logins_total", map[string]string{"result": "refused"}, 0},
		{"lockout", "account.lockout", "failure", "until=2030-01-01T00:00:00Z", "coffer_lockouts_total", nil, 1},
		{"hotp success", "login.mfa.hotp", "success", "factor=1 resync=false", "coffer_second_factor_total", map[string]string{"method": "hotp", "result": "success"}, 1},
		{"recovery code failure", "login.mfa.recovery_code", "failure", "reason=malformed", "coffer_second_factor_total", map[string]string{"method": "recovery_code", "result": "failure"}, 1},
		{"webauthn failure", "login.mfa.webauthn", "failure", "reason=bad_assertion", "coffer_second_factor_total", map[string]string{"method": "webauthn", "result": "failure"}, 1},
		{"passkey failure is a failed sign-in too", "login.passkey", "failure", "reason=unknown_credential", "coffer_logins_total", map[string]string{"result": "failure"}, 1},
		{"passkey failure", "login.passkey", "failure", "reason=unknown_credential", "coffer_second_factor_total", map[string]string{"method": "passkey", "result": "failure"}, 1},
		{"unknown method is other", "login.mfa.carrier_pigeon", "failure", "", "coffer_second_factor_total", map[string]string{"method": "other", "result": "failure"}, 1},
		{"unrelated action", "mfa.factor.rename", "success", "factor=1", "coffer_second_factor_total", map[string]string{"method": "other", "result": "success"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newServerMetrics(nil)
			m.authEvent(tt.action, tt.outcome, tt.detail)
			var b bytes.Buffer
			m.reg.WriteTo(&b)
			samples, err := metricstest.Parse(b.String())
			if err != nil {
				t.Fatal(err)
			}
			got, ok := metricstest.Value(samples, tt.series, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (found: %t), want %v", tt.series, tt.labels, got, ok, tt.want)
			}
			if strings.Contains(b.String(), "carrier_pigeon") {
				t.Error("an unknown method became a label value")
			}
		})
	}
}

func TestRequestMetricsLabels(t *testing.T) {
	_, srv := newOpsServer(t, testMetricsToken)
	h := srv.Handler()
	call(h, "BREW", "/coffee/"+strings.Repeat("x", 10), "192.0.2.1", nil, nil)
	call(h, "GET", "/healthz", "192.0.2.1", nil, nil)
	w := call(h, "GET", "/metrics", "192.0.2.1", authHeader(testMetricsToken), nil)
	samples, err := metricstest.Parse(w.Body.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if m := s.Labels["method"]; s.Name == "coffer_http_requests_total" && m != "GET" && m != "other" {
			t.Errorf("unexpected method label %q", m)
		}
	}
	if v, ok := metricstest.Value(samples, "coffer_http_requests_total", map[string]string{"method": "GET", "code": "200"}); !ok || v != 1 {
		t.Errorf("GET 200 = %v, want 1 (the health check; this scrape is still running)", v)
	}
	if _, ok := metricstest.Value(samples, "coffer_http_request_duration_seconds_count", map[string]string{"method": "other"}); !ok {
		t.Error("no duration for the invented method")
	}
	if strings.Contains(w.Body.String(), "BREW") || strings.Contains(w.Body.String(), "coffee") {
		t.Error("a client-chosen method or path became a label value")
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		prepare    func(t *testing.T, ts *testServer, srv *Server)
		wantStatus int
		wantBody   string
	}{
		{"ready", func(*testing.T, *testServer, *Server) {}, http.StatusOK, "ready"},
		{"draining", func(_ *testing.T, _ *testServer, srv *Server) { srv.StartDraining() }, http.StatusServiceUnavailable, "draining"},
		{"database closed", func(t *testing.T, ts *testServer, _ *Server) {
			if err := ts.store.Close(); err != nil {
				t.Fatal(err)
			}
		}, http.StatusServiceUnavailable, "database unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, srv := newOpsServer(t, "")
			h := srv.Handler()
			tt.prepare(t, ts, srv)
			w := call(h, "GET", "/readyz", "192.0.2.1", nil, nil)
			var out struct{ Status string }
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.wantStatus || out.Status != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", w.Code, out.Status, tt.wantStatus, tt.wantBody)
			}
			// Liveness does not depend on readiness.
			if w := call(h, "GET", "/healthz", "192.0.2.1", nil, nil); w.Code != http.StatusOK {
				t.Errorf("/healthz = %d", w.Code)
			}
		})
	}
}
