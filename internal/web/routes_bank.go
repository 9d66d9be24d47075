package web

import "net/http"

// routesBank registers the bank area's organisation routes.
func (s *Server) routesBank(mux *http.ServeMux) {
}
