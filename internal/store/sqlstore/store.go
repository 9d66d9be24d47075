// Package sqlstore is Coffer's store in plain SQL, one implementation of
// every domain's store interface for both engines: SQLite (one file, the
// default; package store/sqlite opens it) and PostgreSQL (several nodes;
// package store/postgres). Queries are written once with '?' placeholders;
// the few places where the engines differ ask the Dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

var _ auth.Store = (*Store)(nil)

// Store implements every domain's store on one SQL database.
type Store struct {
	db       *DB
	auditKey atomic.Pointer[auditKey] // see SetAuditKey
}

// New wraps an open database of the given engine and applies migrations.
// The caller has configured the handle (pragmas, pool); New owns it from
// here and Close closes it.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: wrap(db, d)}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.raw.Close() }

// DB exposes the handle, with the engine's placeholders, for tests and
// maintenance commands.
func (s *Store) DB() *DB { return s.db }

// Dialect tells which engine the store runs on.
func (s *Store) Dialect() Dialect { return s.db.d }

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// rowScanner is what *sql.Row and *sql.Rows share, so one scan function
// reads a row either way.
type rowScanner = interface{ Scan(...any) error }

// findAll runs a query and scans every row with scan. what names one row
// in errors: "find invoices", "scan invoice". No rows is a nil slice.
func findAll[T any](ctx context.Context, q querier, what string, scan func(rowScanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find %ss: %w", what, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func notFound(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Errorf(errs.ENOTFOUND, "%s not found.", what)
	}
	return fmt.Errorf("find %s: %w", what, err)
}

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	newID, err := insertID(ctx, s.db, `INSERT INTO users (email, name, password_hash, is_admin, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Email, u.Name, u.PasswordHash, u.IsAdmin, unix(u.CreatedAt), unix(u.CreatedAt))
	if err != nil {
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "A user with that email address already exists.")
		}
		return fmt.Errorf("create user: %w", err)
	}
	u.ID = newID
	return err
}

const userColumns = `id, email, name, password_hash, is_admin, created_at, last_login_at, last_login_ip, password_changed_at`

func scanUser(row rowScanner) (*auth.User, error) {
	var u auth.User
	var created, last, changed int64
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.IsAdmin, &created, &last, &u.LastLoginIP, &changed); err != nil {
		return nil, err
	}
	u.CreatedAt, u.LastLoginAt, u.PasswordChangedAt = fromUnix(created), fromUnix(last), fromUnix(changed)
	return &u, nil
}

// FindUserByID implements auth.Store.
func (s *Store) FindUserByID(ctx context.Context, id int64) (*auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("user", err)
	}
	return u, nil
}

// FindUserByEmail implements auth.Store. Emails are stored normalised.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err != nil {
		return nil, notFound("user", err)
	}
	return u, nil
}

// CountUsers implements auth.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UpdatePasswordHash implements auth.Store.
func (s *Store) UpdatePasswordHash(ctx context.Context, userID int64, hash string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	if err != nil {
		return fmt.Errorf("update password hash: %w", err)
	}
	return nil
}

// ChangePassword implements auth.Store.
func (s *Store) ChangePassword(ctx context.Context, userID int64, hash string, at time.Time, keepSessionID int64) (int, error) {
	var ended int
	err := s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?`, hash, unix(at), userID)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ENOTFOUND, "user not found.")
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keepSessionID)
		if err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		n, _ := res.RowsAffected()
		ended = int(n)
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("end pending sign-ins: %w", err)
		}
		return nil
	})
	return ended, err
}

// SetLastLogin implements auth.Store.
func (s *Store) SetLastLogin(ctx context.Context, userID int64, at time.Time, ip string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET last_login_at = ?, last_login_ip = ? WHERE id = ?`, unix(at), ip, userID); err != nil {
		return fmt.Errorf("set last login: %w", err)
	}
	return nil
}

// HitRateLimit implements auth.Store with one atomic upsert.
func (s *Store) HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	w := int64(window / time.Second)
	if w < 1 {
		w = 1
	}
	start := now.Unix() / w * w
	var n int
	err := s.db.QueryRowContext(ctx, `INSERT INTO rate_limits (key, window_start, window_end, count) VALUES (?, ?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.count + 1 ELSE 1 END,
			window_start = excluded.window_start, window_end = excluded.window_end
		RETURNING count`, key, start, start+w).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return n, nil
}

// LockedUntil implements auth.Store.
func (s *Store) LockedUntil(ctx context.Context, key string, now time.Time) (time.Time, error) {
	var until int64
	err := s.db.QueryRowContext(ctx, `SELECT locked_until FROM lockouts WHERE key = ? AND locked_until > ?`, key, now.Unix()).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("lockout: %w", err)
	}
	return fromUnix(until), nil
}

// RecordFailure implements auth.Store.
func (s *Store) RecordFailure(ctx context.Context, key string, maxFailures int, base, maxLock time.Duration, now time.Time) (time.Time, error) {
	var until time.Time
	err := s.tx(ctx, func(tx *Tx) error {
		var failures, lockCount int
		err := tx.QueryRowContext(ctx, `INSERT INTO lockouts (key, failures, updated_at) VALUES (?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET failures = lockouts.failures + 1, updated_at = excluded.updated_at
			RETURNING failures, lock_count`, key, now.Unix()).Scan(&failures, &lockCount)
		if err != nil {
			return err
		}
		if failures < maxFailures {
			return nil
		}
		d := base
		for i := 0; i < lockCount && d < maxLock; i++ {
			d *= 2
		}
		if d > maxLock {
			d = maxLock
		}
		until = now.Add(d).Truncate(time.Second)
		_, err = tx.ExecContext(ctx, `UPDATE lockouts SET failures = 0, locked_until = ?, lock_count = lock_count + 1 WHERE key = ?`, until.Unix(), key)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("record failure: %w", err)
	}
	return until, nil
}

// ClearFailures implements auth.Store.
func (s *Store) ClearFailures(ctx context.Context, key string, unlock bool) error {
	q := `UPDATE lockouts SET failures = 0 WHERE key = ?`
	if unlock {
		q = `DELETE FROM lockouts WHERE key = ?`
	}
	if _, err := s.db.ExecContext(ctx, q, key); err != nil {
		return fmt.Errorf("clear failures: %w", err)
	}
	return nil
}

// ClearFailuresPrefix implements auth.Store. substr, not LIKE, so that no
// character of the prefix is a wildcard.
func (s *Store) ClearFailuresPrefix(ctx context.Context, prefix string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM lockouts WHERE substr(key, 1, ?) = ?`, len(prefix), prefix); err != nil {
		return fmt.Errorf("clear failures: %w", err)
	}
	return nil
}

// CreatePending implements auth.Store.
func (s *Store) CreatePending(ctx context.Context, p *auth.Pending) error {
	newID, err := insertID(ctx, s.db, `INSERT INTO pending_logins (user_id, token_hash, stage, created_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.UserID, p.TokenHash, p.Stage, unix(p.CreatedAt), unix(p.ExpiresAt), p.IP, p.UserAgent)
	if err != nil {
		return fmt.Errorf("create pending login: %w", err)
	}
	p.ID = newID
	return err
}

// FindPendingByTokenHash implements auth.Store.
func (s *Store) FindPendingByTokenHash(ctx context.Context, hash []byte) (*auth.Pending, error) {
	var p auth.Pending
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, token_hash, stage, created_at, expires_at, ip, user_agent FROM pending_logins WHERE token_hash = ?`, hash).
		Scan(&p.ID, &p.UserID, &p.TokenHash, &p.Stage, &created, &expires, &p.IP, &p.UserAgent)
	if err != nil {
		return nil, notFound("pending login", err)
	}
	p.CreatedAt, p.ExpiresAt = fromUnix(created), fromUnix(expires)
	return &p, nil
}

// DeletePending implements auth.Store.
func (s *Store) DeletePending(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pending_logins WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete pending login: %w", err)
	}
	return nil
}

// FindUnusedRecoveryCodes implements auth.Store.
func (s *Store) FindUnusedRecoveryCodes(ctx context.Context, userID int64) ([]*auth.RecoveryCode, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, salt, hash FROM recovery_codes WHERE user_id = ? AND used_at = 0 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("find recovery codes: %w", err)
	}
	defer rows.Close()
	var out []*auth.RecoveryCode
	for rows.Next() {
		var c auth.RecoveryCode
		if err := rows.Scan(&c.ID, &c.UserID, &c.Salt, &c.Hash); err != nil {
			return nil, fmt.Errorf("scan recovery code: %w", err)
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// UseRecoveryCode implements auth.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, id int64, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at = 0`, unix(at), id)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReplaceRecoveryCodes implements auth.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, codes []*auth.RecoveryCode) error {
	return s.tx(ctx, func(tx *Tx) error { return replaceRecoveryCodes(ctx, tx, userID, codes) })
}

func replaceRecoveryCodes(ctx context.Context, tx *Tx, userID int64, codes []*auth.RecoveryCode) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("drop recovery codes: %w", err)
	}
	for _, c := range codes {
		newID, err := insertID(ctx, tx, `INSERT INTO recovery_codes (user_id, salt, hash) VALUES (?, ?, ?)`, userID, c.Salt, c.Hash)
		if err != nil {
			return fmt.Errorf("insert recovery code: %w", err)
		}
		c.ID = newID
		c.UserID = userID
	}
	return nil
}

// CreateSession implements auth.Store.
func (s *Store) CreateSession(ctx context.Context, pendingID int64, ss *session.Session) error {
	return s.tx(ctx, func(tx *Tx) error {
		if pendingID != 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM pending_logins WHERE id = ?`, pendingID)
			if err != nil {
				return fmt.Errorf("consume pending login: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.Errorf(errs.ENOTFOUND, "pending login not found.")
			}
		}
		newID, err := insertID(ctx, tx, `INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at, mfa_at, mfa_method, ip, user_agent, prev_login_at, prev_login_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ss.UserID, ss.TokenHash, unix(ss.CreatedAt), unix(ss.LastSeenAt), unix(ss.ExpiresAt), unix(ss.MFAAt), ss.MFAMethod, ss.IP, ss.UserAgent, unix(ss.PrevLoginAt), ss.PrevLoginIP)
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		ss.ID = newID
		return err
	})
}

// FindSessionByTokenHash implements auth.Store.
func (s *Store) FindSessionByTokenHash(ctx context.Context, hash []byte) (*session.Session, error) {
	var ss session.Session
	var created, seen, expires, mfa, prev int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, token_hash, created_at, last_seen_at, expires_at, mfa_at, mfa_method, ip, user_agent, prev_login_at, prev_login_ip FROM sessions WHERE token_hash = ?`, hash).
		Scan(&ss.ID, &ss.UserID, &ss.TokenHash, &created, &seen, &expires, &mfa, &ss.MFAMethod, &ss.IP, &ss.UserAgent, &prev, &ss.PrevLoginIP)
	if err != nil {
		return nil, notFound("session", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.MFAAt, ss.PrevLoginAt = fromUnix(created), fromUnix(seen), fromUnix(expires), fromUnix(mfa), fromUnix(prev)
	return &ss, nil
}

// TouchSession implements auth.Store.
func (s *Store) TouchSession(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, unix(at), id, unix(at)); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SetSessionMFA implements auth.Store.
func (s *Store) SetSessionMFA(ctx context.Context, id int64, at time.Time, method string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET mfa_at = ?, mfa_method = ? WHERE id = ?`, unix(at), method, id); err != nil {
		return fmt.Errorf("set session mfa: %w", err)
	}
	return nil
}

// DeleteSession implements auth.Store.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions implements auth.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteExpired implements auth.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, idle time.Duration) error {
	return s.tx(ctx, func(tx *Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM pending_logins WHERE expires_at <= ?`, []any{now.Unix()}},
			{`DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`, []any{now.Unix(), now.Add(-idle).Unix()}},
			{`DELETE FROM rate_limits WHERE window_end <= ?`, []any{now.Unix()}},
			{`DELETE FROM mfa_challenges WHERE expires_at <= ?`, []any{now.Unix()}},
			{`DELETE FROM sms_codes WHERE expires_at <= ?`, []any{now.Unix()}},
			// Push requests are kept a day: the fatigue rule counts the
			// denied and ignored ones of the last 15 minutes.
			{`DELETE FROM push_requests WHERE expires_at <= ?`, []any{now.Add(-24 * time.Hour).Unix()}},
			{`DELETE FROM push_device_signatures WHERE expires_at <= ?`, []any{now.Unix()}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return fmt.Errorf("delete expired: %w", err)
			}
		}
		return nil
	})
}
