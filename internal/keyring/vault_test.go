package keyring_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"coffer/internal/keyring"
)

// fakeVault implements the two documented transit endpoints the provider
// uses (Vault cannot be built here): POST /v1/transit/encrypt/:name and
// /v1/transit/decrypt/:name with X-Vault-Token, "vault:v1:" ciphertexts and
// {"errors":[…]} error bodies.
func fakeVault(t *testing.T, token, keyName string) *httptest.Server {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	fail := func(w http.ResponseWriter, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		if r.Header.Get("X-Vault-Token") != token {
			fail(w, http.StatusForbidden, "permission denied")
			return
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "failed to parse JSON input")
			return
		}
		switch r.URL.Path {
		case "/v1/transit/encrypt/" + keyName:
			pt, err := base64.StdEncoding.DecodeString(body["plaintext"])
			if err != nil {
				fail(w, http.StatusBadRequest, "failed to base64-decode plaintext")
				return
			}
			nonce := make([]byte, 12)
			rand.Read(nonce)
			ct := aead.Seal(nonce, nonce, pt, nil)
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct), "key_version": 1}})
		case "/v1/transit/decrypt/" + keyName:
			raw, ok := strings.CutPrefix(body["ciphertext"], "vault:v1:")
			ct, err := base64.StdEncoding.DecodeString(raw)
			if !ok || err != nil || len(ct) < 12 {
				fail(w, http.StatusBadRequest, "invalid ciphertext: no prefix")
				return
			}
			pt, err := aead.Open(nil, ct[:12], ct[12:], nil)
			if err != nil {
				fail(w, http.StatusBadRequest, "cipher: message authentication failed")
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}})
		default:
			fail(w, http.StatusBadRequest, "encryption key not found")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVaultKEK(t *testing.T) {
	const token = "hvs.test-token-never-logged"
	srv := fakeVault(t, token, "coffer")
	ctx := t.Context()
	newKEK := func(t *testing.T, tok, name string) *keyring.VaultKEK {
		t.Helper()
		k, err := keyring.NewVaultKEK(keyring.VaultConfig{Addr: srv.URL, Token: tok, KeyName: name, Client: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Run("OK", func(t *testing.T) {
		k := newKEK(t, token, "coffer")
		dek := make([]byte, 32)
		rand.Read(dek)
		w, err := k.Wrap(ctx, dek)
		if err != nil || !bytes.HasPrefix(w, []byte("vault:v1:")) {
			t.Fatalf("%s, %v", w, err)
		}
		got, err := k.Unwrap(ctx, w)
		if err != nil || !bytes.Equal(got, dek) {
			t.Fatalf("unwrap: %v", err)
		}
		if k.ID() != "vault-transit:coffer" {
			t.Fatal(k.ID())
		}
	})
	t.Run("envelope over vault", func(t *testing.T) {
		e := newEnv(t)
		_, err := keyring.OpenEnvelope(ctx, newKEK(t, token, "coffer"), e.store, nil)
		if err == nil {
			t.Fatal("opened a database whose keys are under another master key")
		} else if !strings.Contains(err.Error(), "wrapped by master key local:") {
			t.Fatalf("unclear error: %v", err)
		}
		// Move the database to Vault, then use it through Vault only.
		if _, err := keyring.Rewrap(ctx, e.store, e.keys.KEK(), newKEK(t, token, "coffer")); err != nil {
			t.Fatal(err)
		}
		keys, err := keyring.OpenEnvelope(ctx, newKEK(t, token, "coffer"), e.store, nil)
		if err != nil {
			t.Fatal(err)
		}
		org := e.org(t, "Vaulted Ltd")
		ct, err := keys.Seal(ctx, org.ID, []byte("IBAN"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := keys.Open(ctx, org.ID, ct, []byte("aad")); err != nil || string(pt) != "IBAN" {
			t.Fatalf("%q, %v", pt, err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		_, err := newKEK(t, "hvs.wrong", "coffer").Wrap(ctx, make([]byte, 32))
		if err == nil || !strings.Contains(err.Error(), "HTTP 403: permission denied") || !strings.Contains(err.Error(), "VAULT_TOKEN") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "hvs.") {
			t.Fatalf("error shows the token: %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := newKEK(t, token, "nope").Wrap(ctx, make([]byte, 32))
		if err == nil || !strings.Contains(err.Error(), "encryption key not found") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		k := newKEK(t, token, "coffer")
		w, _ := k.Wrap(ctx, make([]byte, 32))
		w[len(w)-2] ^= 1
		if _, err := k.Unwrap(ctx, w); err == nil {
			t.Fatal("tampered ciphertext unwrapped")
		}
	})
	t.Run("server down", func(t *testing.T) {
		down := httptest.NewTLSServer(http.NotFoundHandler())
		addr, client := down.URL, down.Client()
		down.Close()
		k, err := keyring.NewVaultKEK(keyring.VaultConfig{Addr: addr, Token: token, KeyName: "coffer", Client: client})
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.Wrap(ctx, make([]byte, 32))
		if err == nil || !strings.Contains(err.Error(), "cannot reach Vault at") || strings.Contains(err.Error(), token) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("configuration", func(t *testing.T) {
		for _, c := range []keyring.VaultConfig{
			{Token: token, KeyName: "coffer"},
			{Addr: srv.URL, KeyName: "coffer"},
			{Addr: srv.URL, Token: token, KeyName: "../sys"},
			{Addr: "http://vault.example.com:8200", Token: token, KeyName: "coffer"},
		} {
			if _, err := keyring.NewVaultKEK(c); err == nil {
				t.Errorf("%+v accepted", c)
			} else if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		}
		if _, err := keyring.NewVaultKEK(keyring.VaultConfig{Addr: "http://127.0.0.1:8200", Token: token, KeyName: "coffer"}); err != nil {
			t.Errorf("loopback dev server refused: %v", err)
		}
	})
}
