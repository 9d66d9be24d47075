package web

import "net/http"

// routesMembers registers the members area's organisation routes.
func (s *Server) routesMembers(mux *http.ServeMux) {
}
