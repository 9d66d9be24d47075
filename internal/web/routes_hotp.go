package web

import "net/http"

// routesHOTP registers the hotp routes (owned by the hotp work).
func (s *Server) routesHOTP(mux *http.ServeMux) {}
