package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func testState(tb testing.TB) *State {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &State{Accounts: []*Account{{Server: "https://coffer.example", Account: "alice@example.com", Name: "Phone", DeviceID: "dev", PrivateKey: priv, TOTPSecret: "JBSWY3DPEHPK3PXP"}}}
}

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "devices.enc")
	pass := []byte("correct passphrase")
	st := testState(t)
	if err := Save(path, st, pass); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range [][]byte{[]byte("alice@example.com"), []byte("JBSWY3DPEHPK3PXP"), st.Accounts[0].PrivateKey[:32]} {
		if bytes.Contains(raw, secret) {
			t.Fatalf("the file holds %q in clear", secret)
		}
	}
	got, err := Load(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Accounts) != 1 || !bytes.Equal(got.Accounts[0].PrivateKey, st.Accounts[0].PrivateKey) || got.Accounts[0].Account != "alice@example.com" {
		t.Fatalf("loaded %+v", got.Accounts)
	}
	// A new save uses a new salt and nonce.
	if err := Save(path, got, pass); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path)
	if bytes.Equal(raw[:headerSize], raw2[:headerSize]) {
		t.Fatal("salt and nonce reused")
	}
	// A missing file is an empty store.
	empty, err := Load(filepath.Join(t.TempDir(), "none.enc"), pass)
	if err != nil || len(empty.Accounts) != 0 {
		t.Fatalf("missing file: %v %+v", err, empty)
	}
}

func TestDecryptRefuses(t *testing.T) {
	pass := []byte("correct passphrase")
	good, err := Encrypt(testState(t), pass)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name string
		data []byte
		pass []byte
		want error
	}{
		{"wrong passphrase", good, []byte("wrong passphrase"), ErrWrongPassphrase},
		{"salt changed", flip(20), pass, ErrWrongPassphrase},
		{"nonce changed", flip(headerSize - 1), pass, ErrWrongPassphrase},
		{"ciphertext changed", flip(len(good) - 1), pass, ErrWrongPassphrase},
		{"truncated", good[:headerSize+3], pass, nil},
		{"not a store", []byte("hello, world, this is not a store file at all"), pass, nil},
		{"kdf memory out of range", func() []byte { b := bytes.Clone(good); b[9] = 0xff; return b }(), pass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decrypt(tt.data, tt.pass)
			if err == nil {
				t.Fatal("decrypted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStateFind(t *testing.T) {
	st := testState(t)
	two := &State{Accounts: append(testState(t).Accounts, &Account{Account: "bob@example.com"})}
	tests := []struct {
		name  string
		st    *State
		email string
		ok    bool
	}{
		{"only one", st, "", true},
		{"by email, any case", st, "ALICE@example.com", true},
		{"unknown", st, "carol@example.com", false},
		{"none paired", &State{}, "", false},
		{"several, none chosen", two, "", false},
		{"several, chosen", two, "bob@example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.st.Find(tt.email)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestParsePairingURL(t *testing.T) {
	tok := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		in, server string
		ok         bool
	}{
		{"https://coffer.example/verify/pair#" + tok, "https://coffer.example", true},
		{"  https://127.0.0.1:8443/verify/pair#" + tok + "\n", "https://127.0.0.1:8443", true},
		{"https://coffer.example/books/verify/pair#" + tok, "https://coffer.example/books", true},
		{"http://coffer.example/verify/pair#" + tok, "", false},
		{"https://coffer.example/verify/pair?x=1#" + tok, "", false},
		{"https://user@coffer.example/verify/pair#" + tok, "", false},
		{"https://coffer.example/verify/pair", "", false},
		{"https://coffer.example/other#" + tok, "", false},
		{"https://coffer.example/verify/pair#" + tok[:42], "", false},
		{"https://coffer.example/verify/pair#" + tok[:42] + "=", "", false},
		{"coffer.example/verify/pair#" + tok, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			server, token, err := ParsePairingURL(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if tt.ok && (server != tt.server || token != tok) {
				t.Fatalf("got %q %q", server, token)
			}
		})
	}
}

func TestHTTPClientNeedsAPEM(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(f, []byte("not pem"), 0o600)
	if _, err := HTTPClient(f); err == nil {
		t.Fatal("accepted a file without a certificate")
	}
	if _, err := HTTPClient(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("accepted a missing file")
	}
	c, err := HTTPClient("")
	if err != nil || c == nil {
		t.Fatalf("system roots: %v", err)
	}
}

func FuzzParsePairingURL(f *testing.F) {
	f.Add("https://coffer.example/verify/pair#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("https://[::1]:8443/verify/pair#x")
	f.Fuzz(func(t *testing.T, s string) {
		server, token, err := ParsePairingURL(s)
		if err != nil {
			return
		}
		if len(token) != 43 || len(server) < len("https://x") || server[:8] != "https://" {
			t.Fatalf("accepted %q: %q %q", s, server, token)
		}
	})
}

// FuzzStoreHeader fuzzes the header parser, which runs before any key is
// derived: it must refuse parameters that would make derivation unbounded.
func FuzzStoreHeader(f *testing.F) {
	good, err := Encrypt(&State{}, []byte("p"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("CVFY"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if h.time < 1 || h.time > maxKDFTime || h.memory > maxKDFMemory || h.threads < 1 || len(h.salt) != saltSize || len(h.nonce) != nonceSize {
			t.Fatalf("accepted header %+v", h)
		}
	})
}
