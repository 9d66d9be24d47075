package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
	"coffer/internal/session"
)

// Route is one organisation-scoped route and the protection it declares:
// the action access.Can must allow for the member's role, and whether a
// fresh second factor is needed. The route × role matrix test reads them.
type Route struct {
	Method  string
	Pattern string // ServeMux pattern path, with {org}
	Action  access.Action
	StepUp  bool
	API     bool
}

// Routes lists the organisation-scoped routes of the handler built last.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// orgReq is an authorised request within one organisation.
type orgReq struct {
	Org *access.Org
	// Exp is the number of decimal places of the organisation's currency.
	Exp     int
	Role    access.Role
	Session *session.Session
	User    *auth.User
	Client  auth.Client
}

// Actor describes the member for the ledger's records and audit log.
func (o *orgReq) Actor() ledger.Actor {
	return ledger.Actor{UserID: o.User.ID, OrgID: o.Org.ID, Email: o.User.Email, IP: o.Client.IP, UserAgent: o.Client.UserAgent}
}

type orgHandler func(w http.ResponseWriter, r *http.Request, o *orgReq)

// Protection levels, spelled out where routes are registered.
const (
	noStepUp = false
	stepUp   = true
)

// Idempotency-Key replay, chosen where an API route is registered.
const (
	replay   = true
	noReplay = false
)

// apiOrg registers an organisation-scoped JSON API route. With replay, a
// write sent with an Idempotency-Key runs at most once and a retry gets the
// stored first answer. A write whose answer holds a one-time secret (an
// invitation link) is registered with noReplay: the replay store would keep
// that secret in the database in plain text; a retried request is refused
// as a duplicate by the domain instead, so it is still never applied twice.
func (s *Server) apiOrg(mux *http.ServeMux, pattern string, action access.Action, fresh, replayable bool, h orgHandler) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Action: action, StepUp: fresh, API: true})
	mux.HandleFunc(pattern, s.apiRequireSession(func(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
		o, err := s.authorize(r, ss, u, action, fresh)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		if replayable && method != http.MethodGet && r.Header.Get("Idempotency-Key") != "" {
			s.idempotent(w, r, o, h)
			return
		}
		h(w, r, o)
	}))
}

// pageOrg registers an organisation-scoped HTML route. Posts are CSRF
// checked; a route needing a fresh second factor sends the browser to the
// step-up page first.
func (s *Server) pageOrg(mux *http.ServeMux, pattern string, action access.Action, fresh bool, h orgHandler) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Action: action, StepUp: fresh})
	handler := s.requireSession(func(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
		o, err := s.authorize(r, ss, u, action, fresh)
		if err != nil {
			if errs.Code(err) == errs.ESTEPUP {
				next := r.URL.Path
				if method != http.MethodGet {
					// A form post cannot be replayed after the detour; the
					// form names the page to come back to.
					next = r.PostFormValue("return_to")
					if safeNext(next) != next {
						next = "/orgs/" + r.PathValue("org")
					}
				}
				target := "/step-up?next=" + url.QueryEscape(next)
				if errors.As(err, new(strongStepUp)) {
					target += "&strong=1"
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			s.renderError(w, r, err)
			return
		}
		h(w, r, o)
	})
	if method != http.MethodGet {
		mux.HandleFunc(pattern, s.csrf(handler))
		return
	}
	mux.HandleFunc(pattern, handler)
}

// authorize finds the member's role in the organisation named by the path
// and applies the organisation's session rules, the permission matrix and
// step-up. A user who is not a member gets "not found": no existence oracle.
func (s *Server) authorize(r *http.Request, ss *session.Session, u *auth.User, action access.Action, fresh bool) (*orgReq, error) {
	notFound := errs.Errorf(errs.ENOTFOUND, "Organisation not found.")
	orgID, err := strconv.ParseInt(r.PathValue("org"), 10, 64)
	if err != nil || orgID <= 0 {
		return nil, notFound
	}
	ctx := r.Context()
	m, err := s.orgs.FindMembership(ctx, orgID, u.ID)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	org, err := s.orgs.FindOrgByID(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.auth.Now()
	st := org.Settings
	if now.Sub(ss.CreatedAt) > st.SessionAbsolute || ss.Idle > st.SessionIdle {
		return nil, errs.Errorf(errs.EUNAUTHORIZED, "This organisation's session limits have ended your session here. Sign in again.")
	}
	if st.PasswordExpiryDays > 0 {
		changed := u.PasswordChangedAt
		if changed.IsZero() {
			changed = u.CreatedAt
		}
		if now.Sub(changed) > time.Duration(st.PasswordExpiryDays)*24*time.Hour {
			return nil, errs.Errorf(errs.EFORBIDDEN, "%s requires a new password every %d days. Change your password under Security settings.", org.Name, st.PasswordExpiryDays)
		}
	}
	if !access.Can(m.Role, action) {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Your role in %s (%s) does not allow this.", org.Name, m.Role.Label())
	}
	// An organisation that requires phishing-resistant factors asks them of
	// owners and advisers on every request, and of everyone for sensitive
	// actions; one that forbids SMS does not accept a session verified by it.
	strong := st.RequirePhishingResistant
	if strong && (m.Role == access.Owner || m.Role == access.Adviser) && !auth.PhishingResistant(ss.MFAMethod) {
		return nil, strongStepUp{errs.Errorf(errs.ESTEPUP, "%s requires owners and advisers to confirm with a security key, a passkey or Coffer Verify.", org.Name)}
	}
	if st.ForbidSMS && ss.MFAMethod == auth.MethodSMS {
		return nil, errs.Errorf(errs.ESTEPUP, "%s does not accept codes by SMS or voice call. Confirm it's you with another factor.", org.Name)
	}
	if fresh && !s.auth.FreshFor(ss, strong) {
		if strong {
			return nil, strongStepUp{errs.Errorf(errs.ESTEPUP, "Confirm it's you with a security key, a passkey or Coffer Verify, then try again.")}
		}
		return nil, errs.Errorf(errs.ESTEPUP, "Confirm it's you: verify a second factor, then try again.")
	}
	exp, err := money.Exponent(org.Currency)
	if err != nil {
		return nil, fmt.Errorf("organisation %d currency: %w", org.ID, err)
	}
	return &orgReq{Org: org, Exp: exp, Role: m.Role, Session: ss, User: u, Client: clientOf(r)}, nil
}

type orgResponse struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Role     string `json:"role"`
	LockDate string `json:"lock_date,omitempty"`
}

func (s *Server) apiOrgs(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	ms, err := s.orgs.FindUserOrgs(r.Context(), u.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := []orgResponse{}
	for _, m := range ms {
		out = append(out, orgResponse{ID: m.Org.ID, Name: m.Org.Name, Currency: m.Org.Currency, Role: string(m.Role), LockDate: m.Org.LockDate})
	}
	writeJSON(w, http.StatusOK, map[string]any{"orgs": out})
}

func (s *Server) apiStepUp(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[proofRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.auth.StepUp(r.Context(), ss, u, req.proof(auth.MethodTOTP), clientOf(r)); err != nil {
		if pushPending(w, err) {
			return
		}
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mfa_at": ss.MFAAt, "valid_until": ss.MFAAt.Add(s.auth.Config().StepUpMaxAge)})
}

// strongStepUp is a step-up only a phishing-resistant factor satisfies.
type strongStepUp struct{ error }

func (e strongStepUp) Unwrap() error { return e.error }

// cancelTarget is where cancelling a step-up goes: not back to next,
// which may itself demand the step-up, but to the organisation's home page
// (or the dashboard).
func cancelTarget(next string) string {
	if rest, ok := strings.CutPrefix(next, "/orgs/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			return "/orgs/" + id
		}
	}
	return "/dashboard"
}

// safeNext keeps a post-step-up redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/dashboard"
	}
	return next
}

func (s *Server) stepUpPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	q := r.URL.Query()
	s.renderStepUp(w, r, u, safeNext(q.Get("next")), q.Get("method"), q.Get("strong") == "1", http.StatusOK, "")
}

func (s *Server) renderStepUp(w http.ResponseWriter, r *http.Request, u *auth.User, next, method string, strong bool, status int, message string) {
	d := s.base(w, r, "Confirm it's you")
	d.User = userData(u)
	d.Error = message
	d.Data["SMSSent"] = r.URL.Query().Get("sent")
	if err := s.factorForm(r.Context(), d, u.ID, method, "/step-up", "step-up", next, strong); err != nil {
		s.renderError(w, r, err)
		return
	}
	d.Data["Cancel"] = cancelTarget(next)
	s.render(w, r, status, "step_up", d)
}

func (s *Server) stepUpSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	next := safeNext(r.PostForm.Get("next"))
	p := proofFromForm(r)
	if err := s.auth.StepUp(r.Context(), ss, u, p, clientOf(r)); err != nil {
		if st := statusOf(err); st != http.StatusInternalServerError {
			setRetryAfter(w, err)
			s.renderStepUp(w, r, u, next, p.Method, r.PostForm.Get("strong") == "1", st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// orgPage fills the page data every organisation page shares.
func (s *Server) orgPage(w http.ResponseWriter, r *http.Request, o *orgReq, title string) pageData {
	d := s.base(w, r, title)
	d.User = userData(o.User)
	d.Org = &pageOrg{ID: o.Org.ID, Name: o.Org.Name, Role: o.Role, Currency: o.Org.Currency}
	return d
}

// pageOrg is what the layout shows of the current organisation.
type pageOrg struct {
	ID       int64
	Name     string
	Role     access.Role
	Currency string
}

// Can lets templates show only what the member's role allows.
func (p *pageOrg) Can(action string) bool {
	return p != nil && access.Can(p.Role, access.Action(action))
}

// Path builds a path inside the organisation: .Org.Path "invoices" →
// /orgs/7/invoices.
func (p *pageOrg) Path(parts ...any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "/orgs/%d", p.ID)
	for _, x := range parts {
		fmt.Fprintf(&b, "/%v", x)
	}
	return b.String()
}
