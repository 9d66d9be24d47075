// Package notices is the platform's security noticeboard (notices that
// operators post to every user, read state per user, an Atom feed) and its
// inbox of vulnerability reports from the public, which are stored
// encrypted and shown only to operators.
package notices

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
)

// Kinds of notice.
const (
	KindInfo           = "info"
	KindWarning        = "warning"
	KindActionRequired = "action_required" // has a due date
)

// Limits on a notice, so the noticeboard and the feed stay readable.
const (
	MaxTitle = 200
	MaxBody  = 10000
)

// Notice is one post on the noticeboard. Title and body are plain text.
type Notice struct {
	ID    int64
	Kind  string
	Title string
	Body  string
	// DueAt is when a required action must be done by (zero for other
	// kinds).
	DueAt       time.Time
	PublishedAt time.Time
	CreatedAt   time.Time
	CreatedBy   int64
	// Read is whether the user the notice was listed for has marked it
	// read (false when listed for nobody, as in the feed).
	Read bool
}

// KindLabel names a kind for people.
func KindLabel(kind string) string {
	switch kind {
	case KindInfo:
		return "Information"
	case KindWarning:
		return "Warning"
	case KindActionRequired:
		return "Action required"
	}
	return kind
}

// Validate reports every problem with n at once, as one EINVALID error.
func (n *Notice) Validate() error {
	var problems []string
	switch n.Kind {
	case KindInfo, KindWarning:
		if !n.DueAt.IsZero() {
			problems = append(problems, "Only a required action has a due date.")
		}
	case KindActionRequired:
		if n.DueAt.IsZero() {
			problems = append(problems, "A required action needs a due date.")
		}
	default:
		problems = append(problems, "Choose the kind of notice: info, warning or action_required.")
	}
	if t := strings.TrimSpace(n.Title); t == "" || utf8.RuneCountInString(t) > MaxTitle || !utf8.ValidString(t) || strings.ContainsAny(t, "\r\n") {
		problems = append(problems, fmt.Sprintf("Enter a title of 1 to %d characters on one line.", MaxTitle))
	}
	if b := strings.TrimSpace(n.Body); b == "" || utf8.RuneCountInString(b) > MaxBody || !utf8.ValidString(b) {
		problems = append(problems, fmt.Sprintf("Enter a text of 1 to %d characters.", MaxBody))
	}
	if hasControl(n.Title) || hasControl(n.Body) {
		problems = append(problems, "Remove control characters from the title and text.")
	}
	if len(problems) > 0 {
		return errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return nil
}

// hasControl reports characters other than tab and line breaks below
// space, which XML 1.0 (the Atom feed) cannot carry.
func hasControl(s string) bool {
	for _, r := range s {
		if (r < ' ' && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || r == 0xfffe || r == 0xffff {
			return true
		}
	}
	return false
}

// Store is the persistence of notices. Each method is one transaction.
type Store interface {
	audit.Store
	// CreateNotice stores n and sets its ID.
	CreateNotice(ctx context.Context, n *Notice) error
	// FindNotices returns the notices published at or before now, newest
	// first, at most limit, with Read set for userID (0: nobody).
	FindNotices(ctx context.Context, userID int64, now time.Time, limit int) ([]*Notice, error)
	// MarkNoticeRead records that userID read notice id at at (again: no
	// change); ENOTFOUND when no notice id is published at at.
	MarkNoticeRead(ctx context.Context, userID, id int64, at time.Time) error
}

// Service runs the noticeboard and the vulnerability report inbox.
type Service struct {
	store Store
	log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns a Service.
func NewService(store Store, log *slog.Logger) *Service {
	return &Service{store: store, log: log, Now: func() time.Time { return time.Now().UTC() }}
}

func (s *Service) audit(ctx context.Context, u *auth.User, action, outcome string, c auth.Client, detail string) {
	e := &audit.Event{At: s.Now(), Action: action, Outcome: outcome, IP: c.IP, UserAgent: truncate(c.UserAgent, 256), Detail: detail}
	if u != nil {
		e.UserID, e.Subject = u.ID, u.Email
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
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

// errOperatorsOnly refuses a user who is not a platform operator.
func errOperatorsOnly() error {
	return errs.Errorf(errs.EFORBIDDEN, "Only platform operators can do this.")
}

// Post publishes a notice written by actor, who must be a platform
// operator. A zero PublishedAt publishes it now; a later one schedules it.
func (s *Service) Post(ctx context.Context, actor *auth.User, n *Notice, c auth.Client) error {
	if actor == nil || !actor.IsAdmin {
		s.audit(ctx, actor, "notice.post", audit.Failure, c, "reason=not_operator")
		return errOperatorsOnly()
	}
	n.Title, n.Body = strings.TrimSpace(n.Title), strings.TrimSpace(n.Body)
	if err := n.Validate(); err != nil {
		return err
	}
	now := s.Now()
	n.CreatedAt, n.CreatedBy = now, actor.ID
	if n.PublishedAt.IsZero() {
		n.PublishedAt = now
	}
	n.PublishedAt = n.PublishedAt.UTC().Truncate(time.Second)
	if !n.DueAt.IsZero() {
		n.DueAt = n.DueAt.UTC().Truncate(time.Second)
	}
	if err := s.store.CreateNotice(ctx, n); err != nil {
		return err
	}
	s.audit(ctx, actor, "notice.post", audit.Success, c, fmt.Sprintf("notice=%d kind=%s", n.ID, n.Kind))
	return nil
}

// FeedSize is how many notices the Atom feed and the noticeboard show.
const FeedSize = 100

// List returns the published notices, newest first, with Read set for u.
func (s *Service) List(ctx context.Context, u *auth.User) ([]*Notice, error) {
	return s.store.FindNotices(ctx, u.ID, s.Now(), FeedSize)
}

// Unread returns the published notices u has not read, newest first.
func (s *Service) Unread(ctx context.Context, u *auth.User) ([]*Notice, error) {
	all, err := s.List(ctx, u)
	if err != nil {
		return nil, err
	}
	var out []*Notice
	for _, n := range all {
		if !n.Read {
			out = append(out, n)
		}
	}
	return out, nil
}

// Public returns the published notices for the public feed.
func (s *Service) Public(ctx context.Context) ([]*Notice, error) {
	return s.store.FindNotices(ctx, 0, s.Now(), FeedSize)
}

// MarkRead records that u read notice id.
func (s *Service) MarkRead(ctx context.Context, u *auth.User, id int64) error {
	return s.store.MarkNoticeRead(ctx, u.ID, id, s.Now())
}
