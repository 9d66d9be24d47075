package auth

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"coffer/internal/errs"
)

// TestArgon2IDKnownAnswers checks x/crypto's argon2id against outputs of the
// reference implementation, so a broken or swapped-out KDF cannot go
// unnoticed. The vectors were produced with Debian bookworm's `argon2` CLI
// (package argon2 0~20171227-0.3+deb12u1, the reference C implementation):
//
//	echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32
//	echo -n password | argon2 somesalt -id -t 2 -m 10 -p 1 -l 32
//
// The first is also the argon2id v=19 vector in the reference repository's
// src/test.c (P-H-C/phc-winner-argon2).
func TestArgon2IDKnownAnswers(t *testing.T) {
	tests := []struct {
		name      string
		password  string
		salt      string
		time      uint32
		memoryKiB uint32
		threads   uint8
		want      string
	}{
		{"reference m=64MiB t=2 p=1", "password", "somesalt", 2, 65536, 1,
			"09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"},
		{"cli m=1MiB t=2 p=1", "password", "somesalt", 2, 1024, 1,
			"ec57ec9c0eaf51eeea2e92ffdcaa9cdee478f1927215b515b7b8d66657f41ed9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hex.EncodeToString(argon2.IDKey([]byte(tt.password), []byte(tt.salt), tt.time, tt.memoryKiB, tt.threads, 32))
			if got != tt.want {
				t.Fatalf("IDKey = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestVerifyPassword_ReferenceEncoded verifies PHC strings written by the
// reference implementation, proving our parser and KDF agree with another
// tool byte for byte. Commands (Debian `argon2` CLI, -e prints the encoding):
//
//	echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32 -e
//	echo -n 'correct horse battery staple' | argon2 coffer-kat-salt1 -id -t 2 -k 19456 -p 1 -l 32 -e
//	echo -n 'correct horse battery staple' | argon2 saltsaltsaltsalt -id -t 2 -m 14 -p 1 -l 32 -e
//	echo -n 'pässwörd ✓' | argon2 0123456789abcdef -id -t 1 -k 47104 -p 4 -l 32 -e
func TestVerifyPassword_ReferenceEncoded(t *testing.T) {
	tests := []struct {
		name     string
		password string
		encoded  string
	}{
		{"reference vector", "password",
			"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"owasp default params", "correct horse battery staple",
			"$argon2id$v=19$m=19456,t=2,p=1$Y29mZmVyLWthdC1zYWx0MQ$NIv81JOQv4Ge9AN9GUUfUblscFKhi2QuobJgX5D9DUQ"},
		{"16 MiB", "correct horse battery staple",
			"$argon2id$v=19$m=16384,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Cfuz+08pFf8fd6fbs27rQZFI2eZ6cR7D/CMFNtA5VV0"},
		{"non-ascii password, 4 lanes", "pässwörd ✓",
			"$argon2id$v=19$m=47104,t=1,p=4$MDEyMzQ1Njc4OWFiY2RlZg$KIYyWXuhlhpaIap6QW4u4SJqpCZTee9lX/GCptFJIPY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.password, tt.encoded)
			if err != nil || !ok {
				t.Fatalf("VerifyPassword(right) = %v, %v; want true, nil", ok, err)
			}
			ok, err = VerifyPassword(tt.password+"x", tt.encoded)
			if err != nil || ok {
				t.Fatalf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	phcRE := regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

	t.Run("OK", func(t *testing.T) {
		h, err := HashPassword(TestArgon2Params(), "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if !phcRE.MatchString(h) {
			t.Fatalf("hash %q is not in the expected PHC form", h)
		}
		ok, err := VerifyPassword("correct horse battery staple", h)
		if err != nil || !ok {
			t.Fatalf("VerifyPassword(right) = %v, %v; want true, nil", ok, err)
		}
	})

	t.Run("DefaultParamsEncoded", func(t *testing.T) {
		h, err := HashPassword(DefaultArgon2Params(), "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("hash %q does not carry the default parameters", h)
		}
		if NeedsRehash(h, DefaultArgon2Params()) {
			t.Fatal("fresh default hash needs rehash")
		}
	})

	t.Run("FreshSaltEachTime", func(t *testing.T) {
		a := MustHashPassword(t, "same password here")
		b := MustHashPassword(t, "same password here")
		if a == b {
			t.Fatal("two hashes of one password are equal; salt is not random")
		}
	})

	t.Run("ErrUnparsableParams", func(t *testing.T) {
		bad := []Argon2Params{
			{Time: 0, MemoryKiB: 1024, Threads: 1, SaltLen: 16, KeyLen: 32},
			{Time: 1, MemoryKiB: 1024, Threads: 0, SaltLen: 16, KeyLen: 32},
			{Time: 1, MemoryKiB: 4, Threads: 1, SaltLen: 16, KeyLen: 32},
			{Time: 1, MemoryKiB: 1024, Threads: 1, SaltLen: 4, KeyLen: 32},
			{Time: 1, MemoryKiB: 1024, Threads: 1, SaltLen: 16, KeyLen: 2048},
			{Time: 101, MemoryKiB: 1024, Threads: 1, SaltLen: 16, KeyLen: 32},
		}
		for _, p := range bad {
			if h, err := HashPassword(p, "x"); err == nil {
				t.Errorf("HashPassword(%+v) = %q, want error", p, h)
			}
		}
	})
}

func TestVerifyPassword(t *testing.T) {
	const password = "correct horse battery staple"
	h := MustHashPassword(t, password)
	p, salt, key, err := ParsePHC(h)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	moreTime := p
	moreTime.Time++

	tests := []struct {
		name     string
		password string
		encoded  string
		wantOK   bool
		wantErr  bool
	}{
		{"OK", password, h, true, false},
		{"WrongPassword", "correct horse battery stapler", h, false, false},
		{"WrongCase", strings.ToUpper(password), h, false, false},
		{"Empty", "", h, false, false},
		{"TamperedKeyFirstByte", password, encodePHC(p, salt, flip(key, 0)), false, false},
		{"TamperedKeyLastByte", password, encodePHC(p, salt, flip(key, len(key)-1)), false, false},
		{"TamperedSalt", password, encodePHC(p, flip(salt, 3), key), false, false},
		{"TamperedParams", password, encodePHC(moreTime, salt, key), false, false},
		{"ShortenedKey", password, encodePHC(p, salt, key[:16]), false, false},
		{"ErrTruncated", password, h[:len(h)-2], false, true}, // 41 base64 chars never decode
		{"ErrEmpty", password, "", false, true},
		{"ErrOtherAlgorithm", password, strings.Replace(h, "argon2id", "argon2i", 1), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.password, tt.encoded)
			if (err != nil) != tt.wantErr {
				t.Fatalf("VerifyPassword err = %v, wantErr %v", err, tt.wantErr)
			}
			if ok != tt.wantOK {
				t.Fatalf("VerifyPassword ok = %v, want %v", ok, tt.wantOK)
			}
			if err != nil && !errors.Is(err, errMalformedPHC) {
				t.Fatalf("VerifyPassword err = %v, want it to wrap errMalformedPHC", err)
			}
		})
	}
}

func TestParsePHC(t *testing.T) {
	const (
		salt16 = "c29tZXNhbHRzb21lc2FsdA"                      // "somesaltsomesalt"
		key32  = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc" // 32 bytes
		salt8  = "c29tZXNhbHQ"                                 // "somesalt"
	)
	valid := "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32

	t.Run("OK", func(t *testing.T) {
		p, salt, key, err := ParsePHC(valid)
		if err != nil {
			t.Fatal(err)
		}
		want := Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1, SaltLen: 16, KeyLen: 32}
		if p != want {
			t.Fatalf("params = %+v, want %+v", p, want)
		}
		if string(salt) != "somesaltsomesalt" || len(key) != 32 {
			t.Fatalf("salt = %q, len(key) = %d", salt, len(key))
		}
	})

	tests := []struct {
		name    string
		encoded string
		wantErr bool
	}{
		{"valid", valid, false},
		{"8-byte salt accepted", "$argon2id$v=19$m=65536,t=2,p=1$" + salt8 + "$" + key32, false},
		{"max bounds accepted", "$argon2id$v=19$m=4194304,t=100,p=255$" + salt16 + "$" + key32, false},
		{"min memory per lane accepted", "$argon2id$v=19$m=16,t=1,p=2$" + salt16 + "$" + key32, false},
		{"empty", "", true},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"argon2d", "$argon2d$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", true},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"memory over 4 GiB", "$argon2id$v=19$m=4194305,t=2,p=1$" + salt16 + "$" + key32, true},
		{"memory overflows uint32", "$argon2id$v=19$m=99999999999,t=2,p=1$" + salt16 + "$" + key32, true},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt16 + "$" + key32, true},
		{"time 0", "$argon2id$v=19$m=19456,t=0,p=1$" + salt16 + "$" + key32, true},
		{"time 101", "$argon2id$v=19$m=19456,t=101,p=1$" + salt16 + "$" + key32, true},
		{"threads 0", "$argon2id$v=19$m=19456,t=2,p=0$" + salt16 + "$" + key32, true},
		{"threads 256", "$argon2id$v=19$m=19456,t=2,p=256$" + salt16 + "$" + key32, true},
		{"leading zero", "$argon2id$v=19$m=019456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"plus sign", "$argon2id$v=19$m=+19456,t=2,p=1$" + salt16 + "$" + key32, true},
		{"negative", "$argon2id$v=19$m=19456,t=-2,p=1$" + salt16 + "$" + key32, true},
		{"reordered params", "$argon2id$v=19$t=2,m=19456,p=1$" + salt16 + "$" + key32, true},
		{"missing param", "$argon2id$v=19$m=19456,t=2$" + salt16 + "$" + key32, true},
		{"extra param", "$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$" + salt16 + "$" + key32, true},
		{"missing key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16, true},
		{"extra field", valid + "$AAAA", true},
		{"trailing newline", valid + "\n", true},
		{"newline inside base64", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNh\nbHRzb21lc2FsdA$" + key32, true},
		{"padded base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "==$" + key32, true},
		{"non-canonical base64 trailing bits", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16[:21] + "B$" + key32, true},
		{"std base64 with + and /", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$Cfuz+08pFf8fd6fbs27rQZFI2eZ6cR7D/CMFNtA5VV0", false},
		{"url-safe base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$Cfuz-08pFf8fd6fbs27rQZFI2eZ6cR7D_CMFNtA5VV0", true},
		{"salt too short", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbA$" + key32, true},
		{"key too short", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$c29tZXNhbA", true},
		{"key too long", "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + strings.Repeat("A", 1368), true},
		{"uppercase prefix", strings.Replace(valid, "argon2id", "ARGON2ID", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, salt, key, err := ParsePHC(tt.encoded)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePHC err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errMalformedPHC) {
					t.Fatalf("err = %v, want it to wrap errMalformedPHC", err)
				}
				return
			}
			if got := encodePHC(p, salt, key); got != tt.encoded {
				t.Fatalf("round trip = %q, want %q", got, tt.encoded)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	def := DefaultArgon2Params()
	h, err := HashPassword(def, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Argon2Params)) Argon2Params {
		p := def
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		encoded string
		want    Argon2Params
		rehash  bool
	}{
		{"same params", h, def, false},
		{"more time wanted", h, with(func(p *Argon2Params) { p.Time = 3 }), true},
		{"more memory wanted", h, with(func(p *Argon2Params) { p.MemoryKiB = 47104 }), true},
		{"more threads wanted", h, with(func(p *Argon2Params) { p.Threads = 2 }), true},
		{"longer salt wanted", h, with(func(p *Argon2Params) { p.SaltLen = 32 }), true},
		{"longer key wanted", h, with(func(p *Argon2Params) { p.KeyLen = 64 }), true},
		{"weaker params also differ", h, TestArgon2Params(), true},
		{"test hash under default", MustHashPassword(t, "correct horse battery staple"), def, true},
		{"malformed", "not a hash", def, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.encoded, tt.want); got != tt.rehash {
				t.Fatalf("NeedsRehash = %v, want %v", got, tt.rehash)
			}
		})
	}
}

func TestArgon2Params_Validate(t *testing.T) {
	def := DefaultArgon2Params()
	with := func(f func(*Argon2Params)) Argon2Params {
		p := def
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		p       Argon2Params
		wantErr bool
	}{
		{"default", def, false},
		{"owasp alternative 46 MiB t=1", Argon2Params{Time: 1, MemoryKiB: 47104, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"stronger", Argon2Params{Time: 4, MemoryKiB: 262144, Threads: 4, SaltLen: 32, KeyLen: 64}, false},
		{"max bounds", Argon2Params{Time: 100, MemoryKiB: 4 * 1024 * 1024, Threads: 255, SaltLen: 1024, KeyLen: 1024}, false},
		{"test params", TestArgon2Params(), true},
		{"zero", Argon2Params{}, true},
		{"19 MiB with t=1", with(func(p *Argon2Params) { p.Time = 1 }), true},
		{"just under 19 MiB", with(func(p *Argon2Params) { p.MemoryKiB = 19455 }), true},
		{"memory over 4 GiB", with(func(p *Argon2Params) { p.MemoryKiB = 4*1024*1024 + 1 }), true},
		{"time over 100", with(func(p *Argon2Params) { p.Time = 101 }), true},
		{"zero threads", with(func(p *Argon2Params) { p.Threads = 0 }), true},
		{"short salt", with(func(p *Argon2Params) { p.SaltLen = 15 }), true},
		{"short key", with(func(p *Argon2Params) { p.KeyLen = 15 }), true},
		{"huge key", with(func(p *Argon2Params) { p.KeyLen = 1025 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && errs.Code(err) != errs.EINVALID {
				t.Fatalf("Validate() code = %q, want %q", errs.Code(err), errs.EINVALID)
			}
		})
	}

	t.Run("ReportsEveryProblem", func(t *testing.T) {
		msg := errs.Message(Argon2Params{}.Validate())
		for _, want := range []string{"OWASP", "threads", "salt", "key"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not mention %q", msg, want)
			}
		}
	})
}

// FuzzParsePHC checks that the parser never panics and that anything it
// accepts is within bounds and is exactly what encodePHC writes, so one hash
// has one spelling. It never runs argon2: accepted params may be expensive.
func FuzzParsePHC(f *testing.F) {
	seeds := []string{
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=47104,t=1,p=4$MDEyMzQ1Njc4OWFiY2RlZg$KIYyWXuhlhpaIap6QW4u4SJqpCZTee9lX/GCptFJIPY",
		"$argon2id$v=19$m=4194304,t=100,p=255$c29tZXNhbHQ$c29tZXNhbHQ",
		"$argon2id$v=19$m=4194305,t=2,p=1$c29tZXNhbHQ$c29tZXNhbHQ",
		"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHQ$c29tZXNhbHQ",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ=$c29tZXNhbHQ",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNh\nbHQ$c29tZXNhbHQ",
		"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$c29tZXNhbHQ",
		"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHQ$c29tZXNhbHQ",
		"$argon2id$v=19$m=19456,t=2,p=1,keyid=x$c29tZXNhbHQ$c29tZXNhbHQ",
		"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		"$argon2id$v=19$$$",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		p, salt, key, err := ParsePHC(encoded)
		if err != nil {
			if p != (Argon2Params{}) || salt != nil || key != nil {
				t.Fatalf("ParsePHC(%q) returned values with error %v", encoded, err)
			}
			return
		}
		if p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || p.Threads < 1 ||
			len(salt) < minBytesLen || len(salt) > maxBytesLen || len(key) < minBytesLen || len(key) > maxBytesLen ||
			int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("ParsePHC(%q) accepted out-of-bounds %+v (salt %d, key %d bytes)", encoded, p, len(salt), len(key))
		}
		if got := encodePHC(p, salt, key); got != encoded {
			t.Fatalf("round trip: ParsePHC(%q) re-encodes as %q", encoded, got)
		}
	})
}

// BenchmarkHashPasswordDefault measures one hash with the production
// parameters; it is the per-login CPU cost that sizes the HashPool.
func BenchmarkHashPasswordDefault(b *testing.B) {
	p := DefaultArgon2Params()
	for b.Loop() {
		if _, err := HashPassword(p, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// MustHashPassword hashes password with TestArgon2Params or fails the test.
func MustHashPassword(tb testing.TB, password string) string {
	tb.Helper()
	h, err := HashPassword(TestArgon2Params(), password)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
