package web

import (
	"net/http"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesSessions registers the signed-in user's sessions (list, sign one
// out, sign out all others) and an owner's or adviser's way to sign a
// member out everywhere. Sessions live in the database, so a revoked one is
// refused at its next request on every node.
func (s *Server) routesSessions(mux *http.ServeMux) {
	// JSON API.
	mux.HandleFunc("GET /api/v1/sessions", s.apiRequireSession(s.apiSessions))
	mux.HandleFunc("DELETE /api/v1/sessions/{id}", s.apiRequireSession(s.apiRevokeSession))
	mux.HandleFunc("POST /api/v1/sessions/revoke-others", s.apiRequireSession(s.apiRevokeOtherSessions))
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/members/{user_id}/sessions/revoke", access.MembersManage, stepUp, replay, s.apiRevokeMemberSessions)

	// HTML pages.
	mux.HandleFunc("GET /settings/sessions", s.requireSession(s.sessionsPage))
	mux.HandleFunc("POST /settings/sessions/{id}/revoke", s.csrf(s.requireSession(s.sessionRevokeSubmit)))
	mux.HandleFunc("POST /settings/sessions/revoke-others", s.csrf(s.requireSession(s.sessionsRevokeOthersSubmit)))
	s.pageOrg(mux, "POST /orgs/{org}/members/{user_id}/sessions/revoke", access.MembersManage, stepUp, s.memberSessionsRevokeSubmit)
}

// sessionJSON is a session as the API shows it: never the token.
type sessionJSON struct {
	ID         int64     `json:"id"`
	Device     string    `json:"device"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Place      string    `json:"place"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	MFAMethod  string    `json:"mfa_method"`
	Current    bool      `json:"current"`
}

func toSessionJSON(x *auth.SessionInfo) sessionJSON {
	return sessionJSON{ID: x.ID, Device: x.Device, UserAgent: x.UserAgent, IP: x.IP, Place: x.Place, CreatedAt: x.CreatedAt.UTC(),
		LastSeenAt: x.LastSeenAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(), MFAMethod: x.MFAMethod, Current: x.Current}
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	list, err := s.auth.Sessions(r.Context(), u, ss)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]sessionJSON, 0, len(list))
	for _, x := range list {
		out = append(out, toSessionJSON(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) apiRevokeSession(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Session")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.auth.RevokeSession(r.Context(), u, ss, id, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRevokeOtherSessions(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	n, err := s.auth.RevokeOtherSessions(r.Context(), u, ss, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"sessions_ended": n})
}

func (s *Server) apiRevokeMemberSessions(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	n, err := s.auth.RevokeMemberSessions(r.Context(), o.User, o.Org.ID, id, o.Client)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"sessions_ended": n})
}

// sessionRow is one line of the sessions page.
type sessionRow struct {
	ID                                          int64
	Device, UserAgent, IP, Place, Created, Seen string
	Current                                     bool
}

// sessionsFlash is what the sessions page says after a change (?done=…).
var sessionsFlash = map[string]string{
	"revoked": "The session was signed out.",
	"others":  "Every other session was signed out.",
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderSessions(w, r, ss, u, http.StatusOK, "")
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User, status int, message string) {
	list, err := s.auth.Sessions(r.Context(), u, ss)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Sessions")
	d.User = userData(u)
	d.Error = message
	d.Flash = sessionsFlash[r.URL.Query().Get("done")]
	rows := make([]sessionRow, 0, len(list))
	for _, x := range list {
		rows = append(rows, sessionRow{ID: x.ID, Device: x.Device, UserAgent: x.UserAgent, IP: x.IP, Place: x.Place,
			Created: pageTime(x.CreatedAt), Seen: pageTime(x.LastSeenAt), Current: x.Current})
	}
	d.Data["Sessions"] = rows
	d.Data["Others"] = len(rows) > 1
	s.setUnreadNotices(r, d, u)
	s.render(w, r, status, "sessions", d)
}

func (s *Server) sessionRevokeSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Session")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.auth.RevokeSession(r.Context(), u, ss, id, clientOf(r)); err != nil {
		if st := statusOf(err); st != http.StatusInternalServerError {
			s.renderSessions(w, r, ss, u, st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	if id == ss.ID {
		// Signing out this very session is signing out.
		clearCookie(w, cookieSession)
		http.Redirect(w, r, "/login?signed_out", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/settings/sessions?done=revoked", http.StatusSeeOther)
}

func (s *Server) sessionsRevokeOthersSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if _, err := s.auth.RevokeOtherSessions(r.Context(), u, ss, clientOf(r)); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/sessions?done=others", http.StatusSeeOther)
}

// noticeSessionsRevoked is the members page's message (?done=…) after a
// member was signed out.
const noticeSessionsRevoked = "sessions_revoked"

func (s *Server) memberSessionsRevokeSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := s.auth.RevokeMemberSessions(r.Context(), o.User, o.Org.ID, id, o.Client); err != nil {
		s.memberFormError(w, r, o, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done="+noticeSessionsRevoked, http.StatusSeeOther)
}
