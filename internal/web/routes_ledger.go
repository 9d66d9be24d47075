package web

import "net/http"

// routesLedger registers the ledger area's organisation routes.
func (s *Server) routesLedger(mux *http.ServeMux) {
}
