package web

import "net/http"

// routesWebAuthn registers the webauthn routes (owned by the webauthn work).
func (s *Server) routesWebAuthn(mux *http.ServeMux) {}
