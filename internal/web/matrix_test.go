package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlstore"
)

// matrixEnv is a real server (real SQLite, real services) with one
// organisation that has a member of every role, each with a session whose
// second factor is fresh, and an outsider who belongs to another
// organisation only.
type matrixEnv struct {
	store    *sqlstore.Store
	handler  http.Handler
	server   *Server
	org      *access.Org
	tokens   map[access.Role]string
	outsider string
}

func newMatrixEnv(t *testing.T) *matrixEnv {
	t.Helper()
	ctx := t.Context()
	ts := newTestServer(t)
	st := ts.store
	env := &matrixEnv{store: ts.store, server: ts.server, tokens: map[access.Role]string{}}
	env.handler = ts.server.Handler()
	now := time.Now().UTC()
	newMember := func(email string) (*auth.User, string) {
		return ts.mustSignedInUser(t, email, email, now)
	}
	owner, ownerTok := newMember("owner@example.com")
	env.org = &access.Org{Name: "Matrix Ltd", Currency: "GBP", CreatedAt: now, Settings: access.DefaultSettings()}
	if err := st.CreateOrg(ctx, env.org, owner.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		t.Fatal(err)
	}
	env.tokens[access.Owner] = ownerTok
	for _, r := range access.Roles[1:] {
		u, tok := newMember(string(r) + "@example.com")
		if err := st.AddMember(ctx, &access.Membership{OrgID: env.org.ID, UserID: u.ID, Role: r, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		env.tokens[r] = tok
	}
	out, outTok := newMember("outsider@example.com")
	other := &access.Org{Name: "Elsewhere Ltd", Currency: "GBP", CreatedAt: now, Settings: access.DefaultSettings()}
	if err := st.CreateOrg(ctx, other, out.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		t.Fatal(err)
	}
	env.outsider = outTok
	return env
}

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// request builds a request to route rt as the holder of token: bearer
// for the API, cookies and a CSRF token for pages. Path parameters other
// than {org} name a record that does not exist.
func (e *matrixEnv) request(rt Route, token string) *http.Request {
	path := strings.ReplaceAll(rt.Pattern, "{org}", fmt.Sprint(e.org.ID))
	path = pathParam.ReplaceAllString(path, "999999")
	var body io.Reader
	if rt.Method != http.MethodGet {
		if rt.API {
			body = strings.NewReader("{}")
		} else {
			body = strings.NewReader(url.Values{"csrf_token": {strings.Repeat("c", 43)}}.Encode())
		}
	}
	r := httptest.NewRequest(rt.Method, "https://localhost"+path, body)
	r.RemoteAddr = "192.0.2.1:1234"
	if rt.API {
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/json")
	} else {
		r.AddCookie(&http.Cookie{Name: cookieSession, Value: token})
		r.AddCookie(&http.Cookie{Name: cookieCSRF, Value: strings.Repeat("c", 43)})
		if body != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	return r
}

// TestRouteRoleMatrix calls every organisation route as every role and
// checks the answer against the permission matrix: a role without the
// route's action gets 403, a role with it never does. A member of another
// organisation gets 404 everywhere (no existence oracle).
func TestRouteRoleMatrix(t *testing.T) {
	e := newMatrixEnv(t)
	routes := e.server.Routes()
	if len(routes) == 0 {
		t.Fatal("no organisation routes registered")
	}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Pattern
		t.Run(name, func(t *testing.T) {
			for _, role := range access.Roles {
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, e.request(rt, e.tokens[role]))
				allowed := access.Can(role, rt.Action)
				switch {
				case allowed && rec.Code == http.StatusForbidden:
					t.Errorf("%s may %s but got 403: %s", role, rt.Action, firstLine(rec.Body.String()))
				case !allowed && rec.Code != http.StatusForbidden:
					t.Errorf("%s may not %s but got %d", role, rt.Action, rec.Code)
				case rec.Code >= 500:
					t.Errorf("%s got %d: %s", role, rec.Code, firstLine(rec.Body.String()))
				}
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, e.request(rt, e.outsider))
			if rec.Code != http.StatusNotFound {
				t.Errorf("a member of another organisation got %d, want 404", rec.Code)
			}
		})
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// TestPermissionsDoc keeps docs/permissions.md equal to the matrix and the
// route table the code enforces, so a new route or action cannot go
// undocumented. COFFER_UPDATE_DOCS=1 rewrites the file.
func TestPermissionsDoc(t *testing.T) {
	e := newMatrixEnv(t)
	want := permissionsDoc(e.server.Routes())
	path := filepath.Join("..", "..", "docs", "permissions.md")
	if os.Getenv("COFFER_UPDATE_DOCS") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run with COFFER_UPDATE_DOCS=1 to create it)", path, err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date with the code: a route or permission changed. Review the change, then run COFFER_UPDATE_DOCS=1 go test ./internal/web -run TestPermissionsDoc", path)
	}
}

func permissionsDoc(routes []Route) string {
	var b strings.Builder
	b.WriteString("# Permissions\n\n")
	b.WriteString("Generated from `internal/access` and the route table by `TestPermissionsDoc`; the test fails when this file and the code disagree, and `TestRouteRoleMatrix` calls every route below as every role to prove the server enforces it.\n\n")
	b.WriteString("Every organisation route checks, in this order: a signed-in session (two factors, always); membership of the organisation (a non-member gets 404, never 403); the organisation's session limits and password expiry; the role's permission for the route's action (403 otherwise); and, for routes marked *step-up*, a second factor verified within the last 5 minutes (403 `step_up_required` otherwise).\n\n")
	b.WriteString("## Roles and actions\n\n| action | ")
	for _, r := range access.Roles {
		b.WriteString(r.Label() + " | ")
	}
	b.WriteString("\n|---|")
	for range access.Roles {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, a := range access.Actions {
		fmt.Fprintf(&b, "| `%s` | ", a)
		for _, r := range access.Roles {
			if access.Can(r, a) {
				b.WriteString("yes | ")
			} else {
				b.WriteString("— | ")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Routes\n\n| method | path | action | step-up |\n|---|---|---|---|\n")
	for _, rt := range routes {
		su := ""
		if rt.StepUp {
			su = "step-up"
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s |\n", rt.Method, rt.Pattern, rt.Action, su)
	}
	return b.String()
}

// TestOpenAPICoversRoutes keeps api/openapi.yaml true: every API route the
// server registers has its path described there.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newMatrixEnv(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	described := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":") {
			described[param.ReplaceAllString(strings.TrimSuffix(strings.TrimSpace(line), ":"), "{}")] = true
		}
	}
	// Routes outside organisations are registered directly on the mux:
	// read them from the source.
	var paths []string
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	direct := regexp.MustCompile(`HandleFunc\("[A-Z]+ /api/v1([^"]*)"`)
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range direct.FindAllStringSubmatch(string(src), -1) {
			paths = append(paths, m[1])
		}
	}
	if len(paths) < 10 {
		t.Fatalf("found only %d directly registered API routes in the source: %v", len(paths), paths)
	}
	for _, rt := range e.server.Routes() {
		if rt.API {
			paths = append(paths, strings.TrimPrefix(rt.Pattern, "/api/v1"))
		}
	}
	for _, p := range paths {
		if !described[param.ReplaceAllString(p, "{}")] {
			t.Errorf("%s is served but not described in api/openapi.yaml", p)
		}
	}
}
