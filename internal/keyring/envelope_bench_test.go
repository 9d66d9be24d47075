package keyring_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"
	"time"

	"coffer/internal/keyring"
)

// BenchmarkEnvelope compares Seal/Open with raw AES-256-GCM from the
// standard library on the same sizes, and reports overhead = keyring ns/op ÷
// raw ns/op (the key lookup, header, AAD building and nonce generation).
func BenchmarkEnvelope(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	org := e.org(b, "Bench Ltd")
	aad := keyring.OrgAAD(org.ID, "contacts", "bank_details", 42)
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"1KiB", 1024}} {
		pt := make([]byte, size.n)
		rand.Read(pt)
		raw := func(b *testing.B, open bool) time.Duration {
			nonce := make([]byte, 12)
			ct := aead.Seal(nil, nonce, pt, aad)
			start := time.Now()
			for b.Loop() {
				if open {
					if _, err := aead.Open(nil, nonce, ct, aad); err != nil {
						b.Fatal(err)
					}
				} else {
					rand.Read(nonce)
					aead.Seal(nil, nonce, pt, aad)
				}
			}
			return time.Since(start) / time.Duration(b.N)
		}
		var rawSeal, rawOpen time.Duration
		b.Run("raw-seal-"+size.name, func(b *testing.B) { b.SetBytes(int64(size.n)); rawSeal = raw(b, false) })
		b.Run("raw-open-"+size.name, func(b *testing.B) { b.SetBytes(int64(size.n)); rawOpen = raw(b, true) })
		b.Run("seal-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.n))
			start := time.Now()
			for b.Loop() {
				if _, err := e.keys.Seal(ctx, org.ID, pt, aad); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start) / time.Duration(b.N)
			if rawSeal > 0 {
				b.ReportMetric(float64(per)/float64(rawSeal), "overhead")
			}
		})
		b.Run("open-"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.n))
			ct, err := e.keys.Seal(ctx, org.ID, pt, aad)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for b.Loop() {
				if _, err := e.keys.Open(ctx, org.ID, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start) / time.Duration(b.N)
			if rawOpen > 0 {
				b.ReportMetric(float64(per)/float64(rawOpen), "overhead")
			}
		})
	}
}
