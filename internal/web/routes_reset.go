package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesReset registers the support-assisted second-factor reset: an owner
// or adviser starts (with a fresh second factor), reads and cancels a
// member's reset; the member confirms or cancels it through the mailed
// links (public pages: the link's token is the credential, GET never
// changes anything because mail scanners open links), or cancels it while
// signed in.
func (s *Server) routesReset(mux *http.ServeMux) {
	// JSON API.
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/members/{user_id}/mfa-reset", access.MembersManage, stepUp, replay, s.apiStartReset)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/members/{user_id}/mfa-reset", access.MembersManage, noStepUp, replay, s.apiMemberReset)
	s.apiOrg(mux, "DELETE /api/v1/orgs/{org}/members/{user_id}/mfa-reset", access.MembersManage, noStepUp, replay, s.apiCancelMemberReset)
	mux.HandleFunc("GET /api/v1/mfa/reset", s.apiRequireSession(s.apiOwnReset))
	mux.HandleFunc("DELETE /api/v1/mfa/reset", s.apiRequireSession(s.apiCancelOwnReset))

	// HTML pages.
	s.pageOrg(mux, "POST /orgs/{org}/members/{user_id}/mfa-reset", access.MembersManage, stepUp, s.memberResetSubmit)
	s.pageOrg(mux, "POST /orgs/{org}/members/{user_id}/mfa-reset/cancel", access.MembersManage, noStepUp, s.memberResetCancelSubmit)
	mux.HandleFunc("POST /settings/security/mfa-reset/cancel", s.csrf(s.requireSession(s.ownResetCancelSubmit)))
	mux.HandleFunc("GET /mfa-reset", s.resetConfirmPage)
	mux.HandleFunc("POST /mfa-reset", s.csrf(s.resetConfirmSubmit))
	mux.HandleFunc("GET /mfa-reset/cancel", s.resetCancelPage)
	mux.HandleFunc("POST /mfa-reset/cancel", s.csrf(s.resetCancelSubmit))
}

// resetJSON is a reset as the API shows it: never a token.
type resetJSON struct {
	ID          int64      `json:"id"`
	UserID      int64      `json:"user_id"`
	OrgID       int64      `json:"org_id"`
	Status      string     `json:"status"`
	StartedBy   string     `json:"started_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmBy   time.Time  `json:"confirm_by"`
	EffectiveAt *time.Time `json:"effective_at"`
}

func toResetJSON(r *auth.Reset) *resetJSON {
	if r == nil {
		return nil
	}
	return &resetJSON{ID: r.ID, UserID: r.UserID, OrgID: r.OrgID, Status: r.Status, StartedBy: r.StartedByName,
		CreatedAt: r.CreatedAt.UTC(), ConfirmBy: r.ConfirmBy.UTC(), EffectiveAt: optTime(r.EffectiveAt)}
}

func (s *Server) apiStartReset(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	res, err := s.auth.StartReset(r.Context(), o.User, o.Org.ID, id, o.Client)
	if err != nil {
		setRetryAfter(w, err)
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, toResetJSON(res))
}

// openReset answers {"reset": …} with the reset in progress, or null.
func (s *Server) openReset(w http.ResponseWriter, r *http.Request, orgID, userID int64) {
	res, err := s.auth.OpenReset(r.Context(), orgID, userID)
	if err != nil && errs.Code(err) != errs.ENOTFOUND {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*resetJSON{"reset": toResetJSON(res)})
}

func (s *Server) apiMemberReset(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if _, err := s.orgs.FindMembership(r.Context(), o.Org.ID, id); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			err = errs.Errorf(errs.ENOTFOUND, "Member not found.")
		}
		writeJSONError(w, r, s.log, err)
		return
	}
	s.openReset(w, r, o.Org.ID, id)
}

func (s *Server) apiCancelMemberReset(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if _, err := s.auth.CancelMemberReset(r.Context(), o.User, o.Org.ID, id, o.Client); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiOwnReset(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.openReset(w, r, 0, u.ID)
}

func (s *Server) apiCancelOwnReset(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if _, err := s.auth.CancelOwnReset(r.Context(), u, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) memberResetSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := s.auth.StartReset(r.Context(), o.User, o.Org.ID, id, o.Client); err != nil {
		setRetryAfter(w, err)
		s.memberFormError(w, r, o, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done="+noticeResetStarted, http.StatusSeeOther)
}

func (s *Server) memberResetCancelSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := s.auth.CancelMemberReset(r.Context(), o.User, o.Org.ID, id, o.Client); err != nil {
		s.memberFormError(w, r, o, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done="+noticeResetCancelled, http.StatusSeeOther)
}

func (s *Server) ownResetCancelSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if _, err := s.auth.CancelOwnReset(r.Context(), u, clientOf(r)); err != nil {
		if st := statusOf(err); st != http.StatusInternalServerError {
			s.renderSecurity(w, r, ss, u, st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/security?done="+noticeResetCancelled, http.StatusSeeOther)
}

// markResets fills in the members list which members have a reset in
// progress started in this organisation (managers only see it).
func (s *Server) markResets(ctx context.Context, o *orgReq, rows []memberRow) error {
	if !access.Manages(o.Role) {
		return nil
	}
	open, err := s.auth.OpenResets(ctx, o.Org.ID)
	if err != nil {
		return err
	}
	byUser := map[int64]*auth.Reset{}
	for _, res := range open {
		byUser[res.UserID] = res
	}
	for i := range rows {
		res := byUser[rows[i].UserID]
		switch {
		case res == nil:
		case res.Status == auth.ResetWaiting:
			rows[i].Reset = "Reset takes effect " + pageTime(res.EffectiveAt)
		default:
			rows[i].Reset = "Reset awaiting confirmation"
		}
	}
	return nil
}

// Notices (?done=…) after a reset is started or cancelled.
const (
	noticeResetStarted   = "reset_started"
	noticeResetCancelled = "reset_cancelled"
)

// The public pages behind the mailed links.

// renderResetGone is the one page for every dead reset link: it says
// neither why nor whether an account is behind it.
func (s *Server) renderResetGone(w http.ResponseWriter, r *http.Request) {
	d := s.base(w, r, "Link not valid")
	d.Data["Status"] = http.StatusGone
	d.Data["Message"] = errs.Message(auth.ErrResetLinkInvalid)
	s.render(w, r, http.StatusGone, "error", d)
}

func (s *Server) resetLinkError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auth.ErrResetLinkInvalid) {
		s.renderResetGone(w, r)
		return
	}
	setRetryAfter(w, err)
	s.renderError(w, r, err)
}

// renderResetPage shows the confirm or cancel page (mode "confirm",
// "cancel"), or what happened after a post ("confirmed", "cancelled").
func (s *Server) renderResetPage(w http.ResponseWriter, r *http.Request, mode, token string, res *auth.Reset) {
	title := map[string]string{"confirm": "Confirm the reset of your two-step verification", "cancel": "Cancel the reset of your two-step verification",
		"confirmed": "Reset confirmed", "cancelled": "Reset cancelled"}[mode]
	d := s.base(w, r, title)
	d.Data["Mode"] = mode
	d.Data["Token"] = token
	d.Data["StartedBy"] = res.StartedByName
	d.Data["OrgName"] = res.OrgName
	d.Data["Started"] = pageTime(res.CreatedAt)
	d.Data["ConfirmBy"] = pageTime(res.ConfirmBy)
	d.Data["Waiting"] = res.Status == auth.ResetWaiting
	if !res.EffectiveAt.IsZero() {
		d.Data["Effective"] = pageTime(res.EffectiveAt)
	}
	d.Data["Wait"] = auth.WaitLabel(s.auth.Config().ResetWait)
	s.render(w, r, http.StatusOK, "mfa_reset", d)
}

func (s *Server) resetConfirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	res, err := s.auth.ResetForConfirmLink(r.Context(), token)
	if err != nil {
		s.resetLinkError(w, r, err)
		return
	}
	s.renderResetPage(w, r, "confirm", token, res)
}

func (s *Server) resetConfirmSubmit(w http.ResponseWriter, r *http.Request) {
	res, err := s.auth.ConfirmReset(r.Context(), r.PostForm.Get("token"), clientOf(r))
	if err != nil {
		s.resetLinkError(w, r, err)
		return
	}
	s.renderResetPage(w, r, "confirmed", "", res)
}

func (s *Server) resetCancelPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	res, err := s.auth.ResetForCancelLink(r.Context(), token)
	if err != nil {
		s.resetLinkError(w, r, err)
		return
	}
	s.renderResetPage(w, r, "cancel", token, res)
}

func (s *Server) resetCancelSubmit(w http.ResponseWriter, r *http.Request) {
	res, err := s.auth.CancelResetByLink(r.Context(), r.PostForm.Get("token"), clientOf(r))
	if err != nil {
		s.resetLinkError(w, r, err)
		return
	}
	s.renderResetPage(w, r, "cancelled", "", res)
}
