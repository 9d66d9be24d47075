// Package session issues and checks sign-in sessions: random bearer tokens
// stored only as hashes, with idle and absolute expiry.
package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Token prefixes tell a session token from a pending-login token at a glance
// (and to secret scanners), without any lookup.
const (
	SessionPrefix = "cfs_"
	LoginPrefix   = "cfl_"
)

// Session is a signed-in user's session. The token itself is never stored.
type Session struct {
	ID         int64
	UserID     int64
	TokenHash  []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session, whatever its activity.
	ExpiresAt time.Time
	// MFAAt is when a second factor was last verified in this session, for
	// step-up checks on sensitive actions.
	MFAAt time.Time
	// MFAMethod is the kind of factor verified at MFAAt ("totp", "webauthn",
	// "passkey", "push", …): organisations may refuse some kinds.
	MFAMethod string
	IP        string
	UserAgent string
	// PrevLoginAt and PrevLoginIP describe the user's sign-in before this
	// session's (zero if none).
	PrevLoginAt time.Time
	PrevLoginIP string
	// Idle is how long the session had been unused when this request
	// arrived (not stored), for organisations with a shorter idle timeout.
	Idle time.Duration
}

// Policy holds the timeouts that bound a session.
type Policy struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
}

// DefaultPolicy is 15 minutes idle (PCI DSS 8.2.8) and 12 hours absolute
// (ASVS 3.3.2).
func DefaultPolicy() Policy {
	return Policy{IdleTimeout: 15 * time.Minute, AbsoluteTimeout: 12 * time.Hour}
}

// Validate keeps timeouts within safe bounds.
func (p Policy) Validate() error {
	var problems []string
	if p.IdleTimeout < time.Minute || p.IdleTimeout > 2*time.Hour {
		problems = append(problems, fmt.Sprintf("session idle timeout %s must be between 1m and 2h", p.IdleTimeout))
	}
	if p.AbsoluteTimeout < p.IdleTimeout || p.AbsoluteTimeout > 24*time.Hour {
		problems = append(problems, fmt.Sprintf("session absolute timeout %s must be between the idle timeout and 24h", p.AbsoluteTimeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Expired reports whether s may no longer be used at now.
func (p Policy) Expired(s *Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= p.IdleTimeout
}

// NewToken returns a fresh 256-bit token with the given prefix, and the hash
// under which it is stored.
func NewToken(prefix string) (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("new token: %w", err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is how tokens are stored and looked up. A plain SHA-256 is enough:
// tokens carry 256 random bits, so there is nothing to brute-force, and an
// equality lookup on the hash leaks nothing useful through timing.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
