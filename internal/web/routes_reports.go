package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// routesReports registers the reports area's organisation routes. Reports
// only read the books, so reading them needs reports.read and no step-up.
// Each answers JSON (API) or HTML (pages), and CSV with ?format=csv.
func (s *Server) routesReports(mux *http.ServeMux) {
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/reports/trial-balance", access.ReportsRead, noStepUp, replay, s.apiReport(reportTrialBalance))
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/reports/profit-and-loss", access.ReportsRead, noStepUp, replay, s.apiReport(reportProfitAndLoss))
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/reports/balance-sheet", access.ReportsRead, noStepUp, replay, s.apiReport(reportBalanceSheet))
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/reports/aged-receivables", access.ReportsRead, noStepUp, replay, s.apiReport(reportAgedReceivables))
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/reports/aged-payables", access.ReportsRead, noStepUp, replay, s.apiReport(reportAgedPayables))

	s.pageOrg(mux, "GET /orgs/{org}/reports", access.ReportsRead, noStepUp, s.reportsPage)
	s.pageOrg(mux, "GET /orgs/{org}/reports/trial-balance", access.ReportsRead, noStepUp, s.reportPage(reportTrialBalance))
	s.pageOrg(mux, "GET /orgs/{org}/reports/profit-and-loss", access.ReportsRead, noStepUp, s.reportPage(reportProfitAndLoss))
	s.pageOrg(mux, "GET /orgs/{org}/reports/balance-sheet", access.ReportsRead, noStepUp, s.reportPage(reportBalanceSheet))
	s.pageOrg(mux, "GET /orgs/{org}/reports/aged-receivables", access.ReportsRead, noStepUp, s.reportPage(reportAgedReceivables))
	s.pageOrg(mux, "GET /orgs/{org}/reports/aged-payables", access.ReportsRead, noStepUp, s.reportPage(reportAgedPayables))
}

// reportDef is one report as the UI lists it.
type reportDef struct {
	Slug  string // the path segment: /reports/{Slug}
	Title string
	Blurb string
	// Period reports take from and to; the others a date.
	Period bool
}

var (
	reportTrialBalance    = reportDef{"trial-balance", "Trial balance", "Every account's balance on a date; total debits equal total credits.", false}
	reportProfitAndLoss   = reportDef{"profit-and-loss", "Profit and loss", "Revenue less expenses over a period.", true}
	reportBalanceSheet    = reportDef{"balance-sheet", "Balance sheet", "What the business owns, owes and is worth on a date.", false}
	reportAgedReceivables = reportDef{"aged-receivables", "Aged receivables", "What each customer owes on a date, by how long it is overdue.", false}
	reportAgedPayables    = reportDef{"aged-payables", "Aged payables", "What you owe each supplier on a date, by how long it is overdue.", false}
)

// reportDefs lists the reports in the order of the reports page.
var reportDefs = []reportDef{reportTrialBalance, reportProfitAndLoss, reportBalanceSheet, reportAgedReceivables, reportAgedPayables}

// builtReport is a report computed for one request, in every form it is
// served: JSON for the API, and a table for the page and the CSV file.
type builtReport struct {
	Def   reportDef
	JSON  any
	Table *reportTable
	// Date, From and To are the resolved parameters (defaults filled in),
	// so the CSV link and the form repeat exactly what is shown.
	Date, From, To string
	Summary        string
	Filename       string // without extension
}

// query returns the report's resolved parameters as a query string.
func (b *builtReport) query() url.Values {
	if b.Def.Period {
		return url.Values{"from": {b.From}, "to": {b.To}}
	}
	return url.Values{"date": {b.Date}}
}

// reportTable is a report laid out as one table: columns, then sections
// (titled for the P&L and balance sheet), each with rows and total rows.
type reportTable struct {
	Columns  []reportColumn
	Sections []reportSection
	// Empty, when set, says why there is nothing to show instead of rows.
	Empty string
}

type reportColumn struct {
	Label string
	Num   bool
}

type reportSection struct {
	Title string
	Rows  []reportLine
}

type reportLine struct {
	Cells []reportCell
	Total bool
}

// reportCell is one cell; Num cells are amounts formatted by money.Format
// (digits, a point, maybe a leading minus), every other cell is text.
type reportCell struct {
	Text string
	Num  bool
}

func textCell(s string) reportCell { return reportCell{Text: s} }
func numCell(s string) reportCell  { return reportCell{Text: s, Num: true} }

// buildReport runs the report def for the organisation with the query's
// parameters (date, or from and to; empty ones take the defaults).
func (s *Server) buildReport(ctx context.Context, o *orgReq, def reportDef, q url.Values) (*builtReport, error) {
	exp := o.Exp
	f := func(v int64) string { return money.Format(v, exp) }
	cur := o.Org.Currency
	switch def {
	case reportTrialBalance:
		tb, err := s.ledger.TrialBalance(ctx, o.Org.ID, q.Get("date"))
		if err != nil {
			return nil, err
		}
		return trialBalanceReport(def, tb, cur, f), nil
	case reportProfitAndLoss:
		pl, err := s.ledger.ProfitAndLoss(ctx, o.Org.ID, q.Get("from"), q.Get("to"))
		if err != nil {
			return nil, err
		}
		return profitAndLossReport(def, pl, cur, f), nil
	case reportBalanceSheet:
		bs, err := s.ledger.BalanceSheet(ctx, o.Org.ID, q.Get("date"))
		if err != nil {
			return nil, err
		}
		return balanceSheetReport(def, bs, cur, f), nil
	case reportAgedReceivables:
		ar, err := s.ledger.AgedReceivables(ctx, o.Org.ID, q.Get("date"))
		if err != nil {
			return nil, err
		}
		return agedReport(def, ar, cur, f), nil
	case reportAgedPayables:
		ap, err := s.ledger.AgedPayables(ctx, o.Org.ID, q.Get("date"))
		if err != nil {
			return nil, err
		}
		return agedReport(def, ap, cur, f), nil
	}
	return nil, fmt.Errorf("unknown report %q", def.Slug)
}

// reportFormat reads ?format=: "" or def (json for the API, html for
// pages) or csv.
func reportFormat(q url.Values, def string) (string, error) {
	switch f := q.Get("format"); f {
	case "", def:
		return def, nil
	case "csv":
		return f, nil
	default:
		return "", errs.Errorf(errs.EINVALID, "Format %q is not supported: use %s or csv.", clip(f, 20), def)
	}
}

// csvFormulaStarts are the first characters that make a spreadsheet read a
// cell as a formula (or, for tab and line breaks, shift cells so one is).
const csvFormulaStarts = "=+-@\t\r\n"

// csvText neutralises a text cell for spreadsheets: one starting like a
// formula gets a leading single quote (OWASP's CSV injection advice), so a
// contact named "=HYPERLINK(...)" stays text. Amounts are not text cells:
// they are produced by money.Format, and a leading minus there is a
// number, which must stay a number.
func csvText(s string) string {
	if s != "" && strings.ContainsRune(csvFormulaStarts, rune(s[0])) {
		return "'" + s
	}
	return s
}

// reportCSV writes the table as CSV: one header row, a Section column
// first when the report has titled sections, CRLF line ends (RFC 4180).
func reportCSV(t *reportTable) ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	titled := false
	for _, sec := range t.Sections {
		titled = titled || sec.Title != ""
	}
	var header []string
	if titled {
		header = append(header, "Section")
	}
	for _, c := range t.Columns {
		header = append(header, c.Label)
	}
	if err := cw.Write(header); err != nil {
		return nil, err
	}
	for _, sec := range t.Sections {
		for _, l := range sec.Rows {
			var rec []string
			if titled {
				rec = append(rec, csvText(sec.Title))
			}
			for _, c := range l.Cells {
				if c.Num {
					rec = append(rec, c.Text)
				} else {
					rec = append(rec, csvText(c.Text))
				}
			}
			if err := cw.Write(rec); err != nil {
				return nil, err
			}
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

// writeReportCSV sends the report as a CSV download.
func writeReportCSV(w http.ResponseWriter, b *builtReport) error {
	body, err := reportCSV(b.Table)
	if err != nil {
		return fmt.Errorf("write %s csv: %w", b.Def.Slug, err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": b.Filename + ".csv"}))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// The report's JSON forms: amounts are decimal strings in the
// organisation's currency, named by "currency".

type trialBalanceJSON struct {
	Report      string                `json:"report"`
	Date        string                `json:"date"`
	Currency    string                `json:"currency"`
	Accounts    []trialBalanceRowJSON `json:"accounts"`
	TotalDebit  string                `json:"total_debit"`
	TotalCredit string                `json:"total_credit"`
}

type trialBalanceRowJSON struct {
	AccountID int64  `json:"account_id"`
	Code      string `json:"code"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Debit     string `json:"debit"`
	Credit    string `json:"credit"`
}

// reportRowJSON is an account line, or a computed one without account_id
// and code (retained and current year earnings).
type reportRowJSON struct {
	AccountID int64  `json:"account_id,omitempty"`
	Code      string `json:"code,omitempty"`
	Name      string `json:"name"`
	Amount    string `json:"amount"`
}

type profitAndLossJSON struct {
	Report        string          `json:"report"`
	From          string          `json:"from"`
	To            string          `json:"to"`
	Currency      string          `json:"currency"`
	Revenue       []reportRowJSON `json:"revenue"`
	TotalRevenue  string          `json:"total_revenue"`
	Expenses      []reportRowJSON `json:"expenses"`
	TotalExpenses string          `json:"total_expenses"`
	NetProfit     string          `json:"net_profit"`
}

type balanceSheetJSON struct {
	Report                    string          `json:"report"`
	Date                      string          `json:"date"`
	Currency                  string          `json:"currency"`
	Assets                    []reportRowJSON `json:"assets"`
	TotalAssets               string          `json:"total_assets"`
	Liabilities               []reportRowJSON `json:"liabilities"`
	TotalLiabilities          string          `json:"total_liabilities"`
	Equity                    []reportRowJSON `json:"equity"`
	TotalEquity               string          `json:"total_equity"`
	TotalLiabilitiesAndEquity string          `json:"total_liabilities_and_equity"`
}

type agedJSON struct {
	Report   string            `json:"report"`
	Date     string            `json:"date"`
	Currency string            `json:"currency"`
	Contacts []agedContactJSON `json:"contacts"`
	Totals   agedAmountsJSON   `json:"totals"`
}

type agedContactJSON struct {
	ContactID int64  `json:"contact_id"`
	Name      string `json:"name"`
	agedAmountsJSON
}

type agedAmountsJSON struct {
	Current    string `json:"current"`
	Days1To30  string `json:"days_1_30"`
	Days31To60 string `json:"days_31_60"`
	Days61To90 string `json:"days_61_90"`
	Over90     string `json:"over_90"`
	Total      string `json:"total"`
}

func trialBalanceReport(def reportDef, tb *ledger.TrialBalance, currency string, f func(int64) string) *builtReport {
	j := &trialBalanceJSON{Report: "trial_balance", Date: tb.AsOf, Currency: currency, Accounts: []trialBalanceRowJSON{},
		TotalDebit: f(tb.TotalDebit), TotalCredit: f(tb.TotalCredit)}
	t := &reportTable{Columns: []reportColumn{{"Code", false}, {"Account", false}, {"Type", false}, {"Debit", true}, {"Credit", true}}}
	var sec reportSection
	for _, r := range tb.Rows {
		j.Accounts = append(j.Accounts, trialBalanceRowJSON{AccountID: r.AccountID, Code: r.Code, Name: r.Name, Type: string(r.Type), Debit: f(r.Debit), Credit: f(r.Credit)})
		sec.Rows = append(sec.Rows, reportLine{Cells: []reportCell{textCell(r.Code), textCell(r.Name), textCell(string(r.Type)), numCell(f(r.Debit)), numCell(f(r.Credit))}})
	}
	if len(tb.Rows) == 0 {
		t.Empty = "Nothing has been posted on or before " + tb.AsOf + "."
	}
	sec.Rows = append(sec.Rows, reportLine{Total: true, Cells: []reportCell{textCell(""), textCell("Total"), textCell(""), numCell(f(tb.TotalDebit)), numCell(f(tb.TotalCredit))}})
	t.Sections = []reportSection{sec}
	return &builtReport{Def: def, JSON: j, Table: t, Date: tb.AsOf, Summary: "On " + tb.AsOf + ", in " + currency + ".", Filename: "trial-balance-" + tb.AsOf}
}

// amountSection lays out report rows under a title with a total line.
func amountSection(title string, rows []ledger.ReportRow, totalLabel string, total int64, f func(int64) string) (reportSection, []reportRowJSON) {
	sec := reportSection{Title: title}
	js := []reportRowJSON{}
	for _, r := range rows {
		js = append(js, reportRowJSON{AccountID: r.AccountID, Code: r.Code, Name: r.Name, Amount: f(r.Amount)})
		sec.Rows = append(sec.Rows, reportLine{Cells: []reportCell{textCell(r.Code), textCell(r.Name), numCell(f(r.Amount))}})
	}
	sec.Rows = append(sec.Rows, reportLine{Total: true, Cells: []reportCell{textCell(""), textCell(totalLabel), numCell(f(total))}})
	return sec, js
}

var amountColumns = []reportColumn{{"Code", false}, {"Account", false}, {"Amount", true}}

func profitAndLossReport(def reportDef, pl *ledger.ProfitAndLoss, currency string, f func(int64) string) *builtReport {
	rev, revJS := amountSection("Revenue", pl.Revenue, "Total revenue", pl.TotalRevenue, f)
	exp, expJS := amountSection("Expenses", pl.Expenses, "Total expenses", pl.TotalExpenses, f)
	label := "Net profit"
	if pl.NetProfit < 0 {
		label = "Net loss"
	}
	net := reportSection{Title: "Result", Rows: []reportLine{{Total: true, Cells: []reportCell{textCell(""), textCell(label), numCell(f(pl.NetProfit))}}}}
	j := &profitAndLossJSON{Report: "profit_and_loss", From: pl.From, To: pl.To, Currency: currency,
		Revenue: revJS, TotalRevenue: f(pl.TotalRevenue), Expenses: expJS, TotalExpenses: f(pl.TotalExpenses), NetProfit: f(pl.NetProfit)}
	t := &reportTable{Columns: amountColumns, Sections: []reportSection{rev, exp, net}}
	return &builtReport{Def: def, JSON: j, Table: t, From: pl.From, To: pl.To,
		Summary:  "From " + pl.From + " to " + pl.To + " inclusive, in " + currency + ".",
		Filename: "profit-and-loss-" + pl.From + "-to-" + pl.To}
}

func balanceSheetReport(def reportDef, bs *ledger.BalanceSheet, currency string, f func(int64) string) *builtReport {
	as, asJS := amountSection("Assets", bs.Assets, "Total assets", bs.TotalAssets, f)
	li, liJS := amountSection("Liabilities", bs.Liabilities, "Total liabilities", bs.TotalLiabilities, f)
	eq, eqJS := amountSection("Equity", bs.Equity, "Total equity", bs.TotalEquity, f)
	sum := reportSection{Title: "Liabilities and equity", Rows: []reportLine{{Total: true, Cells: []reportCell{textCell(""), textCell("Total liabilities and equity"), numCell(f(bs.TotalLiabilitiesAndEquity))}}}}
	j := &balanceSheetJSON{Report: "balance_sheet", Date: bs.AsOf, Currency: currency,
		Assets: asJS, TotalAssets: f(bs.TotalAssets), Liabilities: liJS, TotalLiabilities: f(bs.TotalLiabilities),
		Equity: eqJS, TotalEquity: f(bs.TotalEquity), TotalLiabilitiesAndEquity: f(bs.TotalLiabilitiesAndEquity)}
	t := &reportTable{Columns: amountColumns, Sections: []reportSection{as, li, eq, sum}}
	return &builtReport{Def: def, JSON: j, Table: t, Date: bs.AsOf,
		Summary:  "On " + bs.AsOf + ", in " + currency + ". Current year earnings run from " + bs.YearStart + "; earlier years' are in retained earnings.",
		Filename: "balance-sheet-" + bs.AsOf}
}

func agedReport(def reportDef, rep *ledger.AgedReport, currency string, f func(int64) string) *builtReport {
	amounts := func(b *ledger.AgedBalance) agedAmountsJSON {
		return agedAmountsJSON{Current: f(b.Current), Days1To30: f(b.Days1To30), Days31To60: f(b.Days31To60), Days61To90: f(b.Days61To90), Over90: f(b.Over90), Total: f(b.Total)}
	}
	cells := func(name string, a agedAmountsJSON) []reportCell {
		return []reportCell{textCell(name), numCell(a.Current), numCell(a.Days1To30), numCell(a.Days31To60), numCell(a.Days61To90), numCell(a.Over90), numCell(a.Total)}
	}
	name := "aged_" + string(rep.Kind)
	j := &agedJSON{Report: name, Date: rep.AsOf, Currency: currency, Contacts: []agedContactJSON{}, Totals: amounts(&rep.Totals)}
	who := "Customer"
	if rep.Kind == ledger.AgedPayables {
		who = "Supplier"
	}
	t := &reportTable{Columns: []reportColumn{{who, false}, {"Current", true}, {"1–30 days", true}, {"31–60 days", true}, {"61–90 days", true}, {"Over 90 days", true}, {"Total", true}}}
	var sec reportSection
	for _, r := range rep.Rows {
		a := amounts(r)
		j.Contacts = append(j.Contacts, agedContactJSON{ContactID: r.ContactID, Name: r.ContactName, agedAmountsJSON: a})
		sec.Rows = append(sec.Rows, reportLine{Cells: cells(r.ContactName, a)})
	}
	if len(rep.Rows) == 0 {
		t.Empty = "Nothing is outstanding on " + rep.AsOf + "."
	}
	sec.Rows = append(sec.Rows, reportLine{Total: true, Cells: cells("Total", j.Totals)})
	t.Sections = []reportSection{sec}
	return &builtReport{Def: def, JSON: j, Table: t, Date: rep.AsOf,
		Summary:  "Outstanding on " + rep.AsOf + " by days past the due date, in " + currency + ". Unallocated credit notes count negative.",
		Filename: def.Slug + "-" + rep.AsOf}
}
