package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Status     string   `json:"status"`
	LoginToken string   `json:"login_token"`
	Methods    []string `json:"methods"`
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[loginRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	res, err := s.auth.Login(r.Context(), req.Email, req.Password, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{Status: res.Status, LoginToken: res.LoginToken, Methods: res.Methods})
}

type mfaRequest struct {
	LoginToken string `json:"login_token"`
	proofRequest
}

// proofRequest is a second factor in a JSON body: a code, a WebAuthn
// assertion or the push request being waited on.
type proofRequest struct {
	Method     string          `json:"method"`
	Code       string          `json:"code"`
	Credential json.RawMessage `json:"credential"`
	PushID     int64           `json:"push_id"`
}

func (p proofRequest) proof(defaultMethod string) auth.Proof {
	if p.Method == "" {
		p.Method = defaultMethod
	}
	return auth.Proof{Method: p.Method, Code: p.Code, Credential: p.Credential, PushID: p.PushID}
}

type sessionResponse struct {
	SessionToken string    `json:"session_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

func (s *Server) apiLoginMFA(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[mfaRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	c := clientOf(r)
	iss, err := s.auth.VerifySecondFactor(r.Context(), req.LoginToken, req.proof(""), c)
	if pushPending(w, err) {
		return
	}
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.setDeviceCookie(w, r, iss.Session.UserID)
	writeJSON(w, http.StatusOK, sessionResponse{SessionToken: iss.Token, ExpiresAt: iss.Session.ExpiresAt})
}

// apiEnrollActor resolves the bearer token to a pending login (first
// enrollment, forced) or a signed-in session (adding a factor).
func (s *Server) apiEnrollActor(next func(http.ResponseWriter, *http.Request, auth.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		var a auth.Actor
		var err error
		if strings.HasPrefix(tok, session.LoginPrefix) {
			a.Pending, a.User, err = s.auth.Pending(r.Context(), tok)
		} else {
			a.Session, a.User, err = s.auth.Authenticate(r.Context(), tok)
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
			writeJSONError(w, r, s.log, err)
			return
		}
		next(w, r, a)
	}
}

type enrollResponse struct {
	Secret      string `json:"secret"`
	OtpauthURI  string `json:"otpauth_uri"`
	QRPNGBase64 string `json:"qr_png_base64"`
}

func (s *Server) apiTOTPEnroll(w http.ResponseWriter, r *http.Request, a auth.Actor) {
	en, err := s.auth.BeginTOTPEnrollment(r.Context(), a, false, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, enrollResponse{Secret: en.Secret, OtpauthURI: en.URI, QRPNGBase64: base64.StdEncoding.EncodeToString(en.QRPNG)})
}

type codeRequest struct {
	Code string `json:"code"`
	// ReplaceFactorID, when confirming a new authenticator app, is the
	// app it replaces.
	ReplaceFactorID int64 `json:"replace_factor_id"`
}

type confirmResponse struct {
	RecoveryCodes []string   `json:"recovery_codes"`
	SessionToken  string     `json:"session_token,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
}

func (s *Server) apiTOTPConfirm(w http.ResponseWriter, r *http.Request, a auth.Actor) {
	req, err := decodeJSON[codeRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	res, err := s.auth.ConfirmTOTPEnrollment(r.Context(), a, req.Code, req.ReplaceFactorID, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := confirmResponse{RecoveryCodes: res.RecoveryCodes}
	if out.RecoveryCodes == nil {
		out.RecoveryCodes = []string{}
	}
	if res.Issued != nil {
		out.SessionToken = res.Issued.Token
		out.ExpiresAt = &res.Issued.Session.ExpiresAt
		s.setDeviceCookie(w, r, a.User.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

type authed func(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User)

func (s *Server) apiRequireSession(next authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, u, err := s.auth.Authenticate(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
			writeJSONError(w, r, s.log, err)
			return
		}
		next(w, r, ss, u)
	}
}

type userResponse struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	IsAdmin     bool       `json:"is_admin"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	Session     struct {
		ExpiresAt time.Time `json:"expires_at"`
		MFAAt     time.Time `json:"mfa_at"`
	} `json:"session"`
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	left, err := s.auth.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := userResponse{ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt, RecoveryCodesLeft: left}
	if !u.LastLoginAt.IsZero() {
		out.LastLoginAt = &u.LastLoginAt
	}
	out.Session.ExpiresAt, out.Session.MFAAt = ss.ExpiresAt, ss.MFAAt
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiRegenerateRecoveryCodes(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[proofRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	codes, err := s.auth.RegenerateRecoveryCodes(r.Context(), ss, u, req.proof(auth.MethodTOTP), clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, confirmResponse{RecoveryCodes: codes})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if err := s.auth.Logout(r.Context(), ss, u, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiLogoutAll(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	n, err := s.auth.LogoutEverywhere(r.Context(), u, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"sessions_ended": n})
}

// apiCatchAll is the pattern that takes every API request no route took.
const apiCatchAll = "/api/"

// apiFallback answers API requests that no route took, in JSON: 405 with an
// Allow header when the path has routes for other methods, else 404. The
// catch-all matches every method, so ServeMux never answers 405 itself.
func (s *Server) apiFallback(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != apiCatchAll {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSONError(w, r, s.log, errs.Errorf(errs.EMETHOD, "Use %s for %s.", strings.Join(allow, " or "), r.URL.Path))
			return
		}
		writeJSONError(w, r, s.log, errs.Errorf(errs.ENOTFOUND, "No such API endpoint: %s %s.", r.Method, r.URL.Path))
	}
}

// setDeviceCookie marks this client as one that completed a sign-in for the
// user, for the priority hashing lane on later sign-ins.
func (s *Server) setDeviceCookie(w http.ResponseWriter, r *http.Request, userID int64) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := s.auth.DeviceCookieFor(ctx, userID)
	if err != nil {
		s.log.Warn("device cookie", logKeyRequestID, requestID(r), logKeyErr, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieDevice, Value: v, Path: "/", MaxAge: int(s.auth.Config().DeviceCookieTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}
