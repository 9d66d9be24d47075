package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/keyring"
)

var (
	_ keyring.RotationStore = (*Store)(nil)
	_ keyring.RewrapStore   = (*Store)(nil)
)

const dataKeyColumns = `id, org_id, version, wrapped, kek_id, state, created_at, destroyed_at`

func scanDataKey(row rowScanner) (*keyring.DataKey, error) {
	var k keyring.DataKey
	var created, destroyed int64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Version, &k.Wrapped, &k.KEKID, &k.State, &created, &destroyed); err != nil {
		return nil, err
	}
	k.CreatedAt, k.DestroyedAt = fromUnix(created), fromUnix(destroyed)
	return &k, nil
}

// FindDataKeyByID implements keyring.DataKeyStore.
func (s *Store) FindDataKeyByID(ctx context.Context, id int64) (*keyring.DataKey, error) {
	k, err := scanDataKey(s.db.QueryRowContext(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("data key", err)
	}
	return k, nil
}

// FindActiveDataKey implements keyring.DataKeyStore.
func (s *Store) FindActiveDataKey(ctx context.Context, orgID int64) (*keyring.DataKey, error) {
	return findActiveDataKey(ctx, s.db, orgID)
}

func findActiveDataKey(ctx context.Context, q querier, orgID int64) (*keyring.DataKey, error) {
	k, err := scanDataKey(q.QueryRowContext(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE org_id = ? AND state = 'active'`, orgID))
	if err != nil {
		return nil, notFound("data key", err)
	}
	return k, nil
}

// FindDataKeys implements keyring.RewrapStore.
func (s *Store) FindDataKeys(ctx context.Context) ([]*keyring.DataKey, error) {
	return findAll(ctx, s.db, "data key", scanDataKey, `SELECT `+dataKeyColumns+` FROM data_keys ORDER BY org_id, version`)
}

// CreateDataKey implements keyring.DataKeyStore.
func (s *Store) CreateDataKey(ctx context.Context, k *keyring.DataKey) (*keyring.DataKey, error) {
	var out *keyring.DataKey
	err := s.tx(ctx, func(tx *Tx) error {
		existing, err := findActiveDataKey(ctx, tx, k.OrgID)
		if err == nil {
			out = existing
			return nil
		}
		if errs.Code(err) != errs.ENOTFOUND {
			return err
		}
		out, err = insertDataKey(ctx, tx, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create data key: %w", err)
	}
	return out, nil
}

func insertDataKey(ctx context.Context, tx *Tx, k *keyring.DataKey) (*keyring.DataKey, error) {
	n := *k
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM data_keys WHERE org_id = ?`, k.OrgID).Scan(&n.Version); err != nil {
		return nil, err
	}
	n.State = keyring.StateActive
	newID, err := insertID(ctx, tx, `INSERT INTO data_keys (org_id, version, wrapped, kek_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		n.OrgID, n.Version, n.Wrapped, n.KEKID, n.State, unix(n.CreatedAt))
	if err != nil {
		return nil, err
	}
	n.ID = newID
	if n.ID > 0xFFFFFFFF {
		return nil, errors.New("data key ids exhausted")
	}
	return &n, nil
}

// RewrapDataKeys implements keyring.RewrapStore.
func (s *Store) RewrapDataKeys(ctx context.Context, old, new []*keyring.DataKey) error {
	if len(old) != len(new) {
		return errors.New("rewrap data keys: mismatched lists")
	}
	return s.tx(ctx, func(tx *Tx) error {
		for i, o := range old {
			res, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ?, kek_id = ? WHERE id = ? AND kek_id = ? AND wrapped = ? AND state <> 'destroyed'`,
				new[i].Wrapped, new[i].KEKID, o.ID, o.KEKID, o.Wrapped)
			if err != nil {
				return fmt.Errorf("rewrap data key %d: %w", o.ID, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errs.Errorf(errs.ECONFLICT, "data key %d changed during the rewrap; run it again.", o.ID)
			}
		}
		return nil
	})
}

// sealedColumns is every encrypted column. The SQL below interpolates
// table and column names only from this list.
var (
	orgSealedColumns = []keyring.SealedColumn{
		{Name: "contacts.bank_details_enc", AADTable: "contacts", AADColumn: "bank_details", OrgScoped: true},
		{Name: "contacts.tax_number_enc", AADTable: "contacts", AADColumn: "tax_number", OrgScoped: true},
		{Name: "bank_accounts.account_number_enc", AADTable: "bank_accounts", AADColumn: "account_number", OrgScoped: true},
	}
	platformSealedColumns = []keyring.SealedColumn{
		{Name: "mfa_factors.secret_enc", AADTable: "totp_factors", AADColumn: "secret_enc"},
		{Name: "vuln_reports.body_enc", AADTable: "vuln_reports", AADColumn: "body_enc"},
		{Name: "mail_outbox.body_enc", AADTable: "mail_outbox", AADColumn: "body_enc"},
	}
)

// SealedColumns implements keyring.RotationStore.
func (s *Store) SealedColumns(orgID int64) []keyring.SealedColumn {
	if orgID == keyring.PlatformOrg {
		return platformSealedColumns
	}
	return orgSealedColumns
}

// sealedSQL returns the table, the column and the condition that selects
// the organisation's rows (the platform's user-level secrets have no
// organisation). Unknown names are refused, never interpolated.
func sealedSQL(orgID int64, col keyring.SealedColumn) (table, column, where string, err error) {
	for _, c := range orgSealedColumns {
		if c == col && orgID != keyring.PlatformOrg {
			table, column, _ = strings.Cut(c.Name, ".")
			return table, column, "org_id = ?1", nil
		}
	}
	for _, c := range platformSealedColumns {
		if c == col && orgID == keyring.PlatformOrg {
			table, column, _ = strings.Cut(c.Name, ".")
			return table, column, "?1 = 0", nil
		}
	}
	return "", "", "", fmt.Errorf("no encrypted column %s for organisation %d", col.Name, orgID)
}

// FindStaleSealed implements keyring.RotationStore.
func (s *Store) FindStaleSealed(ctx context.Context, orgID int64, col keyring.SealedColumn, keep []byte, afterID int64, limit int) ([]keyring.SealedValue, error) {
	table, column, where, err := sealedSQL(orgID, col)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, `+column+` FROM `+table+` WHERE `+where+` AND id > ?2 AND `+column+` IS NOT NULL AND length(`+column+`) > 0 AND substr(`+column+`, 1, 5) <> ?3 ORDER BY id LIMIT ?4`,
		orgID, afterID, keep, limit)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", col.Name, err)
	}
	defer rows.Close()
	var out []keyring.SealedValue
	for rows.Next() {
		var v keyring.SealedValue
		if err := rows.Scan(&v.ID, &v.Value); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReplaceSealed implements keyring.RotationStore.
func (s *Store) ReplaceSealed(ctx context.Context, orgID, toKey int64, col keyring.SealedColumn, old, new []keyring.SealedValue, lastID int64) error {
	table, column, where, err := sealedSQL(orgID, col)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *Tx) error {
		for i, o := range old {
			if new[i].ID != o.ID {
				return errors.New("replace sealed: mismatched rows")
			}
			// Compare-and-swap: a value the application rewrote meanwhile
			// is already sealed with a current key; leave it.
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+column+` = ?2 WHERE `+where+` AND id = ?3 AND `+column+` = ?4`,
				orgID, new[i].Value, o.ID, o.Value); err != nil {
				return fmt.Errorf("re-encrypt %s row %d: %w", col.Name, o.ID, err)
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE key_rotations SET last_id = `+tx.db.d.pick(`MAX`, `GREATEST`)+`(last_id, ?), done = done + ? WHERE org_id = ? AND to_key = ? AND table_name = ?`,
			lastID, len(old), orgID, toKey, col.Name)
		return err
	})
}

// StartRotation implements keyring.RotationStore.
func (s *Store) StartRotation(ctx context.Context, orgID int64, k *keyring.DataKey, at time.Time) (*keyring.Rotation, error) {
	var rot *keyring.Rotation
	err := s.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_rotations WHERE org_id = ? AND state = 'running'`, orgID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.Errorf(errs.ECONFLICT, "organisation %d already has a rotation under way.", orgID)
		}
		if orgID != keyring.PlatformOrg {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM orgs WHERE id = ?`, orgID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return errs.Errorf(errs.ENOTFOUND, "organisation %d not found.", orgID)
			}
		}
		var from int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM data_keys WHERE org_id = ? AND state = 'active'`, orgID).Scan(&from)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET state = 'retiring' WHERE org_id = ? AND state = 'active'`, orgID); err != nil {
			return err
		}
		nk, err := insertDataKey(ctx, tx, k)
		if err != nil {
			return err
		}
		rot = &keyring.Rotation{OrgID: orgID, FromKey: from, ToKey: nk.ID}
		keep := keyHeader(nk.ID)
		for _, col := range s.SealedColumns(orgID) {
			table, column, where, err := sealedSQL(orgID, col)
			if err != nil {
				return err
			}
			var total int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where+` AND `+column+` IS NOT NULL AND length(`+column+`) > 0 AND substr(`+column+`, 1, 5) <> ?2`, orgID, keep).Scan(&total); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_rotations (org_id, from_key, to_key, table_name, total, state, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)`,
				orgID, from, nk.ID, col.Name, total, unix(at)); err != nil {
				return err
			}
			rot.Columns = append(rot.Columns, keyring.RotationProgress{Table: col.Name, Total: total, State: "running", StartedAt: at})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start rotation: %w", err)
	}
	return rot, nil
}

// keyHeader is the first five bytes of a value sealed with data key id.
func keyHeader(id int64) []byte {
	return []byte{2, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

// FindRotation implements keyring.RotationStore.
func (s *Store) FindRotation(ctx context.Context, orgID int64) (*keyring.Rotation, error) {
	rots, err := s.findRotations(ctx, `WHERE org_id = ? AND to_key IN (SELECT to_key FROM key_rotations WHERE org_id = ? AND state = 'running')`, orgID, orgID)
	if err != nil {
		return nil, err
	}
	if len(rots) == 0 {
		return nil, errs.Errorf(errs.ENOTFOUND, "no rotation under way for organisation %d.", orgID)
	}
	return rots[0], nil
}

// FindRotations implements keyring.RotationStore.
func (s *Store) FindRotations(ctx context.Context, unfinished bool) ([]*keyring.Rotation, error) {
	if unfinished {
		return s.findRotations(ctx, `WHERE to_key IN (SELECT to_key FROM key_rotations WHERE state = 'running')`)
	}
	return s.findRotations(ctx, ``)
}

func (s *Store) findRotations(ctx context.Context, where string, args ...any) ([]*keyring.Rotation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org_id, from_key, to_key, table_name, last_id, done, total, state, started_at, finished_at
		FROM key_rotations `+where+` ORDER BY to_key DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("find rotations: %w", err)
	}
	defer rows.Close()
	var out []*keyring.Rotation
	for rows.Next() {
		var org, from, to, started, finished int64
		var p keyring.RotationProgress
		if err := rows.Scan(&org, &from, &to, &p.Table, &p.LastID, &p.Done, &p.Total, &p.State, &started, &finished); err != nil {
			return nil, err
		}
		p.StartedAt, p.FinishedAt = fromUnix(started), fromUnix(finished)
		if len(out) == 0 || out[len(out)-1].ToKey != to {
			out = append(out, &keyring.Rotation{OrgID: org, FromKey: from, ToKey: to})
		}
		r := out[len(out)-1]
		r.Columns = append(r.Columns, p)
	}
	return out, rows.Err()
}

// FinishRotation implements keyring.RotationStore.
func (s *Store) FinishRotation(ctx context.Context, orgID, toKey int64, keep []byte, at time.Time) (int64, []int64, error) {
	var remaining int64
	var destroyed []int64
	err := s.tx(ctx, func(tx *Tx) error {
		for _, col := range s.SealedColumns(orgID) {
			table, column, where, err := sealedSQL(orgID, col)
			if err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where+` AND `+column+` IS NOT NULL AND length(`+column+`) > 0 AND substr(`+column+`, 1, 5) <> ?2`, orgID, keep).Scan(&n); err != nil {
				return err
			}
			remaining += n
		}
		if remaining > 0 {
			return nil
		}
		var err error
		if destroyed, err = destroyKeys(ctx, tx, orgID, `state = 'retiring'`, at); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE key_rotations SET state = 'done', finished_at = ? WHERE org_id = ? AND to_key = ? AND state = 'running'`, unix(at), orgID, toKey)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("finish rotation: %w", err)
	}
	return remaining, destroyed, nil
}

// destroyKeys crypto-shreds the organisation's keys matching cond: the
// wrapped bytes are overwritten with zeros of the same length (in place,
// so the old bytes do not linger in a free page of the same size class
// more than SQLite's own page reuse allows) and the state becomes
// destroyed.
func destroyKeys(ctx context.Context, tx *Tx, orgID int64, cond string, at time.Time) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM data_keys WHERE org_id = ? AND `+cond, orgID)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = `+tx.db.d.pick(`zeroblob(length(wrapped))`, `decode(repeat('00', length(wrapped)), 'hex')`)+`, state = 'destroyed', destroyed_at = ? WHERE org_id = ? AND `+cond, unix(at), orgID); err != nil {
		return nil, fmt.Errorf("destroy data keys: %w", err)
	}
	return ids, nil
}

// DeleteOrg deletes an organisation and everything it owns, and destroys
// its data keys, in one transaction: a copy of its values anywhere else
// (an old backup) can no longer be opened with this database's keys.
// confirmName must be the organisation's exact name (ENOTFOUND otherwise:
// no hint which part was wrong). The deletion is audited in the same
// transaction.
func (s *Store) DeleteOrg(ctx context.Context, orgID int64, confirmName string, e *audit.Event) ([]int64, error) {
	var destroyed []int64
	err := s.tx(ctx, func(tx *Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM orgs WHERE id = ?`, orgID).Scan(&name); err != nil {
			return notFound("organisation", err)
		}
		if name != confirmName {
			return errs.Errorf(errs.ENOTFOUND, "organisation %d is not named %q.", orgID, confirmName)
		}
		var err error
		if destroyed, err = destroyKeys(ctx, tx, orgID, `state <> 'destroyed'`, e.At); err != nil {
			return err
		}
		// Children before parents, so that no foreign key (several have
		// no ON DELETE action) blocks the deletion, and the tables without
		// a foreign key to orgs (lines, idempotency keys) are not missed.
		for _, table := range orgTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE org_id = ?`, orgID); err != nil {
				return fmt.Errorf("delete %s: %w", table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_rotations WHERE org_id = ?`, orgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM orgs WHERE id = ?`, orgID); err != nil {
			return fmt.Errorf("delete organisation: %w", err)
		}
		return s.appendAudit(ctx, tx, e)
	})
	if err != nil {
		return nil, fmt.Errorf("delete organisation: %w", err)
	}
	return destroyed, nil
}

// orgTables is every table with an org_id column, children first.
// TestDeleteOrgLeavesNothing checks it against the schema.
var orgTables = []string{
	"bank_transactions", "bank_imports", "credit_allocations", "payments",
	"invoice_lines", "invoices", "journal_lines", "journals", "bank_accounts",
	"contacts", "accounts", "tax_rates", "invitations", "mfa_resets", "findings", "memberships", "idempotency_keys",
}

// OrgTables returns the tables DeleteOrg empties of an organisation's rows.
func OrgTables() []string { return append([]string(nil), orgTables...) }
