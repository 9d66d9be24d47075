package mfa_test

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/internal/mfa"
)

// rfcSHA1Secret is the RFC 4226 / RFC 6238 SHA-1 test secret.
var rfcSHA1Secret = []byte("12345678901234567890")

// MustSecret returns a fresh TOTP secret or stops the test.
func MustSecret(tb testing.TB) []byte {
	tb.Helper()
	s, err := mfa.NewTOTPSecret()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustCode returns the TOTP code for t or stops the test.
func MustCode(tb testing.TB, secret []byte, t time.Time) string {
	tb.Helper()
	c, err := mfa.TOTPCode(secret, t)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// requireTool returns the path of an external tool, skipping the test when
// it is missing on a developer machine but failing in CI, where a silent
// skip would hide that the interoperability check never ran.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s not on PATH (install it; in CI this test fails instead)", name)
	}
	t.Fatalf("%s not on PATH but CI is set: %v", name, err)
	return ""
}

func TestHOTPCode_RFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		got, err := mfa.HOTPCode(rfcSHA1Secret, uint64(counter), 6)
		if err != nil {
			t.Fatalf("counter %d: %v", counter, err)
		}
		if got != w {
			t.Errorf("counter %d: got %s, want %s", counter, got, w)
		}
	}
}

func TestHOTPCode_Errors(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		digits int
	}{
		{"FiveDigits", rfcSHA1Secret, 5},
		{"NineDigits", rfcSHA1Secret, 9},
		{"EmptySecret", nil, 6},
		{"HugeSecret", make([]byte, 65), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mfa.HOTPCode(tt.secret, 0, tt.digits); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestTOTPCodeCustom_RFC6238(t *testing.T) {
	secrets := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte(strings.Repeat("1234567890", 7)[:64]),
	}
	tests := []struct {
		unix int64
		want map[string]string
	}{
		{59, map[string]string{"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}},
		{1111111109, map[string]string{"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}},
		{1111111111, map[string]string{"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}},
		{1234567890, map[string]string{"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}},
		{2000000000, map[string]string{"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}},
		{20000000000, map[string]string{"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}},
	}
	for _, tt := range tests {
		for _, alg := range []string{"SHA1", "SHA256", "SHA512"} {
			t.Run(alg+"/"+time.Unix(tt.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
				got, err := mfa.TOTPCodeCustom(secrets[alg], time.Unix(tt.unix, 0), 8, alg)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want[alg] {
					t.Errorf("got %s, want %s", got, tt.want[alg])
				}
			})
		}
	}
}

func TestTOTPCode(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		// The RFC 6238 SHA-1 vectors truncated to 6 digits are the last 6.
		got := MustCode(t, rfcSHA1Secret, time.Unix(1234567890, 0))
		if got != "005924" {
			t.Errorf("got %s, want 005924", got)
		}
	})
	t.Run("ErrUnsupportedAlgorithm", func(t *testing.T) {
		for _, alg := range []string{"MD5", "sha1", ""} {
			if _, err := mfa.TOTPCodeCustom(rfcSHA1Secret, time.Unix(59, 0), 6, alg); err == nil {
				t.Errorf("algorithm %q accepted", alg)
			}
		}
	})
	t.Run("ErrBeforeEpoch", func(t *testing.T) {
		if _, err := mfa.TOTPCode(rfcSHA1Secret, time.Unix(-1, 0)); err == nil {
			t.Error("expected an error")
		}
	})
}

func TestTOTPStep(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {1111111109, 37037036}, {-1, -1}, {-30, -1}, {-31, -2},
	}
	for _, tt := range tests {
		if got := mfa.TOTPStep(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("TOTPStep(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	secret := rfcSHA1Secret
	// Mid-step, so that ±n steps are unambiguous.
	now := time.Unix(1700000015, 0)
	nowStep := mfa.TOTPStep(now)
	codeAt := func(steps int) string {
		return MustCode(t, secret, now.Add(time.Duration(steps)*mfa.TOTPPeriod*time.Second))
	}

	tests := []struct {
		name     string
		code     string
		lastStep int64
		wantStep int64
		wantErr  error
		wantSkew time.Duration // non-zero: expect *ClockSkewError with this offset
	}{
		{name: "Current", code: codeAt(0), lastStep: -1, wantStep: nowStep},
		{name: "PreviousStep", code: codeAt(-1), lastStep: -1, wantStep: nowStep - 1},
		{name: "NextStep", code: codeAt(1), lastStep: -1, wantStep: nowStep + 1},
		{name: "SpacesIgnored", code: " " + codeAt(0)[:3] + " " + codeAt(0)[3:] + "\t", lastStep: -1, wantStep: nowStep},
		{name: "AfterOlderUse", code: codeAt(0), lastStep: nowStep - 1, wantStep: nowStep},
		{name: "NextAfterCurrentUse", code: codeAt(1), lastStep: nowStep, wantStep: nowStep + 1},
		{name: "TwoBehind", code: codeAt(-2), lastStep: -1, wantSkew: -60 * time.Second},
		{name: "TwoAhead", code: codeAt(2), lastStep: -1, wantSkew: 60 * time.Second},
		{name: "TenAhead", code: codeAt(10), lastStep: -1, wantSkew: 300 * time.Second},
		{name: "TenBehind", code: codeAt(-10), lastStep: -1, wantSkew: -300 * time.Second},
		{name: "ElevenBehind", code: codeAt(-11), lastStep: -1, wantErr: mfa.ErrCodeInvalid},
		{name: "ElevenAhead", code: codeAt(11), lastStep: -1, wantErr: mfa.ErrCodeInvalid},
		{name: "Wrong", code: wrongCode(t, secret, now), lastStep: -1, wantErr: mfa.ErrCodeInvalid},
		{name: "ReplaySameStep", code: codeAt(0), lastStep: nowStep, wantErr: mfa.ErrCodeReplayed},
		{name: "ReplayOlderStep", code: codeAt(-1), lastStep: nowStep, wantErr: mfa.ErrCodeReplayed},
		{name: "ReplayAfterFutureUse", code: codeAt(0), lastStep: nowStep + 1, wantErr: mfa.ErrCodeReplayed},
		{name: "ReplayOutsideWindow", code: codeAt(-3), lastStep: nowStep, wantErr: mfa.ErrCodeReplayed},
		{name: "MalformedEmpty", code: "", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedShort", code: "12345", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedLong", code: "1234567", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedLetters", code: "12a456", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedSign", code: "+12345", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedUnicodeDigits", code: "١٢٣٤٥٦", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
		{name: "MalformedFullwidth", code: "１２３４５６", lastStep: -1, wantErr: mfa.ErrCodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := mfa.VerifyTOTP(secret, tt.code, now, tt.lastStep)
			switch {
			case tt.wantSkew != 0:
				var skew *mfa.ClockSkewError
				if !errors.As(err, &skew) {
					t.Fatalf("got %v, want ClockSkewError", err)
				}
				if skew.Offset != tt.wantSkew {
					t.Errorf("offset %s, want %s", skew.Offset, tt.wantSkew)
				}
				if errors.Is(err, mfa.ErrCodeInvalid) || skew.Error() == "" {
					t.Errorf("unexpected error shape %v", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if step != tt.wantStep {
					t.Errorf("step %d, want %d", step, tt.wantStep)
				}
			}
			if err != nil && step != tt.lastStep {
				t.Errorf("on error returned step %d, want lastStep %d", step, tt.lastStep)
			}
		})
	}
}

// wrongCode returns a 6-digit code that matches no step within ±20 of now.
func wrongCode(t *testing.T, secret []byte, now time.Time) string {
	t.Helper()
	used := map[string]bool{}
	for d := -20; d <= 20; d++ {
		used[MustCode(t, secret, now.Add(time.Duration(d)*mfa.TOTPPeriod*time.Second))] = true
	}
	for _, c := range []string{"000000", "111111", "123456", "999999", "424242"} {
		if !used[c] {
			return c
		}
	}
	t.Fatal("no unused code found")
	return ""
}

func TestVerifyTOTP_Sequence(t *testing.T) {
	// Simulates a user logging in repeatedly, storing the step each time as
	// the caller must: each code works once, and the next step's still works.
	secret := MustSecret(t)
	now := time.Unix(1700000000, 0)
	last := int64(-1)
	for i := 0; i < 5; i++ {
		code := MustCode(t, secret, now)
		step, err := mfa.VerifyTOTP(secret, code, now, last)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		last = step
		if _, err := mfa.VerifyTOTP(secret, code, now, last); !errors.Is(err, mfa.ErrCodeReplayed) {
			t.Fatalf("login %d replay: got %v, want ErrCodeReplayed", i, err)
		}
		now = now.Add(mfa.TOTPPeriod * time.Second)
	}
}

func TestVerifyTOTP_BadSecret(t *testing.T) {
	for _, s := range [][]byte{nil, make([]byte, 9), make([]byte, 65)} {
		_, err := mfa.VerifyTOTP(s, "123456", time.Now(), -1)
		if err == nil || errors.Is(err, mfa.ErrCodeInvalid) {
			t.Errorf("secret of %d bytes: got %v, want a configuration error", len(s), err)
		}
	}
}

func TestNewTOTPSecret(t *testing.T) {
	a, b := MustSecret(t), MustSecret(t)
	if len(a) != 20 {
		t.Errorf("length %d, want 20", len(a))
	}
	if bytes.Equal(a, b) {
		t.Error("two secrets are equal")
	}
}

func TestEncodeDecodeSecret(t *testing.T) {
	if got := mfa.EncodeSecret(rfcSHA1Secret); got != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("EncodeSecret = %s", got)
	}
	if got := mfa.EncodeSecret([]byte("1234567890a")); strings.ContainsAny(got, "=abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("EncodeSecret = %s: has padding or lower case", got)
	}

	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr bool
	}{
		{name: "Canonical", in: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", want: rfcSHA1Secret},
		{name: "LowerCase", in: "gezdgnbvgy3tqojqgezdgnbvgy3tqojq", want: rfcSHA1Secret},
		{name: "Grouped", in: "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", want: rfcSHA1Secret},
		{name: "Hyphens", in: "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ", want: rfcSHA1Secret},
		{name: "Padded", in: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGE======", want: []byte("123456789012345678901")},
		{name: "PaddingOmitted", in: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGE", want: []byte("123456789012345678901")},
		{name: "TenBytes", in: "GEZDGNBVGY3TQOJQ", want: []byte("1234567890")},
		{name: "ErrNineBytes", in: "GEZDGNBVGY3TQOI", wantErr: true},
		{name: "ErrEmpty", in: "", wantErr: true},
		{name: "ErrOnlySpaces", in: "  - ", wantErr: true},
		{name: "ErrBadChar", in: "GEZDGNBVGY3TQOJ1", wantErr: true},
		{name: "ErrBadLength", in: "GEZDGNBVGY3TQOJQG", wantErr: true},
		{name: "ErrPaddingInside", in: "GEZDGNBV=GY3TQOJQ", wantErr: true},
		{name: "ErrDotlessI", in: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJı", wantErr: true},
		{name: "ErrTooLong", in: strings.Repeat("A", 200), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mfa.DecodeSecret(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %x, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatSecretForDisplay(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"},
		{"GEZDGNBVGY", "GEZD GNBV GY"},
		{"GEZD GNBV GY", "GEZD GNBV GY"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := mfa.FormatSecretForDisplay(tt.in); got != tt.want {
			t.Errorf("FormatSecretForDisplay(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	secret := MustSecret(t)
	back, err := mfa.DecodeSecret(mfa.FormatSecretForDisplay(mfa.EncodeSecret(secret)))
	if err != nil || !bytes.Equal(back, secret) {
		t.Errorf("display form does not decode back: %v", err)
	}
}

func TestTOTPURI(t *testing.T) {
	got := mfa.TOTPURI("Coffer", "alice@example.com", rfcSHA1Secret)
	want := "otpauth://totp/Coffer:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Coffer&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	got = mfa.TOTPURI("Acme & Co", "bob smith:x/y", rfcSHA1Secret)
	want = "otpauth://totp/Acme%20&%20Co:bob%20smith%3Ax%2Fy?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20%26%20Co&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseTOTPURI(t *testing.T) {
	const s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name        string
		uri         string
		wantIssuer  string
		wantAccount string
		wantErr     string // substring; "" means success
	}{
		{name: "Ours", uri: "otpauth://totp/Coffer:alice@example.com?secret=" + s + "&issuer=Coffer&algorithm=SHA1&digits=6&period=30", wantIssuer: "Coffer", wantAccount: "alice@example.com"},
		{name: "Defaults", uri: "otpauth://totp/Coffer:alice?secret=" + s, wantIssuer: "Coffer", wantAccount: "alice"},
		{name: "IssuerOnlyInQuery", uri: "otpauth://totp/alice?secret=" + s + "&issuer=Acme", wantIssuer: "Acme", wantAccount: "alice"},
		{name: "NoIssuer", uri: "otpauth://totp/alice?secret=" + s, wantAccount: "alice"},
		{name: "EncodedSeparator", uri: "otpauth://totp/Acme%3Aalice?secret=" + s, wantIssuer: "Acme", wantAccount: "alice"},
		{name: "SpaceAfterSeparator", uri: "otpauth://totp/Acme:%20%20alice?secret=" + s, wantIssuer: "Acme", wantAccount: "alice"},
		{name: "EncodedColonInAccount", uri: "otpauth://totp/Acme:a%3Ab?secret=" + s, wantIssuer: "Acme", wantAccount: "a:b"},
		{name: "LowerCaseSecretAndAlg", uri: "otpauth://totp/A:b?secret=" + strings.ToLower(s) + "&algorithm=sha1", wantIssuer: "A", wantAccount: "b"},
		{name: "UnknownParamIgnored", uri: "otpauth://totp/A:b?secret=" + s + "&image=https%3A%2F%2Fexample.com%2Fa.png", wantIssuer: "A", wantAccount: "b"},
		{name: "UpperCaseHost", uri: "otpauth://TOTP/A:b?secret=" + s, wantIssuer: "A", wantAccount: "b"},

		{name: "ErrHOTP", uri: "otpauth://hotp/A:b?secret=" + s + "&counter=0", wantErr: "otpauth://totp"},
		{name: "ErrScheme", uri: "https://totp/A:b?secret=" + s, wantErr: "scheme"},
		{name: "ErrOpaque", uri: "otpauth:totp/A:b?secret=" + s, wantErr: "otpauth://totp"},
		{name: "ErrUserinfo", uri: "otpauth://x@totp/A:b?secret=" + s, wantErr: "otpauth://totp"},
		{name: "ErrSHA256", uri: "otpauth://totp/A:b?secret=" + s + "&algorithm=SHA256", wantErr: "algorithm"},
		{name: "ErrSHA512", uri: "otpauth://totp/A:b?secret=" + s + "&algorithm=SHA512", wantErr: "algorithm"},
		{name: "ErrMD5", uri: "otpauth://totp/A:b?secret=" + s + "&algorithm=MD5", wantErr: "algorithm"},
		{name: "ErrEightDigits", uri: "otpauth://totp/A:b?secret=" + s + "&digits=8", wantErr: "digits"},
		{name: "ErrZeroPaddedDigits", uri: "otpauth://totp/A:b?secret=" + s + "&digits=06", wantErr: "digits"},
		{name: "ErrPeriod60", uri: "otpauth://totp/A:b?secret=" + s + "&period=60", wantErr: "period"},
		{name: "ErrNoSecret", uri: "otpauth://totp/A:b?issuer=A", wantErr: "secret"},
		{name: "ErrShortSecret", uri: "otpauth://totp/A:b?secret=GEZDGNBV", wantErr: "secret"},
		{name: "ErrBadSecret", uri: "otpauth://totp/A:b?secret=GEZDGNBVGY3TQOJ1", wantErr: "base32"},
		{name: "ErrTwoSecrets", uri: "otpauth://totp/A:b?secret=" + s + "&secret=" + s, wantErr: "2 times"},
		{name: "ErrIssuerMismatch", uri: "otpauth://totp/A:b?secret=" + s + "&issuer=B", wantErr: "issuer"},
		{name: "ErrEmptyLabelIssuer", uri: "otpauth://totp/:b?secret=" + s, wantErr: "empty issuer"},
		{name: "ErrNoAccount", uri: "otpauth://totp/A:?secret=" + s, wantErr: "account"},
		{name: "ErrNoLabel", uri: "otpauth://totp?secret=" + s, wantErr: "account"},
		{name: "ErrControlChar", uri: "otpauth://totp/A:b%0Ac?secret=" + s, wantErr: "control"},
		{name: "ErrInvalidUTF8", uri: "otpauth://totp/A:b%FF?secret=" + s, wantErr: "UTF-8"},
		{name: "ErrFragment", uri: "otpauth://totp/A:b?secret=" + s + "#x", wantErr: "fragment"},
		{name: "ErrSemicolon", uri: "otpauth://totp/A:b?secret=" + s + ";digits=6", wantErr: "query"},
		{name: "ErrTooLong", uri: "otpauth://totp/A:" + strings.Repeat("b", 5000) + "?secret=" + s, wantErr: "too long"},
		{name: "ErrNotURI", uri: "%", wantErr: "valid URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer, account, secret, err := mfa.ParseTOTPURI(tt.uri)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted: issuer %q account %q", issuer, account)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q leaks the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if issuer != tt.wantIssuer || account != tt.wantAccount || !bytes.Equal(secret, rfcSHA1Secret) {
				t.Errorf("got (%q, %q, %x), want (%q, %q, %x)", issuer, account, secret, tt.wantIssuer, tt.wantAccount, rfcSHA1Secret)
			}
		})
	}
}

func TestTOTPURI_RoundTrip(t *testing.T) {
	tests := []struct{ issuer, account string }{
		{"Coffer", "alice@example.com"},
		{"Acme & Co", "bob smith"},
		{"Co:lon", "a:b:c"},
		{"Ünïcødé", "ö+%/?#&=@example.com"},
		{"", "solo"},
	}
	for _, tt := range tests {
		secret := MustSecret(t)
		issuer, account, got, err := mfa.ParseTOTPURI(mfa.TOTPURI(tt.issuer, tt.account, secret))
		if err != nil {
			t.Errorf("%q/%q: %v", tt.issuer, tt.account, err)
			continue
		}
		if issuer != tt.issuer || account != tt.account || !bytes.Equal(got, secret) {
			t.Errorf("got (%q, %q), want (%q, %q)", issuer, account, tt.issuer, tt.account)
		}
	}
}

func TestQRPNG(t *testing.T) {
	uri := mfa.TOTPURI("Coffer", "alice@example.com", MustSecret(t))
	t.Run("OK", func(t *testing.T) {
		data, err := mfa.QRPNG(uri, 256)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
			t.Fatalf("bounds %v, want 256x256", b)
		}
		// A quiet zone means the whole border band is white.
		for i := 0; i < 256; i++ {
			for _, p := range [][2]int{{i, 0}, {0, i}, {i, 255}, {255, i}} {
				if r, _, _, _ := img.At(p[0], p[1]).RGBA(); r != 0xffff {
					t.Fatalf("pixel %v is not white", p)
				}
			}
		}
	})
	t.Run("ErrSize", func(t *testing.T) {
		for _, size := range []int{-1, 0, 20, 1 << 20} {
			if _, err := mfa.QRPNG(uri, size); err == nil {
				t.Errorf("size %d accepted", size)
			}
		}
	})
}

func TestQRPNG_Zbarimg(t *testing.T) {
	zbarimg := requireTool(t, "zbarimg")
	tests := []struct {
		name    string
		content string
		size    int
	}{
		{"OurURI", mfa.TOTPURI("Coffer", "alice@example.com", MustSecret(t)), 256},
		{"LongAccount", mfa.TOTPURI("Coffer", strings.Repeat("long.name", 8)+"@example.com", MustSecret(t)), 300},
		{"Unicode", mfa.TOTPURI("Ünïcødé", "ö@example.com", MustSecret(t)), 256},
		{"Small", "otpauth://totp/A:b?secret=GEZDGNBVGY3TQOJQ", 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := mfa.QRPNG(tt.content, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "qr.png")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(zbarimg, "--raw", "-q", "--nodbus", "-Sdisable", "-Sqrcode.enable", file).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != tt.content {
				t.Errorf("decoded %q, want %q", got, tt.content)
			}
		})
	}
}

func TestTOTPCode_Oathtool(t *testing.T) {
	oathtool := requireTool(t, "oathtool")
	secret := MustSecret(t)
	b32 := mfa.EncodeSecret(secret)
	for _, unix := range []int64{59, 1111111109, 1234567890, 1700000015, 2000000000, time.Now().Unix()} {
		at := time.Unix(unix, 0).UTC()
		out, err := exec.Command(oathtool, "--totp", "-b", b32, "--now", at.Format("2006-01-02 15:04:05 UTC")).Output()
		if err != nil {
			t.Fatalf("oathtool: %v", err)
		}
		if got, want := MustCode(t, secret, at), strings.TrimSpace(string(out)); got != want {
			t.Errorf("at %s: TOTPCode %s, oathtool %s", at, got, want)
		}
	}
}
