package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/session"
)

// routesFactors registers what every kind of factor shares: the list,
// rename and removal, over the API and on the security page.
func (s *Server) routesFactors(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/mfa/factors", s.apiRequireSession(s.apiFactors))
	mux.HandleFunc("PATCH /api/v1/mfa/factors/{id}", s.apiRequireSession(s.apiRenameFactor))
	mux.HandleFunc("DELETE /api/v1/mfa/factors/{id}", s.apiRequireSession(s.apiRemoveFactor))
	mux.HandleFunc("POST /settings/security/factors/{id}/rename", s.csrf(s.requireSession(s.renameFactorSubmit)))
	mux.HandleFunc("POST /settings/security/factors/{id}/remove", s.csrf(s.requireSession(s.removeFactorSubmit)))
	mux.HandleFunc("GET "+totpAddPath, s.requireSession(s.totpAddPage))
	mux.HandleFunc("POST "+totpAddPath, s.csrf(s.requireSession(s.totpAddSubmit)))
}

type factorResponse struct {
	ID         int64      `json:"id"`
	Type       string     `json:"type"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// PhishingResistant marks the factors an organisation may require.
	PhishingResistant bool `json:"phishing_resistant"`
}

func factorJSON(f *auth.Factor) factorResponse {
	out := factorResponse{ID: f.ID, Type: f.Kind, Name: f.Name, Hint: f.Hint, CreatedAt: f.CreatedAt, PhishingResistant: auth.PhishingResistant(f.Kind)}
	if !f.LastUsedAt.IsZero() {
		out.LastUsedAt = &f.LastUsedAt
	}
	return out
}

func (s *Server) apiFactors(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	fs, err := s.auth.Factors(r.Context(), u.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	left, err := s.auth.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := []factorResponse{}
	for _, f := range fs {
		out = append(out, factorJSON(f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": out, "recovery_codes_left": left})
}

type renameRequest struct {
	Name string `json:"name"`
}

func (s *Server) apiRenameFactor(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Factor")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[renameRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f, err := s.auth.RenameFactor(r.Context(), u, id, req.Name, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, factorJSON(f))
}

func (s *Server) apiRemoveFactor(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Factor")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.auth.RemoveFactor(r.Context(), ss, u, id, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) renameFactorSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Factor")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := s.auth.RenameFactor(r.Context(), u, id, r.PostForm.Get("name"), clientOf(r)); err != nil {
		if st := statusOf(err); st != http.StatusInternalServerError {
			s.renderSecurity(w, r, ss, u, st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/security?done=renamed", http.StatusSeeOther)
}

func (s *Server) removeFactorSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Factor")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.auth.RemoveFactor(r.Context(), ss, u, id, clientOf(r)); err != nil {
		// Removing needs a fresh factor; the step-up page comes back to the
		// list, where the user presses remove again.
		s.pageRefusal(w, r, err, "/settings/security", func(status int, message string) { s.renderSecurity(w, r, ss, u, status, message) })
		return
	}
	http.Redirect(w, r, "/settings/security?done=removed", http.StatusSeeOther)
}

// totpAddPath is the page that adds an authenticator app, or with
// ?replace=ID switches from that one to a new one.
const totpAddPath = "/settings/security/totp/add"

func (s *Server) totpAddPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	replace, err := queryInt(r, "replace")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderTOTPAdd(w, r, ss, u, replace, http.StatusOK, "")
}

func (s *Server) renderTOTPAdd(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User, replace int64, status int, message string) {
	en, err := s.auth.BeginTOTPEnrollment(r.Context(), auth.Actor{Session: ss, User: u}, true, clientOf(r))
	if errs.Code(err) == errs.ESTEPUP {
		next := totpAddPath
		if replace != 0 {
			next += "?replace=" + strconv.FormatInt(replace, 10)
		}
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	title := "Add an authenticator app"
	if replace != 0 {
		title = "Switch to a new authenticator app"
	}
	d := s.base(w, r, title)
	d.User = userData(u)
	d.Error = message
	d.Data["QRDataURL"] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))
	d.Data["SecretDisplay"] = mfa.FormatSecretForDisplay(en.Secret)
	d.Data["Account"] = en.Account
	d.Data["Action"] = totpAddPath
	d.Data["Adding"] = true
	if replace != 0 {
		d.Data["Replace"] = replace
	}
	s.render(w, r, status, "enroll", d)
}

func (s *Server) totpAddSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	var replace int64
	if v := r.PostForm.Get("replace"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			s.renderError(w, r, errs.Errorf(errs.EINVALID, "The app to replace is not valid."))
			return
		}
		replace = n
	}
	res, err := s.auth.ConfirmTOTPEnrollment(r.Context(), auth.Actor{Session: ss, User: u}, r.PostForm.Get("code"), replace, clientOf(r))
	if err != nil {
		s.pageRefusal(w, r, err, totpAddPath, func(status int, message string) { s.renderTOTPAdd(w, r, ss, u, replace, status, message) })
		return
	}
	if len(res.RecoveryCodes) > 0 {
		s.renderCodes(w, r, u, res.RecoveryCodes)
		return
	}
	done := "added"
	if replace != 0 {
		done = "switched"
	}
	http.Redirect(w, r, "/settings/security?done="+done, http.StatusSeeOther)
}
