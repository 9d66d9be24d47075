package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/session"
)

// Cookie names use the __Host- prefix: the browser then insists on Secure,
// Path=/ and no Domain, so no subdomain can plant or read them.
const (
	cookieSession = "__Host-coffer_session"
	cookieLogin   = "__Host-coffer_login"
	cookieCSRF    = "__Host-coffer_csrf"
	cookieDevice  = "__Host-coffer_device"
)

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// csrfToken returns the client's CSRF token, issuing one if it has none.
// The token lives in a __Host- cookie and must come back in each form
// (double submit): another site can neither read nor set that cookie.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, cookieCSRF); len(v) == 43 {
		return v
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	setCookie(w, cookieCSRF, v, 0)
	// Later reads in this request see the new token.
	r.AddCookie(&http.Cookie{Name: cookieCSRF, Value: v})
	return v
}

// csrf refuses a form post whose token does not match the cookie, or that
// the browser says came from another site.
func (s *Server) csrf(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			s.renderError(w, r, errs.Errorf(errs.EFORBIDDEN, "This form was sent from another site and was refused."))
			return
		}
		// A file upload's fields, the token among them, are in its
		// multipart body, which ParseForm does not read; parts beyond
		// 1 MiB go to temporary files, removed when the request ends.
		parse := r.ParseForm
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			parse = func() error { return r.ParseMultipartForm(1 << 20) }
		}
		if err := parse(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.renderError(w, r, errs.Errorf(errs.ETOOLARGE, "The form is larger than %d MiB.", tooLarge.Limit>>20))
				return
			}
			s.renderError(w, r, errs.Errorf(errs.EINVALID, "The form could not be read."))
			return
		}
		want := cookieValue(r, cookieCSRF)
		got := r.PostForm.Get("csrf_token")
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			s.renderError(w, r, errs.Errorf(errs.EFORBIDDEN, "Your form expired or did not come from Coffer. Go back, reload the page and try again."))
			return
		}
		next(w, r)
	}
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, title string) pageData {
	return pageData{Title: title, CSRF: csrfToken(w, r), Data: map[string]any{}}
}

func userData(u *auth.User) *pageUser {
	if u == nil {
		return nil
	}
	return &pageUser{Name: u.Name, Email: u.Email}
}

// renderError shows the error page for err with its status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, message := describe(s.log, r, err)
	setRetryAfter(w, err)
	d := s.base(w, r, http.StatusText(status))
	d.Data["Status"] = status
	d.Data["Message"] = message
	if code == errs.EINTERNAL {
		d.Data["ErrorID"] = requestID(r)
	}
	s.render(w, r, status, "error", d)
}

// renderRefused renders page name with err's message when a submission
// was refused (err nil: none); an internal error shows the error page
// instead.
func (s *Server) renderRefused(w http.ResponseWriter, r *http.Request, status int, name string, d pageData, err error) {
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		d.Error = errs.Message(err)
	}
	s.render(w, r, status, name, d)
}

func statusOf(err error) int {
	if st, ok := statusByCode[errs.Code(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.auth.Authenticate(r.Context(), cookieValue(r, cookieSession)); err == nil {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.auth.Authenticate(r.Context(), cookieValue(r, cookieSession)); err == nil {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	// Coming back to the sign-in page abandons a half-finished sign-in.
	clearCookie(w, cookieLogin)
	d := s.base(w, r, "Sign in")
	switch {
	case r.URL.Query().Has("signed_out"):
		d.Flash = "You have signed out."
	case r.URL.Query().Has("expired"):
		d.Flash = "Your sign-in or session has ended. Sign in again."
	case r.URL.Query().Has("invited"):
		d.Flash = "Sign in to finish: you'll set up your authenticator app."
	}
	d.Data["Email"] = ""
	s.render(w, r, http.StatusOK, "login", d)
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	email := r.PostForm.Get("email")
	res, err := s.auth.Login(r.Context(), email, r.PostForm.Get("password"), clientOf(r))
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		d := s.base(w, r, "Sign in")
		d.Error = errs.Message(err)
		d.Data["Email"] = email
		s.render(w, r, statusOf(err), "login", d)
		return
	}
	setCookie(w, cookieLogin, res.LoginToken, s.auth.Config().PendingTTL)
	next := "/login/mfa"
	if res.Status == "mfa_enrollment_required" {
		next = "/enroll"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// pendingLogin resolves the login cookie; on failure it sends the browser
// back to the sign-in page and returns ok=false.
func (s *Server) pendingLogin(w http.ResponseWriter, r *http.Request) (*auth.Pending, *auth.User, bool) {
	p, u, err := s.auth.Pending(r.Context(), cookieValue(r, cookieLogin))
	if err != nil {
		if errs.Code(err) == errs.EUNAUTHORIZED {
			clearCookie(w, cookieLogin)
			http.Redirect(w, r, "/login?expired", http.StatusSeeOther)
			return nil, nil, false
		}
		s.renderError(w, r, err)
		return nil, nil, false
	}
	return p, u, true
}

func (s *Server) enrollPage(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	if p.Stage != auth.StageEnroll {
		http.Redirect(w, r, "/login/mfa", http.StatusSeeOther)
		return
	}
	s.renderEnroll(w, r, auth.Actor{Pending: p, User: u}, http.StatusOK, "")
}

func (s *Server) renderEnroll(w http.ResponseWriter, r *http.Request, a auth.Actor, status int, message string) {
	en, err := s.auth.BeginTOTPEnrollment(r.Context(), a, true, clientOf(r))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Set up your authenticator app")
	d.Error = message
	d.Data["QRDataURL"] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))
	d.Data["SecretDisplay"] = mfa.FormatSecretForDisplay(en.Secret)
	d.Data["Account"] = en.Account
	s.render(w, r, status, "enroll", d)
}

func (s *Server) enrollSubmit(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	a := auth.Actor{Pending: p, User: u}
	res, err := s.auth.ConfirmTOTPEnrollment(r.Context(), a, r.PostForm.Get("code"), 0, clientOf(r))
	if err != nil {
		if st := statusOf(err); st == http.StatusUnauthorized || st == http.StatusTooManyRequests || st == http.StatusBadRequest {
			setRetryAfter(w, err)
			s.renderEnroll(w, r, a, st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	s.startSession(w, r, res.Issued, u)
	s.renderCodes(w, r, u, res.RecoveryCodes)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, iss *auth.Issued, u *auth.User) {
	clearCookie(w, cookieLogin)
	setCookie(w, cookieSession, iss.Token, 0)
	s.setDeviceCookie(w, r, u.ID)
}

func (s *Server) renderCodes(w http.ResponseWriter, r *http.Request, u *auth.User, codes []string) {
	d := s.base(w, r, "Save your recovery codes")
	d.User = userData(u)
	d.Data["Codes"] = codes
	txt := "Coffer recovery codes for " + u.Email + "\nEach code works once. Keep them somewhere safe.\n\n" + strings.Join(codes, "\n") + "\n"
	d.Data["DownloadURL"] = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(txt))
	s.render(w, r, http.StatusOK, "recovery_codes", d)
}

func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	if p.Stage != auth.StageMFA {
		http.Redirect(w, r, "/enroll", http.StatusSeeOther)
		return
	}
	s.renderMFA(w, r, u, r.URL.Query().Get("method"), http.StatusOK, "")
}

func (s *Server) renderMFA(w http.ResponseWriter, r *http.Request, u *auth.User, method string, status int, message string) {
	d := s.base(w, r, "Two-step verification")
	d.Error = message
	d.Data["SMSSent"] = r.URL.Query().Get("sent")
	if err := s.factorForm(r.Context(), d, u.ID, method, "/login/mfa", "mfa", "", false); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, status, "mfa", d)
}

func (s *Server) mfaSubmit(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.pendingLogin(w, r)
	if !ok {
		return
	}
	p := proofFromForm(r)
	iss, err := s.auth.VerifySecondFactor(r.Context(), cookieValue(r, cookieLogin), p, clientOf(r))
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			s.renderError(w, r, err)
			return
		}
		setRetryAfter(w, err)
		s.renderMFA(w, r, u, p.Method, statusOf(err), errs.Message(err))
		return
	}
	s.startSession(w, r, iss, u)
	if p.Method == auth.MethodRecoveryCode {
		// Most likely a lost device: the security page says what to do.
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// requireSession resolves the session cookie; without a live session a
// page request goes to the sign-in page.
func (s *Server) requireSession(next authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, u, err := s.auth.Authenticate(r.Context(), cookieValue(r, cookieSession))
		if err != nil {
			if errs.Code(err) == errs.EUNAUTHORIZED {
				clearCookie(w, cookieSession)
				http.Redirect(w, r, "/login?expired", http.StatusSeeOther)
				return
			}
			s.renderError(w, r, err)
			return
		}
		next(w, r, ss, u)
	}
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	left, err := s.auth.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ms, err := s.orgs.FindUserOrgs(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Dashboard")
	d.User = userData(u)
	d.Data["RecoveryCodesLeft"] = left
	// The way into the books: every organisation the user belongs to.
	type orgLink struct{ Name, Role, Currency, Path string }
	orgs := make([]orgLink, 0, len(ms))
	for _, m := range ms {
		orgs = append(orgs, orgLink{Name: m.Org.Name, Role: m.Role.Label(), Currency: m.Org.Currency, Path: (&pageOrg{ID: m.Org.ID}).Path()})
	}
	d.Data["Orgs"] = orgs
	s.setUnreadNotices(r, d, u)
	d.Data["LastLogin"] = ""
	if !ss.PrevLoginAt.IsZero() {
		d.Data["LastLogin"] = ss.PrevLoginAt.UTC().Format("2 Jan 2006 15:04 UTC") + " from " + ss.PrevLoginIP
	}
	s.render(w, r, http.StatusOK, "dashboard", d)
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderSecurity(w, r, ss, u, http.StatusOK, "")
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User, status int, message string) {
	left, err := s.auth.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	fs, err := s.auth.Factors(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Security")
	d.User = userData(u)
	d.Error = message
	d.Flash = securityFlash[r.URL.Query().Get("done")]
	d.Data["RecoveryCodesLeft"] = left
	var rows []factorRow
	for _, f := range fs {
		row := factorRow{ID: f.ID, Kind: f.Kind, Name: f.Name, Hint: f.Hint, Type: auth.KindLabel(f.Kind), Added: f.CreatedAt.UTC().Format("2 Jan 2006"), LastUsed: "Never",
			PhishingResistant: auth.PhishingResistant(f.Kind)}
		if !f.LastUsedAt.IsZero() {
			row.LastUsed = f.LastUsedAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		rows = append(rows, row)
	}
	d.Data["Factors"] = rows
	d.Data["OnlyOne"] = len(rows) == 1
	// Signing in with a recovery code usually means a lost device: say
	// what to do next.
	d.Data["RecoverySignIn"] = ss.MFAMethod == auth.MethodRecoveryCode
	// A support-assisted reset under way is shown where the member can
	// cancel it.
	if res, err := s.auth.OpenReset(r.Context(), 0, u.ID); err == nil {
		d.Data["Reset"] = res
	} else if errs.Code(err) != errs.ENOTFOUND {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, status, "security", d)
}

// factorRow is one line of the security page's list of factors.
type factorRow struct {
	ID                                      int64
	Kind, Name, Hint, Type, Added, LastUsed string
	PhishingResistant                       bool
}

// securityFlash is what the security page says after a change (?done=…).
var securityFlash = map[string]string{
	"renamed":         "Factor renamed.",
	"removed":         "Factor removed.",
	"added":           "Factor added.",
	"switched":        "Authenticator app switched. Codes from the old app no longer work.",
	"reset_cancelled": "The reset of your two-step verification was cancelled. Your second factors stay as they are.",
}

func (s *Server) regenerateCodes(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	codes, err := s.auth.RegenerateRecoveryCodes(r.Context(), ss, u, proofFromForm(r), clientOf(r))
	if err != nil {
		if st := statusOf(err); st != http.StatusInternalServerError {
			setRetryAfter(w, err)
			s.renderSecurity(w, r, ss, u, st, errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	s.renderCodes(w, r, u, codes)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if err := s.auth.Logout(r.Context(), ss, u, clientOf(r)); err != nil {
		s.renderError(w, r, err)
		return
	}
	clearCookie(w, cookieSession)
	http.Redirect(w, r, "/login?signed_out", http.StatusSeeOther)
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if _, err := s.auth.LogoutEverywhere(r.Context(), u, clientOf(r)); err != nil {
		s.renderError(w, r, err)
		return
	}
	clearCookie(w, cookieSession)
	http.Redirect(w, r, "/login?signed_out", http.StatusSeeOther)
}
