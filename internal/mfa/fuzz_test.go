package mfa_test

import (
	"bytes"
	"testing"

	"coffer/internal/mfa"
)

func FuzzParseTOTPURI(f *testing.F) {
	const s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, seed := range []string{
		mfa.TOTPURI("Coffer", "alice@example.com", []byte("12345678901234567890")),
		mfa.TOTPURI("Co:lon", "a:b c", []byte("12345678901234567890")),
		"otpauth://totp/alice?secret=" + s,
		"otpauth://totp/Acme%3Aalice?secret=" + s + "&issuer=Acme",
		"otpauth://totp/A:%20b?secret=" + s + "&algorithm=sha1&digits=6&period=30",
		"otpauth://hotp/A:b?secret=" + s,
		"otpauth://totp/A:b?secret=" + s + "&digits=8",
		"otpauth://totp/%3A%3A?secret=" + s,
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		issuer, account, secret, err := mfa.ParseTOTPURI(uri)
		if err != nil {
			return
		}
		again := mfa.TOTPURI(issuer, account, secret)
		i2, a2, s2, err := mfa.ParseTOTPURI(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", again, err)
		}
		if i2 != issuer || a2 != account || !bytes.Equal(s2, secret) {
			t.Fatalf("round trip: (%q, %q, %x) became (%q, %q, %x)", issuer, account, secret, i2, a2, s2)
		}
	})
}

func FuzzDecodeSecret(f *testing.F) {
	for _, seed := range []string{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezd-gnbv gy3t qojq", "GEZDGNBVGY3TQOJQGE======", "", "===", "ı"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secret, err := mfa.DecodeSecret(s)
		if err != nil {
			return
		}
		if len(secret) < 10 || len(secret) > 64 {
			t.Fatalf("accepted a %d-byte secret", len(secret))
		}
		for _, form := range []string{mfa.EncodeSecret(secret), mfa.FormatSecretForDisplay(mfa.EncodeSecret(secret))} {
			back, err := mfa.DecodeSecret(form)
			if err != nil || !bytes.Equal(back, secret) {
				t.Fatalf("%q: round trip failed: %v", form, err)
			}
		}
	})
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, seed := range []string{"abcd-efgh-jkmn-pqrs", "ABCD EFGH JKMN PQRS", "0000000000000000", "1111-1111-1111-1111", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, err := mfa.NormalizeRecoveryCode(s)
		if err != nil {
			return
		}
		if !recoveryFormat.MatchString(norm) {
			t.Fatalf("%q normalized to malformed %q", s, norm)
		}
		again, err := mfa.NormalizeRecoveryCode(norm)
		if err != nil || again != norm {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, norm, again, err)
		}
		h, err := mfa.HashRecoveryCode(s)
		if err != nil || !h.Matches(norm) || !h.Matches(s) {
			t.Fatalf("hash of %q does not match its normal form: %v", s, err)
		}
	})
}
