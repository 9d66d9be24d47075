package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"coffer/internal/auth"
)

var _ auth.SMSStore = (*Store)(nil)

// CreateSMSCode implements auth.SMSStore.
func (s *Store) CreateSMSCode(ctx context.Context, c *auth.SMSCode) error {
	return s.tx(ctx, func(tx *Tx) error {
		// Only the newest code for a purpose works; expired ones of any
		// purpose go too, so the table stays a few rows per user.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sms_codes WHERE user_id = ? AND (purpose = ? OR expires_at <= ?)`, c.UserID, c.Purpose, unix(c.CreatedAt)); err != nil {
			return fmt.Errorf("retire sms codes: %w", err)
		}
		newID, err := insertID(ctx, tx, `INSERT INTO sms_codes (user_id, factor_id, purpose, pending_id, session_id, code_mac, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.UserID, c.FactorID, c.Purpose, c.PendingID, c.SessionID, c.CodeMAC, unix(c.CreatedAt), unix(c.ExpiresAt))
		if err != nil {
			return fmt.Errorf("save sms code: %w", err)
		}
		c.ID = newID
		return err
	})
}

// FindLatestSMSCode implements auth.SMSStore.
func (s *Store) FindLatestSMSCode(ctx context.Context, userID int64, purpose string) (*auth.SMSCode, error) {
	var c auth.SMSCode
	var created, expires, used int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, factor_id, purpose, pending_id, session_id, code_mac, created_at, expires_at, used_at, attempts
		FROM sms_codes WHERE user_id = ? AND purpose = ? ORDER BY id DESC LIMIT 1`, userID, purpose).
		Scan(&c.ID, &c.UserID, &c.FactorID, &c.Purpose, &c.PendingID, &c.SessionID, &c.CodeMAC, &created, &expires, &used, &c.Attempts)
	if err != nil {
		return nil, notFound("Code", err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromUnix(created), fromUnix(expires), fromUnix(used)
	return &c, nil
}

// UseSMSCode implements auth.SMSStore: the conditional update is the
// arbiter, so of two concurrent uses of one code exactly one wins.
func (s *Store) UseSMSCode(ctx context.Context, id int64, now time.Time, maxAttempts int) (bool, error) {
	at := unix(now)
	if at == 0 {
		at = 1 // 0 means unused
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sms_codes SET used_at = ? WHERE id = ? AND used_at = 0 AND expires_at > ? AND attempts < ?`, at, id, now.Unix(), maxAttempts)
	if err != nil {
		return false, fmt.Errorf("use sms code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecordSMSCodeFailure implements auth.SMSStore.
func (s *Store) RecordSMSCodeFailure(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `UPDATE sms_codes SET attempts = attempts + 1 WHERE id = ? AND used_at = 0 RETURNING attempts`, id).Scan(&n)
	if err == sql.ErrNoRows {
		// Used meanwhile: a wrong try cannot hurt it any more.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count sms code failure: %w", err)
	}
	return n, nil
}
