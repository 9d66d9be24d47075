package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

var _ auth.SessionStore = (*Store)(nil)

func scanSession(row rowScanner) (*session.Session, error) {
	var ss session.Session
	var created, seen, expires, mfa, prev int64
	if err := row.Scan(&ss.ID, &ss.UserID, &created, &seen, &expires, &mfa, &ss.MFAMethod, &ss.IP, &ss.UserAgent, &prev, &ss.PrevLoginIP); err != nil {
		return nil, err
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.MFAAt, ss.PrevLoginAt = fromUnix(created), fromUnix(seen), fromUnix(expires), fromUnix(mfa), fromUnix(prev)
	return &ss, nil
}

// FindUserSessions implements auth.SessionStore. The token hash is not
// read: nothing that lists sessions needs it.
func (s *Store) FindUserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]*session.Session, error) {
	return findAll(ctx, s.db, "session", scanSession,
		`SELECT id, user_id, created_at, last_seen_at, expires_at, mfa_at, mfa_method, ip, user_agent, prev_login_at, prev_login_ip
		 FROM sessions WHERE user_id = ? AND expires_at > ? AND last_seen_at > ? ORDER BY last_seen_at DESC, id DESC`,
		userID, now.Unix(), now.Add(-idle).Unix())
}

// DeleteUserSession implements auth.SessionStore.
func (s *Store) DeleteUserSession(ctx context.Context, userID, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id = ?`, userID, id)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "Session not found.")
	}
	return nil
}

// DeleteOtherSessions implements auth.SessionStore.
func (s *Store) DeleteOtherSessions(ctx context.Context, userID, keepID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keepID)
	if err != nil {
		return 0, fmt.Errorf("delete other sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RevokeMemberSessions implements auth.SessionStore.
func (s *Store) RevokeMemberSessions(ctx context.Context, orgID, actorID, targetID int64, guard auth.SessionGuard) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *Tx) error {
		actorRole, err := memberRole(ctx, tx, orgID, actorID)
		if errs.Code(err) == errs.ENOTFOUND {
			return errs.Errorf(errs.ENOTFOUND, "Organisation not found.")
		}
		if err != nil {
			return err
		}
		targetRole, err := memberRole(ctx, tx, orgID, targetID)
		if err != nil {
			return err
		}
		if err := guard(actorRole, targetRole); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, targetID)
		if err != nil {
			return fmt.Errorf("revoke member sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
