package web

import (
	"net/http"
	"net/url"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesSMS registers codes by SMS or voice call: adding a phone (fresh
// second factor), and sending a code for a pending sign-in or a step-up.
// The code itself is verified by the login and step-up routes (method sms).
func (s *Server) routesSMS(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/mfa/sms/register", s.apiRequireSession(s.apiSMSRegister))
	mux.HandleFunc("POST /api/v1/mfa/sms/confirm", s.apiRequireSession(s.apiSMSConfirm))
	mux.HandleFunc("POST /api/v1/login/mfa/sms/send", s.apiLoginSMSSend)
	mux.HandleFunc("POST /api/v1/step-up/sms/send", s.apiRequireSession(s.apiStepUpSMSSend))
	mux.HandleFunc("POST /login/mfa/sms/send", s.csrf(s.loginSMSSendSubmit))
	mux.HandleFunc("POST /step-up/sms/send", s.csrf(s.requireSession(s.stepUpSMSSendSubmit)))
	mux.HandleFunc("GET /settings/security/sms", s.requireSession(s.smsPage))
	mux.HandleFunc("POST /settings/security/sms", s.csrf(s.requireSession(s.smsRegisterSubmit)))
	mux.HandleFunc("POST /settings/security/sms/confirm", s.csrf(s.requireSession(s.smsConfirmSubmit)))
}

type smsSentResponse struct {
	FactorID  int64     `json:"factor_id"`
	SentTo    string    `json:"sent_to"`
	Channel   string    `json:"channel"`
	ExpiresAt time.Time `json:"expires_at"`
}

func smsSentJSON(sent *auth.SMSSent) smsSentResponse {
	return smsSentResponse{FactorID: sent.FactorID, SentTo: sent.Hint, Channel: sent.Channel, ExpiresAt: sent.ExpiresAt}
}

type smsRegisterRequest struct {
	Phone   string `json:"phone"`
	Name    string `json:"name"`
	Channel string `json:"channel"`
}

func (s *Server) apiSMSRegister(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[smsRegisterRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	sent, err := s.auth.RegisterSMS(r.Context(), ss, u, req.Phone, req.Name, req.Channel, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, smsSentJSON(sent))
}

func (s *Server) apiSMSConfirm(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[codeRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f, err := s.auth.ConfirmSMS(r.Context(), ss, u, req.Code, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, factorJSON(f))
}

type smsSendRequest struct {
	LoginToken string `json:"login_token"`
	Channel    string `json:"channel"`
	FactorID   int64  `json:"factor_id"`
}

func (s *Server) apiLoginSMSSend(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[smsSendRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	sent, err := s.auth.SendLoginSMS(r.Context(), req.LoginToken, req.Channel, req.FactorID, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, smsSentJSON(sent))
}

func (s *Server) apiStepUpSMSSend(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[smsSendRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	sent, err := s.auth.SendStepUpSMS(r.Context(), ss, u, req.Channel, req.FactorID, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, smsSentJSON(sent))
}

// smsSentQuery is what the sign-in and step-up pages get back after a send.
func smsSentQuery(channel string) url.Values {
	q := url.Values{"method": {auth.MethodSMS}, "sent": {"1"}}
	if channel == "voice" {
		q.Set("sent", "voice")
	}
	return q
}

func (s *Server) loginSMSSendSubmit(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	channel := r.PostForm.Get("channel")
	if _, err := s.auth.SendLoginSMS(r.Context(), cookieValue(r, cookieLogin), channel, 0, clientOf(r)); err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		s.renderMFA(w, r, u, auth.MethodSMS, statusOf(err), errs.Message(err))
		return
	}
	http.Redirect(w, r, "/login/mfa?"+smsSentQuery(channel).Encode(), http.StatusSeeOther)
}

func (s *Server) stepUpSMSSendSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	next := safeNext(r.PostForm.Get("next"))
	strong := r.PostForm.Get("strong") == "1"
	channel := r.PostForm.Get("channel")
	if _, err := s.auth.SendStepUpSMS(r.Context(), ss, u, channel, 0, clientOf(r)); err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		s.renderStepUp(w, r, u, next, auth.MethodSMS, strong, statusOf(err), errs.Message(err))
		return
	}
	q := smsSentQuery(channel)
	q.Set("next", next)
	if strong {
		q.Set("strong", "1")
	}
	http.Redirect(w, r, "/step-up?"+q.Encode(), http.StatusSeeOther)
}

const smsPagePath = "/settings/security/sms"

func (s *Server) smsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderSMS(w, r, ss, u, http.StatusOK, "", r.URL.Query().Get("sent") != "")
}

func (s *Server) renderSMS(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User, status int, message string, sent bool) {
	rules, err := s.auth.FactorRules(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Phone for SMS or voice codes")
	d.User = userData(u)
	d.Error = message
	d.Data["Forbidden"] = rules.ForbidSMS
	d.Data["Sent"] = sent
	d.Data["Fresh"] = s.auth.Fresh(ss)
	d.Data["StepUpHref"] = "/step-up?next=" + url.QueryEscape(smsPagePath)
	s.render(w, r, status, "settings_sms", d)
}

func (s *Server) smsRegisterSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	f := r.PostForm
	_, err := s.auth.RegisterSMS(r.Context(), ss, u, f.Get("phone"), f.Get("name"), f.Get("channel"), clientOf(r))
	if err != nil {
		s.pageRefusal(w, r, err, smsPagePath, func(status int, message string) { s.renderSMS(w, r, ss, u, status, message, false) })
		return
	}
	http.Redirect(w, r, smsPagePath+"?sent=1", http.StatusSeeOther)
}

func (s *Server) smsConfirmSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	_, err := s.auth.ConfirmSMS(r.Context(), ss, u, r.PostForm.Get("code"), clientOf(r))
	if err != nil {
		s.pageRefusal(w, r, err, smsPagePath, func(status int, message string) { s.renderSMS(w, r, ss, u, status, message, true) })
		return
	}
	http.Redirect(w, r, "/settings/security?done=added", http.StatusSeeOther)
}
