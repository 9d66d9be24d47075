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

// TOTPFactor is an authenticator-app factor. SecretEnc is the seed sealed by
// the keyring; the seed itself is never stored.
type TOTPFactor struct {
	ID        int64
	UserID    int64
	SecretEnc []byte
	Confirmed bool
	LastStep  int64 // last accepted time step, -1 if none: replay protection
	CreatedAt time.Time
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

	// SaveUnconfirmedTOTP replaces the user's unconfirmed TOTP factor, if
	// any. seal gets the new row's id (the sealed secret is bound to it) and
	// returns SecretEnc; the row is stored only if seal succeeds.
	SaveUnconfirmedTOTP(ctx context.Context, f *TOTPFactor, seal func(id int64) ([]byte, error)) error
	FindUnconfirmedTOTP(ctx context.Context, userID int64) (*TOTPFactor, error)
	FindConfirmedTOTPs(ctx context.Context, userID int64) ([]*TOTPFactor, error)
	// ConfirmTOTP marks the unconfirmed factor confirmed with step as its last
	// used step and, if codes is non-nil, replaces the user's recovery codes,
	// in one transaction. With firstOnly it fails with EFORBIDDEN when the
	// user already has a confirmed factor.
	ConfirmTOTP(ctx context.Context, userID, factorID, step int64, codes []*RecoveryCode, firstOnly bool) error
	// UseTOTPStep records step as used for the factor only if it is later than
	// the last used step; it reports false for a replay, even one racing
	// from another connection or node.
	UseTOTPStep(ctx context.Context, factorID, step int64) (bool, error)

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
	SetSessionMFA(ctx context.Context, id int64, at time.Time) error
	DeleteSession(ctx context.Context, id int64) error
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	// DeleteExpired removes pending logins and sessions that ended before now
	// and rate-limit windows that closed.
	DeleteExpired(ctx context.Context, now time.Time, idle time.Duration) error
}
