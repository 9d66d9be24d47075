package web

import "net/http"

// routesReset registers the reset routes (owned by the reset work).
func (s *Server) routesReset(mux *http.ServeMux) {}
