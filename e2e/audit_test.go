package e2e

// The audit log end to end: an organisation's log for its owners and
// advisers (API, page, CSV safe from formulas), the platform log for
// operators, no secret in any event, and coffer audit verify over the
// running server's data. Source addresses 127.0.0.170–179.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/cli"
	"coffer/internal/testserver"
)

// auditGet fetches a page path with m's session cookie and user agent ua.
func auditGet(t *testing.T, srv *testserver.Server, m *member, path, ua string) (int, http.Header, string) {
	t.Helper()
	hc := bankBrowser(t, srv, m)
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	// The first user is a platform operator.
	owner := signedInMember(t, srv, "127.0.0.170", "audit-owner@example.com", "Audit Co", "owner")
	staff := signedInMember(t, srv, "127.0.0.171", "audit-staff@example.com", "Audit Co", "standard")
	staffID := apiMe(t, staff.C, staff.Session).ID
	ownerID := apiMe(t, owner.C, owner.Session).ID
	orgAudit := fmt.Sprintf("/orgs/%d/audit", owner.OrgID)

	// A user agent is whatever a client sends: this one is a formula.
	const evilUA = `=HYPERLINK("http://evil.example/","x")`
	status, hdr, body := auditGet(t, srv, owner, orgAudit+".csv", evilUA)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.HasPrefix(body, "id,seq,at,user_id,subject,action,outcome,ip,user_agent,detail\n") {
		t.Fatalf("first CSV: %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	// The download is itself audited, in the organisation's chain.
	status, _, body = auditGet(t, srv, owner, orgAudit+".csv?action=audit.", "")
	if status != http.StatusOK {
		t.Fatalf("CSV: %d %s", status, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV rows %v, %v; want the header and the first download", rows, err)
	}
	if got := rows[1]; got[5] != "audit.export" || got[8] != "'"+evilUA || got[4] != owner.Email || got[3] != fmt.Sprint(ownerID) {
		t.Fatalf("CSV row %q: want audit.export by the owner, the user agent defused with a leading quote", got)
	}

	t.Run("API filters", func(t *testing.T) {
		tests := []struct {
			name  string
			f     client.AuditFilter
			total int
		}{
			{"all", client.AuditFilter{}, 2},
			{"action prefix", client.AuditFilter{Action: "audit.exp"}, 2},
			{"other action", client.AuditFilter{Action: "login"}, 0},
			{"user", client.AuditFilter{UserID: ownerID}, 2},
			{"other user", client.AuditFilter{UserID: staffID}, 0},
			{"outcome", client.AuditFilter{Outcome: "failure"}, 0},
			{"dates", client.AuditFilter{From: "2000-01-01", To: "2000-12-31"}, 0},
		}
		for _, tt := range tests {
			p, err := owner.C.OrgAudit(ctx, owner.Session, owner.OrgID, tt.f)
			if err != nil || p.Total != tt.total || len(p.Events) != tt.total {
				t.Errorf("%s: %+v, %v; want %d events", tt.name, p, err, tt.total)
			}
		}
		p, err := owner.C.OrgAudit(ctx, owner.Session, owner.OrgID, client.AuditFilter{Limit: 1})
		if err != nil || p.Total != 2 || len(p.Events) != 1 || p.Events[0].Seq != 2 || p.Events[0].OrgID != owner.OrgID || len(p.Events[0].Hash) != 64 {
			t.Fatalf("first page of one: %+v, %v; want seq 2 of 2", p, err)
		}
		_, err = owner.C.OrgAudit(ctx, owner.Session, owner.OrgID, client.AuditFilter{Outcome: "maybe"})
		apiWantErr(t, err, http.StatusBadRequest, "invalid", "outcome must be success or failure")
	})

	t.Run("who may read", func(t *testing.T) {
		_, err := staff.C.OrgAudit(ctx, staff.Session, owner.OrgID, client.AuditFilter{})
		apiWantErr(t, err, http.StatusForbidden, "forbidden", "")
		if status, _, _ := auditGet(t, srv, staff, orgAudit, ""); status != http.StatusForbidden {
			t.Errorf("audit page for a standard member: %d", status)
		}
		_, err = staff.C.AdminAudit(ctx, staff.Session, client.AuditFilter{})
		apiWantErr(t, err, http.StatusNotFound, "not_found", "")
		if status, _, _ := auditGet(t, srv, staff, "/admin/audit", ""); status != http.StatusNotFound {
			t.Errorf("admin audit page for a non-operator: %d", status)
		}
	})

	t.Run("platform log", func(t *testing.T) {
		p, err := owner.C.AdminAudit(ctx, owner.Session, client.AuditFilter{Action: "login", UserID: staffID, Outcome: "success"})
		if err != nil || p.Total == 0 {
			t.Fatalf("staff sign-ins in the platform log: %+v, %v", p, err)
		}
		for _, e := range p.Events {
			if e.OrgID != 0 || e.UserID != staffID || !strings.HasPrefix(e.Action, "login") {
				t.Fatalf("event %+v does not match the filter", e)
			}
		}
		status, _, body := auditGet(t, srv, owner, "/admin/audit?action=login", "")
		if status != http.StatusOK || !strings.Contains(body, "Platform audit log") || !strings.Contains(body, staff.Email) {
			t.Fatalf("admin audit page: %d", status)
		}
	})

	t.Run("page", func(t *testing.T) {
		status, _, body := auditGet(t, srv, owner, orgAudit+"?outcome=success&action=audit.", "")
		if status != http.StatusOK || strings.Count(body, "<code>audit.export</code>") != 2 || !strings.Contains(body, "2 events match") {
			t.Fatalf("audit page: %d\n%s", status, body)
		}
		if strings.Contains(body, evilUA) {
			t.Fatal("the page shows the user agent unescaped")
		}
		status, _, body = auditGet(t, srv, owner, orgAudit+"?from=yesterday", "")
		if status != http.StatusBadRequest || !strings.Contains(body, "from must be a date like 2030-01-31") {
			t.Fatalf("bad filter: %d", status)
		}
	})

	t.Run("no secrets in events", func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT id, subject || ' ' || action || ' ' || ip || ' ' || user_agent || ' ' || detail FROM audit_events`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		secrets := map[string]string{}
		for _, m := range []*member{owner, staff} {
			secrets[m.Email+" password"] = m.Password
			secrets[m.Email+" TOTP secret"] = m.Secret
			secrets[m.Email+" session token"] = m.Session
			for i, c := range m.RecoveryCodes {
				secrets[fmt.Sprintf("%s recovery code %d", m.Email, i)] = c
			}
		}
		n := 0
		for rows.Next() {
			var id int64
			var text string
			if err := rows.Scan(&id, &text); err != nil {
				t.Fatal(err)
			}
			n++
			for what, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("event %d holds the %s", id, what)
				}
			}
		}
		if err := rows.Err(); err != nil || n < 6 {
			t.Fatalf("%d events read (%v): the sign-ins should have left several", n, err)
		}
	})

	t.Run("verify while serving", func(t *testing.T) {
		var out, errOut bytes.Buffer
		env := cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if code := cli.Run(ctx, []string{"audit", "verify", "--data", srv.DataDir}, env); code != 0 || !strings.Contains(out.String(), "ok: 2 chain(s)") {
			t.Fatalf("audit verify: exit %d\n%s%s", code, out.String(), errOut.String())
		}
	})
}
