package mfa_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"coffer/internal/mfa"
)

var recoveryFormat = regexp.MustCompile(`^[23456789abcdefghjkmnopqrstuvwxyz]{4}(-[23456789abcdefghjkmnopqrstuvwxyz]{4}){3}$`)

// MustRecoveryCodes returns n recovery codes or stops the test.
func MustRecoveryCodes(tb testing.TB, n int) []string {
	tb.Helper()
	codes, err := mfa.NewRecoveryCodes(n)
	if err != nil {
		tb.Fatal(err)
	}
	return codes
}

func TestNewRecoveryCodes(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		seen := map[string]bool{}
		for round := 0; round < 20; round++ {
			codes := MustRecoveryCodes(t, mfa.RecoveryCodeCount)
			if len(codes) != mfa.RecoveryCodeCount {
				t.Fatalf("got %d codes", len(codes))
			}
			for _, c := range codes {
				if !recoveryFormat.MatchString(c) {
					t.Errorf("code %q has the wrong format", c)
				}
				if strings.ContainsAny(c, "01il") {
					t.Errorf("code %q has an ambiguous character", c)
				}
				if seen[c] {
					t.Errorf("code %q repeated", c)
				}
				seen[c] = true
				if n, err := mfa.NormalizeRecoveryCode(c); err != nil || n != c {
					t.Errorf("code %q normalizes to %q, %v", c, n, err)
				}
			}
		}
	})
	t.Run("AllSymbolsUsed", func(t *testing.T) {
		// A biased or truncated alphabet would leave symbols out.
		used := map[rune]bool{}
		for _, c := range MustRecoveryCodes(t, 100) {
			for _, r := range strings.ReplaceAll(c, "-", "") {
				used[r] = true
			}
		}
		if len(used) != 32 {
			t.Errorf("%d distinct symbols in 1600, want 32", len(used))
		}
	})
	t.Run("ErrCount", func(t *testing.T) {
		for _, n := range []int{0, -1, 101} {
			if _, err := mfa.NewRecoveryCodes(n); err == nil {
				t.Errorf("n=%d accepted", n)
			}
		}
	})
}

func TestNormalizeRecoveryCode(t *testing.T) {
	const want = "abcd-efgh-jkmn-pqrs"
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "Canonical", in: want, want: want},
		{name: "UpperCase", in: "ABCD-EFGH-JKMN-PQRS", want: want},
		{name: "NoHyphens", in: "abcdefghjkmnpqrs", want: want},
		{name: "Spaces", in: " abcd efgh\tjkmn pqrs ", want: want},
		{name: "OddGrouping", in: "ab-cdefg-hjk mnp-qrs", want: want},
		{name: "ZeroIsO", in: "0000-oooo-OOOO-2345", want: "oooo-oooo-oooo-2345"},
		{name: "ErrOne", in: "1bcd-efgh-jkmn-pqrs", wantErr: true},
		{name: "ErrI", in: "ibcd-efgh-jkmn-pqrs", wantErr: true},
		{name: "ErrL", in: "lbcd-efgh-jkmn-pqrs", wantErr: true},
		{name: "ErrShort", in: "abcd-efgh-jkmn-pqr", wantErr: true},
		{name: "ErrLong", in: "abcd-efgh-jkmn-pqrst", wantErr: true},
		{name: "ErrEmpty", in: "", wantErr: true},
		{name: "ErrPunctuation", in: "abcd.efgh.jkmn.pqrs", wantErr: true},
		{name: "ErrKelvin", in: "\u212abcd-efgh-jkmn-pqrs", wantErr: true},
		{name: "ErrTooLong", in: strings.Repeat("-", 100) + want, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mfa.NormalizeRecoveryCode(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHashRecoveryCode(t *testing.T) {
	codes := MustRecoveryCodes(t, 2)
	h, err := mfa.HashRecoveryCode(codes[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Salt) != 16 || len(h.Hash) != 32 {
		t.Fatalf("salt %d bytes, hash %d bytes", len(h.Salt), len(h.Hash))
	}
	if bytes.Contains(h.Hash, []byte(codes[0])) || bytes.Contains(h.Salt, []byte(codes[0])) {
		t.Fatal("code stored in clear")
	}

	tests := []struct {
		name string
		code string
		want bool
	}{
		{"Same", codes[0], true},
		{"UpperCaseNoHyphens", strings.ToUpper(strings.ReplaceAll(codes[0], "-", "")), true},
		{"ZeroForO", strings.ReplaceAll(codes[0], "o", "0"), true},
		{"Other", codes[1], false},
		{"Malformed", "not a code", false},
		{"Empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Matches(tt.code); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("SaltsDiffer", func(t *testing.T) {
		h2, err := mfa.HashRecoveryCode(codes[0])
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(h.Salt, h2.Salt) || bytes.Equal(h.Hash, h2.Hash) {
			t.Error("two hashes of one code share salt or hash")
		}
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		if _, err := mfa.HashRecoveryCode("abc"); err == nil {
			t.Error("expected an error")
		}
	})
	t.Run("ZeroValueMatchesNothing", func(t *testing.T) {
		if (mfa.HashedRecoveryCode{}).Matches(codes[0]) {
			t.Error("zero value matched")
		}
	})
}
