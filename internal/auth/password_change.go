package auth

import (
	"context"
	"errors"
	"fmt"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// maxPasswordBytes bounds what is ever hashed: longer input is refused
// before any work, as at sign-in.
const maxPasswordBytes = 4096

// msgWrongCurrentPassword is the one answer to a wrong current password.
const msgWrongCurrentPassword = "Your current password is incorrect."

// hash runs fn in the hashing pool, so password changes and new accounts
// compete for the same bounded CPU as sign-ins and cannot starve them.
func (s *Service) hash(ctx context.Context, priority bool, fn func()) error {
	err := s.pool.Do(ctx, priority, fn)
	if errors.Is(err, ErrBusy) {
		e := errs.Errorf(errs.EUNAVAILABLE, msgBusy)
		e.RetryAfter = 1
		return e
	}
	if err != nil {
		return fmt.Errorf("hash pool: %w", err)
	}
	return nil
}

// ChangePassword replaces the signed-in user's password. It needs a second
// factor verified within the step-up window (ESTEPUP otherwise) and the
// current password (EINVALID when wrong; wrong guesses count towards the
// account's lockout, so a stolen session cannot try passwords freely); the
// new password must meet the policy and differ from the current one. Every
// other session and every pending sign-in of the user ends, this session
// stays. It returns how many sessions ended.
func (s *Service) ChangePassword(ctx context.Context, ss *session.Session, u *User, current, next string, c Client) (int, error) {
	if ss == nil || u == nil || ss.UserID != u.ID {
		return 0, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if !s.Fresh(ss) {
		return 0, errs.Errorf(errs.ESTEPUP, "Confirm it's you: verify a code from your authenticator app, then try again.")
	}
	now := s.Now()
	key := accountKey(u.Email)
	if err := s.rateLimit(ctx, "pwchange-"+key, s.cfg.AccountAttemptsPerMinute, now); err != nil {
		return 0, err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		s.audit(ctx, u.ID, u.Email, "password.change", audit.Failure, c, "reason=locked")
		return 0, err
	}
	if current == "" {
		return 0, errs.Errorf(errs.EINVALID, "Enter your current password.")
	}
	// Overlong input is compared against nothing: it cannot be the
	// current password, which had to pass the policy's maximum.
	var ok bool
	var verr error
	if len(current) <= maxPasswordBytes {
		if err := s.hash(ctx, s.trustedDevice(c.DeviceCookie, u.Email, now), func() {
			ok, verr = VerifyPassword(current, u.PasswordHash)
		}); err != nil {
			return 0, err
		}
		if verr != nil {
			return 0, fmt.Errorf("verify current password: %w", verr)
		}
	}
	if !ok {
		s.audit(ctx, u.ID, u.Email, "password.change", audit.Failure, c, "reason=wrong_current_password")
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return 0, errs.Errorf(errs.EINVALID, msgWrongCurrentPassword)
	}
	if err := s.cfg.Password.Check(next, u.Email, u.Name); err != nil {
		s.audit(ctx, u.ID, u.Email, "password.change", audit.Failure, c, "reason=policy")
		return 0, err
	}
	if next == current {
		return 0, errs.Errorf(errs.EINVALID, "Choose a new password that is different from your current one.")
	}
	var hash string
	var herr error
	if err := s.hash(ctx, true, func() { hash, herr = HashPassword(s.cfg.Argon2, next) }); err != nil {
		return 0, err
	}
	if herr != nil {
		return 0, herr
	}
	ended, err := s.store.ChangePassword(ctx, u.ID, hash, now, ss.ID)
	if err != nil {
		return 0, err
	}
	u.PasswordHash, u.PasswordChangedAt = hash, now
	s.audit(ctx, u.ID, u.Email, "password.change", audit.Success, c, fmt.Sprintf("session=%d other_sessions_ended=%d", ss.ID, ended))
	s.notifyUser(ctx, u, "password.changed", "Your Coffer password was changed",
		fmt.Sprintf("The password of your Coffer account was changed from %s. Every other session was signed out (%d).", where(c), ended))
	return ended, nil
}

// NewUser checks a new account's email, name and password against the
// rules CreateUser applies and hashes the password in the hashing pool,
// but stores nothing: the caller stores the user in the same transaction
// as whatever creating it belongs to, such as accepting an invitation.
// Problems come back together as one EINVALID error.
func (s *Service) NewUser(ctx context.Context, email, name, password string) (*User, error) {
	norm, name, err := s.checkNewUser(email, name, password)
	if err != nil {
		return nil, err
	}
	var hash string
	var herr error
	if err := s.hash(ctx, false, func() { hash, herr = HashPassword(s.cfg.Argon2, password) }); err != nil {
		return nil, err
	}
	if herr != nil {
		return nil, herr
	}
	now := s.Now()
	return &User{Email: norm, Name: name, PasswordHash: hash, CreatedAt: now, PasswordChangedAt: now}, nil
}
