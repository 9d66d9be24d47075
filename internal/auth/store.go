package auth

import (
	"context"
	"time"

	"coffer/internal/audit"
	"coffer/internal/session"
)

// User is a person who can sign in.
type User struct {
	ID           int64
	Email        string
	Name         string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	LastLoginAt  time.Time // zero if never
	LastLoginIP  string
	// PasswordChangedAt is when the password was set, for organisations
	// that opt into password expiry.
	PasswordChangedAt time.Time
}

// Login stages of a pending login.
const (
	StageMFA    = "mfa"    // the user has a factor and must present it
	StageEnroll = "enroll" // the user has no factor yet and may only enroll one
)

// Pending is a login that passed the password step and awaits a second factor.
// It grants nothing but that second step.
type Pending struct {
	ID        int64
	UserID    int64
	TokenHash []byte
	Stage     string
	CreatedAt time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

// Factor kinds.
const (
	KindTOTP     = "totp"     // authenticator app
	KindHOTP     = "hotp"     // hardware token, RFC 4226
	KindWebAuthn = "webauthn" // security key, passkey, platform biometrics
	KindSMS      = "sms"      // codes by SMS or voice call (NIST "restricted")
	KindPush     = "push"     // a paired Coffer Verify device
)

// Factor is one second factor of a user, of any kind.
type Factor struct {
	ID     int64
	UserID int64
	Kind   string
	Name   string
	// SecretEnc is the sealed secret (TOTP/HOTP seed, a Verify device's
	// TOTP seed, an SMS phone number), bound to the row; the secret itself
	// is never stored. Empty for kinds without one.
	SecretEnc []byte
	Confirmed bool
	// Counter only moves forward: the last accepted TOTP step, HOTP
	// counter or WebAuthn sign count (-1: none yet).
	Counter int64
	// CredentialID identifies a WebAuthn credential or a Verify device.
	CredentialID []byte
	// PublicData is public material: a WebAuthn credential (JSON), a
	// Verify device's Ed25519 public key.
	PublicData []byte
	// Hint tells factors apart in lists (e.g. "•• 42") without the secret.
	Hint       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never
}

// FactorRules are what the organisations a user belongs to demand of
// their factors, combined: any organisation's restriction applies.
type FactorRules struct {
	ForbidSMS bool
	// RequirePhishingResistant: some organisation requires owners and
	// advisers to use WebAuthn or Verify push.
	RequirePhishingResistant bool
	// PasskeySignIn is false when some organisation turned passkey
	// sign-in (without a password) off.
	PasskeySignIn bool
}

// Challenge is one-time state between the two requests of a ceremony
// (WebAuthn options and answer), stored so any node can finish it.
type Challenge struct {
	ID        int64
	UserID    int64 // 0 before the user is known (passkey sign-in)
	Purpose   string
	PendingID int64
	SessionID int64
	TokenHash []byte // for challenges found by token rather than owner
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RecoveryCode is one stored single-use recovery code.
type RecoveryCode struct {
	ID     int64
	UserID int64
	Salt   []byte
	Hash   []byte
}

// Store is the persistence auth needs. Methods return *errs.Error with
// ENOTFOUND when a looked-up row does not exist and ECONFLICT for a
// duplicate email; other errors are internal.
type Store interface {
	audit.Store
	ResetStore
	SMSStore
	PushStore
	SessionStore

	CreateUser(ctx context.Context, u *User) error
	FindUserByID(ctx context.Context, id int64) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	CountUsers(ctx context.Context) (int, error)
	UpdatePasswordHash(ctx context.Context, userID int64, hash string) error
	// ChangePassword stores a new password hash set at at and, in the same
	// transaction, deletes every session of the user except keepSessionID
	// and every pending sign-in; it returns how many sessions it deleted.
	ChangePassword(ctx context.Context, userID int64, hash string, at time.Time, keepSessionID int64) (int, error)
	SetLastLogin(ctx context.Context, userID int64, at time.Time, ip string) error

	// HitRateLimit counts one event against key in the fixed window that
	// contains now and returns the count so far in that window.
	HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// LockedUntil returns when key's lockout ends (zero if not locked).
	LockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error)
	// RecordFailure adds a consecutive failure to key; at maxFailures it locks
	// key for base << previous lockouts (capped at maxLock) and resets the
	// count. It returns the lock end (zero if this failure did not lock).
	RecordFailure(ctx context.Context, key string, maxFailures int, base, maxLock time.Duration, now time.Time) (time.Time, error)
	// ClearFailures resets key's consecutive failures; with unlock it also
	// lifts a lockout and forgets earlier lockouts.
	ClearFailures(ctx context.Context, key string, unlock bool) error
	// ClearFailuresPrefix lifts every lockout whose key starts with prefix.
	ClearFailuresPrefix(ctx context.Context, prefix string) error

	CreatePending(ctx context.Context, p *Pending) error
	FindPendingByTokenHash(ctx context.Context, hash []byte) (*Pending, error)
	DeletePending(ctx context.Context, id int64) error

	// SaveFactor stores a new factor. With replaceUnconfirmed it first
	// deletes the user's unconfirmed factors of the same kind. When seal is
	// non-nil it gets the new row's id and returns SecretEnc; the row is
	// stored only if seal succeeds.
	SaveFactor(ctx context.Context, f *Factor, replaceUnconfirmed bool, seal func(id int64) ([]byte, error)) error
	// FindFactor returns one of the user's factors; ENOTFOUND if the user
	// has no such factor.
	FindFactor(ctx context.Context, userID, id int64) (*Factor, error)
	// FindFactors returns the user's confirmed (or unconfirmed) factors of
	// kind, or of every kind when kind is "", oldest first.
	FindFactors(ctx context.Context, userID int64, kind string, confirmed bool) ([]*Factor, error)
	// FindFactorByCredentialID finds a factor by WebAuthn credential or
	// Verify device id; ENOTFOUND if none.
	FindFactorByCredentialID(ctx context.Context, credentialID []byte) (*Factor, error)
	// ConfirmFactor marks an unconfirmed factor confirmed with counter as
	// its counter and, if codes is non-nil, replaces the user's recovery
	// codes. With firstOnly it fails with EFORBIDDEN when the user already
	// has a confirmed factor. With replaceID non-zero it deletes that
	// confirmed factor (switching apps). All in one transaction.
	ConfirmFactor(ctx context.Context, userID, factorID, counter int64, codes []*RecoveryCode, firstOnly bool, replaceID int64) error
	// AdvanceCounter sets the factor's counter, and its last use to at, only
	// if counter is greater than the stored one; it reports false for a
	// replay, even one racing from another connection or node.
	AdvanceCounter(ctx context.Context, factorID, counter int64, at time.Time) (bool, error)
	// TouchFactor records a use of a factor without a counter.
	TouchFactor(ctx context.Context, factorID int64, at time.Time) error
	// UpdateFactorPublic replaces a factor's public data.
	UpdateFactorPublic(ctx context.Context, factorID int64, public []byte) error
	// RenameFactor renames one of the user's factors; ENOTFOUND if none.
	RenameFactor(ctx context.Context, userID, factorID int64, name string) error
	// DeleteFactor removes one of the user's factors. It refuses with
	// ECONFLICT to remove the user's last confirmed factor, checked inside
	// the deleting transaction.
	DeleteFactor(ctx context.Context, userID, factorID int64) error
	// UserFactorRules combines the factor settings of the user's
	// organisations.
	UserFactorRules(ctx context.Context, userID int64) (FactorRules, error)

	// SaveChallenge stores ch, replacing any challenge with the same user,
	// purpose, pending login and session.
	SaveChallenge(ctx context.Context, ch *Challenge) error
	// TakeChallenge deletes and returns the challenge of that user,
	// purpose, pending login and session; ENOTFOUND if none. One use.
	TakeChallenge(ctx context.Context, userID int64, purpose string, pendingID, sessionID int64) (*Challenge, error)
	// TakeChallengeByToken deletes and returns the challenge with that
	// token hash; ENOTFOUND if none.
	TakeChallengeByToken(ctx context.Context, purpose string, tokenHash []byte) (*Challenge, error)

	FindUnusedRecoveryCodes(ctx context.Context, userID int64) ([]*RecoveryCode, error)
	// UseRecoveryCode marks a code used; false if it already was.
	UseRecoveryCode(ctx context.Context, id int64, at time.Time) (bool, error)
	ReplaceRecoveryCodes(ctx context.Context, userID int64, codes []*RecoveryCode) error

	// CreateSession stores s; when pendingID is non-zero it deletes that
	// pending login in the same transaction and fails with ENOTFOUND if it
	// was already used, so a pending login yields at most one session.
	CreateSession(ctx context.Context, pendingID int64, s *session.Session) error
	FindSessionByTokenHash(ctx context.Context, hash []byte) (*session.Session, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	// SetSessionMFA records a fresh second factor of kind method.
	SetSessionMFA(ctx context.Context, id int64, at time.Time, method string) error
	DeleteSession(ctx context.Context, id int64) error
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	// DeleteExpired removes pending logins and sessions that ended before now
	// and rate-limit windows that closed.
	DeleteExpired(ctx context.Context, now time.Time, idle time.Duration) error
}
