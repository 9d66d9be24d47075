package web

import "net/http"

// routesVerify registers the verify routes (owned by the verify work).
func (s *Server) routesVerify(mux *http.ServeMux) {}
