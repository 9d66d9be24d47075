package web

import "net/http"

// routesReports registers the reports area's organisation routes.
func (s *Server) routesReports(mux *http.ServeMux) {
}
