package web

import (
	"net/http"
	"net/url"
	"strings"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesHOTP registers hardware tokens (RFC 4226): registration needs a
// fresh second factor; resynchronising needs a session.
func (s *Server) routesHOTP(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/mfa/hotp/register", s.apiRequireSession(s.apiHOTPRegister))
	mux.HandleFunc("POST /api/v1/mfa/hotp/{id}/resync", s.apiRequireSession(s.apiHOTPResync))
	mux.HandleFunc("GET /settings/security/hotp", s.requireSession(s.hotpPage))
	mux.HandleFunc("POST /settings/security/hotp", s.csrf(s.requireSession(s.hotpRegisterSubmit)))
	mux.HandleFunc("POST /settings/security/hotp/{id}/resync", s.csrf(s.requireSession(s.hotpResyncSubmit)))
}

type hotpRegisterRequest struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Code1  string `json:"code1"`
	Code2  string `json:"code2"`
}

func (s *Server) apiHOTPRegister(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[hotpRegisterRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f, err := s.auth.RegisterHOTP(r.Context(), ss, u, req.Name, req.Secret, req.Code1, req.Code2, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, factorJSON(f))
}

type hotpResyncRequest struct {
	Code1 string `json:"code1"`
	Code2 string `json:"code2"`
}

func (s *Server) apiHOTPResync(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Hardware token")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[hotpResyncRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.auth.ResyncHOTP(r.Context(), u, id, req.Code1, req.Code2, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

const hotpPagePath = "/settings/security/hotp"

func (s *Server) hotpPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderHOTP(w, r, ss, u, http.StatusOK, "", nil)
}

func (s *Server) renderHOTP(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User, status int, message string, form url.Values) {
	tokens, err := s.auth.Factors(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var rows []factorRow
	for _, f := range tokens {
		if f.Kind == auth.KindHOTP {
			rows = append(rows, factorRow{ID: f.ID, Kind: f.Kind, Name: f.Name, Hint: f.Hint})
		}
	}
	d := s.base(w, r, "Hardware token")
	d.User = userData(u)
	d.Error = message
	d.Flash = map[string]string{"resynced": "Token resynchronised."}[r.URL.Query().Get("done")]
	d.Data["Tokens"] = rows
	d.Data["Fresh"] = s.auth.Fresh(ss)
	d.Data["StepUpHref"] = "/step-up?next=" + url.QueryEscape(hotpPagePath)
	if form != nil {
		// The secret is never echoed back into the page.
		d.Data["Name"] = form.Get("name")
	}
	s.render(w, r, status, "settings_hotp", d)
}

func (s *Server) hotpRegisterSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	f := r.PostForm
	_, err := s.auth.RegisterHOTP(r.Context(), ss, u, f.Get("name"), f.Get("secret"), f.Get("code1"), f.Get("code2"), clientOf(r))
	if err != nil {
		s.pageRefusal(w, r, err, hotpPagePath, func(status int, message string) { s.renderHOTP(w, r, ss, u, status, message, f) })
		return
	}
	http.Redirect(w, r, "/settings/security?done=added", http.StatusSeeOther)
}

func (s *Server) hotpResyncSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Hardware token")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	codes := strings.Fields(strings.ReplaceAll(r.PostForm.Get("codes"), ",", " "))
	if len(codes) != 2 {
		s.renderHOTP(w, r, ss, u, http.StatusBadRequest, "Press the token's button twice and enter both codes, separated by a space.", nil)
		return
	}
	err = s.auth.ResyncHOTP(r.Context(), u, id, codes[0], codes[1], clientOf(r))
	switch {
	case err == nil:
		http.Redirect(w, r, hotpPagePath+"?done=resynced", http.StatusSeeOther)
	case statusOf(err) == http.StatusInternalServerError:
		s.renderError(w, r, err)
	default:
		setRetryAfter(w, err)
		s.renderHOTP(w, r, ss, u, statusOf(err), errs.Message(err), nil)
	}
}
