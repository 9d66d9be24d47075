package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"coffer/internal/errs"
	"coffer/internal/idem"
)

var _ idem.Store = (*Store)(nil)

// Begin implements idem.Store.
func (s *Store) Begin(ctx context.Context, orgID, userID int64, key string, hash []byte, now time.Time) (*idem.Answer, *idem.Claim, error) {
	token := make([]byte, 16)
	rand.Read(token)
	c := &idem.Claim{OrgID: orgID, UserID: userID, Key: key, Token: token}
	res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, created_at, claim_token) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		orgID, userID, key, hash, now.Unix(), token)
	if err != nil {
		return nil, nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, c, nil
	}
	var a idem.Answer
	var created int64
	var old []byte
	err = s.db.QueryRowContext(ctx, `SELECT request_hash, status, content_type, body, applied, created_at, claim_token FROM idempotency_keys WHERE org_id = ? AND user_id = ? AND key = ?`, orgID, userID, key).
		Scan(&a.Hash, &a.Status, &a.ContentType, &a.Body, &a.Applied, &created, &old)
	if errors.Is(err, sql.ErrNoRows) {
		// Aborted meanwhile: free again.
		return s.Begin(ctx, orgID, userID, key, hash, now)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read idempotency key: %w", err)
	}
	stale := a.Status == 0 && now.Sub(time.Unix(created, 0)) > idem.ClaimTTL
	switch {
	case !stale:
		return &a, nil, nil
	case a.Applied:
		a.Lost = true
		return &a, nil, nil
	}
	// Nothing was applied under the stale claim: take it over. The token
	// changes in the same statement, so the old request, if it is only
	// slow, can no longer commit (see markApplied); of two retries taking
	// over at once, one wins.
	res, err = s.db.ExecContext(ctx, `UPDATE idempotency_keys SET claim_token = ?, created_at = ? WHERE org_id = ? AND user_id = ? AND key = ? AND claim_token = ? AND status = 0 AND applied = 0`,
		token, now.Unix(), orgID, userID, key, old)
	if err != nil {
		return nil, nil, fmt.Errorf("take over idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, c, nil
	}
	a.Status = 0
	return &a, nil, nil
}

// Finish implements idem.Store.
func (s *Store) Finish(ctx context.Context, c *idem.Claim, a *idem.Answer) error {
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE org_id = ? AND user_id = ? AND key = ? AND claim_token = ?`,
		a.Status, a.ContentType, a.Body, c.OrgID, c.UserID, c.Key, c.Token)
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// Abort implements idem.Store.
func (s *Store) Abort(ctx context.Context, c *idem.Claim) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND user_id = ? AND key = ? AND claim_token = ? AND applied = 0`, c.OrgID, c.UserID, c.Key, c.Token); err != nil {
		return fmt.Errorf("abort idempotency key: %w", err)
	}
	return nil
}

const msgClaimLost = "A retry of this request (same Idempotency-Key) took over after it ran for too long, so it was not applied. The retry's answer is the one that counts."

// markApplied records, inside a write transaction, that the request
// holding claim c changed the books, and refuses the transaction when c no
// longer holds its key.
func markApplied(ctx context.Context, tx *Tx, c *idem.Claim) error {
	res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET applied = 1 WHERE org_id = ? AND user_id = ? AND key = ? AND claim_token = ?`, c.OrgID, c.UserID, c.Key, c.Token)
	if err != nil {
		return fmt.Errorf("mark idempotency key applied: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ECONFLICT, msgClaimLost)
	}
	return nil
}

// isWrite reports a statement that changes rows.
func isWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	if len(q) < 6 {
		return false
	}
	switch strings.ToUpper(q[:6]) {
	case "INSERT", "UPDATE", "DELETE":
		return true
	}
	return false
}
