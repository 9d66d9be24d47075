package web

import (
	"net/http"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/session"
)

// routesOrgs registers the organisation list and each organisation's home.
func (s *Server) routesOrgs(mux *http.ServeMux) {
	mux.HandleFunc("GET /orgs", s.requireSession(s.orgsPage))
	s.pageOrg(mux, "GET /orgs/{org}", access.OrgRead, noStepUp, s.orgHome)
}

func (s *Server) orgsPage(w http.ResponseWriter, r *http.Request, ss *session.Session, u *auth.User) {
	ms, err := s.orgs.FindUserOrgs(r.Context(), u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.base(w, r, "Organisations")
	d.User = userData(u)
	type row struct {
		ID       int64
		Name     string
		Role     string
		Currency string
		Path     string
	}
	var rows []row
	for _, m := range ms {
		p := &pageOrg{ID: m.Org.ID}
		rows = append(rows, row{ID: m.Org.ID, Name: m.Org.Name, Role: m.Role.Label(), Currency: m.Org.Currency, Path: p.Path()})
	}
	d.Data["Orgs"] = rows
	s.render(w, r, http.StatusOK, "orgs", d)
}

func (s *Server) orgHome(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d := s.orgPage(w, r, o, o.Org.Name)
	d.Data["RoleLabel"] = o.Role.Label()
	d.Data["LockDate"] = o.Org.LockDate
	d.Data["Section"] = "overview"
	s.render(w, r, http.StatusOK, "org_home", d)
}
