package web

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// auditStore is what the audit pages need of the store: reading a chain,
// and recording that it was exported.
type auditStore interface {
	audit.Finder
	audit.Store
}

// routesAudit registers the audit log: each organisation's chain for its
// owners and advisers (access.AuditRead), and the global chain of
// platform events for platform operators (users with IsAdmin). Reading
// needs no step-up; it changes nothing, and the CSV download is audited.
func (s *Server) routesAudit(mux *http.ServeMux) {
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/audit", access.AuditRead, noStepUp, replay, s.apiOrgAudit)
	s.pageOrg(mux, "GET /orgs/{org}/audit", access.AuditRead, noStepUp, s.orgAuditPage)
	s.pageOrg(mux, "GET /orgs/{org}/audit.csv", access.AuditRead, noStepUp, s.orgAuditCSV)

	mux.HandleFunc("GET /api/v1/admin/audit", s.apiRequireSession(s.apiAdminAudit))
	mux.HandleFunc("GET /admin/audit", s.requireSession(s.adminAuditPage))
	mux.HandleFunc("GET /admin/audit.csv", s.requireSession(s.adminAuditCSV))
}

// auditPageSize is how many events a page of the audit page shows.
const auditPageSize = 50

// parseAuditFilter reads the filter from a query: action (a prefix), user
// (a user id), outcome, from and to (dates, YYYY-MM-DD, both inclusive),
// and either page (1, 2, …; pages of size) or limit and offset. It
// reports every problem at once.
func parseAuditFilter(q url.Values, size int) (audit.Filter, int, error) {
	f := audit.Filter{ActionPrefix: strings.TrimSpace(q.Get("action")), Outcome: q.Get("outcome"), Limit: size}
	var bad []string
	if v := strings.TrimSpace(q.Get("user")); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			bad = append(bad, "user must be a user id")
		}
		f.UserID = id
	}
	date := func(name string) time.Time {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			bad = append(bad, name+" must be a date like 2030-01-31")
		}
		return t
	}
	f.From = date("from")
	if to := date("to"); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the whole last day
	}
	page := 1
	intParam := func(name string, min, max int) int {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return -1
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			bad = append(bad, name+" must be a number from "+strconv.Itoa(min)+" to "+strconv.Itoa(max))
			return -1
		}
		return n
	}
	if p := intParam("page", 1, 1_000_000); p > 0 {
		page = p
		f.Offset = (page - 1) * size
	}
	if l := intParam("limit", 1, audit.MaxLimit); l > 0 {
		f.Limit = l
	}
	if o := intParam("offset", 0, 1<<30); o >= 0 {
		f.Offset = o
	}
	if len(bad) > 0 {
		return f, page, errs.Errorf(errs.EINVALID, "Check the audit filter: %s.", strings.Join(bad, "; "))
	}
	return f, page, f.Validate()
}

func (s *Server) auditStore() (auditStore, error) {
	st, ok := s.orgs.(auditStore)
	if !ok {
		return nil, errs.Errorf(errs.EINTERNAL, "the audit log is not available")
	}
	return st, nil
}

// findAudit parses the filter and reads a page of chain orgID.
func (s *Server) findAudit(ctx context.Context, q url.Values, orgID int64, size int) ([]*audit.Event, int, audit.Filter, int, error) {
	st, err := s.auditStore()
	if err != nil {
		return nil, 0, audit.Filter{}, 0, err
	}
	f, page, err := parseAuditFilter(q, size)
	if err != nil {
		return nil, 0, f, page, err
	}
	evs, total, err := st.FindAudit(ctx, orgID, f)
	return evs, total, f, page, err
}

// auditEventJSON is one event in the API. The hashes are shown so that an
// integrator can keep their own copy of the chain's progress.
type auditEventJSON struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"org_id"`
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	UserID    int64     `json:"user_id"`
	Subject   string    `json:"subject"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
	Hash      string    `json:"hash"`
}

func (s *Server) writeAuditJSON(w http.ResponseWriter, r *http.Request, orgID int64) {
	evs, total, f, _, err := s.findAudit(r.Context(), r.URL.Query(), orgID, auditPageSize)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]auditEventJSON, len(evs))
	for i, e := range evs {
		out[i] = auditEventJSON{ID: e.ID, OrgID: e.OrgID, Seq: e.Seq, At: e.At, UserID: e.UserID, Subject: e.Subject, Action: e.Action,
			Outcome: e.Outcome, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail, Hash: hex.EncodeToString(e.Hash)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "total": total, "limit": f.Limit, "offset": f.Offset})
}

func (s *Server) apiOrgAudit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.writeAuditJSON(w, r, o.Org.ID)
}

// requireAdmin answers "not found" to anyone but a platform operator, so
// that the admin area does not announce itself.
func requireAdmin(u *auth.User) error {
	if u == nil || !u.IsAdmin {
		return errs.Errorf(errs.ENOTFOUND, "Page not found.")
	}
	return nil
}

func (s *Server) apiAdminAudit(w http.ResponseWriter, r *http.Request, _ *session.Session, u *auth.User) {
	if err := requireAdmin(u); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeAuditJSON(w, r, 0)
}

// auditRow is one event on the page.
type auditRow struct {
	ID, Seq, UserID                                     int64
	At, Subject, Action, Outcome, IP, UserAgent, Detail string
	UserPath                                            string
}

// auditPageData fills the page: the events, the filter as given, and the
// links to the neighbouring pages and the CSV of the same filter.
func (s *Server) auditPageData(r *http.Request, d *pageData, base string, orgID int64) error {
	q := r.URL.Query()
	evs, total, f, page, err := s.findAudit(r.Context(), q, orgID, auditPageSize)
	if err != nil {
		return err
	}
	rows := make([]auditRow, len(evs))
	for i, e := range evs {
		uq := url.Values{"user": {strconv.FormatInt(e.UserID, 10)}}
		rows[i] = auditRow{ID: e.ID, Seq: e.Seq, UserID: e.UserID, At: e.At.UTC().Format("2006-01-02 15:04:05 UTC"), Subject: e.Subject,
			Action: e.Action, Outcome: e.Outcome, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail, UserPath: base + "?" + uq.Encode()}
	}
	keep := url.Values{}
	for _, k := range []string{"action", "user", "outcome", "from", "to"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	link := func(p int) string {
		v := url.Values{}
		for k, vs := range keep {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return base + "?" + v.Encode()
	}
	d.Data["Rows"] = rows
	d.Data["Total"] = total
	d.Data["Page"] = page
	d.Data["Filter"] = map[string]string{"Action": q.Get("action"), "User": q.Get("user"), "Outcome": f.Outcome, "From": q.Get("from"), "To": q.Get("to")}
	d.Data["Action"] = base
	d.Data["CSVPath"] = base + ".csv?" + keep.Encode()
	if page > 1 {
		d.Data["PrevPath"] = link(page - 1)
	}
	if f.Offset+len(evs) < total {
		d.Data["NextPath"] = link(page + 1)
	}
	return nil
}

func (s *Server) orgAuditPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d := s.orgPage(w, r, o, "Audit log")
	d.Data["Scope"] = o.Org.Name
	if err := s.auditPageData(r, &d, "/orgs/"+strconv.FormatInt(o.Org.ID, 10)+"/audit", o.Org.ID); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "audit", d)
}

func (s *Server) adminAuditPage(w http.ResponseWriter, r *http.Request, _ *session.Session, u *auth.User) {
	if err := requireAdmin(u); err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Platform audit log")
	d.User = userData(u)
	d.Data["Scope"] = "the platform"
	if err := s.auditPageData(r, &d, "/admin/audit", 0); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "audit", d)
}

// auditCSVHeader is the first row of an audit CSV.
var auditCSVHeader = []string{"id", "seq", "at", "user_id", "subject", "action", "outcome", "ip", "user_agent", "detail"}

// auditCSVMax is the most events one CSV holds; narrow the dates for more.
const auditCSVMax = 100_000

// writeAuditCSV sends the events of chain orgID that match the query, as
// CSV, every cell safe from spreadsheet formulas (a user agent or a
// subject is whatever a client sent), and audits the download in the same
// chain.
func (s *Server) writeAuditCSV(w http.ResponseWriter, r *http.Request, u *auth.User, orgID int64) {
	st, err := s.auditStore()
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("page")
	f, _, err := parseAuditFilter(q, audit.MaxLimit)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var all []*audit.Event
	for f.Offset = 0; len(all) < auditCSVMax; f.Offset += f.Limit {
		evs, _, err := st.FindAudit(r.Context(), orgID, f)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		all = append(all, evs...)
		if len(evs) < f.Limit {
			break
		}
	}
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write(auditCSVHeader)
	for _, e := range all {
		row := []string{strconv.FormatInt(e.ID, 10), strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339), strconv.FormatInt(e.UserID, 10),
			e.Subject, e.Action, e.Outcome, e.IP, e.UserAgent, e.Detail}
		for i := range row {
			row[i] = access.CSVSafe(row[i])
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.renderError(w, r, err)
		return
	}
	c := clientOf(r)
	ev := &audit.Event{OrgID: orgID, At: s.auth.Now(), UserID: u.ID, Subject: u.Email, Action: "audit.export", Outcome: audit.Success,
		IP: c.IP, UserAgent: clip(c.UserAgent, 256), Detail: "rows=" + strconv.Itoa(len(all))}
	if err := st.AppendAudit(r.Context(), ev); err != nil {
		// An export that cannot be recorded does not leave.
		s.renderError(w, r, err)
		return
	}
	name := "audit-" + strconv.FormatInt(orgID, 10) + "-" + s.auth.Now().UTC().Format("2006-01-02") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(b.String()))
}

func (s *Server) orgAuditCSV(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.writeAuditCSV(w, r, o.User, o.Org.ID)
}

func (s *Server) adminAuditCSV(w http.ResponseWriter, r *http.Request, _ *session.Session, u *auth.User) {
	if err := requireAdmin(u); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.writeAuditCSV(w, r, u, 0)
}
