package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type memberJSON struct {
	UserID            int64      `json:"user_id"`
	Email             string     `json:"email"`
	Name              string     `json:"name"`
	Role              string     `json:"role"`
	MFAMethods        []string   `json:"mfa_methods"`
	RecoveryCodesLeft int        `json:"recovery_codes_left"`
	LastLoginAt       *time.Time `json:"last_login_at"`
	JoinedAt          time.Time  `json:"joined_at"`
}

func toMemberJSON(m *access.Member) memberJSON {
	methods := m.MFAMethods
	if methods == nil {
		methods = []string{}
	}
	return memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), MFAMethods: methods,
		RecoveryCodesLeft: m.RecoveryCodesLeft, LastLoginAt: optTime(m.LastLoginAt), JoinedAt: m.JoinedAt.UTC()}
}

func (s *Server) apiListMembers(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ms, err := s.members.Members(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = toMemberJSON(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

type roleRequest struct {
	Role *string `json:"role"`
}

func (s *Server) apiUpdateMember(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[roleRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if req.Role == nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Field \"role\" is required: owner, adviser, standard, invoice_only or read_only."))
		return
	}
	m, err := s.members.ChangeRole(r.Context(), o.Actor(), o.Org.ID, id, access.Role(*req.Role))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toMemberJSON(m))
}

func (s *Server) apiRemoveMember(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "user_id", "Member")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.members.RemoveMember(r.Context(), o.Actor(), o.Org.ID, id); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type invitationJSON struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy int64     `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// AcceptURL is only in the answer that creates the invitation.
	AcceptURL string `json:"accept_url,omitempty"`
}

func toInvitationJSON(inv *access.Invitation) invitationJSON {
	return invitationJSON{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt.UTC(), ExpiresAt: inv.ExpiresAt.UTC()}
}

// acceptURL is the link an invitee opens. It uses the host the inviter
// reached Coffer by: the inviter sees the link and passes it on.
func acceptURL(r *http.Request, token string) string {
	return "https://" + r.Host + "/invite/" + token
}

type inviteRequest struct {
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

func (s *Server) apiCreateInvitation(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[inviteRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	var missing []string
	if req.Email == nil {
		missing = append(missing, `"email"`)
	}
	if req.Role == nil {
		missing = append(missing, `"role"`)
	}
	if len(missing) > 0 {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Missing field %s.", strings.Join(missing, " and ")))
		return
	}
	inv, token, err := s.members.Invite(r.Context(), o.Actor(), o.Role, o.Org.ID, *req.Email, access.Role(*req.Role))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := toInvitationJSON(inv)
	out.AcceptURL = acceptURL(r, token)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiListInvitations(w http.ResponseWriter, r *http.Request, o *orgReq) {
	invs, err := s.members.Invitations(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]invitationJSON, len(invs))
	for i, inv := range invs {
		out[i] = toInvitationJSON(inv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": out})
}

func (s *Server) apiRevokeInvitation(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Invitation")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.members.RevokeInvitation(r.Context(), o.Actor(), o.Org.ID, id); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type reviewEntryJSON struct {
	memberJSON
	Flags []string `json:"flags"`
}

func (s *Server) apiAccessReview(w http.ResponseWriter, r *http.Request, o *orgReq) {
	entries, err := s.members.AccessReview(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		s.writeReviewCSV(w, r, o, entries)
		return
	case "", "json":
	default:
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Unknown format %q: use json or csv.", clip(f, 20)))
		return
	}
	out := make([]reviewEntryJSON, len(entries))
	for i, e := range entries {
		out[i] = reviewEntryJSON{memberJSON: toMemberJSON(e.Member), Flags: e.Flags}
	}
	writeJSON(w, http.StatusOK, map[string]any{"generated_at": s.members.Now().UTC(), "members": out})
}

// writeReviewCSV sends the access review as a CSV download; the rows are
// built in memory first (one per member), so an error is still a clean
// error answer.
func (s *Server) writeReviewCSV(w http.ResponseWriter, r *http.Request, o *orgReq, entries []*access.ReviewEntry) {
	var b strings.Builder
	if err := access.WriteReviewCSV(&b, entries); err != nil {
		s.renderAnyError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-review-`+strconv.FormatInt(o.Org.ID, 10)+"-"+s.members.Now().UTC().Format("2006-01-02")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(b.String()))
}

// renderAnyError answers an API request in JSON and a page request in
// HTML.
func (s *Server) renderAnyError(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.renderError(w, r, err)
}

type settingsJSON struct {
	SessionIdleMinutes       *int  `json:"session_idle_minutes"`
	SessionAbsoluteHours     *int  `json:"session_absolute_hours"`
	PasswordExpiryDays       *int  `json:"password_expiry_days"`
	ForbidSMS                *bool `json:"forbid_sms"`
	RequirePhishingResistant *bool `json:"require_phishing_resistant"`
	// ForbidPasskeySignIn is optional (false when left out): added after
	// the others, so older clients' PUTs keep working.
	ForbidPasskeySignIn *bool `json:"forbid_passkey_sign_in"`
}

func toSettingsJSON(st access.Settings) settingsJSON {
	idle, abs := int(st.SessionIdle/time.Minute), int(st.SessionAbsolute/time.Hour)
	return settingsJSON{SessionIdleMinutes: &idle, SessionAbsoluteHours: &abs, PasswordExpiryDays: &st.PasswordExpiryDays,
		ForbidSMS: &st.ForbidSMS, RequirePhishingResistant: &st.RequirePhishingResistant, ForbidPasskeySignIn: &st.ForbidPasskeySignIn}
}

// settings turns a complete request into Settings; every field is needed,
// since PUT replaces them all.
func (j *settingsJSON) settings() (access.Settings, error) {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"session_idle_minutes", j.SessionIdleMinutes != nil},
		{"session_absolute_hours", j.SessionAbsoluteHours != nil},
		{"password_expiry_days", j.PasswordExpiryDays != nil},
		{"forbid_sms", j.ForbidSMS != nil},
		{"require_phishing_resistant", j.RequirePhishingResistant != nil},
	} {
		if !f.set {
			missing = append(missing, `"`+f.name+`"`)
		}
	}
	if len(missing) > 0 {
		return access.Settings{}, errs.Errorf(errs.EINVALID, "Missing field %s: PUT replaces every setting.", strings.Join(missing, ", "))
	}
	// Bound before multiplying, so a huge number cannot wrap into range.
	if *j.SessionIdleMinutes < 0 || *j.SessionIdleMinutes > 100000 || *j.SessionAbsoluteHours < 0 || *j.SessionAbsoluteHours > 100000 {
		return access.Settings{}, errs.Errorf(errs.EINVALID, "Session idle timeout must be between 1 and 15 minutes, and the absolute timeout between 1 and 12 hours.")
	}
	return access.Settings{
		SessionIdle:              time.Duration(*j.SessionIdleMinutes) * time.Minute,
		SessionAbsolute:          time.Duration(*j.SessionAbsoluteHours) * time.Hour,
		PasswordExpiryDays:       *j.PasswordExpiryDays,
		ForbidSMS:                *j.ForbidSMS,
		RequirePhishingResistant: *j.RequirePhishingResistant,
		ForbidPasskeySignIn:      j.ForbidPasskeySignIn != nil && *j.ForbidPasskeySignIn,
	}, nil
}

func (s *Server) apiGetSettings(w http.ResponseWriter, r *http.Request, o *orgReq) {
	writeJSON(w, http.StatusOK, toSettingsJSON(o.Org.Settings))
}

func (s *Server) apiPutSettings(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[settingsJSON](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	st, err := req.settings()
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.members.UpdateSettings(r.Context(), o.Actor(), o.Org.ID, st); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(st))
}

func (s *Server) apiExport(w http.ResponseWriter, r *http.Request, o *orgReq) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "zip"
	}
	s.streamExport(w, r, o, format)
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) apiChangePassword(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[passwordRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	n, err := s.auth.ChangePassword(r.Context(), ss, u, req.CurrentPassword, req.NewPassword, clientOf(r))
	if err != nil {
		setRetryAfter(w, err)
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"other_sessions_ended": n})
}
