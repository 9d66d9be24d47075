package auth

// Support-assisted second-factor reset: an owner or adviser of an
// organisation starts it for a member; the member confirms it through a
// one-time link mailed to them; after a waiting period (during which the
// member, and the organisation's owners and advisers, are told and can
// cancel) the member's next correct password removes every factor and the
// sign-in goes on to enrollment. Nothing here signs anyone in: a reset
// never bypasses the password.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/notify"
	"coffer/internal/session"
)

// Reset statuses. A reset is open while awaiting confirmation (and its
// link is still valid) or waiting; the others are final.
const (
	ResetAwaiting  = "awaiting_confirmation"
	ResetWaiting   = "waiting"
	ResetCancelled = "cancelled"
	ResetCompleted = "completed"
	ResetExpired   = "expired"
)

// Token prefixes of the two links a reset mails: confirm and cancel.
const (
	ResetConfirmPrefix = "cfr_"
	ResetCancelPrefix  = "cfc_"
)

// ResetLinkTTL is how long the confirmation link works.
const ResetLinkTTL = 24 * time.Hour

// Roles as the organisation store names them (package access owns the
// type; auth cannot import it).
const (
	roleOwner   = "owner"
	roleAdviser = "adviser"
)

// ErrResetLinkInvalid is the one answer for a reset link that is unknown,
// used, cancelled or expired: the holder learns nothing about which, nor
// whether an account is behind it.
var ErrResetLinkInvalid = errs.Errorf(errs.ENOTFOUND, "This link is not valid any more. If you still need your two-step verification reset, ask an owner or adviser of your organisation to start a new reset.")

// Reset is a support-assisted reset of one user's second factors.
type Reset struct {
	ID     int64
	UserID int64
	OrgID  int64
	// StartedBy is the owner or adviser who started it.
	StartedBy     int64
	StartedByName string
	OrgName       string
	Status        string
	// ConfirmHash and CancelHash are the hashes of the mailed links'
	// tokens; LaterCancelHash is the cancel link of the second mail.
	ConfirmHash     []byte
	CancelHash      []byte
	LaterCancelHash []byte
	CreatedAt       time.Time
	// ConfirmBy is when the confirmation link stops working.
	ConfirmBy   time.Time
	ConfirmedAt time.Time // zero until confirmed
	// EffectiveAt is when the waiting period ends (zero until confirmed).
	EffectiveAt time.Time
	ClosedAt    time.Time // cancelled, completed or expired at
	ClosedBy    int64     // who cancelled (0: not cancelled)
}

// OpenAt reports whether the reset is still in progress at now.
func (r *Reset) OpenAt(now time.Time) bool {
	return r.Status == ResetWaiting || (r.Status == ResetAwaiting && now.Before(r.ConfirmBy))
}

// ResetGuard decides, from the starter's and the member's roles in the
// organisation (read inside the creating transaction), whether a reset may
// start; its error is returned as is.
type ResetGuard func(actorRole, targetRole string) error

// ResetStore is the persistence of resets.
type ResetStore interface {
	// CreateReset stores r and sets its ID, OrgName and StartedByName. In
	// one transaction it reads the roles of r.StartedBy and r.UserID in
	// r.OrgID and calls guard; it first closes the user's unconfirmed
	// resets whose link expired. ENOTFOUND when the starter (reported as
	// the organisation) or the user (as the member) is not a member;
	// ECONFLICT when the user already has an open reset.
	CreateReset(ctx context.Context, r *Reset, now time.Time, guard ResetGuard) error
	// FindOpenReset returns the user's reset open at now, of any
	// organisation when orgID is 0; ENOTFOUND if none.
	FindOpenReset(ctx context.Context, orgID, userID int64, now time.Time) (*Reset, error)
	// FindOpenResets lists the organisation's resets open at now.
	FindOpenResets(ctx context.Context, orgID int64, now time.Time) ([]*Reset, error)
	// FindResetByConfirmHash and FindResetByCancelHash return the reset
	// whatever its status; ENOTFOUND if no reset has that token.
	FindResetByConfirmHash(ctx context.Context, hash []byte) (*Reset, error)
	FindResetByCancelHash(ctx context.Context, hash []byte) (*Reset, error)
	// ConfirmReset moves reset id from awaiting confirmation (with its
	// link valid at now) to waiting until effectiveAt, and stores the
	// second mail's cancel token hash. ENOTFOUND if it was not awaiting
	// confirmation any more: the link is single-use.
	ConfirmReset(ctx context.Context, id int64, now, effectiveAt time.Time, laterCancelHash []byte) error
	// CancelReset closes reset id as cancelled by userID if it is open at
	// now; ENOTFOUND otherwise.
	CancelReset(ctx context.Context, id, by int64, now time.Time) error
	// CompleteDueReset, when the user has a waiting reset whose
	// effective_at is not after now, deletes in one transaction every
	// factor, recovery code, session, pending sign-in and ceremony
	// challenge of the user and marks the reset completed, and returns it;
	// ENOTFOUND when no reset is due.
	CompleteDueReset(ctx context.Context, userID int64, now time.Time) (*Reset, error)
	// FindDueResetUsers lists users whose waiting reset is due at now.
	FindDueResetUsers(ctx context.Context, now time.Time) ([]int64, error)
	// FindOrgAdmins lists the organisation's owners and advisers.
	FindOrgAdmins(ctx context.Context, orgID int64) ([]*User, error)
}

// checkResetRoles is the rule for who may reset whom: owners and advisers
// reset members, only an owner resets an owner (as with role changes).
func checkResetRoles(actorRole, targetRole string) error {
	if actorRole != roleOwner && actorRole != roleAdviser {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner or adviser of the organisation can reset a member's two-step verification.")
	}
	if targetRole == roleOwner && actorRole != roleOwner {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner can reset an owner's two-step verification.")
	}
	return nil
}

// ResetStartsPerHour bounds how many resets one person may start in an
// hour, so a compromised admin account cannot flood members' mailboxes.
const ResetStartsPerHour = 20

// StartReset starts a reset of member targetID's second factors in
// organisation orgID, by actor (an owner or adviser there), and mails the
// member the confirmation and cancel links. The caller has checked that
// actor may manage members, with a fresh second factor.
func (s *Service) StartReset(ctx context.Context, actor *User, orgID, targetID int64, c Client) (*Reset, error) {
	now := s.Now()
	refuse := func(reason string, err error) (*Reset, error) {
		s.audit(ctx, actor.ID, actor.Email, "mfa.reset.start", audit.Failure, c, fmt.Sprintf("org=%d user=%d reason=%s", orgID, targetID, reason))
		return nil, err
	}
	if actor.ID == targetID {
		return refuse("self", errs.Errorf(errs.EFORBIDDEN, "Nobody can reset their own two-step verification. Sign in with a recovery code and add a new factor, or ask another owner or adviser."))
	}
	n, err := s.store.HitRateLimit(ctx, fmt.Sprintf("mfa-reset-start:%d", actor.ID), time.Hour, now)
	if err != nil {
		return nil, err
	}
	if n > ResetStartsPerHour {
		e := errs.Errorf(errs.ERATELIMIT, "Too many resets started in the last hour. Try again later.")
		e.RetryAfter = 3600 - int(now.Unix()%3600)
		return refuse("rate_limited", e)
	}
	target, err := s.store.FindUserByID(ctx, targetID)
	if errs.Code(err) == errs.ENOTFOUND {
		return refuse("not_member", errs.Errorf(errs.ENOTFOUND, "Member not found."))
	}
	if err != nil {
		return nil, err
	}
	confirm, confirmHash, err := session.NewToken(ResetConfirmPrefix)
	if err != nil {
		return nil, err
	}
	cancel, cancelHash, err := session.NewToken(ResetCancelPrefix)
	if err != nil {
		return nil, err
	}
	r := &Reset{UserID: target.ID, OrgID: orgID, StartedBy: actor.ID, Status: ResetAwaiting, ConfirmHash: confirmHash, CancelHash: cancelHash,
		CreatedAt: now, ConfirmBy: now.Add(ResetLinkTTL)}
	if err := s.store.CreateReset(ctx, r, now, checkResetRoles); err != nil {
		switch errs.Code(err) {
		case errs.ENOTFOUND:
			return refuse("not_member", err)
		case errs.EFORBIDDEN, errs.ECONFLICT:
			return refuse(errs.Code(err), err)
		}
		return nil, err
	}
	s.audit(ctx, actor.ID, actor.Email, "mfa.reset.start", audit.Success, c, fmt.Sprintf("org=%d user=%d reset=%d", orgID, target.ID, r.ID))
	s.notifyPlain(ctx, target, "reset.started", "Confirm the reset of your two-step verification",
		fmt.Sprintf("%s, of %s, started a reset of the two-step verification on your Coffer account.\n\n"+
			"If you asked for this (for example because you lost your phone), confirm it here within 24 hours:\n\n%s\n\n"+
			"After you confirm, there is a waiting period of %s. When it is over, your next sign-in with your password asks you to set up a new authenticator app; all your current second factors and recovery codes stop working.\n\n"+
			"If you did not ask for this, do not confirm. Cancel it here and tell your administrator:\n\n%s",
			r.StartedByName, r.OrgName, s.resetLink("/mfa-reset", confirm), WaitLabel(s.cfg.ResetWait), s.resetLink("/mfa-reset/cancel", cancel)))
	return r, nil
}

// resetLink builds a link to a public reset page with token.
func (s *Service) resetLink(path, token string) string {
	return strings.TrimRight(s.PublicURL, "/") + path + "?token=" + url.QueryEscape(token)
}

// WaitLabel says a waiting period for people ("24 hours").
func WaitLabel(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		h := int(d / time.Hour)
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d minute(s)", int(d/time.Minute))
	}
	return d.String()
}

// notifyPlain sends u a message with its own wording (the reset mails carry
// their own advice, so not the usual letter's).
func (s *Service) notifyPlain(ctx context.Context, u *User, kind, subject, text string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s\n\n", u.Name, text)
	fmt.Fprintf(&b, "When: %s\n\n— Coffer\n", s.Now().Format("2 January 2006 15:04 MST"))
	s.notify(ctx, u.ID, notify.Message{To: u.Email, Subject: subject, Kind: kind, Text: b.String()})
}

// notifyAdmins tells the organisation's owners and advisers (except the
// member concerned) about a reset.
func (s *Service) notifyAdmins(ctx context.Context, r *Reset, kind, subject, text string) {
	admins, err := s.store.FindOrgAdmins(ctx, r.OrgID)
	if err != nil {
		s.log.Error("list organisation admins", "org", r.OrgID, "err", err)
		return
	}
	for _, a := range admins {
		if a.ID != r.UserID {
			s.notifyPlain(ctx, a, kind, subject, text)
		}
	}
}

// resetByToken finds the reset a link's token names, open at now, or
// ErrResetLinkInvalid.
func (s *Service) resetByToken(ctx context.Context, token, prefix string, now time.Time) (*Reset, error) {
	if !strings.HasPrefix(token, prefix) || len(token) > 100 {
		return nil, ErrResetLinkInvalid
	}
	find := s.store.FindResetByConfirmHash
	if prefix == ResetCancelPrefix {
		find = s.store.FindResetByCancelHash
	}
	r, err := find(ctx, session.HashToken(token))
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, ErrResetLinkInvalid
	}
	if err != nil {
		return nil, err
	}
	if !r.OpenAt(now) || (prefix == ResetConfirmPrefix && r.Status != ResetAwaiting) {
		return r, ErrResetLinkInvalid
	}
	return r, nil
}

// ResetForConfirmLink returns the reset a confirmation link names, for the
// page that asks the member to confirm; ErrResetLinkInvalid when the link
// is unknown, used, cancelled or expired. It changes nothing: mail
// scanners open links.
func (s *Service) ResetForConfirmLink(ctx context.Context, token string) (*Reset, error) {
	r, err := s.resetByToken(ctx, token, ResetConfirmPrefix, s.Now())
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ResetForCancelLink is ResetForConfirmLink for a cancel link.
func (s *Service) ResetForCancelLink(ctx context.Context, token string) (*Reset, error) {
	r, err := s.resetByToken(ctx, token, ResetCancelPrefix, s.Now())
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ConfirmReset is the member confirming a reset through the mailed link:
// the waiting period starts, and the member and the organisation's owners
// and advisers are told.
func (s *Service) ConfirmReset(ctx context.Context, token string, c Client) (*Reset, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "reset-ip:"+c.IP, now); err != nil {
		return nil, err
	}
	r, err := s.resetByToken(ctx, token, ResetConfirmPrefix, now)
	if err != nil {
		if r != nil && errors.Is(err, ErrResetLinkInvalid) {
			s.audit(ctx, r.UserID, "", "mfa.reset.confirm", audit.Failure, c, fmt.Sprintf("org=%d reset=%d reason=link_%s", r.OrgID, r.ID, r.Status))
		}
		return nil, err
	}
	u, err := s.store.FindUserByID(ctx, r.UserID)
	if err != nil {
		return nil, err
	}
	later, laterHash, err := session.NewToken(ResetCancelPrefix)
	if err != nil {
		return nil, err
	}
	effective := now.Add(s.cfg.ResetWait)
	if err := s.store.ConfirmReset(ctx, r.ID, now, effective, laterHash); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, ErrResetLinkInvalid
		}
		return nil, err
	}
	r.Status, r.ConfirmedAt, r.EffectiveAt, r.LaterCancelHash = ResetWaiting, now, effective, laterHash
	s.audit(ctx, u.ID, u.Email, "mfa.reset.confirm", audit.Success, c, fmt.Sprintf("org=%d reset=%d effective_at=%s", r.OrgID, r.ID, effective.UTC().Format(time.RFC3339)))
	when := effective.UTC().Format("2 January 2006 15:04 MST")
	s.notifyPlain(ctx, u, "reset.confirmed", "Your two-step verification will be reset",
		fmt.Sprintf("The reset of the two-step verification on your Coffer account, started by %s of %s, was confirmed. It takes effect at %s: "+
			"from then, your next sign-in with your password asks you to set up a new authenticator app, and your current second factors and recovery codes stop working.\n\n"+
			"If you did not ask for this, cancel it now and tell your administrator:\n\n%s", r.StartedByName, r.OrgName, when, s.resetLink("/mfa-reset/cancel", later)))
	s.notifyAdmins(ctx, r, "reset.confirmed", "A member confirmed a two-step verification reset",
		fmt.Sprintf("%s (%s) confirmed the reset of their two-step verification in %s, started by %s. It takes effect at %s. "+
			"If this looks wrong, cancel it on the organisation's members page.", u.Name, u.Email, r.OrgName, r.StartedByName, when))
	return r, nil
}

// CancelResetByLink is the member cancelling through a mailed cancel link.
func (s *Service) CancelResetByLink(ctx context.Context, token string, c Client) (*Reset, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "reset-ip:"+c.IP, now); err != nil {
		return nil, err
	}
	r, err := s.resetByToken(ctx, token, ResetCancelPrefix, now)
	if err != nil {
		if r != nil && errors.Is(err, ErrResetLinkInvalid) {
			s.audit(ctx, r.UserID, "", "mfa.reset.cancel", audit.Failure, c, fmt.Sprintf("org=%d reset=%d reason=link_%s", r.OrgID, r.ID, r.Status))
		}
		return nil, err
	}
	if err := s.cancelReset(ctx, r, r.UserID, "link", c); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, ErrResetLinkInvalid
		}
		return nil, err
	}
	return r, nil
}

// CancelOwnReset is a signed-in member cancelling the reset of their own
// factors.
func (s *Service) CancelOwnReset(ctx context.Context, u *User, c Client) (*Reset, error) {
	r, err := s.store.FindOpenReset(ctx, 0, u.ID, s.Now())
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errs.Errorf(errs.ENOTFOUND, "No reset of your two-step verification is in progress.")
	}
	if err != nil {
		return nil, err
	}
	if err := s.cancelReset(ctx, r, u.ID, "member", c); err != nil {
		return nil, err
	}
	return r, nil
}

// CancelMemberReset is an owner or adviser of orgID cancelling the open
// reset of member targetID started there. The caller has checked that
// actor may manage members.
func (s *Service) CancelMemberReset(ctx context.Context, actor *User, orgID, targetID int64, c Client) (*Reset, error) {
	r, err := s.store.FindOpenReset(ctx, orgID, targetID, s.Now())
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errs.Errorf(errs.ENOTFOUND, "No reset of this member's two-step verification is in progress here.")
	}
	if err != nil {
		return nil, err
	}
	if err := s.cancelReset(ctx, r, actor.ID, "admin", c); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Service) cancelReset(ctx context.Context, r *Reset, by int64, how string, c Client) error {
	now := s.Now()
	if err := s.store.CancelReset(ctx, r.ID, by, now); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return errs.Errorf(errs.ENOTFOUND, "This reset is not in progress any more.")
		}
		return err
	}
	r.Status, r.ClosedAt, r.ClosedBy = ResetCancelled, now, by
	u, err := s.store.FindUserByID(ctx, r.UserID)
	if err != nil {
		return err
	}
	actor := u
	if by != u.ID {
		if actor, err = s.store.FindUserByID(ctx, by); err != nil {
			return err
		}
	}
	s.audit(ctx, actor.ID, actor.Email, "mfa.reset.cancel", audit.Success, c, fmt.Sprintf("org=%d user=%d reset=%d by=%s", r.OrgID, r.UserID, r.ID, how))
	who := "You"
	if by != u.ID {
		who = actor.Name
	}
	s.notifyPlain(ctx, u, "reset.cancelled", "The reset of your two-step verification was cancelled",
		fmt.Sprintf("%s cancelled the reset of the two-step verification on your Coffer account (started by %s of %s). Your second factors stay as they are.",
			who, r.StartedByName, r.OrgName))
	s.notifyAdmins(ctx, r, "reset.cancelled", "A two-step verification reset was cancelled",
		fmt.Sprintf("The reset of %s's (%s) two-step verification in %s, started by %s, was cancelled by %s.", u.Name, u.Email, r.OrgName, r.StartedByName, actor.Name))
	return nil
}

// OpenReset returns the user's reset in progress, of any organisation
// when orgID is 0; ENOTFOUND if none.
func (s *Service) OpenReset(ctx context.Context, orgID, userID int64) (*Reset, error) {
	return s.store.FindOpenReset(ctx, orgID, userID, s.Now())
}

// OpenResets lists the organisation's resets in progress.
func (s *Service) OpenResets(ctx context.Context, orgID int64) ([]*Reset, error) {
	return s.store.FindOpenResets(ctx, orgID, s.Now())
}

// applyDueReset completes a confirmed reset whose waiting period is over.
// Login calls it after a correct password only, so a reset can neither
// bypass the password nor lock out a member who does not know it.
func (s *Service) applyDueReset(ctx context.Context, u *User, c Client, now time.Time) error {
	r, err := s.store.CompleteDueReset(ctx, u.ID, now)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete reset: %w", err)
	}
	s.completed(ctx, u, r, c)
	return nil
}

func (s *Service) completed(ctx context.Context, u *User, r *Reset, c Client) {
	s.audit(ctx, u.ID, u.Email, "mfa.reset.complete", audit.Success, c, fmt.Sprintf("org=%d reset=%d started_by=%d", r.OrgID, r.ID, r.StartedBy))
	s.notifyPlain(ctx, u, "reset.completed", "Your two-step verification was reset",
		fmt.Sprintf("The reset of the two-step verification on your Coffer account, started by %s of %s, took effect. "+
			"Your previous second factors and recovery codes no longer work, and every session was signed out. "+
			"At your next sign-in with your password you set up a new authenticator app.", r.StartedByName, r.OrgName))
	s.notifyAdmins(ctx, r, "reset.completed", "A two-step verification reset took effect",
		fmt.Sprintf("The reset of %s's (%s) two-step verification in %s, started by %s, took effect.", u.Name, u.Email, r.OrgName, r.StartedByName))
}

// CompleteDueResets completes every reset whose waiting period is over,
// for the periodic sweep: the member's old factors stop working on time
// even if they never sign in.
func (s *Service) CompleteDueResets(ctx context.Context) error {
	now := s.Now()
	ids, err := s.store.FindDueResetUsers(ctx, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		u, err := s.store.FindUserByID(ctx, id)
		if err != nil {
			return err
		}
		r, err := s.store.CompleteDueReset(ctx, id, now)
		if errs.Code(err) == errs.ENOTFOUND {
			continue // completed by a sign-in meanwhile
		}
		if err != nil {
			return fmt.Errorf("complete reset: %w", err)
		}
		s.completed(ctx, u, r, Client{})
	}
	return nil
}
