package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// Headers a Coffer Verify device signs its requests with.
const (
	headerDevice    = "X-Coffer-Device"
	headerTimestamp = "X-Coffer-Timestamp"
	headerNonce     = "X-Coffer-Nonce"
	headerSignature = "X-Coffer-Signature"
)

// routesVerify registers Coffer Verify: pairing (a signed-in user starts
// it, the device finishes it with the one-time token), push requests (the
// signing-in client starts one and waits on it; the device, authenticated
// by its key's signature, lists and answers them) and the pages.
func (s *Server) routesVerify(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/mfa/verify/pair", s.apiRequireSession(s.apiVerifyPair))
	mux.HandleFunc("POST /api/v1/mfa/verify/pair/complete", s.apiVerifyPairComplete)
	mux.HandleFunc("POST /api/v1/login/mfa/push", s.apiLoginPush)
	mux.HandleFunc("POST /api/v1/step-up/push", s.apiRequireSession(s.apiStepUpPush))
	mux.HandleFunc("GET /api/v1/mfa/verify/requests", s.apiRequireDevice(s.apiVerifyRequests))
	mux.HandleFunc("POST /api/v1/mfa/verify/requests/{id}/approve", s.apiRequireDevice(s.apiVerifyApprove))
	mux.HandleFunc("POST /api/v1/mfa/verify/requests/{id}/deny", s.apiRequireDevice(s.apiVerifyDeny))

	mux.HandleFunc("GET /settings/security/verify", s.requireSession(s.verifySettingsPage))
	mux.HandleFunc("POST /settings/security/verify", s.csrf(s.requireSession(s.verifyPairSubmit)))
	mux.HandleFunc("GET /verify/pair", s.verifyPairLanding)
	mux.HandleFunc("POST /login/mfa/push", s.csrf(s.loginPushSubmit))
	mux.HandleFunc("POST /login/mfa/push/wait", s.csrf(s.loginPushWait))
	mux.HandleFunc("POST /step-up/push", s.csrf(s.requireSession(s.stepUpPushSubmit)))
	mux.HandleFunc("POST /step-up/push/wait", s.csrf(s.requireSession(s.stepUpPushWait)))
}

// pushPending answers a proof still waiting for the device with 202
// {"status":"pending"}: the client asks again with the same push_id.
func pushPending(w http.ResponseWriter, err error) bool {
	if !errors.Is(err, auth.ErrPushPending) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending", "message": errs.Message(err)})
	return true
}

type verifyPairRequest struct {
	Name string `json:"name"`
}

type verifyPairResponse struct {
	PairingURL  string    `json:"pairing_url"`
	QRPNGBase64 string    `json:"qr_png_base64"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (s *Server) apiVerifyPair(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[verifyPairRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	p, err := s.auth.BeginVerifyPairing(r.Context(), auth.Actor{Session: ss, User: u}, req.Name, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, verifyPairResponse{PairingURL: p.URL, QRPNGBase64: base64.StdEncoding.EncodeToString(p.QRPNG), ExpiresAt: p.ExpiresAt})
}

type verifyPairCompleteRequest struct {
	Token      string `json:"token"`
	PublicKey  string `json:"public_key"`
	DeviceName string `json:"device_name"`
}

type verifyPairCompleteResponse struct {
	DeviceID   string `json:"device_id"`
	FactorID   int64  `json:"factor_id"`
	TOTPSecret string `json:"totp_secret"`
	Account    string `json:"account"`
	Server     string `json:"server"`
	Name       string `json:"name"`
}

func (s *Server) apiVerifyPairComplete(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[verifyPairCompleteRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	pub, err := base64.RawURLEncoding.DecodeString(req.PublicKey)
	if err != nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "public_key must be base64url without padding."))
		return
	}
	d, err := s.auth.CompleteVerifyPairing(r.Context(), req.Token, pub, req.DeviceName, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, verifyPairCompleteResponse{DeviceID: d.DeviceID, FactorID: d.FactorID, TOTPSecret: d.TOTPSecret, Account: d.Account, Server: s.auth.PublicURL, Name: d.Name})
}

type pushStartRequest struct {
	LoginToken string `json:"login_token"`
}

type pushStartResponse struct {
	PushID    int64     `json:"push_id"`
	Number    int       `json:"number"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) apiLoginPush(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[pushStartRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	p, err := s.auth.StartLoginPush(r.Context(), req.LoginToken, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, pushStartResponse{PushID: p.ID, Number: p.Number, ExpiresAt: p.ExpiresAt})
}

func (s *Server) apiStepUpPush(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	p, err := s.auth.StartStepUpPush(r.Context(), ss.ID, u, clientOf(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, pushStartResponse{PushID: p.ID, Number: p.Number, ExpiresAt: p.ExpiresAt})
}

// apiRequireDevice authenticates a Verify device by the signature over
// method, path, timestamp, nonce and body; the handler reads the body
// again from r.
func (s *Server) apiRequireDevice(next func(w http.ResponseWriter, r *http.Request, d *auth.Device)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeJSONError(w, r, s.log, jsonError(err))
			return
		}
		d, err := s.auth.AuthenticateDevice(r.Context(), auth.DeviceRequest{
			DeviceID: r.Header.Get(headerDevice), Timestamp: r.Header.Get(headerTimestamp), Nonce: r.Header.Get(headerNonce),
			Signature: r.Header.Get(headerSignature), Method: r.Method, Path: r.URL.RequestURI(), Body: body,
		}, clientOf(r))
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, d)
	}
}

type pushPromptResponse struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Place     string    `json:"place"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Numbers   []int     `json:"numbers"`
	Challenge string    `json:"challenge"`
}

func (s *Server) apiVerifyRequests(w http.ResponseWriter, r *http.Request, d *auth.Device) {
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 30 {
			writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "wait must be a number of seconds from 0 to 30."))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	ps, err := s.auth.WaitPushRequests(r.Context(), d, wait)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]pushPromptResponse, 0, len(ps))
	for _, p := range ps {
		out = append(out, pushPromptResponse{ID: p.ID, Account: p.Account, IP: p.IP, UserAgent: p.UserAgent, Place: p.Place, CreatedAt: p.CreatedAt,
			ExpiresAt: p.ExpiresAt, Numbers: p.Numbers, Challenge: base64.RawURLEncoding.EncodeToString(p.Challenge)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
}

type pushApproveRequest struct {
	Number    int    `json:"number"`
	Signature string `json:"signature"`
}

func (s *Server) apiVerifyApprove(w http.ResponseWriter, r *http.Request, d *auth.Device) {
	id, err := pathID(r, "id", "Sign-in request")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[pushApproveRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Signature)
	if err != nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "signature must be base64url without padding."))
		return
	}
	if err := s.auth.ApprovePush(r.Context(), d, id, req.Number, sig, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": auth.PushApproved})
}

type pushDenyRequest struct {
	NotMe bool `json:"not_me"`
}

func (s *Server) apiVerifyDeny(w http.ResponseWriter, r *http.Request, d *auth.Device) {
	id, err := pathID(r, "id", "Sign-in request")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[pushDenyRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.auth.DenyPush(r.Context(), d, id, req.NotMe, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": auth.PushDenied})
}

// Pages.

func (s *Server) verifySettingsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderVerifySettings(w, r, u, nil, http.StatusOK, "")
}

// verifyDevice is one paired device on the settings page.
type verifyDevice struct {
	ID                          int64
	Name, Hint, Added, LastUsed string
}

func (s *Server) renderVerifySettings(w http.ResponseWriter, r *http.Request, u *auth.User, p *auth.Pairing, status int, message string) {
	fs, err := s.auth.Factors(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Coffer Verify")
	d.User = userData(u)
	d.Error = message
	var devices []verifyDevice
	for _, f := range fs {
		if f.Kind != auth.KindPush {
			continue
		}
		dev := verifyDevice{ID: f.ID, Name: f.Name, Hint: f.Hint, Added: f.CreatedAt.UTC().Format("2 Jan 2006"), LastUsed: "Never"}
		if !f.LastUsedAt.IsZero() {
			dev.LastUsed = f.LastUsedAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		devices = append(devices, dev)
	}
	d.Data["Devices"] = devices
	if p != nil {
		d.Data["PairingURL"] = p.URL
		d.Data["QRDataURL"] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(p.QRPNG))
		d.Data["ExpiresAt"] = p.ExpiresAt.UTC().Format("15:04 UTC")
	}
	s.render(w, r, status, "settings_verify", d)
}

func (s *Server) verifyPairSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	p, err := s.auth.BeginVerifyPairing(r.Context(), auth.Actor{Session: ss, User: u}, r.PostForm.Get("name"), clientOf(r))
	if err != nil {
		s.pageRefusal(w, r, err, "/settings/security/verify", func(status int, message string) { s.renderVerifySettings(w, r, u, nil, status, message) })
		return
	}
	s.renderVerifySettings(w, r, u, p, http.StatusOK, "")
}

// verifyPairLanding is where a pairing link leads when opened in a
// browser: the token stays in the fragment, which the browser never sends.
func (s *Server) verifyPairLanding(w http.ResponseWriter, r *http.Request) {
	d := s.base(w, r, "Pair Coffer Verify")
	s.render(w, r, http.StatusOK, "verify_pair", d)
}

// pushView is the number and request the push partial shows while waiting.
type pushView struct {
	ID     int64
	Number int
}

func (s *Server) loginPushSubmit(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	p, err := s.auth.StartLoginPush(r.Context(), cookieValue(r, cookieLogin), clientOf(r))
	if err != nil {
		s.renderLoginPush(w, r, u, nil, err)
		return
	}
	s.renderLoginPush(w, r, u, &pushView{ID: p.ID, Number: p.Number}, nil)
}

// renderLoginPush shows the sign-in page's push form: waiting on pv, or
// (pv nil) offering to send a request, with err's message if refused.
func (s *Server) renderLoginPush(w http.ResponseWriter, r *http.Request, u *auth.User, pv *pushView, err error) {
	status := http.StatusOK
	d := s.base(w, r, "Two-step verification")
	if err != nil {
		if status = statusOf(err); status == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		d.Error = errs.Message(err)
	}
	if ferr := s.factorForm(r.Context(), d, u.ID, auth.MethodPush, "/login/mfa", "mfa", "", false); ferr != nil {
		s.renderError(w, r, ferr)
		return
	}
	if pv != nil {
		d.Data["Push"] = pv
	}
	s.render(w, r, status, "mfa", d)
}

// polling reports whether push.js asked (it wants JSON, not a page).
func polling(r *http.Request) bool { return r.Header.Get("X-Coffer-Poll") == "1" }

func (s *Server) loginPushWait(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	p := proofFromForm(r)
	p.Method = auth.MethodPush
	iss, err := s.auth.VerifySecondFactor(r.Context(), cookieValue(r, cookieLogin), p, clientOf(r))
	if err != nil {
		s.pushRefused(w, r, err, func(pv *pushView) { s.renderLoginPush(w, r, u, pv, nil) }, func() { s.renderLoginPush(w, r, u, nil, err) }, p.PushID)
		return
	}
	s.startSession(w, r, iss, u)
	s.pushDone(w, r, "/dashboard")
}

// pushRefused answers a wait that did not succeed: still pending (JSON
// 202 for push.js, else the waiting page again) or refused (JSON with the
// message, else the page with the error).
func (s *Server) pushRefused(w http.ResponseWriter, r *http.Request, err error, waiting func(*pushView), refused func(), pushID int64) {
	pending := errors.Is(err, auth.ErrPushPending)
	if polling(r) {
		if pending {
			pushPending(w, err)
			return
		}
		writeJSONError(w, r, s.log, err)
		return
	}
	if pending {
		n, _ := strconv.Atoi(r.PostForm.Get("number"))
		waiting(&pushView{ID: pushID, Number: n})
		return
	}
	refused()
}

// pushDone sends the client on after an approval.
func (s *Server) pushDone(w http.ResponseWriter, r *http.Request, next string) {
	if polling(r) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "approved", "next": next})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) stepUpPushSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	p, err := s.auth.StartStepUpPush(r.Context(), ss.ID, u, clientOf(r))
	if err != nil {
		s.renderStepUpPush(w, r, u, nil, err)
		return
	}
	s.renderStepUpPush(w, r, u, &pushView{ID: p.ID, Number: p.Number}, nil)
}

func (s *Server) renderStepUpPush(w http.ResponseWriter, r *http.Request, u *auth.User, pv *pushView, err error) {
	next := safeNext(r.PostForm.Get("next"))
	strong := r.PostForm.Get("strong") == "1"
	status := http.StatusOK
	d := s.base(w, r, "Confirm it's you")
	d.User = userData(u)
	if err != nil {
		if status = statusOf(err); status == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		d.Error = errs.Message(err)
	}
	if ferr := s.factorForm(r.Context(), d, u.ID, auth.MethodPush, "/step-up", "step-up", next, strong); ferr != nil {
		s.renderError(w, r, ferr)
		return
	}
	d.Data["Cancel"] = cancelTarget(next)
	if pv != nil {
		d.Data["Push"] = pv
	}
	s.render(w, r, status, "step_up", d)
}

func (s *Server) stepUpPushWait(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	p := proofFromForm(r)
	p.Method = auth.MethodPush
	if err := s.auth.StepUp(r.Context(), ss, u, p, clientOf(r)); err != nil {
		s.pushRefused(w, r, err, func(pv *pushView) { s.renderStepUpPush(w, r, u, pv, nil) }, func() { s.renderStepUpPush(w, r, u, nil, err) }, p.PushID)
		return
	}
	s.pushDone(w, r, safeNext(r.PostForm.Get("next")))
}
