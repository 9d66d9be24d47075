// Package access holds organisations' roles and the one permission check
// every route goes through: Can(role, action).
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// Role is a member's role in one organisation.
type Role string

// Roles, most powerful first.
const (
	Owner       Role = "owner"
	Adviser     Role = "adviser"
	Standard    Role = "standard"
	InvoiceOnly Role = "invoice_only"
	ReadOnly    Role = "read_only"
)

// Roles lists every role, most powerful first.
var Roles = []Role{Owner, Adviser, Standard, InvoiceOnly, ReadOnly}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use owner, adviser, standard, invoice_only or read_only", s)
}

// Label is the role's name for people.
func (r Role) Label() string {
	switch r {
	case Owner:
		return "Owner"
	case Adviser:
		return "Adviser"
	case Standard:
		return "Standard"
	case InvoiceOnly:
		return "Invoice only"
	case ReadOnly:
		return "Read only"
	}
	return string(r)
}

// Action is something a member may be allowed to do in an organisation.
type Action string

// Actions. Each route names exactly one.
const (
	OrgRead        Action = "org.read"        // see the organisation exists and one's own role
	AccountsRead   Action = "accounts.read"   // chart of accounts, tax rates
	AccountsWrite  Action = "accounts.write"  // add/edit accounts and tax rates
	ContactsRead   Action = "contacts.read"   // contacts (never their bank details)
	ContactsWrite  Action = "contacts.write"  // add/edit contacts
	ContactsBank   Action = "contacts.bank"   // see or change a contact's bank details and tax number (step-up to change)
	SalesRead      Action = "sales.read"      // sales invoices and their credit notes
	SalesWrite     Action = "sales.write"     // create, approve, send, void sales invoices
	PurchasesRead  Action = "purchases.read"  // bills and supplier credit notes
	PurchasesWrite Action = "purchases.write" // create, approve, void bills
	PaymentsWrite  Action = "payments.write"  // record payments, allocate credit notes
	BankRead       Action = "bank.read"       // bank accounts and transactions
	BankWrite      Action = "bank.write"      // add bank accounts, import statements, reconcile
	JournalsRead   Action = "journals.read"   // the ledger and manual journals
	JournalsWrite  Action = "journals.write"  // post and reverse manual journals
	LockDateWrite  Action = "lock_date.write" // set the lock date
	ReportsRead    Action = "reports.read"    // trial balance, P&L, balance sheet, aged reports
	MembersRead    Action = "members.read"    // the member list and access review
	MembersManage  Action = "members.manage"  // invite, change roles, remove (step-up for the last two)
	SettingsManage Action = "settings.manage" // organisation security settings (step-up)
	ExportAll      Action = "export.all"      // export all data (step-up)
	AuditRead      Action = "audit.read"      // the organisation's audit log
)

// Actions lists every action, in the order of docs/permissions.md.
var Actions = []Action{
	OrgRead, AccountsRead, AccountsWrite, ContactsRead, ContactsWrite, ContactsBank,
	SalesRead, SalesWrite, PurchasesRead, PurchasesWrite, PaymentsWrite,
	BankRead, BankWrite, JournalsRead, JournalsWrite, LockDateWrite, ReportsRead,
	MembersRead, MembersManage, SettingsManage, ExportAll, AuditRead,
}

// matrix says which roles may take each action. Least privilege: a role
// gets an action only if its job needs it.
var matrix = map[Action][]Role{
	OrgRead:        {Owner, Adviser, Standard, InvoiceOnly, ReadOnly},
	AccountsRead:   {Owner, Adviser, Standard, ReadOnly},
	AccountsWrite:  {Owner, Adviser},
	ContactsRead:   {Owner, Adviser, Standard, InvoiceOnly, ReadOnly},
	ContactsWrite:  {Owner, Adviser, Standard, InvoiceOnly},
	ContactsBank:   {Owner, Adviser, Standard},
	SalesRead:      {Owner, Adviser, Standard, InvoiceOnly, ReadOnly},
	SalesWrite:     {Owner, Adviser, Standard, InvoiceOnly},
	PurchasesRead:  {Owner, Adviser, Standard, ReadOnly},
	PurchasesWrite: {Owner, Adviser, Standard},
	PaymentsWrite:  {Owner, Adviser, Standard},
	BankRead:       {Owner, Adviser, Standard, ReadOnly},
	BankWrite:      {Owner, Adviser, Standard},
	JournalsRead:   {Owner, Adviser, Standard, ReadOnly},
	JournalsWrite:  {Owner, Adviser},
	LockDateWrite:  {Owner, Adviser},
	ReportsRead:    {Owner, Adviser, Standard, ReadOnly},
	MembersRead:    {Owner, Adviser},
	MembersManage:  {Owner, Adviser},
	SettingsManage: {Owner},
	ExportAll:      {Owner, Adviser},
	AuditRead:      {Owner, Adviser},
}

// Can reports whether role may take action. Unknown roles and actions are
// refused: the check fails closed.
func Can(role Role, action Action) bool {
	return slices.Contains(matrix[action], role)
}

// Manages reports whether role may manage members (owners and advisers).
func Manages(role Role) bool { return Can(role, MembersManage) }

// Org is an organisation: one set of books and its members.
type Org struct {
	ID        int64
	Name      string
	Currency  string // ISO 4217
	LockDate  string // "" or YYYY-MM-DD
	CreatedAt time.Time
	Settings  Settings
}

// Settings are an organisation's security settings (owners only).
type Settings struct {
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// PasswordExpiryDays forces a password change after that many days; 0
	// (the default) is off, as NIST SP 800-63B advises.
	PasswordExpiryDays int
	// ForbidSMS refuses SMS/voice codes for members (NIST "restricted").
	ForbidSMS bool
	// RequirePhishingResistant requires a phishing-resistant factor
	// (WebAuthn or push) of owners and advisers once such factors exist.
	RequirePhishingResistant bool
	// ForbidPasskeySignIn makes members sign in with their password even
	// when they have a passkey (which then serves as the second step).
	ForbidPasskeySignIn bool
}

// DefaultSettings match the platform defaults.
func DefaultSettings() Settings {
	return Settings{SessionIdle: 15 * time.Minute, SessionAbsolute: 12 * time.Hour}
}

// Validate keeps settings within safe bounds.
func (s Settings) Validate() error {
	var problems []string
	if s.SessionIdle < time.Minute || s.SessionIdle > 15*time.Minute {
		problems = append(problems, "Session idle timeout must be between 1 and 15 minutes.")
	}
	if s.SessionAbsolute < time.Hour || s.SessionAbsolute > 12*time.Hour || s.SessionAbsolute < s.SessionIdle {
		problems = append(problems, "Session absolute timeout must be between 1 and 12 hours.")
	}
	if s.PasswordExpiryDays != 0 && (s.PasswordExpiryDays < 30 || s.PasswordExpiryDays > 730) {
		problems = append(problems, "Password expiry must be off (0) or between 30 and 730 days.")
	}
	if len(problems) > 0 {
		return errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return nil
}

// ValidateOrgName checks an organisation's name.
func ValidateOrgName(name string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n == 0 || n > 150 || !utf8.ValidString(name) {
		return errs.Errorf(errs.EINVALID, "Organisation name must be 1 to 150 characters.")
	}
	return nil
}

// Membership is a user's role in an organisation.
type Membership struct {
	OrgID     int64
	UserID    int64
	Role      Role
	CreatedAt time.Time
}

// OrgMembership is an organisation seen by one of its members.
type OrgMembership struct {
	Org  *Org
	Role Role
}

// Store is the persistence of organisations and memberships. Lookups
// return ENOTFOUND for a missing row; a user who is not a member of an
// organisation gets ENOTFOUND for it too, never EFORBIDDEN.
type Store interface {
	// CreateOrg stores o with its tax rates and chart of accounts (an
	// account's TaxRateID indexes rates, 1-based, before insertion) and makes
	// ownerID its owner, in one transaction.
	CreateOrg(ctx context.Context, o *Org, ownerID int64, rates []ledger.TaxRate, chart []ledger.Account) error
	FindOrgByID(ctx context.Context, id int64) (*Org, error)
	FindOrgByName(ctx context.Context, name string) (*Org, error)
	FindUserOrgs(ctx context.Context, userID int64) ([]*OrgMembership, error)
	// FindMembership returns the user's membership of the organisation.
	FindMembership(ctx context.Context, orgID, userID int64) (*Membership, error)
	AddMember(ctx context.Context, m *Membership) error

	// FindUserByEmail returns the user with that (normalised) email, or
	// ENOTFOUND.
	FindUserByEmail(ctx context.Context, email string) (*auth.User, error)
	// FindMembers lists the organisation's members, owners first, with
	// their second factors, unused recovery codes and last sign-in.
	FindMembers(ctx context.Context, orgID int64) ([]*Member, error)
	// UpdateMemberRole sets member userID's role. In one transaction it
	// reads actorID's role, the member's role and the number of owners and
	// calls guard, which may refuse (its error is returned as is). It
	// returns the member as they were before. ENOTFOUND when the actor
	// (reported as the organisation) or the member is not a member.
	UpdateMemberRole(ctx context.Context, orgID, actorID, userID int64, role Role, guard Guard) (*Member, error)
	// RemoveMember deletes member userID's membership, with the same reads,
	// guard and errors as UpdateMemberRole, and returns the removed member.
	RemoveMember(ctx context.Context, orgID, actorID, userID int64, guard Guard) (*Member, error)

	// CreateInvitation stores inv and sets its ID. ECONFLICT when the email
	// already belongs to a member, already has a pending invitation, or
	// the organisation has maxPending pending invitations.
	CreateInvitation(ctx context.Context, inv *Invitation, maxPending int) error
	// FindInvitations lists the organisation's invitations pending at now,
	// newest first.
	FindInvitations(ctx context.Context, orgID int64, now time.Time) ([]*Invitation, error)
	// FindInvitationByTokenHash returns the invitation whatever its state,
	// or ENOTFOUND.
	FindInvitationByTokenHash(ctx context.Context, hash []byte) (*Invitation, error)
	// RevokeInvitation revokes a pending invitation; ENOTFOUND if the
	// organisation has no such pending invitation.
	RevokeInvitation(ctx context.Context, orgID, id int64, at time.Time) error
	// AcceptInvitation marks the invitation accepted, only if it is still
	// pending at at, and adds userID with its role, in one transaction.
	// ENOTFOUND when it is no longer pending; ECONFLICT when the user is
	// already a member.
	AcceptInvitation(ctx context.Context, id, userID int64, at time.Time) error
	// AcceptInvitationNewUser is AcceptInvitation that also creates u
	// (setting u.ID) in the same transaction; ECONFLICT when the email is
	// taken.
	AcceptInvitationNewUser(ctx context.Context, id int64, u *auth.User, at time.Time) error

	// UpdateOrgSettings replaces the organisation's security settings and
	// returns the previous ones; ENOTFOUND for an unknown organisation.
	UpdateOrgSettings(ctx context.Context, orgID int64, st Settings) (Settings, error)
	// ExportOrg hands every table of the organisation's data to sink, in
	// one read snapshot, streaming the rows.
	ExportOrg(ctx context.Context, orgID int64, sink ExportSink) error
}
