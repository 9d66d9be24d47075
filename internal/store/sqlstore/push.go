package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/auth"
)

var _ auth.PushStore = (*Store)(nil)

const pushColumns = `id, user_id, pending_id, session_id, number, challenge, ip, user_agent, place, status, reason, factor_id, signature, created_at, expires_at, answered_at`

func scanPush(row rowScanner) (*auth.PushRequest, error) {
	var r auth.PushRequest
	var created, expires, answered int64
	if err := row.Scan(&r.ID, &r.UserID, &r.PendingID, &r.SessionID, &r.Number, &r.Challenge, &r.IP, &r.UserAgent, &r.Place, &r.Status, &r.Reason,
		&r.FactorID, &r.Signature, &created, &expires, &answered); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt, r.AnsweredAt = fromUnix(created), fromUnix(expires), fromUnix(answered)
	return &r, nil
}

// CreatePushRequest implements auth.PushStore.
func (s *Store) CreatePushRequest(ctx context.Context, r *auth.PushRequest) error {
	return s.tx(ctx, func(tx *Tx) error {
		now := unix(r.CreatedAt)
		if _, err := tx.ExecContext(ctx, `UPDATE push_requests SET expires_at = ? WHERE user_id = ? AND pending_id = ? AND session_id = ? AND status = 'pending' AND expires_at > ?`,
			now, r.UserID, r.PendingID, r.SessionID, now); err != nil {
			return fmt.Errorf("supersede push requests: %w", err)
		}
		if r.Status == "" {
			r.Status = auth.PushPending
		}
		newID, err := insertID(ctx, tx, `INSERT INTO push_requests (user_id, pending_id, session_id, number, challenge, ip, user_agent, place, status, reason, factor_id, signature, created_at, expires_at, answered_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.UserID, r.PendingID, r.SessionID, r.Number, r.Challenge, r.IP, r.UserAgent, r.Place, r.Status, r.Reason, r.FactorID, r.Signature, now, unix(r.ExpiresAt), unix(r.AnsweredAt))
		if err != nil {
			return fmt.Errorf("create push request: %w", err)
		}
		r.ID = newID
		return err
	})
}

// FindPushRequest implements auth.PushStore.
func (s *Store) FindPushRequest(ctx context.Context, userID, id int64) (*auth.PushRequest, error) {
	r, err := scanPush(s.db.QueryRowContext(ctx, `SELECT `+pushColumns+` FROM push_requests WHERE id = ? AND user_id = ?`, id, userID))
	if err != nil {
		return nil, notFound("Push request", err)
	}
	return r, nil
}

// FindPendingPushRequests implements auth.PushStore.
func (s *Store) FindPendingPushRequests(ctx context.Context, userID int64, now time.Time) ([]*auth.PushRequest, error) {
	return findAll(ctx, s.db, "push request", scanPush,
		`SELECT `+pushColumns+` FROM push_requests WHERE user_id = ? AND status = 'pending' AND expires_at > ? ORDER BY id`, userID, unix(now))
}

// AnswerPushRequest implements auth.PushStore: the conditional update
// decides between a device's answer and expiry, and between two answers.
func (s *Store) AnswerPushRequest(ctx context.Context, userID, id int64, status, reason string, factorID int64, signature []byte, now time.Time) (bool, error) {
	if status != auth.PushApproved && status != auth.PushDenied {
		return false, fmt.Errorf("answer push request: bad status %q", status)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE push_requests SET status = ?, reason = ?, factor_id = ?, signature = ?, answered_at = ?
		WHERE id = ? AND user_id = ? AND status = 'pending' AND expires_at > ?`, status, reason, factorID, signature, unix(now), id, userID, unix(now))
	if err != nil {
		return false, fmt.Errorf("answer push request: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ConsumePushRequest implements auth.PushStore.
func (s *Store) ConsumePushRequest(ctx context.Context, userID, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE push_requests SET status = 'consumed' WHERE id = ? AND user_id = ? AND status = 'approved'`, id, userID)
	if err != nil {
		return false, fmt.Errorf("consume push request: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CountPushRefusals implements auth.PushStore.
func (s *Store) CountPushRefusals(ctx context.Context, userID int64, since, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM push_requests WHERE user_id = ? AND created_at >= ?
		AND (status = 'denied' OR (status = 'pending' AND expires_at <= ?))`, userID, unix(since), unix(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count push refusals: %w", err)
	}
	return n, nil
}

// RememberDeviceSignature implements auth.PushStore. Expired entries go
// first, in the same transaction, so the table stays as small as the
// accepted window.
func (s *Store) RememberDeviceSignature(ctx context.Context, hash []byte, expires, now time.Time) (bool, error) {
	fresh := false
	err := s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM push_device_signatures WHERE expires_at < ?`, unix(now)); err != nil {
			return fmt.Errorf("drop old device signatures: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO push_device_signatures (hash, expires_at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`, hash, unix(expires))
		if err != nil {
			return fmt.Errorf("remember device signature: %w", err)
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}

// FindUserOrgAdmins implements auth.PushStore.
func (s *Store) FindUserOrgAdmins(ctx context.Context, userID int64) ([]*auth.User, error) {
	return findAll(ctx, s.db, "organisation admin", func(row rowScanner) (*auth.User, error) {
		var u auth.User
		return &u, row.Scan(&u.ID, &u.Email, &u.Name)
	}, `SELECT DISTINCT u.id, u.email, u.name FROM memberships m
		JOIN memberships a ON a.org_id = m.org_id AND a.role IN ('owner', 'adviser')
		JOIN users u ON u.id = a.user_id
		WHERE m.user_id = ? AND a.user_id <> ? ORDER BY u.id`, userID, userID)
}
