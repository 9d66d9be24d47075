package keyring_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"coffer/internal/keyring"
)

func FuzzOpen(f *testing.F) {
	k := MustKeyring(f, nil)
	// A fixed sealed value (TestKnownAnswer's), not a fresh Seal: each fuzz
	// worker process runs this setup, and a random nonce would differ
	// between them.
	aad := keyring.AAD("bank_accounts", "iban", 42)
	valid, err := hex.DecodeString(knownSealed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, aad)
	f.Add(valid[:20], aad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 0, 0, 0, 1}, aad)
	f.Add([]byte{2, 0, 0, 0, 1}, aad)
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		got, err := k.Open(sealed, ad)
		if err != nil {
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !errors.Is(err, keyring.ErrDecrypt) && !errors.Is(err, keyring.ErrUnknownKey) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Forging a GCM tag is infeasible, so only the seed can open.
		if !bytes.Equal(sealed, valid) || !bytes.Equal(ad, aad) || string(got) != knownPlaintext {
			t.Fatalf("opened a value that was not sealed: %x", sealed)
		}
	})
}
