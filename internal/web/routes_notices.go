package web

import (
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/notices"
	"coffer/internal/session"
)

// noticesStore is what the noticeboard and the report inbox need of the
// store the server was given.
type noticesStore interface {
	notices.Store
	notices.ReportStore
}

// initNotices builds the noticeboard and the report inbox on the server's
// store, when that store keeps them (every real one does).
func (s *Server) initNotices() {
	st, ok := s.orgs.(noticesStore)
	if !ok || s.auth == nil {
		return
	}
	s.board = notices.NewService(st, s.log)
	s.vulnReports = notices.NewReports(st, s.auth, s.auth, s.board)
	s.vulnReports.PublicURL = func() string { return s.auth.PublicURL }
}

// routesNotices registers the security noticeboard: every signed-in user
// reads it and marks notices read; platform operators post; the Atom feed
// is public.
func (s *Server) routesNotices(mux *http.ServeMux) {
	if s.board == nil {
		return
	}
	// JSON API.
	mux.HandleFunc("GET /api/v1/notices", s.apiRequireSession(s.apiNotices))
	mux.HandleFunc("POST /api/v1/notices/{id}/read", s.apiRequireSession(s.apiNoticeRead))
	mux.HandleFunc("POST /api/v1/admin/notices", s.apiRequireSession(s.apiPostNotice))

	// HTML pages and the feed.
	mux.HandleFunc("GET /notices", s.requireSession(s.noticesPage))
	mux.HandleFunc("POST /notices/{id}/read", s.csrf(s.requireSession(s.noticeReadSubmit)))
	mux.HandleFunc("GET /admin/notices", s.requireSession(s.adminNoticesPage))
	mux.HandleFunc("POST /admin/notices", s.csrf(s.requireSession(s.adminNoticeSubmit)))
	mux.HandleFunc("GET /notices.atom", s.noticesFeed)
}

// noticeJSON is a notice as the API shows it.
type noticeJSON struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	DueAt       *time.Time `json:"due_at,omitempty"`
	PublishedAt time.Time  `json:"published_at"`
	Read        bool       `json:"read"`
}

func toNoticeJSON(n *notices.Notice) noticeJSON {
	return noticeJSON{ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, DueAt: optTime(n.DueAt), PublishedAt: n.PublishedAt.UTC(), Read: n.Read}
}

// noticeRequest is a new notice. Times are RFC 3339; due_at may also be a
// plain date (the start of that day, UTC).
type noticeRequest struct {
	Kind        string `json:"kind"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	DueAt       string `json:"due_at"`
	PublishedAt string `json:"published_at"`
}

// parseNoticeTime reads an optional RFC 3339 time or YYYY-MM-DD date.
func parseNoticeTime(v, label string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errs.Errorf(errs.EINVALID, "Enter the %s as a date (YYYY-MM-DD) or a time (RFC 3339).", label)
}

func (req *noticeRequest) notice() (*notices.Notice, error) {
	due, err := parseNoticeTime(req.DueAt, "due date")
	if err != nil {
		return nil, err
	}
	pub, err := parseNoticeTime(req.PublishedAt, "publication time")
	if err != nil {
		return nil, err
	}
	return &notices.Notice{Kind: strings.TrimSpace(req.Kind), Title: req.Title, Body: req.Body, DueAt: due, PublishedAt: pub}, nil
}

func (s *Server) apiNotices(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	list, err := s.board.List(r.Context(), u)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]noticeJSON, 0, len(list))
	unread := 0
	for _, n := range list {
		out = append(out, toNoticeJSON(n))
		if !n.Read {
			unread++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": out, "unread": unread})
}

func (s *Server) apiNoticeRead(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Notice")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.board.MarkRead(r.Context(), u, id); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiPostNotice(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	req, err := decodeJSON[noticeRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	n, err := req.notice()
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.board.Post(r.Context(), u, n, clientOf(r)); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, toNoticeJSON(n))
}

// noticeRow is a notice as the pages show it.
type noticeRow struct {
	ID                                   int64
	Kind, KindLabel, Title, Body         string
	Due, Published, PublishedISO, DueISO string
	Read                                 bool
}

func toNoticeRow(n *notices.Notice) noticeRow {
	row := noticeRow{ID: n.ID, Kind: n.Kind, KindLabel: notices.KindLabel(n.Kind), Title: n.Title, Body: n.Body,
		Published: pageTime(n.PublishedAt), PublishedISO: n.PublishedAt.UTC().Format(time.RFC3339), Read: n.Read}
	if !n.DueAt.IsZero() {
		row.Due = n.DueAt.UTC().Format("2 January 2006")
		row.DueISO = n.DueAt.UTC().Format(time.RFC3339)
	}
	return row
}

// setUnreadNotices puts the user's unread notices (Data.Notices) and their
// count (Data.UnreadNotices, shown in the header) on a page. A failure is
// logged and leaves them out: the noticeboard must not keep anyone from
// their books.
func (s *Server) setUnreadNotices(r *http.Request, d pageData, u *auth.User) {
	if s.board == nil {
		return
	}
	list, err := s.board.Unread(r.Context(), u)
	if err != nil {
		s.log.Error("unread notices", logKeyRequestID, requestID(r), logKeyErr, err)
		return
	}
	rows := make([]noticeRow, 0, len(list))
	for _, n := range list {
		rows = append(rows, toNoticeRow(n))
	}
	d.Data["Notices"] = rows
	d.Data["UnreadNotices"] = len(rows)
}

func (s *Server) noticesPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	list, err := s.board.List(r.Context(), u)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Security notices")
	d.User = userData(u)
	rows := make([]noticeRow, 0, len(list))
	unread := 0
	for _, n := range list {
		rows = append(rows, toNoticeRow(n))
		if !n.Read {
			unread++
		}
	}
	d.Data["All"] = rows
	d.Data["UnreadNotices"] = unread
	d.Data["IsOperator"] = u.IsAdmin
	if r.URL.Query().Has("read") {
		d.Flash = "Marked as read."
	}
	s.render(w, r, http.StatusOK, "notices", d)
}

func (s *Server) noticeReadSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	id, err := pathID(r, "id", "Notice")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.board.MarkRead(r.Context(), u, id); err != nil {
		s.renderError(w, r, err)
		return
	}
	next := "/notices?read"
	if r.PostForm.Get("return_to") == "/dashboard" {
		next = "/dashboard"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) adminNoticesPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	s.renderAdminNotices(w, r, u, http.StatusOK, nil, url.Values{})
}

func (s *Server) renderAdminNotices(w http.ResponseWriter, r *http.Request, u *auth.User, status int, refused error, form url.Values) {
	if !u.IsAdmin {
		s.renderError(w, r, errs.Errorf(errs.EFORBIDDEN, "Only platform operators can post notices."))
		return
	}
	list, err := s.board.List(r.Context(), u)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Post a notice")
	d.User = userData(u)
	rows := make([]noticeRow, 0, len(list))
	for _, n := range list {
		rows = append(rows, toNoticeRow(n))
	}
	d.Data["All"] = rows
	d.Data["Form"] = form
	d.Data["MaxTitle"] = notices.MaxTitle
	d.Data["MaxBody"] = notices.MaxBody
	if r.URL.Query().Has("posted") {
		d.Flash = "Notice posted. Users see it on their dashboard until they mark it read."
	}
	s.renderRefused(w, r, status, "notices_admin", d, refused)
}

func (s *Server) adminNoticeSubmit(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	f := r.PostForm
	req := noticeRequest{Kind: f.Get("kind"), Title: f.Get("title"), Body: f.Get("body"), DueAt: f.Get("due_at"), PublishedAt: f.Get("published_at")}
	n, err := req.notice()
	if err == nil {
		err = s.board.Post(r.Context(), u, n, clientOf(r))
	}
	if err != nil {
		s.renderAdminNotices(w, r, u, statusOf(err), err, f)
		return
	}
	http.Redirect(w, r, "/admin/notices?posted", http.StatusSeeOther)
}

// publicBase is where users reach Coffer: the configured public URL, or
// the address this request came to.
func (s *Server) publicBase(r *http.Request) string {
	if s.auth != nil && s.auth.PublicURL != "" {
		return strings.TrimRight(s.auth.PublicURL, "/")
	}
	return "https://" + r.Host
}

// Atom (RFC 4287) elements of the notice feed.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomEntry struct {
	ID        string       `xml:"id"`
	Title     string       `xml:"title"`
	Updated   string       `xml:"updated"`
	Published string       `xml:"published"`
	Link      atomLink     `xml:"link"`
	Category  atomCategory `xml:"category"`
	Content   atomText     `xml:"content"`
}

type atomCategory struct {
	Term  string `xml:"term,attr"`
	Label string `xml:"label,attr"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// tagAuthority is the host of base for tag: URIs (RFC 4151), without a
// port.
func tagAuthority(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "localhost"
	}
	host := u.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.Trim(host, "[]")
}

// buildFeed renders notices as an Atom feed. Entries carry tag: URIs that
// never change: the authority, the notice's publication date and its id.
func buildFeed(base string, list []*notices.Notice, now time.Time) atomFeed {
	authority := tagAuthority(base)
	f := atomFeed{
		ID:     "tag:" + authority + ",2024-01-01:coffer/notices",
		Title:  "Coffer security notices",
		Author: atomPerson{Name: "Coffer operators"},
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: base + "/notices.atom"},
			{Rel: "alternate", Type: "text/html", Href: base + "/notices"},
		},
	}
	updated := now
	if len(list) > 0 {
		updated = list[0].PublishedAt
	}
	f.Updated = updated.UTC().Format(time.RFC3339)
	for _, n := range list {
		text := n.Body
		if !n.DueAt.IsZero() {
			text = fmt.Sprintf("Action required by %s.\n\n%s", n.DueAt.UTC().Format("2 January 2006"), n.Body)
		}
		pub := n.PublishedAt.UTC()
		f.Entries = append(f.Entries, atomEntry{
			ID:        fmt.Sprintf("tag:%s,%s:coffer/notices/%d", authority, pub.Format("2006-01-02"), n.ID),
			Title:     n.Title,
			Updated:   pub.Format(time.RFC3339),
			Published: pub.Format(time.RFC3339),
			Link:      atomLink{Rel: "alternate", Type: "text/html", Href: fmt.Sprintf("%s/notices#notice-%d", base, n.ID)},
			Category:  atomCategory{Term: n.Kind, Label: notices.KindLabel(n.Kind)},
			Content:   atomText{Type: "text", Body: text},
		})
	}
	return f
}

// noticesFeed serves the Atom feed. It is public: notices are meant for
// everyone who relies on this Coffer, signed in or not.
func (s *Server) noticesFeed(w http.ResponseWriter, r *http.Request) {
	list, err := s.board.Public(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	out, err := xml.MarshalIndent(buildFeed(s.publicBase(r), list, s.board.Now()), "", "  ")
	if err != nil {
		s.renderError(w, r, fmt.Errorf("encode feed: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	w.Write(out)
	w.Write([]byte("\n"))
}
