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
	"coffer/internal/session"
)

// pageTime is how pages show a moment; the zero time is "Never".
func pageTime(t time.Time) string {
	if t.IsZero() {
		return "Never"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// memberNotices are the messages a member page shows after a redirect
// (?done=…); only these fixed texts can appear, never request input.
var memberNotices = map[string]string{
	"role":    "The member's role was changed.",
	"removed": "The member was removed. Their next request to this organisation is refused.",
	"revoked": "The invitation was revoked; its link no longer works.",

	// Support-assisted second-factor reset (routes_reset.go).
	noticeResetStarted:   "A reset of the member's two-step verification was started. They must confirm it through the link emailed to them; it then takes effect after the waiting period.",
	noticeResetCancelled: "The reset of the member's two-step verification was cancelled.",

	noticeSessionsRevoked: "The member was signed out everywhere. Their next request asks them to sign in again.",
}

type memberRow struct {
	UserID            int64
	Email             string
	Name              string
	Role              access.Role
	MFA               string
	RecoveryCodesLeft int
	LastLogin         string
	Joined            string
	Self              bool
	RolePath          string
	RemovePath        string
	Flags             []string
	// ResetPath starts a reset of the member's second factors; Reset
	// describes one in progress, whose cancel form posts to ResetCancelPath.
	ResetPath, ResetCancelPath, Reset string
}

type invitationRow struct {
	ID         int64
	Email      string
	Role       access.Role
	Expires    string
	RevokePath string
}

type roleOption struct {
	Value string
	Label string
}

// roleOptions are the roles the acting member may hand out; the domain
// enforces the same rule, the form only avoids offering what would fail.
func roleOptions(actor access.Role) []roleOption {
	var out []roleOption
	for _, r := range access.Roles {
		if r == access.Owner && actor != access.Owner {
			continue
		}
		out = append(out, roleOption{Value: string(r), Label: r.Label()})
	}
	return out
}

func toMemberRow(o *orgReq, m *access.Member) memberRow {
	p := &pageOrg{ID: o.Org.ID}
	mfa := "None"
	if len(m.MFAMethods) > 0 {
		mfa = strings.ReplaceAll(strings.ToUpper(strings.Join(m.MFAMethods, ", ")), "TOTP", "Authenticator app")
	}
	return memberRow{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, MFA: mfa, RecoveryCodesLeft: m.RecoveryCodesLeft,
		LastLogin: pageTime(m.LastLoginAt), Joined: pageTime(m.JoinedAt), Self: m.UserID == o.User.ID,
		RolePath: p.Path("members", m.UserID, "role"), RemovePath: p.Path("members", m.UserID, "remove"),
		ResetPath: p.Path("members", m.UserID, "mfa-reset"), ResetCancelPath: p.Path("members", m.UserID, "mfa-reset", "cancel")}
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderMembers(w, r, o, http.StatusOK, "")
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, o *orgReq, status int, message string) {
	ctx := r.Context()
	ms, err := s.members.Members(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	invs, err := s.members.Invitations(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.orgPage(w, r, o, "Members")
	d.Data["Section"] = "members"
	d.Error = message
	if message == "" {
		d.Flash = memberNotices[r.URL.Query().Get("done")]
	}
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = toMemberRow(o, m)
	}
	if err := s.markResets(ctx, o, rows); err != nil {
		s.renderError(w, r, err)
		return
	}
	p := &pageOrg{ID: o.Org.ID}
	irows := make([]invitationRow, len(invs))
	for i, inv := range invs {
		irows[i] = invitationRow{ID: inv.ID, Email: inv.Email, Role: inv.Role, Expires: pageTime(inv.ExpiresAt), RevokePath: p.Path("invitations", inv.ID, "revoke")}
	}
	d.Data["Members"] = rows
	d.Data["Invitations"] = irows
	d.Data["RoleOptions"] = roleOptions(o.Role)
	d.Data["IsOwner"] = o.Role == access.Owner
	d.Data["ReturnTo"] = p.Path("members")
	s.render(w, r, status, "members", d)
}

// memberFormError re-shows the member list with a refused change's reason,
// or the error page when it is not the member's to fix.
func (s *Server) memberFormError(w http.ResponseWriter, r *http.Request, o *orgReq, err error) {
	if st := statusOf(err); st == http.StatusBadRequest || st == http.StatusForbidden || st == http.StatusConflict {
		s.renderMembers(w, r, o, st, errs.Message(err))
		return
	}
	s.renderError(w, r, err)
}

func (s *Server) memberRoleSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := s.members.ChangeRole(r.Context(), o.Actor(), o.Org.ID, id, access.Role(r.PostForm.Get("role"))); err != nil {
		s.memberFormError(w, r, o, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done=role", http.StatusSeeOther)
}

func (s *Server) memberRemoveSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.members.RemoveMember(r.Context(), o.Actor(), o.Org.ID, id); err != nil {
		s.memberFormError(w, r, o, err)
		return
	}
	if id == o.User.ID {
		// Having left, the member has nothing more to see here.
		http.Redirect(w, r, "/orgs", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done=removed", http.StatusSeeOther)
}

func (s *Server) inviteNewPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderInviteNew(w, r, o, http.StatusOK, "", "", string(access.Standard))
}

func (s *Server) renderInviteNew(w http.ResponseWriter, r *http.Request, o *orgReq, status int, message, email, role string) {
	d := s.orgPage(w, r, o, "Invite a member")
	d.Data["Section"] = "members"
	d.Error = message
	d.Data["Email"] = email
	d.Data["Role"] = role
	d.Data["RoleOptions"] = roleOptions(o.Role)
	d.Data["Days"] = int(access.InvitationTTL / (24 * time.Hour))
	s.render(w, r, status, "invite_new", d)
}

func (s *Server) inviteCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	email, role := r.PostForm.Get("email"), r.PostForm.Get("role")
	inv, token, err := s.members.Invite(r.Context(), o.Actor(), o.Role, o.Org.ID, email, access.Role(role))
	if err != nil {
		if st := statusOf(err); st == http.StatusBadRequest || st == http.StatusForbidden || st == http.StatusConflict {
			s.renderInviteNew(w, r, o, st, errs.Message(err), email, role)
			return
		}
		s.renderError(w, r, err)
		return
	}
	d := s.orgPage(w, r, o, "Invitation created")
	d.Data["Section"] = "members"
	d.Data["Email"] = inv.Email
	d.Data["RoleLabel"] = inv.Role.Label()
	d.Data["Expires"] = pageTime(inv.ExpiresAt)
	d.Data["AcceptURL"] = acceptURL(r, token)
	s.render(w, r, http.StatusCreated, "invite_created", d)
}

func (s *Server) inviteRevokeSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.members.RevokeInvitation(r.Context(), o.Actor(), o.Org.ID, id); err != nil {
		s.memberFormError(w, r, o, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("members")+"?done=revoked", http.StatusSeeOther)
}

// flagLabels are the access review's flags for people.
var flagLabels = map[string]string{
	access.FlagAdminInactive30d: "Admin inactive 30+ days",
	access.FlagInactive90d:      "Inactive 90+ days",
	access.FlagNeverSignedIn:    "Never signed in",
}

// flagClasses pick the status badge colour of each flag.
var flagClasses = map[string]string{
	access.FlagAdminInactive30d: "status-unreconciled",
	access.FlagInactive90d:      "status-overdue",
	access.FlagNeverSignedIn:    "status-pending",
}

type flagBadge struct {
	Code, Label, Class string
}

func (s *Server) accessReviewPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	entries, err := s.members.AccessReview(r.Context(), o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		s.writeReviewCSV(w, r, o, entries)
		return
	}
	type reviewRow struct {
		memberRow
		Badges []flagBadge
	}
	rows := make([]reviewRow, len(entries))
	flagged := 0
	for i, e := range entries {
		rows[i] = reviewRow{memberRow: toMemberRow(o, e.Member)}
		for _, f := range e.Flags {
			rows[i].Badges = append(rows[i].Badges, flagBadge{Code: f, Label: flagLabels[f], Class: flagClasses[f]})
		}
		if len(e.Flags) > 0 {
			flagged++
		}
	}
	d := s.orgPage(w, r, o, "Access review")
	d.Data["Section"] = "members"
	d.Data["Rows"] = rows
	d.Data["Flagged"] = flagged
	d.Data["Generated"] = pageTime(s.members.Now())
	d.Data["CSVPath"] = (&pageOrg{ID: o.Org.ID}).Path("access-review") + "?format=csv"
	s.render(w, r, http.StatusOK, "access_review", d)
}

func (s *Server) orgSettingsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	st := o.Org.Settings
	form := url.Values{
		"session_idle_minutes":   {strconv.Itoa(int(st.SessionIdle / time.Minute))},
		"session_absolute_hours": {strconv.Itoa(int(st.SessionAbsolute / time.Hour))},
		"password_expiry_days":   {strconv.Itoa(st.PasswordExpiryDays)},
	}
	if st.ForbidSMS {
		form.Set("forbid_sms", "on")
	}
	if st.RequirePhishingResistant {
		form.Set("require_phishing_resistant", "on")
	}
	if st.ForbidPasskeySignIn {
		form.Set("forbid_passkey_sign_in", "on")
	}
	flash := ""
	if r.URL.Query().Has("saved") {
		flash = "Security settings saved."
	}
	s.renderOrgSettings(w, r, o, http.StatusOK, form, flash, "")
}

func (s *Server) renderOrgSettings(w http.ResponseWriter, r *http.Request, o *orgReq, status int, form url.Values, flash, message string) {
	d := s.orgPage(w, r, o, "Security settings")
	d.Data["Section"] = "settings"
	d.Flash, d.Error = flash, message
	d.Data["IdleMinutes"] = form.Get("session_idle_minutes")
	d.Data["AbsoluteHours"] = form.Get("session_absolute_hours")
	d.Data["ExpiryDays"] = form.Get("password_expiry_days")
	d.Data["ForbidSMS"] = form.Get("forbid_sms") != ""
	d.Data["RequirePhishingResistant"] = form.Get("require_phishing_resistant") != ""
	d.Data["ForbidPasskeySignIn"] = form.Get("forbid_passkey_sign_in") != ""
	d.Data["ReturnTo"] = (&pageOrg{ID: o.Org.ID}).Path("settings")
	s.render(w, r, status, "org_settings", d)
}

// formInt reads a whole number from a form field, naming the field when
// it is not one.
func formInt(form url.Values, name, label string) (int, error) {
	v := strings.TrimSpace(form.Get(name))
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100000 {
		return 0, errs.Errorf(errs.EINVALID, "%s must be a whole number, not %q.", label, clip(v, 20))
	}
	return n, nil
}

func (s *Server) orgSettingsSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	form := r.PostForm
	var problems []string
	idle, err := formInt(form, "session_idle_minutes", "Session idle timeout")
	if err != nil {
		problems = append(problems, errs.Message(err))
	}
	abs, err := formInt(form, "session_absolute_hours", "Session absolute timeout")
	if err != nil {
		problems = append(problems, errs.Message(err))
	}
	expiry, err := formInt(form, "password_expiry_days", "Password expiry")
	if err != nil {
		problems = append(problems, errs.Message(err))
	}
	if len(problems) > 0 {
		s.renderOrgSettings(w, r, o, http.StatusBadRequest, form, "", strings.Join(problems, " "))
		return
	}
	st := access.Settings{
		SessionIdle:              time.Duration(idle) * time.Minute,
		SessionAbsolute:          time.Duration(abs) * time.Hour,
		PasswordExpiryDays:       expiry,
		ForbidSMS:                form.Get("forbid_sms") != "",
		RequirePhishingResistant: form.Get("require_phishing_resistant") != "",
		ForbidPasskeySignIn:      form.Get("forbid_passkey_sign_in") != "",
	}
	if err := s.members.UpdateSettings(r.Context(), o.Actor(), o.Org.ID, st); err != nil {
		if statusOf(err) == http.StatusBadRequest {
			s.renderOrgSettings(w, r, o, http.StatusBadRequest, form, "", errs.Message(err))
			return
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("settings")+"?saved", http.StatusSeeOther)
}

func (s *Server) exportPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d := s.orgPage(w, r, o, "Export all data")
	d.Data["Section"] = "settings"
	p := &pageOrg{ID: o.Org.ID}
	d.Data["ZipPath"] = p.Path("export", "zip")
	d.Data["JSONPath"] = p.Path("export", "json")
	s.render(w, r, http.StatusOK, "export", d)
}

func (s *Server) exportDownload(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.streamExport(w, r, o, r.PathValue("format"))
}

// The invitation pages are public: the link's token is the credential.

// renderInvitationGone is the one page for every dead invitation link.
func (s *Server) renderInvitationGone(w http.ResponseWriter, r *http.Request) {
	d := s.base(w, r, "Invitation not valid")
	d.Data["Status"] = http.StatusGone
	d.Data["Message"] = errs.Message(access.ErrInvitationInvalid)
	s.render(w, r, http.StatusGone, "error", d)
}

// invitationError shows a dead link as 410 and anything else as usual.
func (s *Server) invitationError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, access.ErrInvitationInvalid) {
		s.renderInvitationGone(w, r)
		return
	}
	s.renderError(w, r, err)
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) {
	s.renderInvite(w, r, http.StatusOK, "", "")
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, status int, message, name string) {
	token := r.PathValue("token")
	v, err := s.members.OpenInvitation(r.Context(), token)
	if err != nil {
		s.invitationError(w, r, err)
		return
	}
	d := s.base(w, r, "Join "+v.OrgName)
	d.Error = message
	// A signed-in visitor accepts with their account; anyone else
	// registers or is told to sign in first.
	mode := "register"
	if v.AccountExists {
		mode = "sign_in"
	}
	if ss, u, err := s.auth.Authenticate(r.Context(), cookieValue(r, cookieSession)); err == nil && ss != nil {
		d.User = userData(u)
		mode = "accept"
		if u.Email != v.Invitation.Email {
			mode = "wrong_user"
		}
	}
	d.Data["Mode"] = mode
	d.Data["OrgName"] = v.OrgName
	d.Data["Email"] = v.Invitation.Email
	d.Data["RoleLabel"] = v.Invitation.Role.Label()
	d.Data["Expires"] = pageTime(v.Invitation.ExpiresAt)
	d.Data["Name"] = name
	d.Data["Action"] = "/invite/" + url.PathEscape(token)
	d.Data["AcceptAction"] = "/invite/" + url.PathEscape(token) + "/accept"
	d.Data["MinLength"] = s.auth.Config().Password.MinLength
	s.render(w, r, status, "invite", d)
}

func (s *Server) inviteRegisterSubmit(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	_, org, err := s.members.AcceptAsNewUser(r.Context(), r.PathValue("token"), f.Get("name"), f.Get("password"), f.Get("password_confirm"), clientOf(r))
	if err != nil {
		if errors.Is(err, access.ErrInvitationInvalid) {
			s.renderInvitationGone(w, r)
			return
		}
		if st := statusOf(err); st == http.StatusBadRequest || st == http.StatusConflict || st == http.StatusServiceUnavailable {
			setRetryAfter(w, err)
			s.renderInvite(w, r, st, errs.Message(err), f.Get("name"))
			return
		}
		s.renderError(w, r, err)
		return
	}
	_ = org
	http.Redirect(w, r, "/login?invited", http.StatusSeeOther)
}

func (s *Server) inviteAcceptSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	org, err := s.members.AcceptAsUser(r.Context(), r.PathValue("token"), u, clientOf(r))
	if err != nil {
		if errors.Is(err, access.ErrInvitationInvalid) {
			s.renderInvitationGone(w, r)
			return
		}
		if st := statusOf(err); st == http.StatusForbidden || st == http.StatusConflict {
			s.renderInvite(w, r, st, errs.Message(err), "")
			return
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d", org.ID), http.StatusSeeOther)
}

// passwordPagePath is the password change page; a stale session is sent
// to step up and back here.
const passwordPagePath = "/settings/security/password"

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if !s.auth.Fresh(ss) {
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape(passwordPagePath), http.StatusSeeOther)
		return
	}
	flash := ""
	if r.URL.Query().Has("changed") {
		flash = "Your password was changed. Every other session of yours has been signed out."
	}
	s.renderPassword(w, r, u, http.StatusOK, flash, "")
}

func (s *Server) renderPassword(w http.ResponseWriter, r *http.Request, u *auth.User, status int, flash, message string) {
	d := s.base(w, r, "Change your password")
	d.User = userData(u)
	d.Flash, d.Error = flash, message
	d.Data["MinLength"] = s.auth.Config().Password.MinLength
	d.Data["MaxLength"] = s.auth.Config().Password.MaxLength
	s.render(w, r, status, "password", d)
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	f := r.PostForm
	if f.Get("new_password") != f.Get("new_password_confirm") {
		s.renderPassword(w, r, u, http.StatusBadRequest, "", "The two new passwords do not match.")
		return
	}
	if _, err := s.auth.ChangePassword(r.Context(), ss, u, f.Get("current_password"), f.Get("new_password"), clientOf(r)); err != nil {
		switch st := statusOf(err); {
		case errs.Code(err) == errs.ESTEPUP:
			http.Redirect(w, r, "/step-up?next="+url.QueryEscape(passwordPagePath), http.StatusSeeOther)
		case st == http.StatusBadRequest || st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
			setRetryAfter(w, err)
			s.renderPassword(w, r, u, st, "", errs.Message(err))
		default:
			s.renderError(w, r, err)
		}
		return
	}
	http.Redirect(w, r, passwordPagePath+"?changed", http.StatusSeeOther)
}

// redactPath hides the secret part of a path before it is logged: an
// invitation link's token is a credential.
func redactPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/invite/"); ok && rest != "" {
		if _, tail, found := strings.Cut(rest, "/"); found {
			return "/invite/[token]/" + tail
		}
		return "/invite/[token]"
	}
	return p
}
