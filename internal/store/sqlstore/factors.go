package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
)

const factorColumns = `id, user_id, kind, name, secret_enc, confirmed, counter, credential_id, public_data, hint, created_at, last_used_at`

func scanFactor(row rowScanner) (*auth.Factor, error) {
	var f auth.Factor
	var created, used int64
	if err := row.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.SecretEnc, &f.Confirmed, &f.Counter, &f.CredentialID, &f.PublicData, &f.Hint, &created, &used); err != nil {
		return nil, err
	}
	f.CreatedAt, f.LastUsedAt = fromUnix(created), fromUnix(used)
	return &f, nil
}

// SaveFactor implements auth.Store.
func (s *Store) SaveFactor(ctx context.Context, f *auth.Factor, replaceUnconfirmed bool, seal func(id int64) ([]byte, error)) error {
	return s.tx(ctx, func(tx *Tx) error {
		if replaceUnconfirmed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_factors WHERE user_id = ? AND kind = ? AND confirmed = 0`, f.UserID, f.Kind); err != nil {
				return fmt.Errorf("drop unconfirmed %s factor: %w", f.Kind, err)
			}
		}
		if f.PublicData == nil {
			f.PublicData = []byte{}
		}
		newID, err := insertID(ctx, tx, `INSERT INTO mfa_factors (user_id, kind, name, secret_enc, confirmed, counter, credential_id, public_data, hint, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.UserID, f.Kind, f.Name, []byte{}, f.Confirmed, f.Counter, f.CredentialID, f.PublicData, f.Hint, unix(f.CreatedAt), unix(f.LastUsedAt))
		if err != nil {
			if uniqueViolation(err, "") {
				return errs.Errorf(errs.ECONFLICT, "That device is already registered.")
			}
			return fmt.Errorf("save %s factor: %w", f.Kind, err)
		}
		f.ID = newID
		if seal == nil {
			return nil
		}
		if f.SecretEnc, err = seal(f.ID); err != nil {
			return fmt.Errorf("seal %s secret: %w", f.Kind, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mfa_factors SET secret_enc = ? WHERE id = ?`, f.SecretEnc, f.ID); err != nil {
			return fmt.Errorf("save %s factor: %w", f.Kind, err)
		}
		return nil
	})
}

// FindFactor implements auth.Store.
func (s *Store) FindFactor(ctx context.Context, userID, id int64) (*auth.Factor, error) {
	f, err := scanFactor(s.db.QueryRowContext(ctx, `SELECT `+factorColumns+` FROM mfa_factors WHERE id = ? AND user_id = ?`, id, userID))
	if err != nil {
		return nil, notFound("Factor", err)
	}
	return f, nil
}

// FindFactors implements auth.Store.
func (s *Store) FindFactors(ctx context.Context, userID int64, kind string, confirmed bool) ([]*auth.Factor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+factorColumns+` FROM mfa_factors WHERE user_id = ? AND confirmed = ? AND (?3 = '' OR kind = ?3) ORDER BY id`, userID, confirmed, kind)
	if err != nil {
		return nil, fmt.Errorf("find factors: %w", err)
	}
	defer rows.Close()
	var out []*auth.Factor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, fmt.Errorf("scan factor: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// FindFactorByCredentialID implements auth.Store.
func (s *Store) FindFactorByCredentialID(ctx context.Context, credentialID []byte) (*auth.Factor, error) {
	if len(credentialID) == 0 {
		return nil, errs.Errorf(errs.ENOTFOUND, "Factor not found.")
	}
	f, err := scanFactor(s.db.QueryRowContext(ctx, `SELECT `+factorColumns+` FROM mfa_factors WHERE credential_id = ?`, credentialID))
	if err != nil {
		return nil, notFound("Factor", err)
	}
	return f, nil
}

// ConfirmFactor implements auth.Store.
func (s *Store) ConfirmFactor(ctx context.Context, userID, factorID, counter int64, codes []*auth.RecoveryCode, firstOnly bool, replaceID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		if firstOnly {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ? AND confirmed = 1`, userID).Scan(&n); err != nil {
				return fmt.Errorf("count factors: %w", err)
			}
			if n > 0 {
				return errs.Errorf(errs.EFORBIDDEN, "Two-step verification is already set up for this account. Sign in again.")
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE mfa_factors SET confirmed = 1, counter = ? WHERE id = ? AND user_id = ? AND confirmed = 0`, counter, factorID, userID)
		if err != nil {
			return fmt.Errorf("confirm factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ENOTFOUND, "No enrollment is in progress.")
		}
		if replaceID != 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM mfa_factors WHERE id = ? AND user_id = ? AND confirmed = 1 AND id <> ?`, replaceID, userID, factorID)
			if err != nil {
				return fmt.Errorf("replace factor: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.Errorf(errs.ENOTFOUND, "The factor to replace no longer exists.")
			}
		}
		if codes != nil {
			return replaceRecoveryCodes(ctx, tx, userID, codes)
		}
		return nil
	})
}

// AdvanceCounter implements auth.Store: the conditional update is the
// arbiter, so of two concurrent uses of one code exactly one wins.
func (s *Store) AdvanceCounter(ctx context.Context, factorID, counter int64, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_factors SET counter = ?, last_used_at = ? WHERE id = ? AND counter < ?`, counter, unix(at), factorID, counter)
	if err != nil {
		return false, fmt.Errorf("advance factor counter: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// TouchFactor implements auth.Store.
func (s *Store) TouchFactor(ctx context.Context, factorID int64, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE mfa_factors SET last_used_at = ? WHERE id = ?`, unix(at), factorID); err != nil {
		return fmt.Errorf("touch factor: %w", err)
	}
	return nil
}

// UpdateFactorPublic implements auth.Store.
func (s *Store) UpdateFactorPublic(ctx context.Context, factorID int64, public []byte) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE mfa_factors SET public_data = ? WHERE id = ?`, public, factorID); err != nil {
		return fmt.Errorf("update factor: %w", err)
	}
	return nil
}

// RenameFactor implements auth.Store.
func (s *Store) RenameFactor(ctx context.Context, userID, factorID int64, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE mfa_factors SET name = ? WHERE id = ? AND user_id = ?`, name, factorID, userID)
	if err != nil {
		return fmt.Errorf("rename factor: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "Factor not found.")
	}
	return nil
}

// DeleteFactor implements auth.Store.
func (s *Store) DeleteFactor(ctx context.Context, userID, factorID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		var confirmed bool
		if err := tx.QueryRowContext(ctx, `SELECT confirmed FROM mfa_factors WHERE id = ? AND user_id = ?`, factorID, userID).Scan(&confirmed); err != nil {
			return notFound("Factor", err)
		}
		if confirmed {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ? AND confirmed = 1`, userID).Scan(&n); err != nil {
				return fmt.Errorf("count factors: %w", err)
			}
			if n <= 1 {
				return errs.Errorf(errs.ECONFLICT, "This is your only second factor and two-step verification is mandatory. Add another factor first, then remove this one.")
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_factors WHERE id = ? AND user_id = ?`, factorID, userID); err != nil {
			return fmt.Errorf("delete factor: %w", err)
		}
		return nil
	})
}

// UserFactorRules implements auth.Store.
func (s *Store) UserFactorRules(ctx context.Context, userID int64) (auth.FactorRules, error) {
	var r auth.FactorRules
	var forbid, phr, noPasskey int
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE(MAX(o.forbid_sms), 0),
		COALESCE(MAX(CASE WHEN m.role IN ('owner', 'adviser') THEN o.require_phishing_resistant ELSE 0 END), 0),
		COALESCE(MAX(1 - o.allow_passkey_sign_in), 0)
		FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?`, userID).Scan(&forbid, &phr, &noPasskey)
	if err != nil {
		return r, fmt.Errorf("factor rules: %w", err)
	}
	r.ForbidSMS, r.RequirePhishingResistant, r.PasskeySignIn = forbid == 1, phr == 1, noPasskey == 0
	return r, nil
}

// SaveChallenge implements auth.Store.
func (s *Store) SaveChallenge(ctx context.Context, ch *auth.Challenge) error {
	return s.tx(ctx, func(tx *Tx) error {
		if ch.TokenHash == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_challenges WHERE user_id = ? AND purpose = ? AND pending_id = ? AND session_id = ? AND token_hash IS NULL`,
				ch.UserID, ch.Purpose, ch.PendingID, ch.SessionID); err != nil {
				return fmt.Errorf("drop old challenge: %w", err)
			}
		}
		newID, err := insertID(ctx, tx, `INSERT INTO mfa_challenges (user_id, purpose, pending_id, session_id, token_hash, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			ch.UserID, ch.Purpose, ch.PendingID, ch.SessionID, ch.TokenHash, ch.Data, unix(ch.CreatedAt), unix(ch.ExpiresAt))
		if err != nil {
			return fmt.Errorf("save challenge: %w", err)
		}
		ch.ID = newID
		return err
	})
}

func (s *Store) takeChallenge(ctx context.Context, where string, args ...any) (*auth.Challenge, error) {
	var ch auth.Challenge
	var created, expires int64
	// DELETE … RETURNING makes taking atomic: two requests racing with the
	// same challenge cannot both get it.
	err := s.db.QueryRowContext(ctx, `DELETE FROM mfa_challenges WHERE `+where+` RETURNING id, user_id, purpose, pending_id, session_id, token_hash, data, created_at, expires_at`, args...).
		Scan(&ch.ID, &ch.UserID, &ch.Purpose, &ch.PendingID, &ch.SessionID, &ch.TokenHash, &ch.Data, &created, &expires)
	if err != nil {
		return nil, notFound("Challenge", err)
	}
	ch.CreatedAt, ch.ExpiresAt = fromUnix(created), fromUnix(expires)
	return &ch, nil
}

// TakeChallenge implements auth.Store.
func (s *Store) TakeChallenge(ctx context.Context, userID int64, purpose string, pendingID, sessionID int64) (*auth.Challenge, error) {
	return s.takeChallenge(ctx, `id = (SELECT id FROM mfa_challenges WHERE user_id = ? AND purpose = ? AND pending_id = ? AND session_id = ? AND token_hash IS NULL ORDER BY id DESC LIMIT 1)`,
		userID, purpose, pendingID, sessionID)
}

// TakeChallengeByToken implements auth.Store.
func (s *Store) TakeChallengeByToken(ctx context.Context, purpose string, tokenHash []byte) (*auth.Challenge, error) {
	return s.takeChallenge(ctx, `purpose = ? AND token_hash = ?`, purpose, tokenHash)
}
