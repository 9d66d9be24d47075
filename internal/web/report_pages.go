package web

import (
	"net/http"

	"coffer/internal/errs"
)

// reportsPage lists the reports, each with a GET form for its date or
// period (defaults: today, and the year to date).
func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d := s.orgPage(w, r, o, "Reports")
	today := s.ledger.Now().UTC().Format("2006-01-02")
	d.Data["Reports"] = reportDefs
	d.Data["Today"] = today
	d.Data["YearStart"] = today[:4] + "-01-01"
	s.render(w, r, http.StatusOK, "reports", d)
}

// reportView is what report.html shows: the report, or (Table nil) the
// form again with the error that stopped it.
type reportView struct {
	reportDef
	Date, From, To string
	Summary        string
	Table          *reportTable
	CSVURL         string
}

// reportPage shows one report, or sends it as CSV with ?format=csv (the
// page's "Download CSV" link). Bad parameters show the form again with the
// problem named.
func (s *Server) reportPage(def reportDef) orgHandler {
	return func(w http.ResponseWriter, r *http.Request, o *orgReq) {
		q := r.URL.Query()
		view := reportView{reportDef: def, Date: q.Get("date"), From: q.Get("from"), To: q.Get("to")}
		format, err := reportFormat(q, "html")
		var rep *builtReport
		if err == nil {
			rep, err = s.buildReport(r.Context(), o, def, q)
		}
		if err != nil {
			if errs.Code(err) != errs.EINVALID {
				s.renderError(w, r, err)
				return
			}
			d := s.orgPage(w, r, o, def.Title)
			d.Error = errs.Message(err)
			d.Data["Report"] = view
			s.render(w, r, http.StatusBadRequest, "report", d)
			return
		}
		if format == "csv" {
			if err := writeReportCSV(w, rep); err != nil {
				s.renderError(w, r, err)
			}
			return
		}
		d := s.orgPage(w, r, o, def.Title)
		csvQuery := rep.query()
		csvQuery.Set("format", "csv")
		view.Date, view.From, view.To = rep.Date, rep.From, rep.To
		view.Summary, view.Table = rep.Summary, rep.Table
		view.CSVURL = d.Org.Path("reports", def.Slug) + "?" + csvQuery.Encode()
		d.Data["Report"] = view
		s.render(w, r, http.StatusOK, "report", d)
	}
}
