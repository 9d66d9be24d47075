package access

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
	"coffer/internal/session"
)

// InvitePrefix marks invitation tokens, as cfs_ marks session tokens, so a
// token's kind is plain to people and to secret scanners.
const InvitePrefix = "cfi_"

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// MaxPendingInvitations bounds one organisation's open invitations, so a
// compromised manager account cannot mint links without limit.
const MaxPendingInvitations = 100

// ErrInvitationInvalid is the one answer for an invitation token that is
// unknown, expired, used or revoked: the holder of a dead link learns
// nothing about which.
var ErrInvitationInvalid = errs.Errorf(errs.ENOTFOUND, "This invitation is not valid any more. Ask the person who invited you to send a new one.")

// Member is a member of an organisation with the facts the member list and
// the access review show.
type Member struct {
	UserID int64
	Email  string
	Name   string
	Role   Role
	// MFAMethods names the member's confirmed second factors ("totp").
	MFAMethods        []string
	RecoveryCodesLeft int
	LastLoginAt       time.Time // zero if the member never signed in
	JoinedAt          time.Time
}

// Invitation is an invitation to join an organisation with a role. Only
// the hash of its token is stored.
type Invitation struct {
	ID         int64
	OrgID      int64
	Email      string
	Role       Role
	TokenHash  []byte
	InvitedBy  int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time // zero until accepted
	RevokedAt  time.Time // zero unless revoked
}

// Pending reports whether the invitation can still be accepted at now.
func (i *Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt.IsZero() && i.RevokedAt.IsZero() && now.Before(i.ExpiresAt)
}

// Guard decides, inside the store's transaction, whether a membership
// change may go ahead: actor is the acting member's role, target the
// changed member's current role and owners how many owners the
// organisation has, all read in that transaction.
type Guard func(actor, target Role, owners int) error

// CheckRoleChange is the rule for a member with role actor changing a
// member's role from → to, with owners owners in the organisation: only
// owners and advisers manage members, only an owner grants or takes away
// the owner role, and the last owner stays an owner.
func CheckRoleChange(actor, from, to Role, owners int) error {
	if !Manages(actor) {
		return errs.Errorf(errs.EFORBIDDEN, "Your role (%s) does not allow managing members.", actor.Label())
	}
	if (from == Owner || to == Owner) && from != to && actor != Owner {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner can make someone an owner or change an owner's role.")
	}
	if from == Owner && to != Owner && owners <= 1 {
		return errs.Errorf(errs.ECONFLICT, "This is the organisation's last owner and must stay an owner. Make another member an owner first.")
	}
	return nil
}

// CheckRemoval is the rule for a member with role actor removing a member
// with role target: only owners remove owners, and never the last one.
func CheckRemoval(actor, target Role, owners int) error {
	if !Manages(actor) {
		return errs.Errorf(errs.EFORBIDDEN, "Your role (%s) does not allow managing members.", actor.Label())
	}
	if target == Owner && actor != Owner {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner can remove an owner.")
	}
	if target == Owner && owners <= 1 {
		return errs.Errorf(errs.ECONFLICT, "This is the organisation's last owner and cannot be removed. Make another member an owner first.")
	}
	return nil
}

// CheckInvite is the rule for a member with role actor inviting someone
// with role: only owners invite owners.
func CheckInvite(actor, role Role) error {
	if !Manages(actor) {
		return errs.Errorf(errs.EFORBIDDEN, "Your role (%s) does not allow inviting members.", actor.Label())
	}
	if role == Owner && actor != Owner {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner can invite an owner.")
	}
	return nil
}

// Access review flags.
const (
	// FlagAdminInactive30d marks an owner or adviser without a sign-in
	// for 30 days: a powerful account nobody is watching.
	FlagAdminInactive30d = "admin_inactive_30d"
	// FlagInactive90d marks a member without a sign-in for 90 days, which
	// PCI DSS 8.2.6 says to remove or disable.
	FlagInactive90d = "inactive_90d"
	// FlagNeverSignedIn marks a member who has never signed in.
	FlagNeverSignedIn = "never_signed_in"
)

// ReviewFlags returns the access review's flags for m at now. A member who
// never signed in is measured from when they joined.
func ReviewFlags(m *Member, now time.Time) []string {
	flags := []string{}
	since := m.LastLoginAt
	if since.IsZero() {
		since = m.JoinedAt
	}
	idle := now.Sub(since)
	if (m.Role == Owner || m.Role == Adviser) && idle > 30*24*time.Hour {
		flags = append(flags, FlagAdminInactive30d)
	}
	if idle > 90*24*time.Hour {
		flags = append(flags, FlagInactive90d)
	}
	if m.LastLoginAt.IsZero() {
		flags = append(flags, FlagNeverSignedIn)
	}
	return flags
}

// ReviewEntry is one member in the access review.
type ReviewEntry struct {
	*Member
	Flags []string
}

// CSVSafe defuses a cell for spreadsheet programs: text starting with
// =, +, -, @, tab or carriage return could be run as a formula, so it gets a
// leading single quote (OWASP "CSV injection"). Plain numbers such as
// "-12.50" are left alone; they are data, not formulas.
func CSVSafe(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || plainNumber(s) {
		return s
	}
	return "'" + s
}

// plainNumber reports whether s is an optionally negative decimal number.
func plainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") {
		return false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// ReviewCSVHeader is the access review CSV's header row.
var ReviewCSVHeader = []string{"email", "name", "role", "mfa_methods", "recovery_codes_left", "last_login_at", "joined_at", "flags"}

// WriteReviewCSV writes the access review as CSV, every cell defused.
func WriteReviewCSV(w io.Writer, entries []*ReviewEntry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ReviewCSVHeader); err != nil {
		return err
	}
	for _, e := range entries {
		row := []string{e.Email, e.Name, string(e.Role), strings.Join(e.MFAMethods, " "), strconv.Itoa(e.RecoveryCodesLeft),
			formatTime(e.LastLoginAt), formatTime(e.JoinedAt), strings.Join(e.Flags, " ")}
		for i := range row {
			row[i] = CSVSafe(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ServiceStore is the persistence the Service needs beyond Store's
// organisations and memberships.
type ServiceStore interface {
	Store
	audit.Store
}

// Service manages an organisation's members, invitations, security
// settings, access review and full export. Methods take the organisation
// explicitly; a row of another organisation is not found.
type Service struct {
	store ServiceStore
	users *auth.Service
	keys  ledger.Sealer
	aad   ledger.OrgAADFunc
	log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns a Service. users creates invited people's accounts
// under the password policy; keys and aad open the organisation's sealed
// fields for the export.
func NewService(store ServiceStore, users *auth.Service, keys ledger.Sealer, aad ledger.OrgAADFunc, log *slog.Logger) *Service {
	return &Service{store: store, users: users, keys: keys, aad: aad, log: log, Now: func() time.Time { return time.Now().UTC() }}
}

// audit records a change to who may do what. Detail names records by id
// and people by email, never tokens, bank numbers or tax numbers.
func (s *Service) audit(ctx context.Context, a ledger.Actor, action, outcome, detail string) {
	e := &audit.Event{OrgID: a.OrgID, At: s.Now(), UserID: a.UserID, Subject: a.Email, Action: action, Outcome: outcome, IP: a.IP, UserAgent: truncate(a.UserAgent, 256), Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		// The change itself is done; operators must see the gap.
		s.log.Error("audit write failed", "action", action, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Members lists the organisation's members, owners first.
func (s *Service) Members(ctx context.Context, orgID int64) ([]*Member, error) {
	return s.store.FindMembers(ctx, orgID)
}

// ChangeRole gives member userID the role to. The acting member's role,
// the member's current role and the number of owners are read and checked
// (CheckRoleChange) inside the store's transaction, so two concurrent
// demotions cannot leave the organisation without an owner.
func (s *Service) ChangeRole(ctx context.Context, a ledger.Actor, orgID, userID int64, to Role) (*Member, error) {
	if _, err := ParseRole(string(to)); err != nil {
		return nil, errs.Errorf(errs.EINVALID, "%s", capitalise(err.Error()))
	}
	before, err := s.store.UpdateMemberRole(ctx, orgID, a.UserID, userID, to, func(actor, from Role, owners int) error {
		return CheckRoleChange(actor, from, to, owners)
	})
	if err != nil {
		if code := errs.Code(err); code == errs.EFORBIDDEN || code == errs.ECONFLICT {
			s.audit(ctx, a, "org.member.role_change", audit.Failure, fmt.Sprintf("org=%d user=%d to=%s reason=%s", orgID, userID, to, code))
		}
		return nil, err
	}
	if before.Role != to {
		s.audit(ctx, a, "org.member.role_change", audit.Success, fmt.Sprintf("org=%d user=%d email=%s from=%s to=%s", orgID, userID, before.Email, before.Role, to))
	}
	after := *before
	after.Role = to
	return &after, nil
}

// RemoveMember takes member userID out of the organisation at once: the
// organisation's routes look the membership up on every request, so the
// member's very next request there is refused, on every node. The rules
// (CheckRemoval) are checked inside the deleting transaction.
func (s *Service) RemoveMember(ctx context.Context, a ledger.Actor, orgID, userID int64) error {
	removed, err := s.store.RemoveMember(ctx, orgID, a.UserID, userID, func(actor, target Role, owners int) error {
		return CheckRemoval(actor, target, owners)
	})
	if err != nil {
		if code := errs.Code(err); code == errs.EFORBIDDEN || code == errs.ECONFLICT {
			s.audit(ctx, a, "org.member.remove", audit.Failure, fmt.Sprintf("org=%d user=%d reason=%s", orgID, userID, code))
		}
		return err
	}
	s.audit(ctx, a, "org.member.remove", audit.Success, fmt.Sprintf("org=%d user=%d email=%s role=%s", orgID, userID, removed.Email, removed.Role))
	return nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// Invite creates an invitation for email with role, made by a member with
// role actorRole, and returns it with its token, which exists only in this
// answer: the inviter passes the link on.
func (s *Service) Invite(ctx context.Context, a ledger.Actor, actorRole Role, orgID int64, email string, role Role) (*Invitation, string, error) {
	norm := auth.NormalizeEmail(email)
	var problems []string
	if norm == "" {
		problems = append(problems, "Enter a valid email address to invite.")
	}
	if _, err := ParseRole(string(role)); err != nil {
		problems = append(problems, capitalise(err.Error()))
	}
	if len(problems) > 0 {
		return nil, "", errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	if err := CheckInvite(actorRole, role); err != nil {
		return nil, "", err
	}
	token, hash, err := session.NewToken(InvitePrefix)
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	inv := &Invitation{OrgID: orgID, Email: norm, Role: role, TokenHash: hash, InvitedBy: a.UserID, CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
	if err := s.store.CreateInvitation(ctx, inv, MaxPendingInvitations); err != nil {
		return nil, "", err
	}
	s.audit(ctx, a, "org.invitation.create", audit.Success, fmt.Sprintf("org=%d invitation=%d email=%s role=%s", orgID, inv.ID, norm, role))
	return inv, token, nil
}

// Invitations lists the organisation's pending invitations, newest first.
func (s *Service) Invitations(ctx context.Context, orgID int64) ([]*Invitation, error) {
	return s.store.FindInvitations(ctx, orgID, s.Now())
}

// RevokeInvitation stops a pending invitation's link from working.
func (s *Service) RevokeInvitation(ctx context.Context, a ledger.Actor, orgID, id int64) error {
	if err := s.store.RevokeInvitation(ctx, orgID, id, s.Now()); err != nil {
		return err
	}
	s.audit(ctx, a, "org.invitation.revoke", audit.Success, fmt.Sprintf("org=%d invitation=%d", orgID, id))
	return nil
}

// InvitationView is what the invitation page shows to whoever holds the
// link.
type InvitationView struct {
	Invitation *Invitation
	OrgName    string
	// AccountExists tells whether the invited email already has an
	// account, which then signs in and accepts instead of registering.
	AccountExists bool
}

// pendingInvitation resolves a token to a pending invitation or
// ErrInvitationInvalid.
func (s *Service) pendingInvitation(ctx context.Context, token string) (*Invitation, error) {
	if !strings.HasPrefix(token, InvitePrefix) || len(token) > 100 {
		return nil, ErrInvitationInvalid
	}
	inv, err := s.store.FindInvitationByTokenHash(ctx, session.HashToken(token))
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, ErrInvitationInvalid
	}
	if err != nil {
		return nil, err
	}
	if !inv.Pending(s.Now()) {
		return nil, ErrInvitationInvalid
	}
	return inv, nil
}

// auditDeadLink records an attempt to accept with a dead or made-up link:
// repeated ones may be someone guessing.
func (s *Service) auditDeadLink(ctx context.Context, a ledger.Actor, err error) {
	if errors.Is(err, ErrInvitationInvalid) {
		s.audit(ctx, a, "org.invitation.accept", audit.Failure, "reason=invalid_or_used_link")
	}
}

// OpenInvitation returns what the invitation page shows for token, or
// ErrInvitationInvalid.
func (s *Service) OpenInvitation(ctx context.Context, token string) (*InvitationView, error) {
	inv, err := s.pendingInvitation(ctx, token)
	if err != nil {
		return nil, err
	}
	org, err := s.store.FindOrgByID(ctx, inv.OrgID)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, ErrInvitationInvalid
	}
	if err != nil {
		return nil, err
	}
	v := &InvitationView{Invitation: inv, OrgName: org.Name}
	switch _, err := s.store.FindUserByEmail(ctx, inv.Email); errs.Code(err) {
	case "":
		v.AccountExists = true
	case errs.ENOTFOUND:
	default:
		return nil, err
	}
	return v, nil
}

// AcceptAsNewUser creates the invited person's account (name and password
// under the password policy; the email is the invitation's) and its
// membership, and uses up the invitation, all in one transaction. The new
// user must still enroll a second factor at first sign-in.
func (s *Service) AcceptAsNewUser(ctx context.Context, token, name, password, confirm string, c auth.Client) (*auth.User, *Org, error) {
	inv, err := s.pendingInvitation(ctx, token)
	if err != nil {
		s.auditDeadLink(ctx, ledger.Actor{Email: "(invitation link)", IP: c.IP, UserAgent: c.UserAgent}, err)
		return nil, nil, err
	}
	if _, err := s.store.FindUserByEmail(ctx, inv.Email); err == nil {
		return nil, nil, errs.Errorf(errs.ECONFLICT, "An account for %s already exists. Sign in, then open the invitation link again to accept it.", inv.Email)
	} else if errs.Code(err) != errs.ENOTFOUND {
		return nil, nil, err
	}
	if password != confirm {
		return nil, nil, errs.Errorf(errs.EINVALID, "The two passwords do not match.")
	}
	u, err := s.users.NewUser(ctx, inv.Email, name, password)
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	u.CreatedAt, u.PasswordChangedAt = now, now
	if err := s.store.AcceptInvitationNewUser(ctx, inv.ID, u, now); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, nil, ErrInvitationInvalid
		}
		return nil, nil, err
	}
	org, err := s.store.FindOrgByID(ctx, inv.OrgID)
	if err != nil {
		return nil, nil, err
	}
	a := ledger.Actor{UserID: u.ID, Email: u.Email, IP: c.IP, UserAgent: c.UserAgent}
	s.audit(ctx, a, "user.create", audit.Success, fmt.Sprintf("admin=false invitation=%d", inv.ID))
	s.audit(ctx, a, "org.invitation.accept", audit.Success, fmt.Sprintf("org=%d invitation=%d role=%s new_user=true", inv.OrgID, inv.ID, inv.Role))
	return u, org, nil
}

// AcceptAsUser adds the signed-in user u to the invitation's organisation
// and uses up the invitation. u's email must be the invited one: a link
// forwarded to, or intercepted by, someone else is worthless to them.
func (s *Service) AcceptAsUser(ctx context.Context, token string, u *auth.User, c auth.Client) (*Org, error) {
	a := ledger.Actor{UserID: u.ID, Email: u.Email, IP: c.IP, UserAgent: c.UserAgent}
	inv, err := s.pendingInvitation(ctx, token)
	if err != nil {
		s.auditDeadLink(ctx, a, err)
		return nil, err
	}
	if u.Email != inv.Email {
		s.audit(ctx, a, "org.invitation.accept", audit.Failure, fmt.Sprintf("org=%d invitation=%d reason=wrong_email", inv.OrgID, inv.ID))
		return nil, errs.Errorf(errs.EFORBIDDEN, "This invitation is for %s, but you are signed in as %s. Sign out and sign in as %s to accept it.", inv.Email, u.Email, inv.Email)
	}
	if err := s.store.AcceptInvitation(ctx, inv.ID, u.ID, s.Now()); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, ErrInvitationInvalid
		}
		return nil, err
	}
	org, err := s.store.FindOrgByID(ctx, inv.OrgID)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, "org.invitation.accept", audit.Success, fmt.Sprintf("org=%d invitation=%d role=%s new_user=false", inv.OrgID, inv.ID, inv.Role))
	return org, nil
}

// AccessReview lists every member with the flags a periodic access review
// looks for.
func (s *Service) AccessReview(ctx context.Context, orgID int64) ([]*ReviewEntry, error) {
	ms, err := s.store.FindMembers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make([]*ReviewEntry, len(ms))
	for i, m := range ms {
		out[i] = &ReviewEntry{Member: m, Flags: ReviewFlags(m, now)}
	}
	return out, nil
}

// UpdateSettings replaces the organisation's security settings after
// Validate and audits every value as old->new. There is deliberately no
// setting that turns second factors off.
func (s *Service) UpdateSettings(ctx context.Context, a ledger.Actor, orgID int64, st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	old, err := s.store.UpdateOrgSettings(ctx, orgID, st)
	if err != nil {
		return err
	}
	s.audit(ctx, a, "org.settings.change", audit.Success, fmt.Sprintf("org=%d session_idle=%s->%s session_absolute=%s->%s password_expiry_days=%d->%d forbid_sms=%t->%t require_phishing_resistant=%t->%t forbid_passkey_sign_in=%t->%t",
		orgID, old.SessionIdle, st.SessionIdle, old.SessionAbsolute, st.SessionAbsolute, old.PasswordExpiryDays, st.PasswordExpiryDays,
		old.ForbidSMS, st.ForbidSMS, old.RequirePhishingResistant, st.RequirePhishingResistant, old.ForbidPasskeySignIn, st.ForbidPasskeySignIn))
	return nil
}

// ExportKind says how an exported value is written.
type ExportKind int

// Kinds of exported values, with the Go type the store hands over.
const (
	ExportInt      ExportKind = iota // int64: ids, counts, basis points
	ExportText                       // string
	ExportMoney                      // int64 minor units of the organisation's currency
	ExportQuantity                   // int64 ten-thousandths
	ExportTime                       // int64 unix seconds, 0 for none
	ExportBool                       // int64 0 or 1
	ExportSealed                     // []byte sealed with the organisation's key, nil for none
)

// ExportColumn is one exported column. A sealed column names the table
// and column its ciphertext is bound to; the row's id is the table's first
// column.
type ExportColumn struct {
	Name       string
	Kind       ExportKind
	SealTable  string
	SealColumn string
}

// ExportTable is one exported table: a file in the zip, an array in the
// JSON document.
type ExportTable struct {
	Name    string
	Columns []ExportColumn
}

// ExportSink receives an organisation's data from the store, one table
// after another, one row at a time, so nothing is held in memory whole.
type ExportSink interface {
	// Table starts a table; the rows that follow belong to it.
	Table(t *ExportTable) error
	// Row is one row, a value per column of the current table.
	Row(values []any) error
}

// ExportFormats are the formats Export writes.
var ExportFormats = []string{"zip", "json"}

// ExportCount is how many rows of one table an export wrote.
type ExportCount struct {
	Table string
	Rows  int
}

// Export writes all of the organisation's data to w, as a zip of CSV files
// or as one JSON document: amounts as decimal strings in the organisation's
// currency, contacts' bank details and tax numbers opened (it is the
// organisation's own data, and the route needs a fresh second factor),
// bank account numbers only as their last four digits. A sealed value that
// does not open fails the export: a silent gap would make the export a
// false record. The store reads every table in one snapshot and streams
// it. The export is audited with its format and row counts.
func (s *Service) Export(ctx context.Context, a ledger.Actor, org *Org, format string, w io.Writer) ([]ExportCount, error) {
	exp, err := money.Exponent(org.Currency)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	enc := &exportEncoder{ctx: ctx, orgID: org.ID, exp: exp, keys: s.keys, aad: s.aad}
	var sink interface {
		ExportSink
		Close() error
	}
	now := s.Now()
	switch format {
	case "zip":
		sink = &zipSink{enc: enc, zw: zip.NewWriter(w), modified: now}
	case "json":
		bw := bufio.NewWriterSize(w, 64<<10)
		sink = &jsonSink{enc: enc, w: bw, flush: bw.Flush, org: org, at: now}
	default:
		return nil, errs.Errorf(errs.EINVALID, "Unknown export format %q: use zip or json.", truncate(format, 32))
	}
	err = s.store.ExportOrg(ctx, org.ID, sink)
	if err == nil {
		err = sink.Close()
	}
	if err != nil {
		s.audit(ctx, a, "org.export", audit.Failure, fmt.Sprintf("org=%d format=%s", org.ID, format))
		return nil, fmt.Errorf("export org %d: %w", org.ID, err)
	}
	counts := enc.counts
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s:%d", c.Table, c.Rows)
	}
	s.audit(ctx, a, "org.export", audit.Success, fmt.Sprintf("org=%d format=%s rows=%s", org.ID, format, strings.Join(parts, ",")))
	return counts, nil
}

// exportEncoder turns the store's values into text and keeps the counts.
type exportEncoder struct {
	// ctx is the export's: the encoder lives only for one Export call.
	ctx    context.Context
	orgID  int64
	exp    int
	keys   ledger.Sealer
	aad    ledger.OrgAADFunc
	table  *ExportTable
	counts []ExportCount
}

func (e *exportEncoder) begin(t *ExportTable) {
	e.table = t
	e.counts = append(e.counts, ExportCount{Table: t.Name})
}

// value returns column i's value as text, and whether it is empty in the
// sense of JSON null (no time, no sealed value).
func (e *exportEncoder) value(i int, values []any) (string, bool, error) {
	col := e.table.Columns[i]
	switch col.Kind {
	case ExportText:
		v, _ := values[i].(string)
		return v, false, nil
	case ExportSealed:
		ct, _ := values[i].([]byte)
		if len(ct) == 0 {
			return "", true, nil
		}
		id, _ := values[0].(int64)
		if e.keys == nil || e.aad == nil {
			return "", false, fmt.Errorf("open %s.%s of row %d: no keyring configured", col.SealTable, col.SealColumn, id)
		}
		pt, err := e.keys.Open(e.ctx, e.orgID, ct, e.aad(e.orgID, col.SealTable, col.SealColumn, id))
		if err != nil {
			return "", false, fmt.Errorf("open %s.%s of row %d: %w", col.SealTable, col.SealColumn, id, err)
		}
		return string(pt), false, nil
	}
	n, ok := values[i].(int64)
	if !ok {
		return "", false, fmt.Errorf("export %s.%s: want an integer, got %T", e.table.Name, col.Name, values[i])
	}
	switch col.Kind {
	case ExportMoney:
		return money.Format(n, e.exp), false, nil
	case ExportQuantity:
		return money.FormatQuantity(n), false, nil
	case ExportTime:
		if n == 0 {
			return "", true, nil
		}
		return time.Unix(n, 0).UTC().Format(time.RFC3339), false, nil
	case ExportBool:
		return strconv.FormatBool(n != 0), false, nil
	default:
		return strconv.FormatInt(n, 10), false, nil
	}
}

func (e *exportEncoder) check(values []any) error {
	if e.table == nil || len(values) != len(e.table.Columns) {
		return errors.New("export: row does not match its table")
	}
	e.counts[len(e.counts)-1].Rows++
	return nil
}

// zipSink writes each table as NAME.csv in a zip archive.
type zipSink struct {
	enc      *exportEncoder
	zw       *zip.Writer
	cw       *csv.Writer
	modified time.Time
	row      []string
}

func (z *zipSink) Table(t *ExportTable) error {
	if err := z.flush(); err != nil {
		return err
	}
	z.enc.begin(t)
	f, err := z.zw.CreateHeader(&zip.FileHeader{Name: t.Name + ".csv", Method: zip.Deflate, Modified: z.modified})
	if err != nil {
		return err
	}
	z.cw = csv.NewWriter(f)
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	return z.cw.Write(header)
}

func (z *zipSink) Row(values []any) error {
	if err := z.enc.check(values); err != nil {
		return err
	}
	z.row = z.row[:0]
	for i := range values {
		v, _, err := z.enc.value(i, values)
		if err != nil {
			return err
		}
		z.row = append(z.row, CSVSafe(v))
	}
	return z.cw.Write(z.row)
}

func (z *zipSink) flush() error {
	if z.cw == nil {
		return nil
	}
	z.cw.Flush()
	return z.cw.Error()
}

func (z *zipSink) Close() error {
	if err := z.flush(); err != nil {
		return err
	}
	return z.zw.Close()
}

// jsonSink writes one JSON document:
// {"format":"coffer-export","version":1,...,"tables":{"name":[{...}]},"counts":{...}}.
// Rows are objects with the columns in order; amounts are decimal strings.
type jsonSink struct {
	enc     *exportEncoder
	w       *bufio.Writer
	flush   func() error
	org     *Org
	at      time.Time
	started bool
	rows    int
}

func (j *jsonSink) str(s string) {
	b, _ := json.Marshal(s)
	j.w.Write(b)
}

func (j *jsonSink) start() {
	if j.started {
		return
	}
	j.started = true
	j.w.WriteString(`{"format":"coffer-export","version":1,"exported_at":`)
	j.str(j.at.UTC().Format(time.RFC3339))
	fmt.Fprintf(j.w, `,"org_id":%d,"org_name":`, j.org.ID)
	j.str(j.org.Name)
	j.w.WriteString(`,"currency":`)
	j.str(j.org.Currency)
	j.w.WriteString(`,"tables":{`)
}

func (j *jsonSink) Table(t *ExportTable) error {
	j.start()
	if len(j.enc.counts) > 0 {
		j.w.WriteString("],")
	}
	j.enc.begin(t)
	j.rows = 0
	j.str(t.Name)
	j.w.WriteString(":[")
	return nil
}

func (j *jsonSink) Row(values []any) error {
	if err := j.enc.check(values); err != nil {
		return err
	}
	if j.rows > 0 {
		j.w.WriteByte(',')
	}
	j.rows++
	j.w.WriteByte('{')
	for i, c := range j.enc.table.Columns {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.str(c.Name)
		j.w.WriteByte(':')
		v, null, err := j.enc.value(i, values)
		if err != nil {
			return err
		}
		switch {
		case null:
			j.w.WriteString("null")
		case c.Kind == ExportInt || c.Kind == ExportBool:
			j.w.WriteString(v)
		default:
			j.str(v)
		}
	}
	j.w.WriteByte('}')
	// A client that went away ends the export instead of letting it read
	// every remaining row for nothing.
	_, err := j.w.Write(nil)
	return err
}

func (j *jsonSink) Close() error {
	j.start()
	if len(j.enc.counts) > 0 {
		j.w.WriteString("]")
	}
	j.w.WriteString(`},"counts":{`)
	for i, c := range j.enc.counts {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.str(c.Table)
		fmt.Fprintf(j.w, ":%d", c.Rows)
	}
	j.w.WriteString("}}\n")
	return j.flush()
}
