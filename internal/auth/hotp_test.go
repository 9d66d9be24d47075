package auth_test

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/mfa"
)

// hotpSecret is RFC 4226 Appendix D's secret, "12345678901234567890".
var hotpSecret = []byte("12345678901234567890")

func hotpAt(tb testing.TB, secret []byte, counter int64) string {
	tb.Helper()
	c, err := mfa.HOTPCode(secret, uint64(counter), 6)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestParseHOTPSecret(t *testing.T) {
	hexSecret := hex.EncodeToString(hotpSecret)
	b32 := base32.StdEncoding.EncodeToString(hotpSecret)
	secret32 := bytes.Repeat([]byte{0xab}, 32)
	for _, tt := range []struct {
		name, in   string
		want       []byte
		wantSerial string
		wantErr    string
	}{
		{name: "OKHex", in: hexSecret, want: hotpSecret},
		{name: "OKHexUpper0x", in: "0x" + strings.ToUpper(hexSecret), want: hotpSecret},
		{name: "OKSeedLine", in: "  YK12345678 " + hexSecret + "\n", want: hotpSecret, wantSerial: "YK12345678"},
		{name: "OKSeedCSV", in: "FT-0042," + hexSecret, want: hotpSecret, wantSerial: "FT-0042"},
		{name: "OKSeedTab", in: "0042\t" + hex.EncodeToString(secret32), want: secret32, wantSerial: "0042"},
		{name: "OKBase32", in: b32, want: hotpSecret},
		{name: "OKBase32Lower", in: strings.ToLower(b32), want: hotpSecret},
		{name: "OKBase32Groups", in: "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ", want: hotpSecret},
		{name: "OKBase32Hyphens", in: "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ", want: hotpSecret},
		{name: "OKHexGroups", in: "3132 3334 3536 3738 3930 3132 3334 3536 3738 3930", want: hotpSecret},
		{name: "ErrEmpty", in: "", wantErr: "neither"},
		{name: "ErrShortHex", in: "31323334353637383930", wantErr: "bytes"},
		{name: "ErrShortBase32", in: "GEZDGNBVGY3TQOJQ", wantErr: "bytes"},
		{name: "ErrLongHex", in: strings.Repeat("ab", 65), wantErr: "neither"},
		{name: "ErrNotHexNorBase32", in: "not a secret at all!", wantErr: "neither"},
		{name: "ErrOddHex", in: hexSecret + "1", wantErr: "neither"},
		{name: "ErrSerialControl", in: "SER\x01 " + hexSecret, wantErr: "serial"},
		{name: "ErrTooLong", in: strings.Repeat("A", 600), wantErr: "too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, serial, err := auth.ParseHOTPSecret(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHOTPSecret: %v", err)
			}
			if !bytes.Equal(got, tt.want) || serial != tt.wantSerial {
				t.Fatalf("got %x serial %q, want %x %q", got, serial, tt.want, tt.wantSerial)
			}
		})
	}
}

func FuzzParseHOTPSecret(f *testing.F) {
	for _, s := range []string{"", "YK1 3132333435363738393031323334353637383930", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "0x00", "a,b;c\td", "ser " + strings.Repeat("f", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		secret, serial, err := auth.ParseHOTPSecret(in)
		if err != nil {
			if secret != nil || serial != "" {
				t.Fatalf("error with a result: %v", err)
			}
			if len(in) >= 16 && strings.Contains(err.Error(), in) {
				t.Fatalf("error repeats the input: %v", err)
			}
			return
		}
		if len(secret) < 16 || len(secret) > 64 {
			t.Fatalf("secret of %d bytes accepted", len(secret))
		}
		if len(serial) > 40 || strings.ContainsFunc(serial, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("serial %q accepted", serial)
		}
	})
}

// hotpUser is an enrolled user with a registered token.
type hotpUser struct {
	*enrolled
	token *auth.Factor
}

func (f *fixture) mustHOTP(email string, secretText string, start int64) *hotpUser {
	f.tb.Helper()
	e := f.mustEnroll(email)
	tok, err := f.svc.RegisterHOTP(f.ctx, e.issued.Session, e.user, "Desk token", secretText, hotpAt(f.tb, hotpSecret, start), hotpAt(f.tb, hotpSecret, start+1), f.client)
	if err != nil {
		f.tb.Fatalf("register: %v", err)
	}
	return &hotpUser{enrolled: e, token: tok}
}

func (f *fixture) hotpLogin(email, code string) error {
	f.tb.Helper()
	res := f.mustLogin(email)
	_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodHOTP, Code: code}, f.client)
	return err
}

func (f *fixture) counter(id int64) int64 {
	f.tb.Helper()
	var n int64
	if err := f.store.DB().QueryRowContext(f.ctx, `SELECT counter FROM mfa_factors WHERE id = ?`, id).Scan(&n); err != nil {
		f.tb.Fatal(err)
	}
	return n
}

func TestRegisterHOTP(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	ss := e.issued.Session
	hexSecret := hex.EncodeToString(hotpSecret)

	t.Run("ErrCodesFromAnotherSecret", func(t *testing.T) {
		other := bytes.Repeat([]byte{7}, 20)
		_, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "T", hexSecret, hotpAt(t, other, 0), hotpAt(t, other, 1), f.client)
		if wantErr(t, err, errs.EINVALID); !strings.Contains(errs.Message(err), "do not come from this secret") {
			t.Fatalf("message = %q", errs.Message(err))
		}
	})
	t.Run("ErrCodesNotConsecutive", func(t *testing.T) {
		_, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "T", hexSecret, hotpAt(t, hotpSecret, 3), hotpAt(t, hotpSecret, 5), f.client)
		wantErr(t, err, errs.EINVALID)
	})
	t.Run("ErrCodesSwapped", func(t *testing.T) {
		_, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "T", hexSecret, hotpAt(t, hotpSecret, 4), hotpAt(t, hotpSecret, 3), f.client)
		wantErr(t, err, errs.EINVALID)
	})
	t.Run("ErrBadSecret", func(t *testing.T) {
		_, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "T", "zz", "755224", "287082", f.client)
		wantErr(t, err, errs.EINVALID)
	})
	t.Run("ErrStaleSession", func(t *testing.T) {
		f.advance(6 * time.Minute)
		defer f.advance(-6 * time.Minute)
		_, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "T", hexSecret, hotpAt(t, hotpSecret, 0), hotpAt(t, hotpSecret, 1), f.client)
		wantErr(t, err, errs.ESTEPUP)
	})
	t.Run("OKCounterFound", func(t *testing.T) {
		tok, err := f.svc.RegisterHOTP(f.ctx, ss, e.user, "", "SN-9 "+hexSecret, hotpAt(t, hotpSecret, 41), hotpAt(t, hotpSecret, 42), f.client)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Counter != 42 || !tok.Confirmed || tok.Hint != "SN-9" || tok.Name != "Hardware token" || tok.Kind != auth.KindHOTP {
			t.Fatalf("factor = %+v", tok)
		}
		if bytes.Contains(tok.SecretEnc, hotpSecret) {
			t.Fatal("secret stored in clear")
		}
		if len(f.events("mfa.hotp.register")) == 0 {
			t.Error("registration not audited")
		}
		all, err := f.store.FindAuditEvents(f.ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range all {
			if strings.Contains(ev.Detail, hexSecret) {
				t.Fatalf("audit detail has the secret: %q", ev.Detail)
			}
		}
	})
}

func TestHOTP_SignIn(t *testing.T) {
	f := newFixture(t)
	u := f.mustHOTP(aliceEmail, hex.EncodeToString(hotpSecret), 0) // counter 1 used
	id := u.token.ID

	steps := []struct {
		name     string
		code     string
		wantErr  string
		wantMsg  string
		wantCtr  int64
		advances bool
	}{
		{name: "OKNext", code: hotpAt(t, hotpSecret, 2), wantCtr: 2},
		{name: "ErrReplay", code: hotpAt(t, hotpSecret, 2), wantErr: errs.EUNAUTHORIZED, wantMsg: "already been used", wantCtr: 2},
		{name: "ErrOlder", code: hotpAt(t, hotpSecret, 1), wantErr: errs.EUNAUTHORIZED, wantMsg: "already been used", wantCtr: 2},
		{name: "OKLookAhead", code: hotpAt(t, hotpSecret, 12), wantCtr: 12},
		{name: "ErrSkippedBehind", code: hotpAt(t, hotpSecret, 8), wantErr: errs.EUNAUTHORIZED, wantCtr: 12},
		{name: "ErrDrift", code: hotpAt(t, hotpSecret, 23), wantErr: errs.EUNAUTHORIZED, wantMsg: "drifted", wantCtr: 12},
		{name: "ErrResyncWrongOrder", code: hotpAt(t, hotpSecret, 63) + " " + hotpAt(t, hotpSecret, 62), wantErr: errs.EUNAUTHORIZED, wantCtr: 12},
		{name: "OKResync", code: hotpAt(t, hotpSecret, 62) + " " + hotpAt(t, hotpSecret, 63), wantCtr: 63},
		{name: "ErrResyncReplay", code: hotpAt(t, hotpSecret, 62) + "," + hotpAt(t, hotpSecret, 63), wantErr: errs.EUNAUTHORIZED, wantMsg: "already been used", wantCtr: 63},
		{name: "ErrCodeBeforeResync", code: hotpAt(t, hotpSecret, 20), wantErr: errs.EUNAUTHORIZED, wantCtr: 63},
		{name: "OKGroupedDigits", code: hotpAt(t, hotpSecret, 64)[:3] + " " + hotpAt(t, hotpSecret, 64)[3:], wantCtr: 64},
		{name: "ErrMalformed", code: "12ab56", wantErr: errs.EUNAUTHORIZED, wantMsg: "press its button", wantCtr: 64},
		{name: "ErrBeyondResyncWindow", code: hotpAt(t, hotpSecret, 64+1001) + " " + hotpAt(t, hotpSecret, 64+1002), wantErr: errs.EUNAUTHORIZED, wantCtr: 64},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			err := f.hotpLogin(aliceEmail, tt.code)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("sign-in: %v", err)
				}
			} else {
				wantErr(t, err, tt.wantErr)
				if !strings.Contains(errs.Message(err), tt.wantMsg) {
					t.Fatalf("message = %q, want %q", errs.Message(err), tt.wantMsg)
				}
			}
			if got := f.counter(id); got != tt.wantCtr {
				t.Fatalf("counter = %d, want %d", got, tt.wantCtr)
			}
		})
	}
	if n := len(f.events("mfa.hotp.resync")); n != 1 {
		t.Errorf("%d resync events, want 1", n)
	}
}

func TestHOTP_SeveralTokens(t *testing.T) {
	f := newFixture(t)
	u := f.mustHOTP(aliceEmail, hex.EncodeToString(hotpSecret), 0)
	other := bytes.Repeat([]byte{0x42}, 20)
	second, err := f.svc.RegisterHOTP(f.ctx, u.issued.Session, u.user, "Spare", base32.StdEncoding.EncodeToString(other), hotpAt(t, other, 5), hotpAt(t, other, 6), f.client)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.hotpLogin(aliceEmail, hotpAt(t, other, 7)); err != nil {
		t.Fatalf("second token: %v", err)
	}
	if err := f.hotpLogin(aliceEmail, hotpAt(t, hotpSecret, 2)); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if f.counter(second.ID) != 7 || f.counter(u.token.ID) != 2 {
		t.Fatalf("counters = %d, %d", f.counter(u.token.ID), f.counter(second.ID))
	}
}

func TestHOTP_EightDigits(t *testing.T) {
	f := newFixture(t)
	e := f.mustEnroll(aliceEmail)
	code := func(k uint64) string {
		c, err := mfa.HOTPCode(hotpSecret, k, 8)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := f.svc.RegisterHOTP(f.ctx, e.issued.Session, e.user, "Long", hex.EncodeToString(hotpSecret), code(0), code(1), f.client); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.hotpLogin(aliceEmail, code(2)[2:]), errs.EUNAUTHORIZED)
	if err := f.hotpLogin(aliceEmail, code(2)); err != nil {
		t.Fatalf("8-digit code: %v", err)
	}
}

func TestResyncHOTP(t *testing.T) {
	f := newFixture(t)
	u := f.mustHOTP(aliceEmail, hex.EncodeToString(hotpSecret), 0)
	for _, tt := range []struct {
		name         string
		id           int64
		code1, code2 string
		wantErr      string
		wantCtr      int64
	}{
		{"ErrNotAToken", u.factorID, hotpAt(t, hotpSecret, 50), hotpAt(t, hotpSecret, 51), errs.ENOTFOUND, 1},
		{"ErrWrong", u.token.ID, hotpAt(t, hotpSecret, 51), hotpAt(t, hotpSecret, 50), errs.EUNAUTHORIZED, 1},
		{"ErrOneCode", u.token.ID, hotpAt(t, hotpSecret, 50), "", errs.EINVALID, 1},
		{"OK", u.token.ID, hotpAt(t, hotpSecret, 500), hotpAt(t, hotpSecret, 501), "", 501},
		{"ErrBackwards", u.token.ID, hotpAt(t, hotpSecret, 100), hotpAt(t, hotpSecret, 101), errs.EUNAUTHORIZED, 501},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := f.svc.ResyncHOTP(f.ctx, u.user, tt.id, tt.code1, tt.code2, f.client)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr)
			}
			if got := f.counter(u.token.ID); got != tt.wantCtr {
				t.Fatalf("counter = %d, want %d", got, tt.wantCtr)
			}
		})
	}
}
