package web

import (
	"net/http"

	"coffer/internal/access"
)

// routesBank registers the bank area's organisation routes: bank accounts,
// statement imports (CSV and OFX) and reconciliation. Statement uploads
// go to paths ending in /import, which limitBody allows up to 10 MiB.
func (s *Server) routesBank(mux *http.ServeMux) {
	// JSON API.
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/bank-accounts", access.BankRead, noStepUp, replay, s.apiListBankAccounts)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/bank-accounts", access.BankWrite, noStepUp, replay, s.apiCreateBankAccount)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/bank-accounts/{id}", access.BankRead, noStepUp, replay, s.apiGetBankAccount)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/bank-accounts/{id}/import", access.BankWrite, noStepUp, replay, s.apiImportStatement)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/bank-transactions", access.BankRead, noStepUp, replay, s.apiListBankTransactions)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/bank-transactions/{id}", access.BankRead, noStepUp, replay, s.apiGetBankTransaction)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/bank-transactions/{id}/reconcile", access.BankWrite, noStepUp, replay, s.apiReconcileBankTransaction)

	// HTML pages.
	s.pageOrg(mux, "GET /orgs/{org}/bank", access.BankRead, noStepUp, s.bankPage)
	s.pageOrg(mux, "POST /orgs/{org}/bank", access.BankWrite, noStepUp, s.bankCreateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/bank/{id}", access.BankRead, noStepUp, s.bankAccountPage)
	s.pageOrg(mux, "POST /orgs/{org}/bank/{id}/import", access.BankWrite, noStepUp, s.bankImportSubmit)
	s.pageOrg(mux, "POST /orgs/{org}/bank/{id}/transactions/{tx}/reconcile", access.BankWrite, noStepUp, s.bankReconcileSubmit)
}
