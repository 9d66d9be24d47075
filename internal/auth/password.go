// Package auth holds Coffer's password handling: argon2id hashing in PHC
// string form, the password policy (NIST SP 800-63B), and a bounded pool that
// keeps password hashing from being used to starve the server.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"coffer/internal/errs"
)

// Bounds on argon2id parameters. The parse limits are what a stored hash may
// ask for: the hash column is data, and a tampered or corrupted row must not
// make a login allocate unbounded memory or spin for minutes.
const (
	// owaspMemoryKiB/owaspTime and owaspAltMemoryKiB/owaspAltTime are the two
	// OWASP Password Storage Cheat Sheet floors for argon2id with p=1 that
	// SECURITY-CHECKLIST.md names (19 MiB, t=2) or (46 MiB, t=1).
	owaspMemoryKiB    = 19456
	owaspTime         = 2
	owaspAltMemoryKiB = 47104
	owaspAltTime      = 1

	maxMemoryKiB = 4 * 1024 * 1024 // 4 GiB
	maxTime      = 100
	minBytesLen  = 8 // salt and key; the argon2 spec's own minimum salt length
	maxBytesLen  = 1024

	// policyMinBytesLen is stricter than minBytesLen: new hashes get at least
	// 128-bit salts and keys; only stored hashes may be shorter.
	policyMinBytesLen = 16

	phcPrefix = "$argon2id$v=19$"
)

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict refuses non-zero trailing bits so one byte string has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// errMalformedPHC is wrapped by every ParsePHC refusal, so a log line says
// why without the caller needing to tell parse errors apart.
var errMalformedPHC = errors.New("malformed argon2id PHC string")

// Argon2Params are the argon2id cost parameters and output sizes. They are
// stored inside every hash, so changing the defaults does not break existing
// hashes; NeedsRehash tells the login path when to upgrade one.
type Argon2Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes (parallelism)
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of derived key
}

// DefaultArgon2Params returns the OWASP-recommended argon2id parameters
// (m=19 MiB, t=2, p=1) with a 128-bit salt and a 256-bit key. They cost about
// as much as the 46 MiB, t=1 alternative while keeping memory per login low,
// which matters on small self-hosted machines under a login flood.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// TestArgon2Params returns cheap parameters so that unit tests elsewhere can
// hash passwords quickly. Never use them in production: they are far below
// the OWASP floor, and Validate rejects them so a config cannot select them.
func TestArgon2Params() Argon2Params {
	return Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports every way p falls below the OWASP minimum or above the
// sane upper bounds, at once, as one errs.EINVALID error; configuration uses
// it so an operator cannot weaken password storage by accident.
func (p Argon2Params) Validate() error {
	var problems []string
	if !(p.MemoryKiB >= owaspMemoryKiB && p.Time >= owaspTime) &&
		!(p.MemoryKiB >= owaspAltMemoryKiB && p.Time >= owaspAltTime) {
		problems = append(problems, fmt.Sprintf(
			"memory %d KiB with time %d is below the OWASP minimum (at least %d KiB with time >= %d, or %d KiB with time >= %d)",
			p.MemoryKiB, p.Time, owaspMemoryKiB, owaspTime, owaspAltMemoryKiB, owaspAltTime))
	}
	if p.MemoryKiB > maxMemoryKiB {
		problems = append(problems, fmt.Sprintf("memory must be at most %d KiB (4 GiB)", maxMemoryKiB))
	}
	if p.Time > maxTime {
		problems = append(problems, fmt.Sprintf("time must be at most %d", maxTime))
	}
	if p.Threads < 1 {
		problems = append(problems, "threads must be at least 1")
	}
	if p.SaltLen < policyMinBytesLen || p.SaltLen > maxBytesLen {
		problems = append(problems, fmt.Sprintf("salt length must be between %d and %d bytes", policyMinBytesLen, maxBytesLen))
	}
	if p.KeyLen < policyMinBytesLen || p.KeyLen > maxBytesLen {
		problems = append(problems, fmt.Sprintf("key length must be between %d and %d bytes", policyMinBytesLen, maxBytesLen))
	}
	if len(problems) > 0 {
		return errs.Errorf(errs.EINVALID, "Invalid argon2id parameters: %s.", strings.Join(problems, "; "))
	}
	return nil
}

// checkParsable reports whether p lies within the bounds ParsePHC accepts.
// HashPassword uses it so that it never writes a hash it would later refuse
// to read, even with the (deliberately weak) test parameters.
func (p Argon2Params) checkParsable() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		// The argon2 spec requires at least 8 KiB per lane; x/crypto would
		// silently round up, making the stored m a lie.
		return fmt.Errorf("memory %d KiB out of range %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	case p.SaltLen < minBytesLen || p.SaltLen > maxBytesLen:
		return fmt.Errorf("salt length %d out of range %d..%d", p.SaltLen, minBytesLen, maxBytesLen)
	case p.KeyLen < minBytesLen || p.KeyLen > maxBytesLen:
		return fmt.Errorf("key length %d out of range %d..%d", p.KeyLen, minBytesLen, maxBytesLen)
	}
	return nil
}

// HashPassword derives an argon2id key from password with a fresh random
// salt and returns it in PHC string form, e.g.
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>". The parameters travel with
// the hash so they can be raised later without invalidating old hashes.
//
// HashPassword does not call p.Validate (tests hash with TestArgon2Params);
// production configuration must be validated where it is loaded.
func HashPassword(p Argon2Params, password string) (string, error) {
	if err := p.checkParsable(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

// encodePHC is the one place the PHC form is written; ParsePHC accepts
// exactly what it produces, which the fuzz test checks.
func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", phcPrefix,
		p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches encoded, using whatever
// parameters encoded carries. The key comparison is constant-time. err is
// non-nil only when encoded is malformed, which callers should treat as an
// internal error (corrupt data), never as "wrong password".
func VerifyPassword(password, encoded string) (ok bool, err error) {
	p, salt, key, err := ParsePHC(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// ParsePHC parses an argon2id (version 19) PHC string as HashPassword writes
// it and returns its parameters (SaltLen and KeyLen set from the decoded
// lengths), salt and key. It is strict: other algorithms and versions, extra
// or reordered fields, non-canonical numbers or base64, and parameters outside
// sane bounds (memory over 4 GiB, time over 100, zero threads, salt or key
// outside 8..1024 bytes) are refused, so a tampered database row cannot make
// verification allocate unbounded memory.
func ParsePHC(encoded string) (p Argon2Params, salt, key []byte, err error) {
	fail := func(format string, args ...any) (Argon2Params, []byte, []byte, error) {
		return Argon2Params{}, nil, nil, fmt.Errorf("parse phc: %w: %s", errMalformedPHC, fmt.Sprintf(format, args...))
	}
	// Cheap bound before any work: the longest legitimate string has two
	// 1024-byte fields (1366 base64 chars each) and short numbers.
	if len(encoded) > 3000 {
		return fail("too long")
	}
	rest, found := strings.CutPrefix(encoded, phcPrefix)
	if !found {
		return fail("not an argon2id v=19 hash")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return fail("want params, salt and key fields, got %d fields", len(fields))
	}
	params := strings.Split(fields[0], ",")
	if len(params) != 3 {
		return fail("want m, t and p parameters")
	}
	m, err := parsePHCUint(params[0], "m=", maxMemoryKiB)
	if err != nil {
		return fail("memory: %v", err)
	}
	t, err := parsePHCUint(params[1], "t=", maxTime)
	if err != nil {
		return fail("time: %v", err)
	}
	threads, err := parsePHCUint(params[2], "p=", 255)
	if err != nil {
		return fail("threads: %v", err)
	}
	if salt, err = decodePHCBytes(fields[1]); err != nil {
		return fail("salt: %v", err)
	}
	if key, err = decodePHCBytes(fields[2]); err != nil {
		return fail("key: %v", err)
	}
	p = Argon2Params{
		Time:      t,
		MemoryKiB: m,
		Threads:   uint8(threads),
		SaltLen:   uint32(len(salt)),
		KeyLen:    uint32(len(key)),
	}
	if err := p.checkParsable(); err != nil {
		return fail("%v", err)
	}
	return p, salt, key, nil
}

// parsePHCUint parses "name=<decimal>" with no sign and no leading zeros, so
// that each value has exactly one spelling, and bounds it by max.
func parsePHCUint(s, name string, max uint64) (uint32, error) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, fmt.Errorf("want %q", name)
	}
	if digits == "" || len(digits) > 10 {
		return 0, errors.New("bad number")
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, errors.New("leading zero")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad number: %w", err)
	}
	if n > max {
		return 0, fmt.Errorf("%d exceeds %d", n, max)
	}
	return uint32(n), nil
}

// decodePHCBytes decodes unpadded standard base64, bounded in length, and
// refuses any spelling that does not re-encode identically (Go's decoder
// skips CR and LF even in strict mode).
func decodePHCBytes(s string) ([]byte, error) {
	if len(s) > b64.EncodedLen(maxBytesLen) {
		return nil, errors.New("too long")
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	if b64.EncodeToString(b) != s {
		return nil, errors.New("non-canonical base64")
	}
	if len(b) < minBytesLen || len(b) > maxBytesLen {
		return nil, fmt.Errorf("length %d out of range %d..%d", len(b), minBytesLen, maxBytesLen)
	}
	return b, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// want, so the login path can re-hash the just-verified password with the
// current parameters. A malformed encoded also needs replacing, so it reports
// true.
func NeedsRehash(encoded string, want Argon2Params) bool {
	got, _, _, err := ParsePHC(encoded)
	if err != nil {
		return true
	}
	return got != want
}
