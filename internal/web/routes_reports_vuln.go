package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/notices"
	"coffer/internal/session"
)

// routesVulnReports registers how the public reaches Coffer's operators
// about a vulnerability: /.well-known/security.txt (RFC 9116), the policy
// page and the report form (no sign-in; CSRF-protected; rate-limited),
// and the operators' inbox, which needs a fresh second factor.
func (s *Server) routesVulnReports(mux *http.ServeMux) {
	if s.opts.SecurityExpires.IsZero() {
		s.opts.SecurityExpires = time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second)
	}
	mux.HandleFunc("GET /.well-known/security.txt", s.securityTxt)
	mux.HandleFunc("GET /security/policy", s.securityPolicyPage)
	if s.vulnReports == nil {
		return
	}
	mux.HandleFunc("GET /security/report", s.vulnReportPage)
	mux.HandleFunc("POST /security/report", s.csrf(s.vulnReportSubmit))
	mux.HandleFunc("GET /admin/security-reports", s.requireSession(s.vulnReportsPage))
	mux.HandleFunc("GET /admin/security-reports/{id}", s.requireSession(s.vulnReportViewPage))
}

// SecurityTxt returns the body of /.well-known/security.txt for a server
// reached at base: RFC 9116's Contact (one line per comma-separated
// address), Expires, Policy, Preferred-Languages and Canonical.
func SecurityTxt(opts Options, base string) string {
	var b strings.Builder
	for _, c := range strings.Split(opts.SecurityContact, ",") {
		if c = strings.TrimSpace(c); c != "" {
			b.WriteString("Contact: " + c + "\n")
		}
	}
	b.WriteString("Expires: " + opts.SecurityExpires.UTC().Format(time.RFC3339) + "\n")
	policy := opts.SecurityPolicyURL
	if policy == "" {
		policy = base + "/security/policy"
	}
	b.WriteString("Policy: " + policy + "\n")
	langs := opts.SecurityLanguages
	if langs == "" {
		langs = "en"
	}
	b.WriteString("Preferred-Languages: " + langs + "\n")
	b.WriteString("Canonical: " + base + "/.well-known/security.txt\n")
	return b.String()
}

func (s *Server) securityTxt(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(SecurityTxt(s.opts, s.publicBase(r))))
}

func (s *Server) securityPolicyPage(w http.ResponseWriter, r *http.Request) {
	d := s.base(w, r, "Security policy")
	d.Data["Contact"] = s.opts.SecurityContact
	d.Data["CanReport"] = s.vulnReports != nil
	s.render(w, r, http.StatusOK, "vuln_report_policy", d)
}

func (s *Server) vulnReportPage(w http.ResponseWriter, r *http.Request) {
	s.renderVulnReport(w, r, http.StatusOK, nil, url.Values{})
}

func (s *Server) renderVulnReport(w http.ResponseWriter, r *http.Request, status int, refused error, form url.Values) {
	d := s.base(w, r, "Report a vulnerability")
	d.Data["Form"] = form
	d.Data["MaxSummary"] = notices.MaxSummary
	d.Data["MaxDetails"] = notices.MaxDetails
	d.Data["Contact"] = s.opts.SecurityContact
	if refused != nil {
		setRetryAfter(w, refused)
	}
	s.renderRefused(w, r, status, "vuln_report", d, refused)
}

func (s *Server) vulnReportSubmit(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	rep := &notices.Report{Contact: f.Get("contact"), Summary: f.Get("summary"), Details: f.Get("details")}
	if err := s.vulnReports.Submit(r.Context(), rep, clientOf(r)); err != nil {
		s.renderVulnReport(w, r, statusOf(err), err, f)
		return
	}
	d := s.base(w, r, "Report received")
	d.Data["ID"] = rep.ID
	d.Data["Contact"] = rep.Contact
	s.render(w, r, http.StatusOK, "vuln_report_sent", d)
}

// requireOperatorFresh sends an operator whose second factor is not fresh
// to the step-up page; it reports whether the handler may go on. Others go
// on, for the domain to refuse (and audit).
func (s *Server) requireOperatorFresh(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) bool {
	if u.IsAdmin && !s.auth.Fresh(ss) {
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return false
	}
	return true
}

// vulnReportRow is a report as the operators' pages show it.
type vulnReportRow struct {
	ID                                  int64
	Received, Contact, Summary, Details string
}

func toVulnReportRow(rep *notices.Report) vulnReportRow {
	return vulnReportRow{ID: rep.ID, Received: pageTime(rep.ReceivedAt), Contact: rep.Contact, Summary: rep.Summary, Details: rep.Details}
}

func (s *Server) vulnReportsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	if !s.requireOperatorFresh(w, r, ss, u) {
		return
	}
	list, err := s.vulnReports.List(r.Context(), u, clientOf(r))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Vulnerability reports")
	d.User = userData(u)
	rows := make([]vulnReportRow, 0, len(list))
	for _, rep := range list {
		rows = append(rows, toVulnReportRow(rep))
	}
	d.Data["Reports"] = rows
	s.render(w, r, http.StatusOK, "vuln_reports_admin", d)
}

func (s *Server) vulnReportViewPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Report")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if !s.requireOperatorFresh(w, r, ss, u) {
		return
	}
	rep, err := s.vulnReports.Get(r.Context(), u, id, clientOf(r))
	if err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			err = errs.Errorf(errs.ENOTFOUND, "Report not found.")
		}
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Vulnerability report")
	d.User = userData(u)
	d.Data["Report"] = toVulnReportRow(rep)
	s.render(w, r, http.StatusOK, "vuln_report_admin", d)
}
