package web

import (
	"encoding/json"
	"net/http"
	"net/url"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesWebAuthn registers the webauthn routes (owned by the webauthn work):
// registering security keys and passkeys, their use as a second factor, and
// passkey sign-in without a password. The page endpoints that answer JSON
// are for static/webauthn.js; they take the session or login cookie and a
// CSRF token like every form.
func (s *Server) routesWebAuthn(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/mfa/webauthn/register/options", s.apiRequireSession(s.apiWebAuthnRegisterOptions))
	mux.HandleFunc("POST /api/v1/mfa/webauthn/register", s.apiRequireSession(s.apiWebAuthnRegister))
	mux.HandleFunc("POST /api/v1/login/mfa/webauthn/options", s.apiWebAuthnLoginOptions)
	mux.HandleFunc("POST /api/v1/step-up/webauthn/options", s.apiRequireSession(s.apiWebAuthnStepUpOptions))
	mux.HandleFunc("POST /api/v1/login/passkey/options", s.apiPasskeyOptions)
	mux.HandleFunc("POST /api/v1/login/passkey", s.apiPasskeyLogin)

	mux.HandleFunc("GET /settings/security/webauthn", s.requireSession(s.webAuthnSettingsPage))
	mux.HandleFunc("POST /settings/security/webauthn/options", s.csrf(s.requireSession(s.webAuthnRegisterOptionsJSON)))
	mux.HandleFunc("POST /settings/security/webauthn", s.csrf(s.requireSession(s.webAuthnRegisterSubmit)))
	mux.HandleFunc("POST /login/mfa/webauthn/options", s.csrf(s.webAuthnLoginOptionsJSON))
	mux.HandleFunc("POST /step-up/webauthn/options", s.csrf(s.requireSession(s.webAuthnStepUpOptionsJSON)))
	mux.HandleFunc("POST /login/passkey/options", s.csrf(s.passkeyOptionsJSON))
	mux.HandleFunc("POST /login/passkey", s.csrf(s.passkeySubmit))
}

// webAuthnOptionsResponse carries options for navigator.credentials:
// {"publicKey": {...}} with binary values in base64url.
type webAuthnOptionsResponse struct {
	Options json.RawMessage `json:"options"`
	// ChallengeToken ties a passkey sign-in's answer to these options.
	ChallengeToken string `json:"challenge_token,omitempty"`
}

type webAuthnRegisterOptionsRequest struct {
	Name    string `json:"name"`
	Passkey bool   `json:"passkey"`
}

type webAuthnRegisterRequest struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

type webAuthnLoginOptionsRequest struct {
	LoginToken string `json:"login_token"`
}

type passkeyLoginRequest struct {
	ChallengeToken string          `json:"challenge_token"`
	Credential     json.RawMessage `json:"credential"`
}

func (s *Server) apiWebAuthnRegisterOptions(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[webAuthnRegisterOptionsRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	opts, err := s.auth.BeginWebAuthnRegistration(r.Context(), ss, u, req.Name, req.Passkey, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts})
}

func (s *Server) apiWebAuthnRegister(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[webAuthnRegisterRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f, err := s.auth.FinishWebAuthnRegistration(r.Context(), ss, u, req.Name, req.Credential, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, factorJSON(f))
}

func (s *Server) apiWebAuthnLoginOptions(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[webAuthnLoginOptionsRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	opts, err := s.auth.WebAuthnLoginOptions(r.Context(), req.LoginToken, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts})
}

func (s *Server) apiWebAuthnStepUpOptions(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	opts, err := s.auth.WebAuthnStepUpOptions(r.Context(), ss, u, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts})
}

func (s *Server) apiPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	token, opts, err := s.auth.PasskeyOptions(r.Context(), clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts, ChallengeToken: token})
}

func (s *Server) apiPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[passkeyLoginRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	iss, err := s.auth.PasskeyLogin(r.Context(), req.ChallengeToken, req.Credential, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.setDeviceCookie(w, r, iss.Session.UserID)
	writeJSON(w, http.StatusOK, sessionResponse{SessionToken: iss.Token, ExpiresAt: iss.Session.ExpiresAt})
}

// webAuthnSettingsPage shows the form that registers a security key or
// passkey. Registering needs a fresh second factor, asked for first.
func (s *Server) webAuthnSettingsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if !s.auth.Fresh(ss) {
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape("/settings/security/webauthn"), http.StatusSeeOther)
		return
	}
	s.renderWebAuthnSettings(w, r, u, http.StatusOK, nil)
}

func (s *Server) renderWebAuthnSettings(w http.ResponseWriter, r *http.Request, u *auth.User, status int, refusal error) {
	fs, err := s.auth.Factors(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Add a security key or passkey")
	d.User = userData(u)
	var keys []factorRow
	for _, f := range fs {
		if f.Kind != auth.KindWebAuthn {
			continue
		}
		row := factorRow{ID: f.ID, Kind: f.Kind, Name: f.Name, Hint: f.Hint, Added: f.CreatedAt.UTC().Format("2 Jan 2006"), LastUsed: "Never"}
		if !f.LastUsedAt.IsZero() {
			row.LastUsed = f.LastUsedAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		keys = append(keys, row)
	}
	d.Data["Keys"] = keys
	s.renderRefused(w, r, status, "settings_webauthn", d, refusal)
}

func (s *Server) webAuthnRegisterOptionsJSON(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	opts, err := s.auth.BeginWebAuthnRegistration(r.Context(), ss, u, r.PostForm.Get("name"), r.PostForm.Get("passkey") != "", clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts})
}

func (s *Server) webAuthnRegisterSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	_, err := s.auth.FinishWebAuthnRegistration(r.Context(), ss, u, r.PostForm.Get("name"), []byte(r.PostForm.Get("credential")), clientOf(r))
	switch {
	case err == nil:
		http.Redirect(w, r, "/settings/security?done=added", http.StatusSeeOther)
	case errs.Code(err) == errs.ESTEPUP:
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape("/settings/security/webauthn"), http.StatusSeeOther)
	default:
		setRetryAfter(w, err)
		s.renderWebAuthnSettings(w, r, u, statusOf(err), err)
	}
}

func (s *Server) webAuthnLoginOptionsJSON(w http.ResponseWriter, r *http.Request) {
	opts, err := s.auth.WebAuthnLoginOptions(r.Context(), cookieValue(r, cookieLogin), clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webAuthnOptionsResponse{Options: opts})
}

func (s *Server) webAuthnStepUpOptionsJSON(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.apiWebAuthnStepUpOptions(w, r, ss, u)
}

func (s *Server) passkeyOptionsJSON(w http.ResponseWriter, r *http.Request) {
	s.apiPasskeyOptions(w, r)
}

// passkeySubmit signs in with the passkey answer the login page's script
// posted, or shows the sign-in page again with what went wrong.
func (s *Server) passkeySubmit(w http.ResponseWriter, r *http.Request) {
	iss, err := s.auth.PasskeyLogin(r.Context(), r.PostForm.Get("challenge_token"), []byte(r.PostForm.Get("credential")), clientOf(r))
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		d := s.base(w, r, "Sign in")
		d.Error = errs.Message(err)
		d.Data["Email"] = ""
		s.render(w, r, statusOf(err), "login", d)
		return
	}
	u, err := s.auth.UserByID(r.Context(), iss.Session.UserID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.startSession(w, r, iss, u)
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}
