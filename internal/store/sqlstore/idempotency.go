package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/idem"
)

var _ idem.Store = (*Store)(nil)

// Begin implements idem.Store.
func (s *Store) Begin(ctx context.Context, orgID, userID int64, key string, hash []byte, now time.Time) (*idem.Answer, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		orgID, userID, key, hash, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	var a idem.Answer
	err = s.db.QueryRowContext(ctx, `SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE org_id = ? AND user_id = ? AND key = ?`, orgID, userID, key).
		Scan(&a.Hash, &a.Status, &a.ContentType, &a.Body)
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	return &a, nil
}

// Finish implements idem.Store.
func (s *Store) Finish(ctx context.Context, orgID, userID int64, key string, a *idem.Answer) error {
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE org_id = ? AND user_id = ? AND key = ?`,
		a.Status, a.ContentType, a.Body, orgID, userID, key)
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// Abort implements idem.Store.
func (s *Store) Abort(ctx context.Context, orgID, userID int64, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND user_id = ? AND key = ?`, orgID, userID, key); err != nil {
		return fmt.Errorf("abort idempotency key: %w", err)
	}
	return nil
}
