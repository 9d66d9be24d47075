package web

import "net/http"

// routesSMS registers the sms routes (owned by the sms work).
func (s *Server) routesSMS(mux *http.ServeMux) {}
