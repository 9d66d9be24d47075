package web

import "net/http"

// apiReport serves one report as JSON, or as a CSV download with
// ?format=csv.
func (s *Server) apiReport(def reportDef) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		q := r.URL.Query()
		format, err := reportFormat(q, "json")
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		rep, err := s.buildReport(r.Context(), o, def, q)
		if err != nil {
			writeJSONError(w, r, s.log, err)
			return
		}
		if format == "csv" {
			if err := writeReportCSV(w, rep); err != nil {
				writeJSONError(w, r, s.log, err)
			}
			return
		}
		writeJSON(w, http.StatusOK, rep.JSON)
	}
}
