package web

import (
	"net/http"

	"coffer/internal/access"
)

// routesSales registers the sales area's organisation routes: contacts,
// sales invoices, bills, credit notes and payments.
//
// Invoices and bills are separate routes with their own permissions, and a
// document reached through the other's route is not found. Credit notes of
// both sides share one route registered with the sales permission; their
// handlers also require the purchases permission for supplier credit notes.
// Seeing or changing a contact's bank details needs step-up: it reveals or
// redirects where money goes.
func (s *Server) routesSales(mux *http.ServeMux) {
	// JSON API: contacts.
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/contacts", access.ContactsRead, noStepUp, replay, s.apiListContacts)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/contacts", access.ContactsWrite, noStepUp, replay, s.apiCreateContact)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/contacts/{id}", access.ContactsRead, noStepUp, replay, s.apiGetContact)
	s.apiOrg(mux, "PATCH /api/v1/orgs/{org}/contacts/{id}", access.ContactsWrite, noStepUp, replay, s.apiUpdateContact)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/contacts/{id}/bank-details", access.ContactsBank, stepUp, replay, s.apiGetContactBank)
	s.apiOrg(mux, "PUT /api/v1/orgs/{org}/contacts/{id}/bank-details", access.ContactsBank, stepUp, replay, s.apiPutContactBank)

	// JSON API: documents.
	for _, d := range []struct {
		docs        salesDocs
		read, write access.Action
	}{
		{salesInvoices, access.SalesRead, access.SalesWrite},
		{salesBills, access.PurchasesRead, access.PurchasesWrite},
		{salesCredits, access.SalesRead, access.SalesWrite},
	} {
		base := "/api/v1/orgs/{org}/" + d.docs.path
		s.apiOrg(mux, "GET "+base, d.read, noStepUp, replay, s.apiListDocs(d.docs))
		s.apiOrg(mux, "POST "+base, d.write, noStepUp, replay, s.apiCreateDoc(d.docs))
		s.apiOrg(mux, "GET "+base+"/{id}", d.read, noStepUp, replay, s.apiGetDoc(d.docs))
		s.apiOrg(mux, "PUT "+base+"/{id}", d.write, noStepUp, replay, s.apiUpdateDoc(d.docs))
		s.apiOrg(mux, "POST "+base+"/{id}/approve", d.write, noStepUp, replay, s.apiApproveDoc(d.docs))
		s.apiOrg(mux, "POST "+base+"/{id}/void", d.write, noStepUp, replay, s.apiVoidDoc(d.docs))
	}
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/credit-notes/{id}/allocate", access.PaymentsWrite, noStepUp, replay, s.apiAllocateCredit)

	// JSON API: payments.
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/payments", access.SalesRead, noStepUp, replay, s.apiListPayments)
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/payments", access.PaymentsWrite, noStepUp, replay, s.apiCreatePayment)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/payments/{id}", access.SalesRead, noStepUp, replay, s.apiGetPayment)

	// HTML pages: contacts.
	s.pageOrg(mux, "GET /orgs/{org}/contacts", access.ContactsRead, noStepUp, s.contactsPage)
	s.pageOrg(mux, "GET /orgs/{org}/contacts/new", access.ContactsWrite, noStepUp, s.contactNewPage)
	s.pageOrg(mux, "POST /orgs/{org}/contacts", access.ContactsWrite, noStepUp, s.contactCreateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/contacts/{id}", access.ContactsRead, noStepUp, s.contactPage)
	s.pageOrg(mux, "GET /orgs/{org}/contacts/{id}/edit", access.ContactsWrite, noStepUp, s.contactEditPage)
	s.pageOrg(mux, "POST /orgs/{org}/contacts/{id}", access.ContactsWrite, noStepUp, s.contactUpdateSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/contacts/{id}/bank-details", access.ContactsBank, stepUp, s.contactBankPage)
	s.pageOrg(mux, "POST /orgs/{org}/contacts/{id}/bank-details", access.ContactsBank, stepUp, s.contactBankSubmit)

	// HTML pages: documents.
	for _, d := range []struct {
		docs        salesDocs
		read, write access.Action
	}{
		{salesInvoices, access.SalesRead, access.SalesWrite},
		{salesBills, access.PurchasesRead, access.PurchasesWrite},
		{salesCredits, access.SalesRead, access.SalesWrite},
	} {
		base := "/orgs/{org}/" + d.docs.path
		s.pageOrg(mux, "GET "+base, d.read, noStepUp, s.docsPage(d.docs))
		s.pageOrg(mux, "GET "+base+"/new", d.write, noStepUp, s.docNewPage(d.docs))
		s.pageOrg(mux, "POST "+base, d.write, noStepUp, s.docCreateSubmit(d.docs))
		s.pageOrg(mux, "GET "+base+"/{id}", d.read, noStepUp, s.docPage(d.docs))
		s.pageOrg(mux, "GET "+base+"/{id}/edit", d.write, noStepUp, s.docEditPage(d.docs))
		s.pageOrg(mux, "POST "+base+"/{id}", d.write, noStepUp, s.docUpdateSubmit(d.docs))
		s.pageOrg(mux, "POST "+base+"/{id}/approve", d.write, noStepUp, s.docApproveSubmit(d.docs))
		s.pageOrg(mux, "POST "+base+"/{id}/void", d.write, noStepUp, s.docVoidSubmit(d.docs))
	}
	s.pageOrg(mux, "POST /orgs/{org}/invoices/{id}/payments", access.PaymentsWrite, noStepUp, s.docPaymentSubmit(salesInvoices))
	s.pageOrg(mux, "POST /orgs/{org}/bills/{id}/payments", access.PaymentsWrite, noStepUp, s.docPaymentSubmit(salesBills))
	s.pageOrg(mux, "POST /orgs/{org}/credit-notes/{id}/allocate", access.PaymentsWrite, noStepUp, s.creditAllocateSubmit)
}
