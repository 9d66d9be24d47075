// Package anomaly notices suspicious activity on accounts: sign-ins from a
// new device, place or hour, travel no one could make, password spraying and
// credential stuffing, repeated second-factor failures, push bombing,
// unusual export volume and sudden role escalation. Each rule that fires
// records a Finding with a severity and takes the rule's actions: alert the
// user, alert the organisation's administrators, require step-up, or lock
// the account until an administrator unlocks it.
//
// Evaluation never slows the request that caused it: Observe only puts the
// event on a bounded queue (dropping, and counting, what does not fit) and
// one worker runs the rules, whose queries all use indexes.
package anomaly

import (
	"context"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
)

// Rules, as stored in findings.rule.
const (
	RuleNewDevice      = "new_device"
	RuleNewRegion      = "new_region"
	RuleImpossible     = "impossible_travel"
	RuleSpraying       = "password_spraying"
	RuleStuffing       = "credential_stuffing"
	RuleMFAFailures    = "mfa_failures"
	RuleMFAFatigue     = "mfa_fatigue"
	RuleExportVolume   = "export_volume"
	RuleUnusualHours   = "unusual_hours"
	RuleRoleEscalation = "role_escalation"
)

// Severities.
const (
	Low    = "low"
	Medium = "medium"
	High   = "high"
)

// Actions a rule takes.
const (
	AlertUser   = "alert_user"
	AlertAdmins = "alert_admins"
	StepUp      = "require_step_up"
	Lock        = "lock_account"
)

// Finding statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// Finding is one rule firing.
type Finding struct {
	ID       int64
	Rule     string
	Severity string
	// UserID is the account concerned, 0 for attacks across accounts.
	UserID int64
	// OrgID is the organisation concerned, 0 for a user or platform
	// finding (an organisation's admins see their members' user findings).
	OrgID int64
	IP    string
	// Detail says what was seen, for people; never a secret or password.
	Detail     string
	Actions    []string
	CreatedAt  time.Time
	Status     string
	ResolvedBy int64
	ResolvedAt time.Time
	// UserEmail is filled in by listings.
	UserEmail string
}

// Validate checks a finding before it is stored.
func (f *Finding) Validate() error {
	switch f.Severity {
	case Low, Medium, High:
	default:
		return errs.Errorf(errs.EINVALID, "Severity must be low, medium or high.")
	}
	if f.Rule == "" || f.Detail == "" || f.CreatedAt.IsZero() {
		return errs.Errorf(errs.EINVALID, "A finding needs a rule, a detail and a time.")
	}
	return nil
}

// Signal kinds: what the rules remember of the events they watch.
const (
	SignalSignIn      = "signin"
	SignalPasswordBad = "password_failure"
	SignalMFABad      = "mfa_failure"
	SignalExport      = "export"
)

// Signal is one remembered event.
type Signal struct {
	ID     int64
	Kind   string
	UserID int64
	// Account is a hash of the email tried (password failures), so that
	// distinct accounts can be counted without keeping the address.
	Account string
	// Known is whether the email tried belongs to an account.
	Known     bool
	IP        string
	UserAgent string
	// Device is a hash of the device cookie the client sent, if any.
	Device  string
	Country string
	Lat     float64
	Lon     float64
	HasLoc  bool
	At      time.Time
}

// SignalFilter selects signals, newest first.
type SignalFilter struct {
	Kind   string
	UserID int64  // 0: any
	IP     string // "": any
	Since  time.Time
	Limit  int
}

// Recipient is someone to notify.
type Recipient struct {
	UserID int64
	Email  string
}

// FindingFilter selects findings, newest first.
type FindingFilter struct {
	Status string // "", open or resolved
	Limit  int
}

// Store is the persistence anomaly detection needs. Methods return
// *errs.Error ENOTFOUND for a finding not in the organisation and ECONFLICT
// for resolving a resolved finding; other errors are internal.
type Store interface {
	audit.Store
	// RecordSignal stores s and sets its ID.
	RecordSignal(ctx context.Context, s *Signal) error
	// FindSignals returns signals matching f, newest first.
	FindSignals(ctx context.Context, f SignalFilter) ([]*Signal, error)
	// CountUnapprovedPushes counts the user's Coffer Verify push requests
	// created since that were denied or not (yet) answered.
	CountUnapprovedPushes(ctx context.Context, userID int64, since time.Time) (int, error)
	// CreateFinding stores f and sets its ID.
	CreateFinding(ctx context.Context, f *Finding) error
	// HasFindingSince reports whether rule already fired for that user and
	// client address (either may be zero) since then.
	HasFindingSince(ctx context.Context, rule string, userID int64, ip string, since time.Time) (bool, error)
	// FindFindings lists an organisation's findings: its own and its
	// members' user findings. orgID 0 lists every finding (platform view).
	FindFindings(ctx context.Context, orgID int64, f FindingFilter) ([]*Finding, error)
	// ResolveFinding marks one of the organisation's findings resolved
	// (orgID 0: any finding); ENOTFOUND or ECONFLICT.
	ResolveFinding(ctx context.Context, orgID, id, by int64, at time.Time) (*Finding, error)
	// UserEmail returns a user's address; ENOTFOUND if none.
	UserEmail(ctx context.Context, userID int64) (string, error)
	// UserOrgIDs lists the organisations a user belongs to.
	UserOrgIDs(ctx context.Context, userID int64) ([]int64, error)
	// OrgAdmins lists an organisation's owners and advisers.
	OrgAdmins(ctx context.Context, orgID int64) ([]Recipient, error)
	// PlatformAdmins lists the platform's administrators.
	PlatformAdmins(ctx context.Context) ([]Recipient, error)
	// UsersOrgIDs lists the organisations any of the users belongs to.
	UsersOrgIDs(ctx context.Context, userIDs []int64) ([]int64, error)
	// ExpireStepUp makes every session of the user old for step-up, so
	// its next sensitive action asks for a second factor again.
	ExpireStepUp(ctx context.Context, userID int64) (int, error)
}

// Locker locks an account until an administrator unlocks it; auth.Service
// implements it.
type Locker interface {
	HoldAccount(ctx context.Context, userID int64, reason string) error
}
