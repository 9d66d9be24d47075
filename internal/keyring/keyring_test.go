package keyring_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"coffer/internal/keyring"
)

// MustKeyring returns a Keyring under a fixed or random master key.
func MustKeyring(tb testing.TB, master []byte) *keyring.Keyring {
	tb.Helper()
	if master == nil {
		master = make([]byte, 32)
		for i := range master {
			master[i] = byte(i)
		}
	}
	k, err := keyring.New(master)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustSeal seals plaintext or stops the test.
func MustSeal(tb testing.TB, k *keyring.Keyring, plaintext, aad []byte) []byte {
	tb.Helper()
	s, err := k.Seal(plaintext, aad)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keyring.New(make([]byte, n)); err == nil {
			t.Errorf("%d-byte master key accepted", n)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k := MustKeyring(t, nil)
	aad := keyring.AAD("bank_accounts", "iban", 7)
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"Text", []byte("GB33BUKB20201555555555"), aad},
		{"Empty", []byte{}, aad},
		{"NilAAD", []byte("x"), nil},
		{"Large", bytes.Repeat([]byte{0xAB}, 1<<16), aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := MustSeal(t, k, tt.plaintext, tt.aad)
			if len(sealed) != len(tt.plaintext)+1+4+12+16 {
				t.Errorf("sealed length %d for %d bytes", len(sealed), len(tt.plaintext))
			}
			if sealed[0] != 1 || !bytes.Equal(sealed[1:5], []byte{0, 0, 0, 1}) {
				t.Errorf("header %x, want version 1 key id 1", sealed[:5])
			}
			if len(tt.plaintext) > 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("plaintext visible in sealed value")
			}
			got, err := k.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("got %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSeal_NoncesDiffer(t *testing.T) {
	k := MustKeyring(t, nil)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s := MustSeal(t, k, []byte("same"), nil)
		nonce := string(s[5:17])
		if seen[nonce] {
			t.Fatal("nonce repeated")
		}
		seen[nonce] = true
	}
	a, b := MustSeal(t, k, []byte("same"), nil), MustSeal(t, k, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpen_Tampered(t *testing.T) {
	k := MustKeyring(t, nil)
	aad := keyring.AAD("users", "totp_secret", 1)
	sealed := MustSeal(t, k, []byte("secret value"), aad)
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			got, err := k.Open(bad, aad)
			if err == nil {
				t.Fatalf("byte %d bit %#x: tampered value opened to %q", i, bit, got)
			}
			// Header bytes name a format or key we do not have; every
			// other byte is caught by authentication.
			want := keyring.ErrDecrypt
			if i < 5 {
				want = keyring.ErrUnknownKey
			}
			if !errors.Is(err, want) {
				t.Errorf("byte %d: got %v, want %v", i, err, want)
			}
			if got != nil {
				t.Errorf("byte %d: returned plaintext with an error", i)
			}
		}
	}
}

func TestOpen_Errors(t *testing.T) {
	k := MustKeyring(t, nil)
	aad := keyring.AAD("users", "totp_secret", 1)
	sealed := MustSeal(t, k, []byte("secret value"), aad)
	other := MustKeyring(t, bytes.Repeat([]byte{7}, 32))

	tests := []struct {
		name    string
		k       *keyring.Keyring
		sealed  []byte
		aad     []byte
		wantErr error
	}{
		{"WrongRow", k, sealed, keyring.AAD("users", "totp_secret", 2), keyring.ErrDecrypt},
		{"WrongColumn", k, sealed, keyring.AAD("users", "phone", 1), keyring.ErrDecrypt},
		{"WrongTable", k, sealed, keyring.AAD("devices", "totp_secret", 1), keyring.ErrDecrypt},
		{"NoAAD", k, sealed, nil, keyring.ErrDecrypt},
		{"OtherMasterKey", other, sealed, aad, keyring.ErrDecrypt},
		{"Nil", k, nil, aad, keyring.ErrDecrypt},
		{"Appended", k, append(bytes.Clone(sealed), 0), aad, keyring.ErrDecrypt},
		{"Version2", k, append([]byte{2}, sealed[1:]...), aad, keyring.ErrUnknownKey},
		{"KeyID2", k, append([]byte{1, 0, 0, 0, 2}, sealed[5:]...), aad, keyring.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.k.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if got != nil {
				t.Error("returned plaintext with an error")
			}
		})
	}
	t.Run("Truncated", func(t *testing.T) {
		for n := 0; n < len(sealed); n++ {
			got, err := k.Open(sealed[:n], aad)
			if !errors.Is(err, keyring.ErrDecrypt) || got != nil {
				t.Errorf("truncated to %d bytes: got %q, %v; want ErrDecrypt", n, got, err)
			}
		}
	})
}

// knownSealed is knownPlaintext sealed under the master key 00 01 … 1f with
// AAD("bank_accounts", "iban", 42).
const (
	knownSealed    = "0100000001ff5e7d83237f33fd7b5616288111c4d67a75fbe5ce00b18cfa20dc3bb05da6e5af0c0aa889c4a90ecb8c964aee1297"
	knownPlaintext = "coffer known answer"
)

// TestKnownAnswer pins the key derivation and format: a change here makes
// every value already stored unreadable. The values were checked against an
// independent HKDF-SHA256 + AES-256-GCM implementation (Python).
func TestKnownAnswer(t *testing.T) {
	k := MustKeyring(t, nil) // master key 00 01 02 … 1f
	sealed, _ := hex.DecodeString(knownSealed)
	got, err := k.Open(sealed, keyring.AAD("bank_accounts", "iban", 42))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != knownPlaintext {
		t.Errorf("opened to %q", got)
	}
	if mac := hex.EncodeToString(k.MAC("session-token", []byte("token"))); mac != "6b7596d95791dad79642c1892896b0187fc47314f6546d1e787be522fee1e410" {
		t.Errorf("MAC = %s", mac)
	}
}

func TestMAC(t *testing.T) {
	k := MustKeyring(t, nil)
	data := []byte("device-1234")
	base := k.MAC("device-cookie", data)
	if len(base) != 32 {
		t.Fatalf("MAC length %d", len(base))
	}
	tests := []struct {
		name    string
		k       *keyring.Keyring
		purpose string
		data    []byte
		equal   bool
	}{
		{"Deterministic", k, "device-cookie", data, true},
		{"OtherPurpose", k, "session-token", data, false},
		{"EmptyPurpose", k, "", data, false},
		{"PurposeBoundary", k, "device-cooki", append([]byte("e"), data...), false},
		{"OtherData", k, "device-cookie", []byte("device-1235"), false},
		{"OtherMasterKey", MustKeyring(t, bytes.Repeat([]byte{9}, 32)), "device-cookie", data, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(tt.k.MAC(tt.purpose, tt.data), base); got != tt.equal {
				t.Errorf("equal = %v, want %v", got, tt.equal)
			}
		})
	}
}

func TestAAD(t *testing.T) {
	tests := []struct {
		table, column string
		id            int64
		want          string
	}{
		{"users", "totp_secret", 42, "users\x00totp_secret\x0042"},
		{"t", "c", -1, "t\x00c\x00-1"},
		{"t", "c", 0, "t\x00c\x000"},
	}
	for _, tt := range tests {
		if got := string(keyring.AAD(tt.table, tt.column, tt.id)); got != tt.want {
			t.Errorf("AAD(%q, %q, %d) = %q, want %q", tt.table, tt.column, tt.id, got, tt.want)
		}
	}
}

func TestKeyring_Concurrent(t *testing.T) {
	k := MustKeyring(t, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				aad := keyring.AAD("t", "c", int64(j))
				s, err := k.Seal([]byte("v"), aad)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Open(s, aad); err != nil {
					t.Error(err)
					return
				}
				k.MAC("p", s)
			}
		}()
	}
	wg.Wait()
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Run("Create", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), keyring.KeyFileName)
		key, created, err := keyring.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !created || len(key) != 32 {
			t.Fatalf("created %v, %d bytes", created, len(key))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode %04o, want 0600", perm)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != hex.EncodeToString(key)+"\n" {
			t.Errorf("file holds %q", data)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the key file", len(entries))
		}

		again, created, err := keyring.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if created || !bytes.Equal(again, key) {
			t.Errorf("second load: created %v, same key %v", created, bytes.Equal(again, key))
		}
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), keyring.KeyFileName)
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys[i], _, errs[i] = keyring.LoadOrCreateMasterKey(path)
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatal("concurrent starts ended with different keys")
			}
		}
	})

	valid := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string // substring; "" means success
	}{
		{name: "OK", content: valid + "\n", mode: 0o600},
		{name: "NoNewline", content: valid, mode: 0o600},
		{name: "UpperCaseHex", content: strings.ToUpper(valid) + "\n", mode: 0o600},
		{name: "OwnerReadOnly", content: valid + "\n", mode: 0o400},
		{name: "ErrWorldReadable", content: valid + "\n", mode: 0o644, wantErr: "0644"},
		{name: "ErrGroupReadable", content: valid + "\n", mode: 0o640, wantErr: "permissions"},
		{name: "ErrOtherWritable", content: valid + "\n", mode: 0o602, wantErr: "permissions"},
		{name: "ErrShort", content: valid[:62] + "\n", mode: 0o600, wantErr: "wrong length"},
		{name: "ErrLong", content: valid + "ab\n", mode: 0o600, wantErr: "wrong length"},
		{name: "ErrRawBytes", content: strings.Repeat("k", 32), mode: 0o600, wantErr: "wrong length"},
		{name: "ErrEmpty", content: "", mode: 0o600, wantErr: "wrong length"},
		{name: "ErrHuge", content: strings.Repeat("a", 5000), mode: 0o600, wantErr: "wrong length"},
		{name: "ErrBadHex", content: strings.Repeat("zz", 32) + "\n", mode: 0o600, wantErr: "bad hex"},
		{name: "ErrTrailingSpace", content: valid + " \n", mode: 0o600, wantErr: "wrong length"},
		{name: "ErrAllZeros", content: strings.Repeat("00", 32) + "\n", mode: 0o600, wantErr: "zeros"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), keyring.KeyFileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			key, created, err := keyring.LoadOrCreateMasterKey(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if created || hex.EncodeToString(key) != valid {
					t.Errorf("created %v, key %x", created, key)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), valid) {
				t.Errorf("error %q leaks the key", err)
			}
			// A refused file must be left alone, never replaced.
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Error("key file was modified")
			}
		})
	}

	t.Run("ErrDirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), keyring.KeyFileName)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := keyring.LoadOrCreateMasterKey(path); err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Errorf("got %v, want a not-regular-file error", err)
		}
	})
	t.Run("ErrMissingDirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", keyring.KeyFileName)
		if _, _, err := keyring.LoadOrCreateMasterKey(path); err == nil {
			t.Error("expected an error")
		}
	})
}
