package web

import (
	"net/http"

	"coffer/internal/access"
)

// routesMembers registers the members area: members and their roles,
// invitations, the access review, the organisation's security settings and
// the full export, plus the public invitation pages and the password
// change, which are not organisation-scoped. Changing or removing a member,
// changing security settings and exporting everything need a fresh second
// factor; inviting does not (the invitee must still set up their own).
func (s *Server) routesMembers(mux *http.ServeMux) {
	// JSON API.
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/members", access.MembersRead, noStepUp, replay, s.apiListMembers)
	s.apiOrg(mux, "PATCH /api/v1/orgs/{org}/members/{user_id}", access.MembersManage, stepUp, replay, s.apiUpdateMember)
	s.apiOrg(mux, "DELETE /api/v1/orgs/{org}/members/{user_id}", access.MembersManage, stepUp, replay, s.apiRemoveMember)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/invitations", access.MembersRead, noStepUp, replay, s.apiListInvitations)
	// The answer holds the invitation link, a one-time secret that the
	// Idempotency-Key replay store would keep in plain text.
	s.apiOrg(mux, "POST /api/v1/orgs/{org}/invitations", access.MembersManage, noStepUp, noReplay, s.apiCreateInvitation)
	s.apiOrg(mux, "DELETE /api/v1/orgs/{org}/invitations/{id}", access.MembersManage, noStepUp, replay, s.apiRevokeInvitation)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/access-review", access.MembersRead, noStepUp, replay, s.apiAccessReview)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/settings", access.SettingsManage, noStepUp, replay, s.apiGetSettings)
	s.apiOrg(mux, "PUT /api/v1/orgs/{org}/settings", access.SettingsManage, stepUp, replay, s.apiPutSettings)
	s.apiOrg(mux, "GET /api/v1/orgs/{org}/export", access.ExportAll, stepUp, replay, s.apiExport)
	mux.HandleFunc("POST /api/v1/me/password", s.apiRequireSession(s.apiChangePassword))

	// HTML pages.
	s.pageOrg(mux, "GET /orgs/{org}/members", access.MembersRead, noStepUp, s.membersPage)
	s.pageOrg(mux, "POST /orgs/{org}/members/{user_id}/role", access.MembersManage, stepUp, s.memberRoleSubmit)
	s.pageOrg(mux, "POST /orgs/{org}/members/{user_id}/remove", access.MembersManage, stepUp, s.memberRemoveSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/invitations/new", access.MembersManage, noStepUp, s.inviteNewPage)
	s.pageOrg(mux, "POST /orgs/{org}/invitations", access.MembersManage, noStepUp, s.inviteCreateSubmit)
	s.pageOrg(mux, "POST /orgs/{org}/invitations/{id}/revoke", access.MembersManage, noStepUp, s.inviteRevokeSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/access-review", access.MembersRead, noStepUp, s.accessReviewPage)
	s.pageOrg(mux, "GET /orgs/{org}/settings", access.SettingsManage, noStepUp, s.orgSettingsPage)
	s.pageOrg(mux, "POST /orgs/{org}/settings", access.SettingsManage, stepUp, s.orgSettingsSubmit)
	s.pageOrg(mux, "GET /orgs/{org}/export", access.ExportAll, stepUp, s.exportPage)
	s.pageOrg(mux, "GET /orgs/{org}/export/{format}", access.ExportAll, stepUp, s.exportDownload)

	// Public invitation pages: the token in the link is the credential.
	mux.HandleFunc("GET /invite/{token}", s.invitePage)
	mux.HandleFunc("POST /invite/{token}", s.csrf(s.inviteRegisterSubmit))
	mux.HandleFunc("POST /invite/{token}/accept", s.csrf(s.requireSession(s.inviteAcceptSubmit)))

	// The signed-in user's password.
	mux.HandleFunc("GET "+passwordPagePath, s.requireSession(s.passwordPage))
	mux.HandleFunc("POST "+passwordPagePath, s.csrf(s.requireSession(s.passwordSubmit)))
}
