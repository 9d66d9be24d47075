package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
)

// memberSelect reads members with what the member list and access review
// show; the caller adds the WHERE clause, always on m.org_id.
const memberSelect = `SELECT u.id, u.email, u.name, m.role, m.created_at, u.last_login_at,
	(SELECT COUNT(*) FROM mfa_factors t WHERE t.user_id = u.id AND t.confirmed = 1),
	(SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at = 0)
	FROM memberships m JOIN users u ON u.id = m.user_id `

// roleRank orders members owners first.
const roleRank = `CASE m.role WHEN 'owner' THEN 0 WHEN 'adviser' THEN 1 WHEN 'standard' THEN 2 WHEN 'invoice_only' THEN 3 ELSE 4 END`

func scanMember(row rowScanner) (*access.Member, error) {
	var m access.Member
	var role string
	var joined, last int64
	var totps int
	if err := row.Scan(&m.UserID, &m.Email, &m.Name, &role, &joined, &last, &totps, &m.RecoveryCodesLeft); err != nil {
		return nil, err
	}
	m.Role, m.JoinedAt, m.LastLoginAt = access.Role(role), fromUnix(joined), fromUnix(last)
	m.MFAMethods = []string{}
	if totps > 0 {
		m.MFAMethods = append(m.MFAMethods, "totp")
	}
	return &m, nil
}

// FindMembers implements access.Store.
func (s *Store) FindMembers(ctx context.Context, orgID int64) ([]*access.Member, error) {
	return findAll(ctx, s.db, "member", scanMember, memberSelect+`WHERE m.org_id = ? ORDER BY `+roleRank+`, u.email`, orgID)
}

// guardMember runs inside a membership change's transaction: it reads the
// actor's role, the member and the owner count, and asks guard. The write
// transaction (BEGIN IMMEDIATE) holds SQLite's write lock from its start,
// so no other change can slip in between these reads and the write.
func guardMember(ctx context.Context, tx *Tx, orgID, actorID, userID int64, guard access.Guard) (*access.Member, error) {
	var actorRole string
	err := tx.QueryRowContext(ctx, `SELECT role FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, actorID).Scan(&actorRole)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.Errorf(errs.ENOTFOUND, "Organisation not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("find acting member: %w", err)
	}
	m, err := scanMember(tx.QueryRowContext(ctx, memberSelect+`WHERE m.org_id = ? AND m.user_id = ?`, orgID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.Errorf(errs.ENOTFOUND, "Member not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	var owners int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner'`, orgID).Scan(&owners); err != nil {
		return nil, fmt.Errorf("count owners: %w", err)
	}
	if err := guard(access.Role(actorRole), m.Role, owners); err != nil {
		return nil, err
	}
	return m, nil
}

// UpdateMemberRole implements access.Store.
func (s *Store) UpdateMemberRole(ctx context.Context, orgID, actorID, userID int64, role access.Role, guard access.Guard) (*access.Member, error) {
	var before *access.Member
	err := s.tx(ctx, func(tx *Tx) error {
		m, err := guardMember(ctx, tx, orgID, actorID, userID, guard)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?`, string(role), orgID, userID); err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		before = m
		return nil
	})
	return before, err
}

// RemoveMember implements access.Store.
func (s *Store) RemoveMember(ctx context.Context, orgID, actorID, userID int64, guard access.Guard) (*access.Member, error) {
	var removed *access.Member
	err := s.tx(ctx, func(tx *Tx) error {
		m, err := guardMember(ctx, tx, orgID, actorID, userID, guard)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		// Replays of the member's earlier writes in this organisation go
		// too: nothing of theirs should answer there any more.
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
			return fmt.Errorf("remove member's idempotency keys: %w", err)
		}
		removed = m
		return nil
	})
	return removed, err
}

const invitationColumns = `id, org_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, revoked_at`

func scanInvitation(row rowScanner) (*access.Invitation, error) {
	var inv access.Invitation
	var role string
	var created, expires, accepted, revoked int64
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.Email, &role, &inv.TokenHash, &inv.InvitedBy, &created, &expires, &accepted, &revoked); err != nil {
		return nil, err
	}
	inv.Role = access.Role(role)
	inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt, inv.RevokedAt = fromUnix(created), fromUnix(expires), fromUnix(accepted), fromUnix(revoked)
	return &inv, nil
}

// CreateInvitation implements access.Store.
func (s *Store) CreateInvitation(ctx context.Context, inv *access.Invitation, maxPending int) error {
	return s.tx(ctx, func(tx *Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND u.email = ?`, inv.OrgID, inv.Email).Scan(&n)
		if err != nil {
			return fmt.Errorf("check membership: %w", err)
		}
		if n > 0 {
			return errs.Errorf(errs.ECONFLICT, "%s is already a member of this organisation.", inv.Email)
		}
		now := unix(inv.CreatedAt)
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invitations WHERE org_id = ? AND email = ? AND accepted_at = 0 AND revoked_at = 0 AND expires_at > ?`, inv.OrgID, inv.Email, now).Scan(&n)
		if err != nil {
			return fmt.Errorf("check invitations: %w", err)
		}
		if n > 0 {
			return errs.Errorf(errs.ECONFLICT, "%s already has a pending invitation. Revoke it first to send a new one.", inv.Email)
		}
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invitations WHERE org_id = ? AND accepted_at = 0 AND revoked_at = 0 AND expires_at > ?`, inv.OrgID, now).Scan(&n)
		if err != nil {
			return fmt.Errorf("count invitations: %w", err)
		}
		if n >= maxPending {
			return errs.Errorf(errs.ECONFLICT, "This organisation already has %d pending invitations. Revoke some before inviting more.", n)
		}
		newID, err := insertID(ctx, tx, `INSERT INTO invitations (org_id, email, role, token_hash, invited_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			inv.OrgID, inv.Email, string(inv.Role), inv.TokenHash, inv.InvitedBy, now, unix(inv.ExpiresAt))
		if err != nil {
			return fmt.Errorf("create invitation: %w", err)
		}
		inv.ID = newID
		return err
	})
}

// FindInvitations implements access.Store.
func (s *Store) FindInvitations(ctx context.Context, orgID int64, now time.Time) ([]*access.Invitation, error) {
	return findAll(ctx, s.db, "invitation", scanInvitation, `SELECT `+invitationColumns+` FROM invitations
		WHERE org_id = ? AND accepted_at = 0 AND revoked_at = 0 AND expires_at > ? ORDER BY id DESC`, orgID, unix(now))
}

// FindInvitationByTokenHash implements access.Store. The token is the
// capability, so this lookup alone is not scoped by organisation.
func (s *Store) FindInvitationByTokenHash(ctx context.Context, hash []byte) (*access.Invitation, error) {
	inv, err := scanInvitation(s.db.QueryRowContext(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, notFound("invitation", err)
	}
	return inv, nil
}

// RevokeInvitation implements access.Store.
func (s *Store) RevokeInvitation(ctx context.Context, orgID, id int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE invitations SET revoked_at = ?
		WHERE org_id = ? AND id = ? AND accepted_at = 0 AND revoked_at = 0 AND expires_at > ?`, unix(at), orgID, id, unix(at))
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "Invitation not found, or no longer pending.")
	}
	return nil
}

// useInvitation marks a pending invitation accepted and returns its
// organisation and role; the conditional update is what makes an
// invitation single-use, however many requests race for it.
func useInvitation(ctx context.Context, tx *Tx, id int64, at time.Time) (int64, string, error) {
	var orgID int64
	var role string
	err := tx.QueryRowContext(ctx, `UPDATE invitations SET accepted_at = ?
		WHERE id = ? AND accepted_at = 0 AND revoked_at = 0 AND expires_at > ? RETURNING org_id, role`, unix(at), id, unix(at)).Scan(&orgID, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", errs.Errorf(errs.ENOTFOUND, "invitation not found.")
	}
	if err != nil {
		return 0, "", fmt.Errorf("use invitation: %w", err)
	}
	return orgID, role, nil
}

func addMember(ctx context.Context, tx *Tx, orgID, userID int64, role string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`, orgID, userID, role, unix(at))
	if err != nil {
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "You are already a member of this organisation.")
		}
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// AcceptInvitation implements access.Store.
func (s *Store) AcceptInvitation(ctx context.Context, id, userID int64, at time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		orgID, role, err := useInvitation(ctx, tx, id, at)
		if err != nil {
			return err
		}
		return addMember(ctx, tx, orgID, userID, role, at)
	})
}

// AcceptInvitationNewUser implements access.Store.
func (s *Store) AcceptInvitationNewUser(ctx context.Context, id int64, u *auth.User, at time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		orgID, role, err := useInvitation(ctx, tx, id, at)
		if err != nil {
			return err
		}
		newID, err := insertID(ctx, tx, `INSERT INTO users (email, name, password_hash, is_admin, created_at, password_changed_at) VALUES (?, ?, ?, 0, ?, ?)`,
			u.Email, u.Name, u.PasswordHash, unix(u.CreatedAt), unix(u.PasswordChangedAt))
		if err != nil {
			if uniqueViolation(err, "") {
				return errs.Errorf(errs.ECONFLICT, "An account for %s already exists. Sign in, then open the invitation link again to accept it.", u.Email)
			}
			return fmt.Errorf("create user: %w", err)
		}
		u.ID = newID
		return addMember(ctx, tx, orgID, u.ID, role, at)
	})
}

// UpdateOrgSettings implements access.Store.
func (s *Store) UpdateOrgSettings(ctx context.Context, orgID int64, st access.Settings) (access.Settings, error) {
	var old access.Settings
	err := s.tx(ctx, func(tx *Tx) error {
		o, err := scanOrg(tx.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = ?`, orgID))
		if err != nil {
			return notFound("organisation", err)
		}
		old = o.Settings
		_, err = tx.ExecContext(ctx, `UPDATE orgs SET session_idle_secs = ?, session_absolute_secs = ?, password_expiry_days = ?, forbid_sms = ?, require_phishing_resistant = ?, allow_passkey_sign_in = ? WHERE id = ?`,
			int64(st.SessionIdle/time.Second), int64(st.SessionAbsolute/time.Second), st.PasswordExpiryDays, st.ForbidSMS, st.RequirePhishingResistant, !st.ForbidPasskeySignIn, orgID)
		if err != nil {
			return fmt.Errorf("update settings: %w", err)
		}
		return nil
	})
	return old, err
}
