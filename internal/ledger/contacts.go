package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"coffer/internal/errs"
)

// Contact is a customer or supplier of an organisation.
//
// Its bank details and tax number are stored sealed with the keyring, bound
// to the organisation, table, column and row. They are plaintext only in
// memory and only when read through ContactBankDetails; lists and lookups
// leave them empty and say only whether they are on file.
type Contact struct {
	ID         int64
	OrgID      int64
	Name       string
	Email      string
	IsCustomer bool
	IsSupplier bool
	// BankDetails and TaxNumber are filled only by ContactBankDetails.
	BankDetails string
	TaxNumber   string
	// HasBankDetails and HasTaxNumber say whether sealed values are stored.
	HasBankDetails bool
	HasTaxNumber   bool
	Archived       bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Limits of a contact's fields, in characters.
const (
	MaxContactName  = 150
	MaxContactEmail = 254
	MaxBankDetails  = 200
	MaxTaxNumber    = 50
)

// Validate checks a contact's fields, naming every problem at once.
func (c *Contact) Validate() error {
	var problems []string
	if n := utf8.RuneCountInString(strings.TrimSpace(c.Name)); n == 0 || n > MaxContactName || !utf8.ValidString(c.Name) || salesHasControl(c.Name) {
		problems = append(problems, fmt.Sprintf("Contact name must be 1 to %d characters.", MaxContactName))
	}
	if c.Email != "" && !plausibleEmail(c.Email) {
		problems = append(problems, fmt.Sprintf("Email %q is not an email address like name@example.com.", truncate(c.Email, 60)))
	}
	if !c.IsCustomer && !c.IsSupplier {
		problems = append(problems, "Mark the contact as a customer, a supplier or both.")
	}
	return joinProblems(problems)
}

func plausibleEmail(s string) bool {
	if len(s) > MaxContactEmail || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func salesHasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// ContactInput is a new contact. Bank details cannot be given here: setting
// them is a separate, step-up protected action.
type ContactInput struct {
	Name       string
	Email      string
	IsCustomer bool
	IsSupplier bool
}

// ContactUpdate is a change to a contact; nil fields stay as they are.
type ContactUpdate struct {
	Name       *string
	Email      *string
	IsCustomer *bool
	IsSupplier *bool
	Archived   *bool
}

// Apply changes c as u says and validates the result. The store calls it
// inside the transaction that writes the change.
func (u ContactUpdate) Apply(c *Contact) error {
	if u.Name != nil {
		c.Name = strings.TrimSpace(*u.Name)
	}
	if u.Email != nil {
		c.Email = strings.TrimSpace(*u.Email)
	}
	if u.IsCustomer != nil {
		c.IsCustomer = *u.IsCustomer
	}
	if u.IsSupplier != nil {
		c.IsSupplier = *u.IsSupplier
	}
	if u.Archived != nil {
		c.Archived = *u.Archived
	}
	return c.Validate()
}

// ContactFilter selects contacts for a list.
type ContactFilter struct {
	// Role is "customer", "supplier" or "" for both.
	Role string
	// IncludeArchived lists archived contacts too.
	IncludeArchived bool
	Limit, Offset   int
}

// ContactSecrets are a contact's bank details and tax number in plaintext
// (or masked, from MaskedContactBankDetails). "" means none on file.
type ContactSecrets struct {
	BankDetails string
	TaxNumber   string
}

// Validate checks the values' length and characters.
func (cs *ContactSecrets) Validate() error {
	var problems []string
	if utf8.RuneCountInString(cs.BankDetails) > MaxBankDetails || !utf8.ValidString(cs.BankDetails) || salesHasControl(cs.BankDetails) {
		problems = append(problems, fmt.Sprintf("Bank details must be at most %d characters, on one line.", MaxBankDetails))
	}
	if utf8.RuneCountInString(cs.TaxNumber) > MaxTaxNumber || !utf8.ValidString(cs.TaxNumber) || salesHasControl(cs.TaxNumber) {
		problems = append(problems, fmt.Sprintf("Tax number must be at most %d characters, on one line.", MaxTaxNumber))
	}
	return joinProblems(problems)
}

// MaskContactSecret hides all but the last four characters of a sensitive value, and
// all of a value so short that four characters would be most of it.
func MaskContactSecret(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) <= 8 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

// Contact table and column names, bound into the sealed values'
// associated data.
const (
	contactsTable          = "contacts"
	columnBankDetails      = "bank_details"
	columnTaxNumber        = "tax_number"
	auditContactCreate     = "contact.create"
	auditContactUpdate     = "contact.update"
	auditContactBankView   = "contact.bank_details.view"
	auditContactBankChange = "contact.bank_details.change"
)

// CreateContact validates and stores a new contact.
func (s *Service) CreateContact(ctx context.Context, a Actor, orgID int64, in ContactInput) (*Contact, error) {
	now := s.Now()
	c := &Contact{OrgID: orgID, Name: strings.TrimSpace(in.Name), Email: strings.TrimSpace(in.Email), IsCustomer: in.IsCustomer, IsSupplier: in.IsSupplier, CreatedAt: now, UpdatedAt: now}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.CreateContact(ctx, c); err != nil {
		return nil, err
	}
	s.audit(ctx, a, auditContactCreate, fmt.Sprintf("org=%d contact=%d", orgID, c.ID))
	return c, nil
}

// FindContacts lists the organisation's contacts. Limit 0 means 100; at
// most 1000 are returned at once.
func (s *Service) FindContacts(ctx context.Context, orgID int64, f ContactFilter) ([]*Contact, error) {
	switch f.Role {
	case "", "customer", "supplier":
	default:
		return nil, errs.Errorf(errs.EINVALID, "Contact role %q is not customer or supplier.", truncate(f.Role, 40))
	}
	var err error
	if f.Limit, f.Offset, err = salesPage(f.Limit, f.Offset); err != nil {
		return nil, err
	}
	return s.store.FindContacts(ctx, orgID, f)
}

// FindContact returns one contact, without its bank details.
func (s *Service) FindContact(ctx context.Context, orgID, id int64) (*Contact, error) {
	return s.store.FindContactByID(ctx, orgID, id)
}

// UpdateContact changes a contact's name, email, roles or archived flag.
func (s *Service) UpdateContact(ctx context.Context, a Actor, orgID, id int64, u ContactUpdate) (*Contact, error) {
	c, err := s.store.UpdateContact(ctx, orgID, id, u, s.Now())
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, auditContactUpdate, fmt.Sprintf("org=%d contact=%d", orgID, id))
	return c, nil
}

// ContactBankDetails reveals a contact's bank details and tax number. The
// reveal is audited by contact id; the values never reach the log.
func (s *Service) ContactBankDetails(ctx context.Context, a Actor, orgID, id int64) (*ContactSecrets, error) {
	cs, err := s.openContactSecrets(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, auditContactBankView, fmt.Sprintf("org=%d contact=%d", orgID, id))
	return cs, nil
}

// MaskedContactBankDetails returns the contact's bank details and tax
// number with all but their last four characters hidden, for pages that
// show what is on file without revealing it.
func (s *Service) MaskedContactBankDetails(ctx context.Context, orgID, id int64) (*ContactSecrets, error) {
	cs, err := s.openContactSecrets(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	return &ContactSecrets{BankDetails: MaskContactSecret(cs.BankDetails), TaxNumber: MaskContactSecret(cs.TaxNumber)}, nil
}

func (s *Service) openContactSecrets(ctx context.Context, orgID, id int64) (*ContactSecrets, error) {
	bank, tax, err := s.store.FindContactSealed(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	var cs ContactSecrets
	if bank != nil {
		p, err := s.keys.Open(ctx, orgID, bank, s.aad(orgID, contactsTable, columnBankDetails, id))
		if err != nil {
			return nil, fmt.Errorf("open bank details of contact %d: %w", id, err)
		}
		cs.BankDetails = string(p)
	}
	if tax != nil {
		p, err := s.keys.Open(ctx, orgID, tax, s.aad(orgID, contactsTable, columnTaxNumber, id))
		if err != nil {
			return nil, fmt.Errorf("open tax number of contact %d: %w", id, err)
		}
		cs.TaxNumber = string(p)
	}
	return &cs, nil
}

// SetContactBankDetails replaces a contact's bank details and tax number
// ("" clears one). They are sealed bound to the organisation, table, column
// and row, so a value copied to another row or organisation fails to open.
// The change is audited with the contact id only, never the values.
func (s *Service) SetContactBankDetails(ctx context.Context, a Actor, orgID, id int64, in ContactSecrets) error {
	in.BankDetails, in.TaxNumber = strings.TrimSpace(in.BankDetails), strings.TrimSpace(in.TaxNumber)
	if err := in.Validate(); err != nil {
		return err
	}
	var bank, tax []byte
	var err error
	if in.BankDetails != "" {
		if bank, err = s.keys.Seal(ctx, orgID, []byte(in.BankDetails), s.aad(orgID, contactsTable, columnBankDetails, id)); err != nil {
			return fmt.Errorf("seal bank details: %w", err)
		}
	}
	if in.TaxNumber != "" {
		if tax, err = s.keys.Seal(ctx, orgID, []byte(in.TaxNumber), s.aad(orgID, contactsTable, columnTaxNumber, id)); err != nil {
			return fmt.Errorf("seal tax number: %w", err)
		}
	}
	if err := s.store.SetContactSealed(ctx, orgID, id, bank, tax, s.Now()); err != nil {
		return err
	}
	s.audit(ctx, a, auditContactBankChange, fmt.Sprintf("org=%d contact=%d", orgID, id))
	return nil
}

// Paging bounds of lists.
const (
	defaultSalesLimit = 100
	maxSalesLimit     = 1000
)

// salesPage applies the default page size and refuses sizes and
// offsets out of range.
func salesPage(limit, offset int) (int, int, error) {
	if limit == 0 {
		limit = defaultSalesLimit
	}
	if limit < 0 || limit > maxSalesLimit {
		return 0, 0, errs.Errorf(errs.EINVALID, "Limit must be between 1 and %d.", maxSalesLimit)
	}
	if offset < 0 {
		return 0, 0, errs.Errorf(errs.EINVALID, "Offset must not be negative.")
	}
	return limit, offset, nil
}
