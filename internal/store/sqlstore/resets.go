package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
)

var _ auth.ResetStore = (*Store)(nil)

// resetSelect reads a reset with the names its pages and mails show.
const resetSelect = `SELECT r.id, r.user_id, r.org_id, r.started_by, COALESCE(u.name, ''), COALESCE(o.name, ''), r.status,
	r.confirm_hash, r.cancel_hash, r.later_cancel_hash, r.created_at, r.confirm_by, r.confirmed_at, r.effective_at, r.closed_at, r.closed_by
	FROM mfa_resets r LEFT JOIN users u ON u.id = r.started_by LEFT JOIN orgs o ON o.id = r.org_id `

// resetOpen is the condition for a reset in progress at ?1 (now).
const resetOpen = `(r.status = 'waiting' OR (r.status = 'awaiting_confirmation' AND r.confirm_by > ?1))`

func scanReset(row rowScanner) (*auth.Reset, error) {
	var r auth.Reset
	var created, confirmBy, confirmed, effective, closed int64
	if err := row.Scan(&r.ID, &r.UserID, &r.OrgID, &r.StartedBy, &r.StartedByName, &r.OrgName, &r.Status,
		&r.ConfirmHash, &r.CancelHash, &r.LaterCancelHash, &created, &confirmBy, &confirmed, &effective, &closed, &r.ClosedBy); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ConfirmBy, r.ConfirmedAt, r.EffectiveAt, r.ClosedAt = fromUnix(created), fromUnix(confirmBy), fromUnix(confirmed), fromUnix(effective), fromUnix(closed)
	return &r, nil
}

func findReset(ctx context.Context, q querier, where string, args ...any) (*auth.Reset, error) {
	r, err := scanReset(q.QueryRowContext(ctx, resetSelect+where, args...))
	if err != nil {
		return nil, notFound("Reset", err)
	}
	return r, nil
}

func memberRole(ctx context.Context, tx *Tx, orgID, userID int64) (string, error) {
	var role string
	err := tx.QueryRowContext(ctx, `SELECT role FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.Errorf(errs.ENOTFOUND, "Member not found.")
	}
	if err != nil {
		return "", fmt.Errorf("find membership: %w", err)
	}
	return role, nil
}

// CreateReset implements auth.ResetStore.
func (s *Store) CreateReset(ctx context.Context, r *auth.Reset, now time.Time, guard auth.ResetGuard) error {
	return s.tx(ctx, func(tx *Tx) error {
		actorRole, err := memberRole(ctx, tx, r.OrgID, r.StartedBy)
		if errs.Code(err) == errs.ENOTFOUND {
			return errs.Errorf(errs.ENOTFOUND, "Organisation not found.")
		}
		if err != nil {
			return err
		}
		targetRole, err := memberRole(ctx, tx, r.OrgID, r.UserID)
		if err != nil {
			return err
		}
		if err := guard(actorRole, targetRole); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mfa_resets SET status = 'expired', closed_at = ? WHERE user_id = ? AND status = 'awaiting_confirmation' AND confirm_by <= ?`,
			unix(now), r.UserID, unix(now)); err != nil {
			return fmt.Errorf("expire old resets: %w", err)
		}
		conflict := errs.Errorf(errs.ECONFLICT, "A reset of this member's two-step verification is already in progress. Cancel it first to start a new one.")
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mfa_resets WHERE user_id = ? AND status IN ('awaiting_confirmation', 'waiting')`, r.UserID).Scan(&open); err != nil {
			return fmt.Errorf("count open resets: %w", err)
		}
		if open > 0 {
			return conflict
		}
		newID, err := insertID(ctx, tx, `INSERT INTO mfa_resets (user_id, org_id, started_by, status, confirm_hash, cancel_hash, created_at, confirm_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.UserID, r.OrgID, r.StartedBy, r.Status, r.ConfirmHash, r.CancelHash, unix(r.CreatedAt), unix(r.ConfirmBy))
		if err != nil {
			if uniqueViolation(err, "") {
				return conflict
			}
			return fmt.Errorf("create reset: %w", err)
		}
		r.ID = newID
		if err := tx.QueryRowContext(ctx, `SELECT o.name, u.name FROM orgs o, users u WHERE o.id = ? AND u.id = ?`, r.OrgID, r.StartedBy).Scan(&r.OrgName, &r.StartedByName); err != nil {
			return fmt.Errorf("read reset names: %w", err)
		}
		return nil
	})
}

// FindOpenReset implements auth.ResetStore.
func (s *Store) FindOpenReset(ctx context.Context, orgID, userID int64, now time.Time) (*auth.Reset, error) {
	return findReset(ctx, s.db, `WHERE `+resetOpen+` AND r.user_id = ?2 AND (?3 = 0 OR r.org_id = ?3) ORDER BY r.id DESC LIMIT 1`, unix(now), userID, orgID)
}

// FindOpenResets implements auth.ResetStore.
func (s *Store) FindOpenResets(ctx context.Context, orgID int64, now time.Time) ([]*auth.Reset, error) {
	return findAll(ctx, s.db, "reset", scanReset, resetSelect+`WHERE `+resetOpen+` AND r.org_id = ?2 ORDER BY r.id`, unix(now), orgID)
}

// FindResetByConfirmHash implements auth.ResetStore.
func (s *Store) FindResetByConfirmHash(ctx context.Context, hash []byte) (*auth.Reset, error) {
	return findReset(ctx, s.db, `WHERE r.confirm_hash = ?`, hash)
}

// FindResetByCancelHash implements auth.ResetStore.
func (s *Store) FindResetByCancelHash(ctx context.Context, hash []byte) (*auth.Reset, error) {
	return findReset(ctx, s.db, `WHERE r.cancel_hash = ?1 OR r.later_cancel_hash = ?1`, hash)
}

// ConfirmReset implements auth.ResetStore: the conditional update makes
// the link single-use, even for two racing confirmations.
func (s *Store) ConfirmReset(ctx context.Context, id int64, now, effectiveAt time.Time, laterCancelHash []byte) error {
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_resets SET status = 'waiting', confirmed_at = ?, effective_at = ?, later_cancel_hash = ?
		WHERE id = ? AND status = 'awaiting_confirmation' AND confirm_by > ?`, unix(now), unix(effectiveAt), laterCancelHash, id, unix(now))
	if err != nil {
		return fmt.Errorf("confirm reset: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "Reset not found.")
	}
	return nil
}

// CancelReset implements auth.ResetStore.
func (s *Store) CancelReset(ctx context.Context, id, by int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_resets AS r SET status = 'cancelled', closed_at = ?1, closed_by = ?2 WHERE r.id = ?3 AND `+resetOpen, unix(now), by, id)
	if err != nil {
		return fmt.Errorf("cancel reset: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "Reset not found.")
	}
	return nil
}

// CompleteDueReset implements auth.ResetStore.
func (s *Store) CompleteDueReset(ctx context.Context, userID int64, now time.Time) (*auth.Reset, error) {
	var out *auth.Reset
	err := s.tx(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE mfa_resets SET status = 'completed', closed_at = ?1
			WHERE id = (SELECT id FROM mfa_resets WHERE user_id = ?2 AND status = 'waiting' AND effective_at <= ?1 ORDER BY id LIMIT 1) AND status = 'waiting'
			RETURNING id`, unix(now), userID).Scan(&id)
		if err != nil {
			return notFound("Due reset", err)
		}
		for _, q := range []struct{ what, sql string }{
			{"factors", `DELETE FROM mfa_factors WHERE user_id = ?`},
			{"recovery codes", `DELETE FROM recovery_codes WHERE user_id = ?`},
			{"sessions", `DELETE FROM sessions WHERE user_id = ?`},
			{"pending sign-ins", `DELETE FROM pending_logins WHERE user_id = ?`},
			{"challenges", `DELETE FROM mfa_challenges WHERE user_id = ?`},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, userID); err != nil {
				return fmt.Errorf("reset: delete %s: %w", q.what, err)
			}
		}
		out, err = findReset(ctx, tx, `WHERE r.id = ?`, id)
		return err
	})
	return out, err
}

// FindDueResetUsers implements auth.ResetStore.
func (s *Store) FindDueResetUsers(ctx context.Context, now time.Time) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id FROM mfa_resets WHERE status = 'waiting' AND effective_at <= ? ORDER BY id`, unix(now))
	if err != nil {
		return nil, fmt.Errorf("find due resets: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan due reset: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// FindOrgAdmins implements auth.ResetStore.
func (s *Store) FindOrgAdmins(ctx context.Context, orgID int64) ([]*auth.User, error) {
	return findAll(ctx, s.db, "organisation admin", func(row rowScanner) (*auth.User, error) {
		var u auth.User
		if err := row.Scan(&u.ID, &u.Email, &u.Name); err != nil {
			return nil, err
		}
		return &u, nil
	}, `SELECT u.id, u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.role IN ('owner', 'adviser') ORDER BY u.id`, orgID)
}
