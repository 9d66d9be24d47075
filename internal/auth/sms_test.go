package auth_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/sms"
)

func TestNormalizePhone(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"+447700900042", "+447700900042"},
		{" +44 7700 900042 ", "+447700900042"},
		{"+1 (555) 555-0100", "+15555550100"},
		{"0044 7700.900042", "+447700900042"},
		{"+12345678", "+12345678"},
		{"+123456789012345", "+123456789012345"},
		{"07700900042", ""},         // national form: no country code
		{"+1234567", ""},            // 7 digits
		{"+1234567890123456", ""},   // 16 digits
		{"+0447700900042", ""},      // country codes never start with 0
		{"+44 7700 90004x", ""},     // letters
		{"+44 7700 900042 ext", ""}, // extension
		{"++447700900042", ""},
		{"", ""},
		{"+４４7700900042", ""}, // full-width digits
		{strings.Repeat(" ", 50) + "+447700900042", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.NormalizePhone(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizePhone(%q) = %q, want an error", tt.in, got)
				}
				wantErr(t, err, errs.EINVALID)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if h := auth.PhoneHint("+447700900042"); h != "•• 42" {
		t.Errorf("hint = %q", h)
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+447700900042", "0044 (0) 7700-900042", "+1 555", "", "+"} {
		f.Add(s)
	}
	e164 := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := auth.NormalizePhone(in)
		if err != nil {
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", in, got)
		}
		if again, err := auth.NormalizePhone(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

// outbox wires the development provider into the fixture and reads codes
// back from its file.
type outbox struct {
	tb   testing.TB
	path string
}

func (f *fixture) withOutbox() *outbox {
	f.tb.Helper()
	path := filepath.Join(f.tb.TempDir(), "sms-outbox.jsonl")
	o, err := sms.NewOutbox(path)
	if err != nil {
		f.tb.Fatal(err)
	}
	f.svc.SMS = o
	return &outbox{tb: f.tb, path: path}
}

func (o *outbox) messages() []sms.Message {
	o.tb.Helper()
	fh, err := os.Open(o.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		o.tb.Fatal(err)
	}
	defer fh.Close()
	var out []sms.Message
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m sms.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			o.tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// lastCode is the code in the newest message, which must have gone to to.
func (o *outbox) lastCode(to string) string {
	o.tb.Helper()
	ms := o.messages()
	if len(ms) == 0 {
		o.tb.Fatal("no message sent")
	}
	m := ms[len(ms)-1]
	if m.To != to {
		o.tb.Fatalf("message went to %q, want %q", m.To, to)
	}
	body := m.Body
	if m.Channel == sms.ChannelVoice {
		body = strings.NewReplacer(", ", "").Replace(body)
	}
	code := codeRE.FindString(body)
	if code == "" {
		o.tb.Fatalf("no code in %q", m.Body)
	}
	return code
}

const phone = "+447700900042"

// mustPhone registers and confirms alice's phone.
func (f *fixture) mustPhone(e *enrolled, box *outbox) *auth.Factor {
	f.tb.Helper()
	sent, err := f.svc.RegisterSMS(f.ctx, e.issued.Session, e.user, "+44 7700 900042", "Mobile", "", f.client)
	if err != nil {
		f.tb.Fatalf("register sms: %v", err)
	}
	if sent.Hint != "•• 42" || sent.Channel != sms.ChannelSMS || !sent.ExpiresAt.Equal(f.now().Add(auth.SMSCodeTTL)) {
		f.tb.Fatalf("sent = %+v", sent)
	}
	fa, err := f.svc.ConfirmSMS(f.ctx, e.issued.Session, e.user, box.lastCode(phone), f.client)
	if err != nil {
		f.tb.Fatalf("confirm sms: %v", err)
	}
	return fa
}

func TestSMS_RegisterAndSignIn(t *testing.T) {
	f := newFixture(t)
	box := f.withOutbox()
	e := f.mustEnroll(aliceEmail)

	t.Run("ErrWrongConfirmCode", func(t *testing.T) {
		if _, err := f.svc.RegisterSMS(f.ctx, e.issued.Session, e.user, phone, "Mobile", "", f.client); err != nil {
			t.Fatal(err)
		}
		code := box.lastCode(phone)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		_, err := f.svc.ConfirmSMS(f.ctx, e.issued.Session, e.user, wrong, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		if fs, _ := f.svc.Factors(f.ctx, e.user.ID); len(fs) != 1 {
			t.Fatalf("%d factors, want only the app", len(fs))
		}
	})
	fa := f.mustPhone(e, box)
	if !fa.Confirmed || fa.Hint != "•• 42" || fa.Kind != auth.KindSMS || strings.Contains(string(fa.SecretEnc), "7700900042") {
		t.Fatalf("factor = %+v", fa)
	}
	for _, ev := range f.events("mfa.sms.send") {
		if strings.Contains(ev.Detail, "7700900042") {
			t.Fatalf("audit has the number: %q", ev.Detail)
		}
	}

	res := f.mustLogin(aliceEmail)
	if !strings.Contains(strings.Join(res.Methods, ","), "sms") {
		t.Fatalf("methods = %v", res.Methods)
	}
	t.Run("ErrNoCodeSentYet", func(t *testing.T) {
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: "123456"}, f.client)
		wantErr(t, err, errs.EINVALID)
	})
	sent, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, sms.ChannelVoice, 0, f.client)
	if err != nil || sent.FactorID != fa.ID || sent.Channel != "voice" {
		t.Fatalf("send = %+v, %v", sent, err)
	}
	code := box.lastCode(phone)
	iss, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: code[:3] + " " + code[3:]}, f.client)
	if err != nil {
		t.Fatalf("sign in with sms: %v", err)
	}
	if iss.Session.MFAMethod != auth.MethodSMS {
		t.Errorf("session method = %q", iss.Session.MFAMethod)
	}

	t.Run("ErrSingleUse", func(t *testing.T) {
		// A used code is worth nothing at the next sign-in, where a new
		// code has been sent.
		f.advance(10 * time.Minute) // past the per-number sending limit
		res := f.mustLogin(aliceEmail)
		if _, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, sms.ChannelSMS, 0, f.client); err != nil {
			t.Fatal(err)
		}
		if fresh := box.lastCode(phone); fresh == code {
			t.Skip("the new code happens to equal the old one (1 in a million)")
		}
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})
	t.Run("OKStepUp", func(t *testing.T) {
		f.advance(10 * time.Minute)
		if _, err := f.svc.SendStepUpSMS(f.ctx, iss.Session, e.user, "", 0, f.client); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.StepUp(f.ctx, iss.Session, e.user, auth.Proof{Method: auth.MethodSMS, Code: box.lastCode(phone)}, f.client); err != nil {
			t.Fatalf("step-up: %v", err)
		}
	})
	t.Run("ErrUnknownFactor", func(t *testing.T) {
		_, err := f.svc.SendStepUpSMS(f.ctx, iss.Session, e.user, "", e.factorID, f.client)
		wantErr(t, err, errs.ENOTFOUND)
	})
	t.Run("ErrChannel", func(t *testing.T) {
		_, err := f.svc.SendStepUpSMS(f.ctx, iss.Session, e.user, "pigeon", 0, f.client)
		wantErr(t, err, errs.EINVALID)
	})
}

func TestSMS_CodeRules(t *testing.T) {
	f := newFixture(t)
	box := f.withOutbox()
	e := f.mustEnroll(aliceEmail)
	f.mustPhone(e, box)
	send := func(t *testing.T) (string, string) {
		t.Helper()
		// A new window for the per-number limit each time.
		f.advance(auth.SMSNumberWindow)
		res := f.mustLogin(aliceEmail)
		if _, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, "", 0, f.client); err != nil {
			t.Fatal(err)
		}
		return res.LoginToken, box.lastCode(phone)
	}
	verify := func(token, code string) error {
		_, err := f.svc.VerifySecondFactor(f.ctx, token, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client)
		return err
	}
	wrong := func(code string) string {
		if code == "999999" {
			return "999998"
		}
		return "999999"
	}

	t.Run("ErrExpired", func(t *testing.T) {
		token, code := send(t)
		f.advance(auth.SMSCodeTTL)
		err := verify(token, code)
		if wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(errs.Message(err), "expired. Send a new one") {
			t.Fatalf("message = %q", errs.Message(err))
		}
	})
	t.Run("OKJustBeforeExpiry", func(t *testing.T) {
		token, code := send(t)
		f.advance(auth.SMSCodeTTL - time.Second)
		if err := verify(token, code); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrFiveWrongTries", func(t *testing.T) {
		token, code := send(t)
		for i := range auth.SMSMaxAttempts {
			err := verify(token, wrong(code))
			wantErr(t, err, errs.EUNAUTHORIZED)
			if i == auth.SMSMaxAttempts-1 && !strings.Contains(errs.Message(err), "Too many wrong codes") {
				t.Fatalf("message = %q", errs.Message(err))
			}
		}
		// The right code no longer works.
		err := verify(token, code)
		if wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(errs.Message(err), "Send a new one") {
			t.Fatalf("message = %q", errs.Message(err))
		}
		// Clear the account's failures for the next subtests.
		if err := f.svc.UnlockAccount(f.ctx, aliceEmail, f.client); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrOlderCodeReplaced", func(t *testing.T) {
		token, first := send(t)
		if _, err := f.svc.SendLoginSMS(f.ctx, token, "", 0, f.client); err != nil {
			t.Fatal(err)
		}
		second := box.lastCode(phone)
		if first != second {
			wantErr(t, verify(token, first), errs.EUNAUTHORIZED)
		}
		if err := verify(token, second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrConfirmCodeDoesNotSignIn", func(t *testing.T) {
		f.advance(auth.SMSNumberWindow)
		if _, err := f.svc.RegisterSMS(f.ctx, f.mustSignIn(e).Session, e.user, "+15555550100", "Work", "", f.client); err != nil {
			t.Fatal(err)
		}
		code := box.lastCode("+15555550100")
		res := f.mustLogin(aliceEmail)
		wantErr(t, verify(res.LoginToken, code), errs.EINVALID)
	})
}

func TestSMS_RateLimits(t *testing.T) {
	f := newFixture(t)
	box := f.withOutbox()
	e := f.mustEnroll(aliceEmail)
	f.mustPhone(e, box) // one send to the number so far
	res := f.mustLogin(aliceEmail)
	for i := 2; i <= auth.SMSPerNumber; i++ {
		if _, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, "", 0, f.client); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	before := len(box.messages())
	_, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, "", 0, f.client)
	e2 := wantErr(t, err, errs.ERATELIMIT)
	if e2.RetryAfter < 1 || e2.RetryAfter > int(auth.SMSNumberWindow/time.Second) || !strings.Contains(e2.Message, "this number") {
		t.Fatalf("refusal = %+v", e2)
	}
	if len(box.messages()) != before {
		t.Fatal("a message was sent past the limit")
	}
	if n := len(f.events("mfa.sms.send")); n != auth.SMSPerNumber+1 {
		t.Errorf("%d send events, want %d (sends and the refusal)", n, auth.SMSPerNumber+1)
	}
	// The next window allows sends again, until the account's hourly cap.
	sent := auth.SMSPerNumber
	var last error
	for range 10 {
		f.advance(auth.SMSNumberWindow)
		for range auth.SMSPerNumber {
			if _, last = f.svc.SendLoginSMS(f.ctx, f.mustLogin(aliceEmail).LoginToken, "", 0, f.client); last != nil {
				break
			}
			sent++
		}
		if last != nil {
			break
		}
	}
	if e := wantErr(t, last, errs.ERATELIMIT); !strings.Contains(e.Message, "your account") {
		t.Fatalf("refusal = %+v", e)
	}
	if sent > auth.SMSPerAccount {
		t.Fatalf("%d sends in an hour, cap %d", sent, auth.SMSPerAccount)
	}
}

func TestSMS_ForbiddenByOrganisation(t *testing.T) {
	f := newFixture(t)
	box := f.withOutbox()
	e := f.mustEnroll(aliceEmail)
	f.mustPhone(e, box)
	res := f.mustLogin(aliceEmail)
	if _, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, "", 0, f.client); err != nil {
		t.Fatal(err)
	}
	code := box.lastCode(phone)
	db := f.store.DB()
	if _, err := db.ExecContext(f.ctx, `INSERT INTO orgs (id, name, currency, created_at, forbid_sms) VALUES (1, 'Strict Ltd', 'GBP', 0, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(f.ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (1, ?, 'standard', 0)`, e.user.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error {
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client)
		return err
	}(), errs.EFORBIDDEN)
	_, err := f.svc.SendLoginSMS(f.ctx, res.LoginToken, "", 0, f.client)
	wantErr(t, err, errs.EFORBIDDEN)
	iss := f.mustSignIn(e)
	_, err = f.svc.RegisterSMS(f.ctx, iss.Session, e.user, "+15555550100", "", "", f.client)
	if wantErr(t, err, errs.EFORBIDDEN); !strings.Contains(errs.Message(err), "does not allow") {
		t.Fatalf("message = %q", errs.Message(err))
	}
	if m := f.mustLogin(aliceEmail).Methods; strings.Contains(strings.Join(m, ","), "sms") {
		t.Fatalf("methods offer sms: %v", m)
	}
}

func TestSMS_ProviderFailureAndAbsence(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	_, err := f.svc.RegisterSMS(f.ctx, e.issued.Session, e.user, phone, "", "", f.client)
	wantErr(t, err, errs.EUNAVAILABLE)

	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer gw.Close()
	hook, err := sms.NewWebhook(sms.WebhookConfig{URL: gw.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SMS = hook
	_, err = f.svc.RegisterSMS(f.ctx, e.issued.Session, e.user, phone, "", "", f.client)
	wantErr(t, err, errs.EUNAVAILABLE)
	evs := f.events("mfa.sms.send")
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "reason=delivery_failed") {
		t.Fatalf("events = %+v", evs)
	}
}

// TestSMS_CodeBoundToItsSignIn: a code sent for one sign-in does not
// complete another one, nor step up a session.
func TestSMS_CodeBoundToItsSignIn(t *testing.T) {
	f := newFixture(t)
	box := f.withOutbox()
	alice := f.mustEnroll("alice@example.com")
	f.mustPhone(alice, box)

	first := f.mustLogin(alice.user.Email)
	second := f.mustLogin(alice.user.Email)
	if _, err := f.svc.SendLoginSMS(f.ctx, first.LoginToken, "", 0, f.client); err != nil {
		t.Fatal(err)
	}
	code := box.lastCode(phone)
	// To the other sign-in, no code was sent.
	_, err := f.svc.VerifySecondFactor(f.ctx, second.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client)
	wantErr(t, err, errs.EINVALID)
	err = f.svc.StepUp(f.ctx, alice.issued.Session, alice.user, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client)
	wantErr(t, err, errs.EINVALID)
	if _, err := f.svc.VerifySecondFactor(f.ctx, first.LoginToken, auth.Proof{Method: auth.MethodSMS, Code: code}, f.client); err != nil {
		t.Fatalf("the sign-in the code was sent for: %v", err)
	}
}
