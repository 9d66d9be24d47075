package web

import (
	"net/http"

	"coffer/internal/access"
)

// routesLedger registers the ledger area's organisation routes: the chart
// of accounts and tax rates, manual journals and reversals, and the lock
// date. None needs step-up; every change is audited by the ledger service.
func (s *Server) routesLedger(mux *http.ServeMux) {
	// JSON API.
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/accounts", access.AccountsRead, noStepUp, replay, s.apiListAccounts)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/accounts", access.AccountsWrite, noStepUp, replay, s.apiCreateAccount)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/accounts/{id}", access.AccountsRead, noStepUp, replay, s.apiGetAccount)
	s.apiOrg(mux, "PATCH /api/v1/orgs/{org}/accounts/{id}", access.AccountsWrite, noStepUp, replay, s.apiUpdateAccount)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/tax-rates", access.AccountsRead, noStepUp, replay, s.apiListTaxRates)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/tax-rates", access.AccountsWrite, noStepUp, replay, s.apiCreateTaxRate)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/journals", access.JournalsRead, noStepUp, replay, s.apiListJournals)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/journals", access.JournalsWrite, noStepUp, replay, s.apiCreateJournal)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/journals/{id}", access.JournalsRead, noStepUp, replay, s.apiGetJournal)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/journals/{id}/reverse", access.JournalsWrite, noStepUp, replay, s.apiReverseJournal)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/lock-date", access.JournalsRead, noStepUp, replay, s.apiGetLockDate)
	s.apiOrg(mux, "PUT /api/v1/orgs/{org}/lock-date", access.LockDateWrite, stepUp, replay, s.apiSetLockDate)

	// HTML pages.
	s.pageOrg(mux, "GET /orgs/{org}/accounts", access.AccountsRead, noStepUp, s.accountsPage)
	s.pageOrg(mux, "GET /orgs/{org}/accounts/new", access.AccountsWrite, noStepUp, s.accountNewPage)
	s.pageOrg(mux, "POST /orgs/{org}/accounts", access.AccountsWrite, noStepUp, s.accountCreateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/accounts/{id}/edit", access.AccountsWrite, noStepUp, s.accountEditPage)
	s.pageOrg(mux, "POST /orgs/{org}/accounts/{id}", access.AccountsWrite, noStepUp, s.accountUpdateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/tax-rates", access.AccountsRead, noStepUp, s.taxRatesPage)
	s.pageOrg(mux, "POST /orgs/{org}/tax-rates", access.AccountsWrite, noStepUp, s.taxRateCreateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/journals", access.JournalsRead, noStepUp, s.journalsPage)
	s.pageOrg(mux, "GET /orgs/{org}/journals/new", access.JournalsWrite, noStepUp, s.journalNewPage)
	s.pageOrg(mux, "POST /orgs/{org}/journals", access.JournalsWrite, noStepUp, s.journalCreateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/journals/{id}", access.JournalsRead, noStepUp, s.journalPage)
	s.pageOrg(mux, "POST /orgs/{org}/journals/{id}/reverse", access.JournalsWrite, noStepUp, s.journalReverseSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/lock-date", access.JournalsRead, noStepUp, s.lockDatePage)
	s.pageOrg(mux, "POST /orgs/{org}/lock-date", access.LockDateWrite, stepUp, s.lockDateSubmit)
}
