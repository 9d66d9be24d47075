package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// contactColumns never include the sealed values themselves, only whether
// they are present: lists and lookups have no use for ciphertext.
const contactColumns = `id, org_id, name, email, is_customer, is_supplier, bank_details_enc IS NOT NULL, tax_number_enc IS NOT NULL, archived, created_at, updated_at`

func scanContact(row rowScanner) (*ledger.Contact, error) {
	var c ledger.Contact
	var created, updated int64
	if err := row.Scan(&c.ID, &c.OrgID, &c.Name, &c.Email, &c.IsCustomer, &c.IsSupplier, &c.HasBankDetails, &c.HasTaxNumber, &c.Archived, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &c, nil
}

func findContact(ctx context.Context, q querier, orgID, id int64) (*ledger.Contact, error) {
	c, err := scanContact(q.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE org_id = ? AND id = ?`, orgID, id))
	if err != nil {
		return nil, notFound("contact", err)
	}
	return c, nil
}

// CreateContact implements ledger.ContactStore.
func (s *Store) CreateContact(ctx context.Context, c *ledger.Contact) error {
	newID, err := insertID(ctx, s.db, `INSERT INTO contacts (org_id, name, email, is_customer, is_supplier, archived, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.OrgID, c.Name, c.Email, c.IsCustomer, c.IsSupplier, c.Archived, unix(c.CreatedAt), unix(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create contact: %w", err)
	}
	c.ID = newID
	return err
}

// FindContacts implements ledger.ContactStore.
func (s *Store) FindContacts(ctx context.Context, orgID int64, f ledger.ContactFilter) ([]*ledger.Contact, error) {
	return findAll(ctx, s.db, "contact", scanContact, `SELECT `+contactColumns+` FROM contacts
		WHERE org_id = ?1
			AND (?2 = '' OR (?2 = 'customer' AND is_customer = 1) OR (?2 = 'supplier' AND is_supplier = 1))
			AND (?3 = 1 OR archived = 0)
		ORDER BY lower(name), id LIMIT ?4 OFFSET ?5`, orgID, f.Role, f.IncludeArchived, f.Limit, f.Offset)
}

// FindContactByID implements ledger.ContactStore.
func (s *Store) FindContactByID(ctx context.Context, orgID, id int64) (*ledger.Contact, error) {
	return findContact(ctx, s.db, orgID, id)
}

// UpdateContact implements ledger.ContactStore.
func (s *Store) UpdateContact(ctx context.Context, orgID, id int64, u ledger.ContactUpdate, at time.Time) (*ledger.Contact, error) {
	var c *ledger.Contact
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		if c, err = findContact(ctx, tx, orgID, id); err != nil {
			return err
		}
		if err := u.Apply(c); err != nil {
			return err
		}
		c.UpdatedAt = at
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET name = ?, email = ?, is_customer = ?, is_supplier = ?, archived = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
			c.Name, c.Email, c.IsCustomer, c.IsSupplier, c.Archived, unix(at), orgID, id)
		if err != nil {
			return fmt.Errorf("update contact: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FindContactSealed implements ledger.ContactStore.
func (s *Store) FindContactSealed(ctx context.Context, orgID, id int64) (bank, tax []byte, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT bank_details_enc, tax_number_enc FROM contacts WHERE org_id = ? AND id = ?`, orgID, id).Scan(&bank, &tax)
	if err != nil {
		return nil, nil, notFound("contact", err)
	}
	return bank, tax, nil
}

// SetContactSealed implements ledger.ContactStore.
func (s *Store) SetContactSealed(ctx context.Context, orgID, id int64, bank, tax []byte, at time.Time) error {
	// A nil slice is written as NULL: no value on file.
	res, err := s.db.ExecContext(ctx, `UPDATE contacts SET bank_details_enc = ?, tax_number_enc = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		sealedArg(bank), sealedArg(tax), unix(at), orgID, id)
	if err != nil {
		return fmt.Errorf("set contact bank details: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Errorf(errs.ENOTFOUND, "contact not found.")
	}
	return nil
}

func sealedArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
