package web

import "net/http"

// routesSales registers the sales area's organisation routes.
func (s *Server) routesSales(mux *http.ServeMux) {
}
