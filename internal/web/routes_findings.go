package web

import (
	"fmt"
	"net/http"
	"time"

	"coffer/internal/access"
	"coffer/internal/anomaly"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// routesFindings registers the anomaly findings: an organisation's owners
// and advisers see and resolve theirs (and their members' account
// findings); platform administrators see every finding. Resolving needs
// no step-up: it changes no access, and is audited.
func (s *Server) routesFindings(mux *http.ServeMux) {
	if s.findings == nil {
		return
	}
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/findings", access.AuditRead, noStepUp, noReplay, s.apiFindings)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/findings/{id}/resolve", access.MembersManage, noStepUp, replay, s.apiResolveFinding)
	s.pageOrg(mux, "GET /orgs/{org}/findings", access.AuditRead, noStepUp, s.findingsPage)
	s.pageOrg(mux, "POST /orgs/{org}/findings/{id}/resolve", access.MembersManage, noStepUp, s.resolveFindingSubmit)
	mux.HandleFunc("GET /api/v1/admin/findings", s.apiRequireSession(s.apiAdminFindings))
	mux.HandleFunc("GET /admin/findings", s.requireSession(s.adminFindingsPage))
	mux.HandleFunc("POST /admin/findings/{id}/resolve", s.csrf(s.requireSession(s.adminResolveFinding)))
}

type findingResponse struct {
	ID         int64      `json:"id"`
	Rule       string     `json:"rule"`
	Label      string     `json:"label"`
	Severity   string     `json:"severity"`
	UserID     int64      `json:"user_id"`
	UserEmail  string     `json:"user_email,omitempty"`
	OrgID      int64      `json:"org_id"`
	IP         string     `json:"ip"`
	Detail     string     `json:"detail"`
	Actions    []string   `json:"actions"`
	CreatedAt  time.Time  `json:"created_at"`
	Status     string     `json:"status"`
	ResolvedBy int64      `json:"resolved_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

func findingOut(f *anomaly.Finding) findingResponse {
	out := findingResponse{ID: f.ID, Rule: f.Rule, Label: anomaly.RuleLabel(f.Rule), Severity: f.Severity, UserID: f.UserID, UserEmail: f.UserEmail, OrgID: f.OrgID,
		IP: f.IP, Detail: f.Detail, Actions: f.Actions, CreatedAt: f.CreatedAt, Status: f.Status, ResolvedBy: f.ResolvedBy}
	if out.Actions == nil {
		out.Actions = []string{}
	}
	if !f.ResolvedAt.IsZero() {
		t := f.ResolvedAt
		out.ResolvedAt = &t
	}
	return out
}

func findingsOut(fs []*anomaly.Finding) []findingResponse {
	out := make([]findingResponse, 0, len(fs))
	for _, f := range fs {
		out = append(out, findingOut(f))
	}
	return out
}

func findingFilter(r *http.Request) anomaly.FindingFilter {
	return anomaly.FindingFilter{Status: r.URL.Query().Get("status")}
}

func (s *Server) apiFindings(w http.ResponseWriter, r *http.Request, o *orgReq) {
	fs, err := s.findings.Findings(r.Context(), o.Org.ID, findingFilter(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"findings": findingsOut(fs)})
}

func findingActor(u *auth.User, c auth.Client) anomaly.Actor {
	return anomaly.Actor{UserID: u.ID, Email: u.Email, IP: c.IP, UserAgent: c.UserAgent}
}

func (s *Server) apiResolveFinding(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Finding")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	f, err := s.findings.Resolve(r.Context(), o.Org.ID, id, findingActor(o.User, o.Client))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, findingOut(f))
}

func (s *Server) findingsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	fs, err := s.findings.Findings(r.Context(), o.Org.ID, findingFilter(r))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.orgPage(w, r, o, "Security findings")
	if _, ok := r.URL.Query()["resolved"]; ok {
		d.Flash = "The finding is marked resolved."
	}
	d.Data["Findings"] = findingRows(fs)
	d.Data["Status"] = r.URL.Query().Get("status")
	d.Data["Action"] = func(id int64) string { return fmt.Sprintf("/orgs/%d/findings/%d/resolve", o.Org.ID, id) }
	s.render(w, r, http.StatusOK, "findings", d)
}

func (s *Server) resolveFindingSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Finding")
	if err == nil {
		_, err = s.findings.Resolve(r.Context(), o.Org.ID, id, findingActor(o.User, o.Client))
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/findings?resolved", o.Org.ID), http.StatusSeeOther)
}

// findingRow is a finding as the pages show it.
type findingRow struct {
	*anomaly.Finding
	Label    string
	Created  string
	Resolved string
}

func findingRows(fs []*anomaly.Finding) []findingRow {
	out := make([]findingRow, 0, len(fs))
	for _, f := range fs {
		row := findingRow{Finding: f, Label: anomaly.RuleLabel(f.Rule), Created: f.CreatedAt.UTC().Format("2 Jan 2006 15:04 UTC")}
		if !f.ResolvedAt.IsZero() {
			row.Resolved = f.ResolvedAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		out = append(out, row)
	}
	return out
}

// platformAdmin refuses anyone but a platform administrator, as "not
// found" so the page's existence says nothing.
func platformAdmin(u *auth.User) error {
	if !u.IsAdmin {
		return errs.Errorf(errs.ENOTFOUND, "Page not found.")
	}
	return nil
}

func (s *Server) apiAdminFindings(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if err := platformAdmin(u); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	fs, err := s.findings.Findings(r.Context(), 0, findingFilter(r))
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"findings": findingsOut(fs)})
}

func (s *Server) adminFindingsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if err := platformAdmin(u); err != nil {
		s.renderError(w, r, err)
		return
	}
	fs, err := s.findings.Findings(r.Context(), 0, findingFilter(r))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Security findings (platform)")
	d.User = userData(u)
	if _, ok := r.URL.Query()["resolved"]; ok {
		d.Flash = "The finding is marked resolved."
	}
	d.Data["Findings"] = findingRows(fs)
	d.Data["Status"] = r.URL.Query().Get("status")
	d.Data["Action"] = func(id int64) string { return fmt.Sprintf("/admin/findings/%d/resolve", id) }
	d.Data["Platform"] = true
	s.render(w, r, http.StatusOK, "findings", d)
}

func (s *Server) adminResolveFinding(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	err := platformAdmin(u)
	var id int64
	if err == nil {
		id, err = pathID(r, "id", "Finding")
	}
	if err == nil {
		_, err = s.findings.Resolve(r.Context(), 0, id, findingActor(u, clientOf(r)))
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/findings?resolved", http.StatusSeeOther)
}
