package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// SessionGuard decides, from the acting member's and the target member's
// roles in an organisation (read inside the revoking transaction), whether
// the actor may end the target's sessions; its error is returned as is.
type SessionGuard func(actorRole, targetRole string) error

// SessionStore lists and ends a user's sessions. Sessions live in the
// database, so a revoked session is refused at its very next request, on
// every node.
type SessionStore interface {
	// FindUserSessions returns the user's sessions still usable at now
	// (neither past their absolute end nor idle for idle or longer), the
	// most recently used first.
	FindUserSessions(ctx context.Context, userID int64, now time.Time, idle time.Duration) ([]*session.Session, error)
	// DeleteUserSession ends one of the user's sessions; ENOTFOUND if the
	// user has no session with that id (another user's is "not found").
	DeleteUserSession(ctx context.Context, userID, id int64) error
	// DeleteOtherSessions ends every session of the user except keepID and
	// returns how many it ended.
	DeleteOtherSessions(ctx context.Context, userID, keepID int64) (int, error)
	// RevokeMemberSessions, in one transaction, reads the roles of actorID
	// and targetID in orgID, calls guard and ends every session of
	// targetID. ENOTFOUND when either is not a member (the actor's case is
	// reported as the organisation); it returns how many sessions ended.
	RevokeMemberSessions(ctx context.Context, orgID, actorID, targetID int64, guard SessionGuard) (int, error)
}

// SessionInfo is one of a user's sessions as the sessions page shows it:
// never the token or its hash.
type SessionInfo struct {
	ID         int64
	Device     string // the user agent in plain words
	UserAgent  string
	IP         string
	Place      string // "" until a location lookup is configured
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	MFAMethod  string
	Current    bool
}

// Sessions lists the user's active sessions, marking current (the
// session of the request) as such.
func (s *Service) Sessions(ctx context.Context, u *User, current *session.Session) ([]*SessionInfo, error) {
	ss, err := s.store.FindUserSessions(ctx, u.ID, s.Now(), s.cfg.Session.IdleTimeout)
	if err != nil {
		return nil, err
	}
	out := make([]*SessionInfo, 0, len(ss))
	for _, x := range ss {
		out = append(out, &SessionInfo{ID: x.ID, Device: DescribeUserAgent(x.UserAgent), UserAgent: x.UserAgent, IP: x.IP,
			CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt, ExpiresAt: x.ExpiresAt, MFAMethod: x.MFAMethod,
			Current: current != nil && x.ID == current.ID})
	}
	return out, nil
}

// RevokeSession ends one of the user's sessions (the current one too:
// that is signing out). Another user's session is "not found".
func (s *Service) RevokeSession(ctx context.Context, u *User, current *session.Session, id int64, c Client) error {
	if err := s.store.DeleteUserSession(ctx, u.ID, id); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			s.audit(ctx, u.ID, u.Email, "session.revoke", audit.Failure, c, fmt.Sprintf("session=%d reason=not_found", id))
			return errs.Errorf(errs.ENOTFOUND, "Session not found. It may have ended already.")
		}
		return err
	}
	s.audit(ctx, u.ID, u.Email, "session.revoke", audit.Success, c, fmt.Sprintf("session=%d current=%t", id, current != nil && current.ID == id))
	if current == nil || current.ID != id {
		s.notifyUser(ctx, u, "session.revoked", "A session on your account was signed out",
			fmt.Sprintf("One of the sessions on your Coffer account was signed out from %s.", describeClient(c)))
	}
	return nil
}

// RevokeOtherSessions ends every session of the user but current and
// returns how many it ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, u *User, current *session.Session, c Client) (int, error) {
	n, err := s.store.DeleteOtherSessions(ctx, u.ID, current.ID)
	if err != nil {
		return 0, err
	}
	s.audit(ctx, u.ID, u.Email, "session.revoke_others", audit.Success, c, fmt.Sprintf("kept=%d sessions=%d", current.ID, n))
	if n > 0 {
		s.notifyUser(ctx, u, "session.revoked", "Your other sessions were signed out",
			fmt.Sprintf("%d other session(s) on your Coffer account were signed out from %s.", n, describeClient(c)))
	}
	return n, nil
}

// checkSessionRevoke is the rule for a member ending another member's
// sessions: owners and advisers may, and only an owner may end an owner's.
func checkSessionRevoke(actorRole, targetRole string) error {
	if actorRole != roleOwner && actorRole != roleAdviser {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner or adviser of the organisation can sign a member out.")
	}
	if targetRole == roleOwner && actorRole != roleOwner {
		return errs.Errorf(errs.EFORBIDDEN, "Only an owner can sign out an owner.")
	}
	return nil
}

// RevokeMemberSessions ends every session of member targetID of
// organisation orgID, by actor (an owner or adviser there; only an owner
// for an owner), and tells the member. Everything the member holds ends,
// not just their sessions in this organisation: a session is the
// person's, and an administrator acting on a suspected compromise needs
// the attacker out everywhere.
func (s *Service) RevokeMemberSessions(ctx context.Context, actor *User, orgID, targetID int64, c Client) (int, error) {
	refuse := func(reason string, err error) (int, error) {
		s.audit(ctx, actor.ID, actor.Email, "session.revoke_member", audit.Failure, c, fmt.Sprintf("org=%d user=%d reason=%s", orgID, targetID, reason))
		return 0, err
	}
	if actor.ID == targetID {
		return refuse("self", errs.Errorf(errs.EINVALID, "To sign out your own sessions, use Sessions under your account settings."))
	}
	n, err := s.store.RevokeMemberSessions(ctx, orgID, actor.ID, targetID, checkSessionRevoke)
	if err != nil {
		if code := errs.Code(err); code == errs.ENOTFOUND || code == errs.EFORBIDDEN {
			return refuse(code, err)
		}
		return 0, err
	}
	target, err := s.store.FindUserByID(ctx, targetID)
	if err != nil {
		return 0, err
	}
	s.audit(ctx, actor.ID, actor.Email, "session.revoke_member", audit.Success, c, fmt.Sprintf("org=%d user=%d email=%s sessions=%d", orgID, targetID, target.Email, n))
	s.notifyPlain(ctx, target, "session.revoked_by_admin", "An administrator signed you out of Coffer",
		fmt.Sprintf("%s, an administrator of an organisation you belong to, signed out all %d session(s) on your Coffer account. Sign in again to carry on.\n\n"+
			"If you did not expect this, change your password after signing in and review your second factors.", actor.Name, n))
	return n, nil
}

// describeClient says where a request came from, for notifications.
func describeClient(c Client) string {
	if c.IP == "" {
		return "an unknown device"
	}
	return DescribeUserAgent(c.UserAgent) + " at " + c.IP
}

// DescribeUserAgent turns a User-Agent header into plain words ("Firefox
// on Linux", "Coffer API client") for people reviewing their sessions. It
// recognises the common browsers and systems and never fails: anything
// else is "Unknown browser" or, for a short token-like agent, its product
// name.
func DescribeUserAgent(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return "Unknown device"
	}
	if len(ua) > 512 {
		ua = ua[:512]
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		// Order matters: Edge and Opera carry "Chrome", Chrome carries
		// "Safari".
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"HeadlessChrome/", "Headless Chrome"}, {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "Go program"}, {"python-requests/", "Python program"},
		{"coffer", "Coffer client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
		{"Windows", "Windows"}, {"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
		{"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Unknown browser on " + system
	}
	// A plain "product/version" agent: name the product, clipped and
	// stripped of anything but printable ASCII.
	name, _, _ := strings.Cut(ua, "/")
	name, _, _ = strings.Cut(name, " ")
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 40 {
			break
		}
		if r > ' ' && r < 0x7f {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "Unknown device"
	}
	return b.String()
}
