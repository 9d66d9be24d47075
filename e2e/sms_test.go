package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"
)

// smsLine is one message in the development outbox.
type smsLine struct {
	To, Body, Channel string
}

// outboxMessages reads the outbox the server writes by default.
func outboxMessages(t *testing.T, srv *testserver.Server) []smsLine {
	t.Helper()
	f, err := os.Open(filepath.Join(srv.DataDir, "sms-outbox.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []smsLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m smsLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

// codeIn takes the code out of a text or a voice call's script.
func codeIn(t *testing.T, m smsLine) string {
	t.Helper()
	body := m.Body
	if m.Channel == "voice" {
		body = strings.ReplaceAll(body, ", ", "")
	}
	code := sixDigits.FindString(body)
	if code == "" {
		t.Fatalf("no code in %q", m.Body)
	}
	return code
}

// lastOutboxCode is the code in the newest message, which went to phone.
func lastOutboxCode(t *testing.T, srv *testserver.Server, phone, channel string) string {
	t.Helper()
	ms := outboxMessages(t, srv)
	if len(ms) == 0 {
		t.Fatal("outbox is empty")
	}
	m := ms[len(ms)-1]
	if m.To != phone || m.Channel != channel {
		t.Fatalf("message to %q by %q, want %q by %q", m.To, m.Channel, phone, channel)
	}
	return codeIn(t, m)
}

const testPhone = "+447700900042"

// TestSMSOutbox adds a phone and signs in with codes read from the
// development outbox: by text and by voice call, single use, step-up, and
// the per-number rate limit.
func TestSMSOutbox(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	c := client.New(srv.URL, srv.HTTPClient(""))
	const email, password = "phone@example.com", "copper lantern meadow 5521"
	srv.AddUser(t, email, "Phone User", password)
	e := enrollAfterAdd(t, c, email, password)

	t.Run("ErrBadNumber", func(t *testing.T) {
		_, err := c.RegisterSMS(ctx, e.Session, "07700 900042", "Mobile", "sms")
		wantRefused(t, err, http.StatusBadRequest, "invalid", "international form")
	})
	t.Run("OKRegister", func(t *testing.T) {
		sent, err := c.RegisterSMS(ctx, e.Session, "+44 7700 900042", "Mobile", "sms")
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		if sent.SentTo != "•• 42" || sent.Channel != "sms" {
			t.Fatalf("sent = %+v", sent)
		}
		st, err := os.Stat(filepath.Join(srv.DataDir, "sms-outbox.jsonl"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("outbox: %v, mode %v", err, st.Mode())
		}
		f, err := c.ConfirmSMS(ctx, e.Session, lastOutboxCode(t, srv, testPhone, "sms"))
		if err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if f.Type != "sms" || f.Hint != "•• 42" || f.Name != "Mobile" {
			t.Fatalf("factor = %+v", f)
		}
	})
	var code string
	t.Run("OKSignInByVoice", func(t *testing.T) {
		lr, err := c.Login(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(lr.Methods, "sms") {
			t.Fatalf("methods = %v", lr.Methods)
		}
		if _, err := c.SendLoginSMS(ctx, lr.LoginToken, "voice", 0); err != nil {
			t.Fatalf("send: %v", err)
		}
		code = lastOutboxCode(t, srv, testPhone, "voice")
		s, err := c.LoginMFA(ctx, lr.LoginToken, "sms", code)
		if err != nil {
			t.Fatalf("sign in: %v", err)
		}
		e.Session = s.SessionToken
	})
	t.Run("ErrSingleUse", func(t *testing.T) {
		lr, err := c.Login(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.LoginMFA(ctx, lr.LoginToken, "sms", code)
		wantRefused(t, err, http.StatusUnauthorized, "unauthorized", "already been used")
	})
	t.Run("OKStepUp", func(t *testing.T) {
		if _, err := c.SendStepUpSMS(ctx, e.Session, "sms", 0); err != nil {
			t.Fatalf("send: %v", err)
		}
		if err := c.StepUpWith(ctx, e.Session, "sms", lastOutboxCode(t, srv, testPhone, "sms")); err != nil {
			t.Fatalf("step-up: %v", err)
		}
	})
	t.Run("ErrRateLimitPerNumber", func(t *testing.T) {
		lr, err := c.Login(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		// Three sends a number per 10-minute window; three went already,
		// unless the window turned meanwhile, so a refusal comes within
		// three more.
		before := len(outboxMessages(t, srv))
		var refusal error
		sends := 0
		for ; sends < 4 && refusal == nil; sends++ {
			_, refusal = c.SendLoginSMS(ctx, lr.LoginToken, "sms", 0)
		}
		ce := wantRefused(t, refusal, http.StatusTooManyRequests, "rate_limited", "this number")
		if ce.RetryAfter == "" {
			t.Error("no Retry-After")
		}
		if got := len(outboxMessages(t, srv)) - before; got != sends-1 {
			t.Fatalf("%d messages for %d accepted sends", got, sends-1)
		}
	})
}

// TestSMSWebhook points the webhook provider at a local receiver and
// checks what a gateway would get, then completes registration with it.
func TestSMSWebhook(t *testing.T) {
	type got struct {
		Method, Path, Auth, ContentType string
		Body                            []byte
	}
	reqs := make(chan got, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- got{r.Method, r.URL.Path, r.Header.Get("X-Gateway-Key"), r.Header.Get("Content-Type"), b}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	dir := t.TempDir()
	authFile := filepath.Join(dir, "gateway-key")
	if err := os.WriteFile(authFile, []byte("gw-secret-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "body.tmpl")
	if err := os.WriteFile(tmpl, []byte(`{"recipient":{{json .To}},"text":{{json .Body}},"kind":{{json .Channel}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, "--sms-provider", "webhook", "--sms-webhook-url", recv.URL+"/v1/messages",
		"--sms-webhook-template", tmpl, "--sms-webhook-auth-header", "X-Gateway-Key", "--sms-webhook-auth-file", authFile)
	ctx := context.Background()
	c := client.New(srv.URL, srv.HTTPClient(""))
	const email, password = "hook@example.com", "silver kettle orchard 7734"
	srv.AddUser(t, email, "Hook User", password)
	e := enrollAfterAdd(t, c, email, password)

	if _, err := c.RegisterSMS(ctx, e.Session, "+1 555 555 0100", "", "sms"); err != nil {
		t.Fatalf("register: %v", err)
	}
	var r got
	select {
	case r = <-reqs:
	default:
		t.Fatal("the receiver got nothing")
	}
	if r.Method != http.MethodPost || r.Path != "/v1/messages" || r.Auth != "gw-secret-123" || r.ContentType != "application/json" {
		t.Fatalf("request = %s %s auth=%q type=%q", r.Method, r.Path, r.Auth, r.ContentType)
	}
	var body struct{ Recipient, Text, Kind string }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if body.Recipient != "+15555550100" || body.Kind != "sms" {
		t.Fatalf("body = %+v", body)
	}
	if _, err := c.ConfirmSMS(ctx, e.Session, codeIn(t, smsLine{Body: body.Text, Channel: body.Kind})); err != nil {
		t.Fatalf("confirm with the code the gateway got: %v", err)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "sms-outbox.jsonl")); !os.IsNotExist(err) {
		t.Errorf("the outbox was written with the webhook provider: %v", err)
	}
	if strings.Contains(srv.Log.String(), "gw-secret-123") {
		t.Error("the gateway credential is in the log")
	}
}

// TestSMSForbiddenByOrganisation: once an organisation forbids SMS, its
// members can neither add a phone nor receive or use codes.
func TestSMSForbiddenByOrganisation(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	owner := signedInMember(t, srv, "", "owner@strict.example", "Strict Books Ltd", "owner")
	c := owner.C
	if _, err := c.RegisterSMS(ctx, owner.Session, testPhone, "", "sms"); err != nil {
		t.Fatalf("register before the ban: %v", err)
	}
	if _, err := c.ConfirmSMS(ctx, owner.Session, lastOutboxCode(t, srv, testPhone, "sms")); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	settings := map[string]any{"session_idle_minutes": 15, "session_absolute_hours": 12, "password_expiry_days": 0, "forbid_sms": true, "require_phishing_resistant": false}
	if err := c.Do(ctx, http.MethodPut, owner.orgPath("settings"), owner.Session, settings, nil); err != nil {
		t.Fatalf("forbid sms: %v", err)
	}

	_, err := c.RegisterSMS(ctx, owner.Session, "+15555550100", "", "sms")
	wantRefused(t, err, http.StatusForbidden, "forbidden", "does not allow")
	lr, err := c.Login(ctx, owner.Email, owner.Password)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(lr.Methods, "sms") {
		t.Fatalf("methods offer sms: %v", lr.Methods)
	}
	_, err = c.SendLoginSMS(ctx, lr.LoginToken, "sms", 0)
	wantRefused(t, err, http.StatusForbidden, "forbidden", "does not allow")
	_, err = c.LoginMFA(ctx, lr.LoginToken, "sms", "123456")
	wantRefused(t, err, http.StatusForbidden, "forbidden", "does not allow")
}
