package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
)

var _ access.Store = (*Store)(nil)

const orgColumns = `id, name, currency, lock_date, created_at, session_idle_secs, session_absolute_secs, password_expiry_days, forbid_sms, require_phishing_resistant, 1 - allow_passkey_sign_in`

func scanOrg(row rowScanner, extra ...any) (*access.Org, error) {
	var o access.Org
	var created, idle, abs int64
	dest := append([]any{&o.ID, &o.Name, &o.Currency, &o.LockDate, &created, &idle, &abs, &o.Settings.PasswordExpiryDays, &o.Settings.ForbidSMS, &o.Settings.RequirePhishingResistant, &o.Settings.ForbidPasskeySignIn}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	o.CreatedAt = fromUnix(created)
	o.Settings.SessionIdle, o.Settings.SessionAbsolute = time.Duration(idle)*time.Second, time.Duration(abs)*time.Second
	return &o, nil
}

// CreateOrg implements access.Store.
func (s *Store) CreateOrg(ctx context.Context, o *access.Org, ownerID int64, rates []ledger.TaxRate, chart []ledger.Account) error {
	return s.tx(ctx, func(tx *Tx) error {
		st := o.Settings
		newID, err := insertID(ctx, tx, `INSERT INTO orgs (name, currency, lock_date, created_at, session_idle_secs, session_absolute_secs, password_expiry_days, forbid_sms, require_phishing_resistant, allow_passkey_sign_in)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.Name, o.Currency, o.LockDate, unix(o.CreatedAt),
			int64(st.SessionIdle/time.Second), int64(st.SessionAbsolute/time.Second), st.PasswordExpiryDays, st.ForbidSMS, st.RequirePhishingResistant, !st.ForbidPasskeySignIn)
		if err != nil {
			if uniqueViolation(err, "") {
				return errs.Errorf(errs.ECONFLICT, "An organisation with that name already exists.")
			}
			return fmt.Errorf("create org: %w", err)
		}
		o.ID = newID
		rateIDs := make([]int64, len(rates))
		for i, r := range rates {
			newID, err := insertID(ctx, tx, `INSERT INTO tax_rates (org_id, name, rate_bp) VALUES (?, ?, ?)`, o.ID, r.Name, r.RateBP)
			if err != nil {
				return fmt.Errorf("create tax rate: %w", err)
			}
			rateIDs[i] = newID
		}
		for _, a := range chart {
			var rate any
			if a.TaxRateID > 0 && int(a.TaxRateID) <= len(rateIDs) {
				rate = rateIDs[a.TaxRateID-1]
			}
			newID, err := insertID(ctx, tx, `INSERT INTO accounts (org_id, code, name, type, system, tax_rate_id, description) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				o.ID, a.Code, a.Name, string(a.Type), a.System, rate, a.Description)
			if err != nil {
				return fmt.Errorf("create account %s: %w", a.Code, err)
			}
			// A bank account of the chart is usable for payments at once.
			if a.System == ledger.SystemBank {
				if _, err := tx.ExecContext(ctx, `INSERT INTO bank_accounts (org_id, account_id, name, created_at) VALUES (?, ?, ?, ?)`, o.ID, newID, a.Name, unix(o.CreatedAt)); err != nil {
					return fmt.Errorf("create bank account %s: %w", a.Code, err)
				}
			}
		}
		if ownerID != 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`, o.ID, ownerID, unix(o.CreatedAt)); err != nil {
				return fmt.Errorf("add owner: %w", err)
			}
		}
		return nil
	})
}

// FindOrgByID implements access.Store.
func (s *Store) FindOrgByID(ctx context.Context, id int64) (*access.Org, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("organisation", err)
	}
	return o, nil
}

// FindOrgByName implements access.Store.
func (s *Store) FindOrgByName(ctx context.Context, name string) (*access.Org, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE name = ?`, name))
	if err != nil {
		return nil, notFound("organisation", err)
	}
	return o, nil
}

// FindUserOrgs implements access.Store.
func (s *Store) FindUserOrgs(ctx context.Context, userID int64) ([]*access.OrgMembership, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.name, o.currency, o.lock_date, o.created_at, o.session_idle_secs, o.session_absolute_secs, o.password_expiry_days, o.forbid_sms, o.require_phishing_resistant, 1 - o.allow_passkey_sign_in, m.role
		FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ? ORDER BY o.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("find user orgs: %w", err)
	}
	defer rows.Close()
	var out []*access.OrgMembership
	for rows.Next() {
		var role string
		o, err := scanOrg(rows, &role)
		if err != nil {
			return nil, fmt.Errorf("scan org: %w", err)
		}
		out = append(out, &access.OrgMembership{Org: o, Role: access.Role(role)})
	}
	return out, rows.Err()
}

// FindMembership implements access.Store.
func (s *Store) FindMembership(ctx context.Context, orgID, userID int64) (*access.Membership, error) {
	var m access.Membership
	var role string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT org_id, user_id, role, created_at FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID).
		Scan(&m.OrgID, &m.UserID, &role, &created)
	if err != nil {
		return nil, notFound("organisation", err)
	}
	m.Role, m.CreatedAt = access.Role(role), fromUnix(created)
	return &m, nil
}

// AddMember implements access.Store.
func (s *Store) AddMember(ctx context.Context, m *access.Membership) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`, m.OrgID, m.UserID, string(m.Role), unix(m.CreatedAt))
	if err != nil {
		if uniqueViolation(err, "") {
			return errs.Errorf(errs.ECONFLICT, "That user is already a member of the organisation.")
		}
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}
