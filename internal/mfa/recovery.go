package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet has exactly 32 symbols so that each random byte's low
// five bits map to one symbol without bias. It leaves out 0, 1, i and l;
// with those gone 31 symbols remain, so it keeps "o" and NormalizeRecoveryCode
// reads a typed "0" as "o", which is unambiguous because the digit 0 is not
// in the alphabet.
const recoveryAlphabet = "23456789abcdefghjkmnopqrstuvwxyz"

const (
	recoveryChars     = 16 // 16 symbols × 5 bits = 80 bits
	recoveryGroup     = 4
	recoveryBytes     = recoveryChars * 5 / 8
	recoverySaltBytes = 16
	// maxRecoveryInput bounds the work on untrusted input; a code with a
	// separator between every symbol is still well below it.
	maxRecoveryInput = 64
	maxRecoveryCodes = 100
)

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n distinct recovery codes, each 80 random bits
// written as "xxxx-xxxx-xxxx-xxxx" in lower case. Store only their hashes
// (HashRecoveryCode) and show the codes to the user once.
func NewRecoveryCodes(n int) ([]string, error) {
	if n < 1 || n > maxRecoveryCodes {
		return nil, fmt.Errorf("new recovery codes: count %d out of range 1..%d", n, maxRecoveryCodes)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	raw := make([]byte, recoveryBytes)
	for len(codes) < n {
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("new recovery codes: %w", err)
		}
		// 80 bits encode to exactly 16 symbols, so no padding bits leak
		// structure into the last symbol.
		code := formatRecovery(recoveryEncoding.EncodeToString(raw))
		// A collision at 80 bits means a broken random source more than
		// bad luck, but handing the user two identical codes would be wrong
		// either way.
		if seen[code] {
			continue
		}
		seen[code] = true
		codes = append(codes, code)
	}
	return codes, nil
}

func formatRecovery(compact string) string {
	var b strings.Builder
	b.Grow(recoveryChars + recoveryChars/recoveryGroup - 1)
	for i := 0; i < len(compact); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(compact[i : i+recoveryGroup])
	}
	return b.String()
}

// NormalizeRecoveryCode returns the canonical "xxxx-xxxx-xxxx-xxxx" form of
// a code as a user typed it: case does not matter, spaces and hyphens
// anywhere are ignored, and the digit 0 is read as the letter o. It fails if
// what remains is not 16 symbols of the recovery alphabet.
func NormalizeRecoveryCode(s string) (string, error) {
	if len(s) > maxRecoveryInput {
		return "", errors.New("recovery code: too long")
	}
	compact := make([]byte, 0, recoveryChars)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case 'A' <= c && c <= 'Z':
			// ASCII only: strings.ToLower maps U+212A KELVIN SIGN to 'k'.
			c += 'a' - 'A'
		case c == '0':
			c = 'o'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", errors.New("recovery code: contains characters that are not in recovery codes")
		}
		compact = append(compact, c)
	}
	if len(compact) != recoveryChars {
		return "", fmt.Errorf("recovery code: %d characters, want %d", len(compact), recoveryChars)
	}
	return formatRecovery(string(compact)), nil
}

// HashedRecoveryCode is what is stored for a recovery code. Codes have 80
// bits, under the 112 bits ASVS 2.6.2 asks of unhashed ones, so they are
// stored as SHA-256(Salt || normalized code). A fast hash is enough: with 80
// random bits and a unique salt per code, guessing stays out of reach.
type HashedRecoveryCode struct {
	Salt []byte // 16 random bytes, unique per code
	Hash []byte // SHA-256 of Salt followed by the canonical code
}

// HashRecoveryCode normalizes code and hashes it under a fresh salt.
func HashRecoveryCode(code string) (HashedRecoveryCode, error) {
	norm, err := NormalizeRecoveryCode(code)
	if err != nil {
		return HashedRecoveryCode{}, fmt.Errorf("hash recovery code: %w", err)
	}
	salt := make([]byte, recoverySaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return HashedRecoveryCode{}, fmt.Errorf("hash recovery code: %w", err)
	}
	return HashedRecoveryCode{Salt: salt, Hash: recoveryDigest(salt, norm)}, nil
}

func recoveryDigest(salt []byte, norm string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(norm))
	return h.Sum(nil)
}

// Matches reports whether code, normalized, is the code h was made from.
// The hash comparison is constant time. A caller checking a login should
// test every unused code of the user rather than stop at the first match,
// and must mark the matching one used in the same transaction.
func (h HashedRecoveryCode) Matches(code string) bool {
	norm, err := NormalizeRecoveryCode(code)
	if err != nil || len(h.Hash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(recoveryDigest(h.Salt, norm), h.Hash) == 1
}
