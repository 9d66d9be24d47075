package e2e

// End-to-end tests of members, invitations, the access review, security
// settings, the full export and password change, through the JSON API and
// the public invitation pages with Go's HTTP client. Addresses
// 127.0.0.60–69.

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/testserver"

	_ "modernc.org/sqlite" // the "sqlite" driver, to age sessions and read the audit trail
)

var membersCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browser is a cookie-keeping HTTP client that does not follow
// redirects, so a test sees each 303 and where it points.
type browser struct {
	t    *testing.T
	srv  *testserver.Server
	hc   *http.Client
	base *url.URL
}

func newBrowser(t *testing.T, srv *testserver.Server, ip string) *browser {
	hc := srv.HTTPClient(ip)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base, _ := url.Parse(srv.URL)
	return &browser{t: t, srv: srv, hc: hc, base: base}
}

// signIn gives the browser an existing session, as if it had signed in.
func (b *browser) signIn(session string) {
	b.hc.Jar.SetCookies(b.base, []*http.Cookie{{Name: "__Host-coffer_session", Value: session, Path: "/", Secure: true}})
}

func (b *browser) do(method, path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// get fetches a page and checks its status.
func (b *browser) get(path string, want int) string {
	b.t.Helper()
	st, _, body := b.do(http.MethodGet, path, nil)
	if st != want {
		b.t.Fatalf("GET %s = %d, want %d:\n%s", path, st, want, firstLines(body, 40))
	}
	return body
}

// post sends a form with the CSRF token found in page.
func (b *browser) post(path, page string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	m := membersCSRFRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf_token in the page:\n%s", firstLines(page, 40))
	}
	form.Set("csrf_token", m[1])
	return b.do(http.MethodPost, path, form)
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// staleStepUp ages the second factor of every session of the user past the
// step-up window, as if they had signed in long ago: a fresh session would
// pass step-up checks without asking.
func staleStepUp(t *testing.T, srv *testserver.Server, email string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE sessions SET mfa_at = mfa_at - 600 WHERE user_id = (SELECT id FROM users WHERE email = ?)`, email); err != nil {
		t.Fatal(err)
	}
}

// wantAPIError fails unless err is an API error with that status and code.
func wantAPIError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("error = %v, want %d %s", err, status, code)
	}
	return e
}

// rawGet sends an API GET and returns the whole answer.
func rawGet(t *testing.T, m *member, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.C.BaseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.Session)
	resp, err := m.C.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

type apiMember struct {
	UserID            int64      `json:"user_id"`
	Email             string     `json:"email"`
	Name              string     `json:"name"`
	Role              string     `json:"role"`
	MFAMethods        []string   `json:"mfa_methods"`
	RecoveryCodesLeft int        `json:"recovery_codes_left"`
	LastLoginAt       *time.Time `json:"last_login_at"`
	JoinedAt          time.Time  `json:"joined_at"`
	Flags             []string   `json:"flags"`
}

type apiInvitation struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
	AcceptURL string    `json:"accept_url"`
}

func (m *member) members(t *testing.T) map[string]apiMember {
	t.Helper()
	var out struct {
		Members []apiMember `json:"members"`
	}
	if err := m.C.Do(context.Background(), "GET", m.orgPath("members"), m.Session, nil, &out); err != nil {
		t.Fatalf("list members: %v", err)
	}
	byEmail := map[string]apiMember{}
	for _, x := range out.Members {
		byEmail[x.Email] = x
	}
	return byEmail
}

func (m *member) invite(t *testing.T, email, role string) apiInvitation {
	t.Helper()
	var inv apiInvitation
	if err := m.C.Do(context.Background(), "POST", m.orgPath("invitations"), m.Session, map[string]string{"email": email, "role": role}, &inv); err != nil {
		t.Fatalf("invite %s: %v", email, err)
	}
	return inv
}

func TestMembers(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	ctx := context.Background()
	owner := signedInMember(t, srv, "127.0.0.60", "owner-m@example.com", "Members Alpha Ltd", "owner")
	alpha := owner.OrgID

	// An invitation, accepted through the public page by someone new.
	const newbieEmail = "newbie@example.com"
	const newbiePassword = "velvet harbour compass 2718"
	inv := owner.invite(t, "Newbie@Example.com", "standard")
	if inv.Email != newbieEmail || inv.Role != "standard" || !strings.HasPrefix(inv.AcceptURL, srv.URL+"/invite/cfi_") ||
		time.Until(inv.ExpiresAt) < 167*time.Hour || time.Until(inv.ExpiresAt) > 169*time.Hour {
		t.Fatalf("invitation = %+v", inv)
	}
	token := strings.TrimPrefix(inv.AcceptURL, srv.URL+"/invite/")
	var listed json.RawMessage
	if err := owner.C.Do(ctx, "GET", owner.orgPath("invitations"), owner.Session, nil, &listed); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(listed), newbieEmail) || strings.Contains(string(listed), token) || strings.Contains(string(listed), "accept_url") {
		t.Fatalf("pending invitations: %s", listed)
	}

	t.Run("AcceptAsNewUser", func(t *testing.T) {
		b := newBrowser(t, srv, "127.0.0.61")
		invitePath := "/invite/" + token
		page := b.get(invitePath, http.StatusOK)
		for _, want := range []string{"Members Alpha Ltd", "Standard", newbieEmail, `id="invite-register-form"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("invitation page lacks %q:\n%s", want, page)
			}
		}
		// A refused form changes nothing.
		st, _, body := b.post(invitePath, page, url.Values{"name": {"New Bie"}, "password": {newbiePassword}, "password_confirm": {newbiePassword + "!"}})
		if st != http.StatusBadRequest || !strings.Contains(body, "do not match") {
			t.Fatalf("mismatched passwords: %d\n%s", st, firstLines(body, 60))
		}
		st, _, body = b.post(invitePath, page, url.Values{"name": {"New Bie"}, "password": {"password1234"}, "password_confirm": {"password1234"}})
		if st != http.StatusBadRequest || !strings.Contains(body, "commonly used") {
			t.Fatalf("common password: %d", st)
		}
		st, h, _ := b.post(invitePath, page, url.Values{"name": {"New Bie"}, "password": {newbiePassword}, "password_confirm": {newbiePassword}})
		if st != http.StatusSeeOther || h.Get("Location") != "/login?invited" {
			t.Fatalf("register: %d to %q", st, h.Get("Location"))
		}
		if login := b.get("/login?invited", http.StatusOK); !strings.Contains(login, "Sign in to finish: you&#39;ll set up your authenticator app") {
			t.Errorf("sign-in page lacks the notice:\n%s", firstLines(login, 80))
		}
		// Single use: the link is dead now, as is any made-up one.
		for _, p := range []string{invitePath, "/invite/cfi_" + strings.Repeat("A", 43), "/invite/garbage"} {
			if body := b.get(p, http.StatusGone); !strings.Contains(body, "not valid any more") {
				t.Errorf("%s: %s", p, firstLines(body, 40))
			}
		}
		st, _, _ = b.post(invitePath, page, url.Values{"name": {"Again"}, "password": {newbiePassword}, "password_confirm": {newbiePassword}})
		if st != http.StatusGone {
			t.Errorf("second registration: %d, want 410", st)
		}
	})

	// The new user signs in, must enroll, and sees the organisation.
	nc := client.New(srv.URL, srv.HTTPClient("127.0.0.61"))
	lr, err := nc.Login(ctx, newbieEmail, newbiePassword)
	if err != nil || lr.Status != "mfa_enrollment_required" {
		t.Fatalf("newbie login: %+v %v", lr, err)
	}
	newbie := &member{enrolled: enrollAfterAdd(t, nc, newbieEmail, newbiePassword), OrgID: alpha, C: nc}
	var orgs struct {
		Orgs []struct {
			ID   int64  `json:"id"`
			Role string `json:"role"`
		} `json:"orgs"`
	}
	if err := nc.Do(ctx, "GET", "/api/v1/orgs", newbie.Session, nil, &orgs); err != nil || len(orgs.Orgs) != 1 || orgs.Orgs[0].ID != alpha || orgs.Orgs[0].Role != "standard" {
		t.Fatalf("newbie's organisations: %+v %v", orgs, err)
	}
	newbieID := owner.members(t)[newbieEmail].UserID

	// Someone with an account elsewhere accepts while signed in.
	multi := signedInMember(t, srv, "127.0.0.62", "multi@example.com", "Members Beta Ltd", "owner")
	t.Run("AcceptAsSignedInUser", func(t *testing.T) {
		mi := owner.invite(t, "multi@example.com", "adviser")
		invitePath := strings.TrimPrefix(mi.AcceptURL, srv.URL)
		// Signed out, the page says to sign in first.
		anon := newBrowser(t, srv, "127.0.0.62")
		if page := anon.get(invitePath, http.StatusOK); !strings.Contains(page, `id="invite-sign-in"`) {
			t.Fatalf("signed-out page:\n%s", page)
		}
		// Signed in as someone else, it cannot be accepted.
		wrong := newBrowser(t, srv, "127.0.0.61")
		wrong.signIn(newbie.Session)
		page := wrong.get(invitePath, http.StatusOK)
		if !strings.Contains(page, `id="invite-wrong-user"`) {
			t.Fatalf("wrong user page:\n%s", page)
		}
		if st, _, _ := wrong.post(invitePath+"/accept", page, url.Values{}); st != http.StatusForbidden {
			t.Errorf("wrong user accepting: %d, want 403", st)
		}
		b := newBrowser(t, srv, "127.0.0.62")
		b.signIn(multi.Session)
		page = b.get(invitePath, http.StatusOK)
		if !strings.Contains(page, `id="invite-accept-form"`) {
			t.Fatalf("accept page:\n%s", page)
		}
		st, h, _ := b.post(invitePath+"/accept", page, url.Values{})
		if st != http.StatusSeeOther || h.Get("Location") != fmt.Sprintf("/orgs/%d", alpha) {
			t.Fatalf("accept: %d to %q", st, h.Get("Location"))
		}
		if got := owner.members(t)["multi@example.com"].Role; got != "adviser" {
			t.Errorf("multi's role = %q", got)
		}
	})
	multiInAlpha := &member{enrolled: multi.enrolled, OrgID: alpha, C: multi.C}
	multiID := owner.members(t)["multi@example.com"].UserID

	// A member who never signs in, with a name a spreadsheet would run.
	srv.AddMember(t, "dormant@example.com", `=HYPERLINK("http://evil.example","x")`, "quiet meadow lantern 4417", "Members Alpha Ltd", "read_only")

	t.Run("StepUpRequired", func(t *testing.T) {
		staleStepUp(t, srv, owner.Email)
		for _, tt := range []struct {
			method, path string
			body         any
		}{
			{"PATCH", owner.orgPath(fmt.Sprintf("members/%d", newbieID)), map[string]string{"role": "adviser"}},
			{"DELETE", owner.orgPath(fmt.Sprintf("members/%d", multiID)), nil},
			{"PUT", owner.orgPath("settings"), map[string]any{"session_idle_minutes": 10, "session_absolute_hours": 8, "password_expiry_days": 0, "forbid_sms": true, "require_phishing_resistant": false}},
			{"GET", owner.orgPath("export?format=zip"), nil},
		} {
			err := owner.C.Do(ctx, tt.method, tt.path, owner.Session, tt.body, nil)
			wantAPIError(t, err, http.StatusForbidden, "step_up_required")
		}
		// Reading needs no step-up, and nothing changed.
		ms := owner.members(t)
		if ms[newbieEmail].Role != "standard" || ms["multi@example.com"].Role != "adviser" {
			t.Fatalf("members changed without step-up: %+v", ms)
		}
	})
	owner.stepUp(t)

	t.Run("RoleChange", func(t *testing.T) {
		var m apiMember
		if err := owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("members/%d", newbieID)), owner.Session, map[string]string{"role": "adviser"}, &m); err != nil {
			t.Fatal(err)
		}
		if m.Role != "adviser" || m.Email != newbieEmail {
			t.Errorf("answer = %+v", m)
		}
		ownerID := owner.members(t)[owner.Email].UserID
		// The adviser (whose session is fresh from enrollment) cannot touch
		// owners nor make anyone owner.
		for _, tt := range []struct {
			method string
			id     int64
			body   any
		}{
			{"PATCH", ownerID, map[string]string{"role": "standard"}},
			{"PATCH", newbieID, map[string]string{"role": "owner"}},
			{"DELETE", ownerID, nil},
		} {
			err := newbie.C.Do(ctx, tt.method, newbie.orgPath(fmt.Sprintf("members/%d", tt.id)), newbie.Session, tt.body, nil)
			wantAPIError(t, err, http.StatusForbidden, "forbidden")
		}
		// The last owner can be neither demoted nor removed.
		err := owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("members/%d", ownerID)), owner.Session, map[string]string{"role": "adviser"}, nil)
		if e := wantAPIError(t, err, http.StatusConflict, "conflict"); !strings.Contains(e.Message, "last owner") {
			t.Errorf("message = %q", e.Message)
		}
		err = owner.C.Do(ctx, "DELETE", owner.orgPath(fmt.Sprintf("members/%d", ownerID)), owner.Session, nil, nil)
		wantAPIError(t, err, http.StatusConflict, "conflict")
		err = owner.C.Do(ctx, "PATCH", owner.orgPath(fmt.Sprintf("members/%d", newbieID)), owner.Session, map[string]string{"role": "boss"}, nil)
		wantAPIError(t, err, http.StatusBadRequest, "invalid")
		err = owner.C.Do(ctx, "PATCH", owner.orgPath("members/99999"), owner.Session, map[string]string{"role": "standard"}, nil)
		wantAPIError(t, err, http.StatusNotFound, "not_found")
	})

	t.Run("RemovedMemberRefusedAtOnce", func(t *testing.T) {
		if err := multiInAlpha.C.Do(ctx, "GET", multiInAlpha.orgPath("members"), multi.Session, nil, nil); err != nil {
			t.Fatalf("before removal: %v", err)
		}
		if err := owner.C.Do(ctx, "DELETE", owner.orgPath(fmt.Sprintf("members/%d", multiID)), owner.Session, nil, nil); err != nil {
			t.Fatal(err)
		}
		err := multiInAlpha.C.Do(ctx, "GET", multiInAlpha.orgPath("members"), multi.Session, nil, nil)
		if e := wantAPIError(t, err, http.StatusNotFound, "not_found"); e.Message != "Organisation not found." {
			t.Errorf("message = %q", e.Message)
		}
		b := newBrowser(t, srv, "127.0.0.62")
		b.signIn(multi.Session)
		b.get(fmt.Sprintf("/orgs/%d", alpha), http.StatusNotFound)
		// Their own organisation still works, with the same session.
		if err := multi.C.Do(ctx, "GET", multi.orgPath("members"), multi.Session, nil, nil); err != nil {
			t.Errorf("their other organisation: %v", err)
		}
		var orgs struct {
			Orgs []struct {
				ID int64 `json:"id"`
			} `json:"orgs"`
		}
		if err := multi.C.Do(ctx, "GET", "/api/v1/orgs", multi.Session, nil, &orgs); err != nil || len(orgs.Orgs) != 1 || orgs.Orgs[0].ID != multi.OrgID {
			t.Errorf("their organisations: %+v %v", orgs, err)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		var st map[string]any
		if err := owner.C.Do(ctx, "GET", owner.orgPath("settings"), owner.Session, nil, &st); err != nil {
			t.Fatal(err)
		}
		if st["session_idle_minutes"] != 15.0 || st["session_absolute_hours"] != 12.0 || st["password_expiry_days"] != 0.0 || st["forbid_sms"] != false {
			t.Errorf("defaults = %v", st)
		}
		for _, bad := range []map[string]any{
			{"session_idle_minutes": 30, "session_absolute_hours": 8, "password_expiry_days": 0, "forbid_sms": false, "require_phishing_resistant": false},
			{"session_idle_minutes": 10, "session_absolute_hours": 24, "password_expiry_days": 0, "forbid_sms": false, "require_phishing_resistant": false},
			{"session_idle_minutes": 10, "session_absolute_hours": 8, "password_expiry_days": 7, "forbid_sms": false, "require_phishing_resistant": false},
			{"session_idle_minutes": 10, "session_absolute_hours": 8},
			{"session_idle_minutes": 10, "session_absolute_hours": 8, "password_expiry_days": 0, "forbid_sms": false, "require_phishing_resistant": false, "mfa": "off"},
		} {
			err := owner.C.Do(ctx, "PUT", owner.orgPath("settings"), owner.Session, bad, nil)
			wantAPIError(t, err, http.StatusBadRequest, "invalid")
		}
		good := map[string]any{"session_idle_minutes": 10, "session_absolute_hours": 8, "password_expiry_days": 90, "forbid_sms": true, "require_phishing_resistant": false}
		if err := owner.C.Do(ctx, "PUT", owner.orgPath("settings"), owner.Session, good, &st); err != nil {
			t.Fatal(err)
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath("settings"), owner.Session, nil, &st); err != nil {
			t.Fatal(err)
		}
		if st["session_idle_minutes"] != 10.0 || st["password_expiry_days"] != 90.0 || st["forbid_sms"] != true {
			t.Errorf("saved = %v", st)
		}
		// Advisers may not see or change them.
		err := newbie.C.Do(ctx, "GET", newbie.orgPath("settings"), newbie.Session, nil, nil)
		wantAPIError(t, err, http.StatusForbidden, "forbidden")
	})

	t.Run("AccessReview", func(t *testing.T) {
		var out struct {
			Members []apiMember `json:"members"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath("access-review"), owner.Session, nil, &out); err != nil {
			t.Fatal(err)
		}
		got := map[string]apiMember{}
		for _, m := range out.Members {
			got[m.Email] = m
		}
		if len(got) != 3 {
			t.Fatalf("review lists %d members, want 3: %+v", len(got), out.Members)
		}
		if m := got["dormant@example.com"]; !slices.Equal(m.Flags, []string{"never_signed_in"}) || m.LastLoginAt != nil || len(m.MFAMethods) != 0 {
			t.Errorf("dormant = %+v", m)
		}
		if m := got[owner.Email]; len(m.Flags) != 0 || !slices.Equal(m.MFAMethods, []string{"totp"}) || m.RecoveryCodesLeft != 10 || m.LastLoginAt == nil {
			t.Errorf("owner = %+v", m)
		}
		resp, data := rawGet(t, owner, owner.orgPath("access-review?format=csv"))
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
		}
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0][0] != "email" {
			t.Fatalf("csv rows = %q", rows)
		}
		for _, r := range rows[1:] {
			if r[0] == "dormant@example.com" {
				if r[1] != `'=HYPERLINK("http://evil.example","x")` || r[7] != "never_signed_in" {
					t.Errorf("dormant row = %q", r)
				}
			}
		}
	})

	t.Run("Export", func(t *testing.T) {
		resp, data := rawGet(t, owner, owner.orgPath("export?format=zip"))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" || !strings.Contains(resp.Header.Get("Content-Disposition"), ".zip") {
			t.Fatalf("export: %d %v\n%s", resp.StatusCode, resp.Header, firstLines(string(data), 5))
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("open zip: %v", err)
		}
		files := map[string][][]string{}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(rc).ReadAll()
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", zf.Name, err)
			}
			files[zf.Name] = rows
		}
		var names []string
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		want := []string{"accounts.csv", "bank_accounts.csv", "bank_transactions.csv", "contacts.csv", "credit_allocations.csv", "invoice_lines.csv",
			"invoices.csv", "journal_lines.csv", "journals.csv", "members.csv", "orgs.csv", "payments.csv", "tax_rates.csv"}
		if !slices.Equal(names, want) {
			t.Fatalf("files = %v, want %v", names, want)
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for file, table := range map[string]string{"accounts.csv": "accounts", "tax_rates.csv": "tax_rates", "bank_accounts.csv": "bank_accounts", "members.csv": "memberships", "journals.csv": "journals"} {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE org_id = ?`, alpha).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if got := len(files[file]) - 1; got != n {
				t.Errorf("%s has %d rows, the organisation has %d", file, got, n)
			}
		}
		if len(files["members.csv"]) != 4 || len(files["orgs.csv"]) != 2 || files["orgs.csv"][1][1] != "Members Alpha Ltd" {
			t.Errorf("members %q orgs %q", files["members.csv"], files["orgs.csv"])
		}
		if bytes.Contains(data, []byte("Members Beta Ltd")) {
			t.Error("the export holds another organisation's data")
		}
		resp, data = rawGet(t, owner, owner.orgPath("export?format=json"))
		var doc struct {
			Tables map[string][]map[string]any `json:"tables"`
			Counts map[string]int              `json:"counts"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &doc) != nil || len(doc.Tables) != 13 || doc.Counts["members"] != 3 {
			t.Fatalf("json export: %d %v", resp.StatusCode, doc.Counts)
		}
		resp, _ = rawGet(t, owner, owner.orgPath("export?format=xml"))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("unknown format: %d", resp.StatusCode)
		}
	})

	t.Run("Pages", func(t *testing.T) {
		b := newBrowser(t, srv, "127.0.0.60")
		b.signIn(owner.Session)
		org := fmt.Sprintf("/orgs/%d", alpha)
		members := b.get(org+"/members", http.StatusOK)
		for _, want := range []string{`id="members"`, newbieEmail, "dormant@example.com", `id="invite-link"`} {
			if !strings.Contains(members, want) {
				t.Errorf("members page lacks %q", want)
			}
		}
		review := b.get(org+"/access-review", http.StatusOK)
		if !strings.Contains(review, `data-flag="never_signed_in"`) || !strings.Contains(review, `href="`+org+`/access-review?format=csv"`) {
			t.Errorf("access review page:\n%s", firstLines(review, 200))
		}
		if st, h, _ := b.do("GET", org+"/access-review?format=csv", nil); st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
			t.Errorf("page csv: %d %v", st, h)
		}
		settings := b.get(org+"/settings", http.StatusOK)
		if !strings.Contains(settings, "NIST SP 800-63B advises against") || !strings.Contains(settings, `value="10"`) {
			t.Errorf("settings page:\n%s", firstLines(settings, 200))
		}
		st, h, _ := b.post(org+"/settings", settings, url.Values{"session_idle_minutes": {"12"}, "session_absolute_hours": {"8"}, "password_expiry_days": {"0"}, "return_to": {org + "/settings"}})
		if st != http.StatusSeeOther || h.Get("Location") != org+"/settings?saved" {
			t.Errorf("settings form: %d %q", st, h.Get("Location"))
		}
		st, _, body := b.post(org+"/settings", settings, url.Values{"session_idle_minutes": {"x"}, "session_absolute_hours": {"8"}, "password_expiry_days": {"0"}})
		if st != http.StatusBadRequest || !strings.Contains(body, "whole number") {
			t.Errorf("bad settings form: %d", st)
		}
		exportPage := b.get(org+"/export", http.StatusOK)
		if !strings.Contains(exportPage, `href="`+org+`/export/zip"`) {
			t.Errorf("export page:\n%s", firstLines(exportPage, 100))
		}
		if st, h, body := b.do("GET", org+"/export/zip", nil); st != http.StatusOK || h.Get("Content-Type") != "application/zip" || !strings.HasPrefix(body, "PK") {
			t.Errorf("export download: %d %v", st, h)
		}
		form := b.get(org+"/invitations/new", http.StatusOK)
		st, _, created := b.post(org+"/invitations", form, url.Values{"email": {"page-invite@example.com"}, "role": {"read_only"}})
		if st != http.StatusCreated || !strings.Contains(created, `id="accept-url"`) || !strings.Contains(created, "/invite/cfi_") {
			t.Errorf("invitation page: %d\n%s", st, firstLines(created, 100))
		}
		b.get("/settings/security/password", http.StatusOK)
		if sec := b.get("/settings/security", http.StatusOK); !strings.Contains(sec, `href="/settings/security/password"`) {
			t.Error("security page does not link to the password change")
		}
		// Without a fresh second factor the export page asks for one.
		staleStepUp(t, srv, owner.Email)
		if st, h, _ := b.do("GET", org+"/export", nil); st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/step-up?next=") {
			t.Errorf("stale export page: %d %q", st, h.Get("Location"))
		}
		if st, h, _ := b.do("GET", "/settings/security/password", nil); st != http.StatusSeeOther || h.Get("Location") != "/step-up?next=%2Fsettings%2Fsecurity%2Fpassword" {
			t.Errorf("stale password page: %d %q", st, h.Get("Location"))
		}
	})

	t.Run("PasswordChange", func(t *testing.T) {
		// A second session of the newbie, from a recovery code.
		lr, err := nc.Login(ctx, newbieEmail, newbiePassword)
		if err != nil {
			t.Fatal(err)
		}
		other, err := nc.LoginMFA(ctx, lr.LoginToken, "recovery_code", newbie.RecoveryCodes[0])
		if err != nil {
			t.Fatal(err)
		}
		const next = "granite willow pocket 9052"
		body := map[string]string{"current_password": newbiePassword, "new_password": next}
		staleStepUp(t, srv, newbieEmail)
		err = nc.Do(ctx, "POST", "/api/v1/me/password", newbie.Session, body, nil)
		wantAPIError(t, err, http.StatusForbidden, "step_up_required")
		newbie.stepUp(t)
		err = nc.Do(ctx, "POST", "/api/v1/me/password", newbie.Session, map[string]string{"current_password": "wrong wrong wrong 1", "new_password": next}, nil)
		wantAPIError(t, err, http.StatusBadRequest, "invalid")
		err = nc.Do(ctx, "POST", "/api/v1/me/password", newbie.Session, map[string]string{"current_password": newbiePassword, "new_password": "short"}, nil)
		wantAPIError(t, err, http.StatusBadRequest, "invalid")
		var out struct {
			Ended int `json:"other_sessions_ended"`
		}
		if err := nc.Do(ctx, "POST", "/api/v1/me/password", newbie.Session, body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Ended != 1 {
			t.Errorf("other sessions ended = %d, want 1", out.Ended)
		}
		_, err = nc.Me(ctx, other.SessionToken)
		wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
		if _, err := nc.Me(ctx, newbie.Session); err != nil {
			t.Errorf("this session ended: %v", err)
		}
		_, err = nc.Login(ctx, newbieEmail, newbiePassword)
		wantAPIError(t, err, http.StatusUnauthorized, "unauthorized")
		if _, err := nc.Login(ctx, newbieEmail, next); err != nil {
			t.Errorf("new password: %v", err)
		}
	})

	t.Run("AuditTrail", func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, want := range []struct{ subject, action, detail string }{
			{owner.Email, "org.invitation.create", "email=newbie@example.com role=standard"},
			{newbieEmail, "user.create", "admin=false invitation="},
			{newbieEmail, "org.invitation.accept", "role=standard new_user=true"},
			{"multi@example.com", "org.invitation.accept", "role=adviser new_user=false"},
			{owner.Email, "org.member.role_change", "email=newbie@example.com from=standard to=adviser"},
			{owner.Email, "org.member.remove", "email=multi@example.com role=adviser"},
			{owner.Email, "org.settings.change", "session_idle=15m0s->10m0s"},
			{owner.Email, "org.export", "format=zip rows=orgs:1,"},
			{owner.Email, "org.export", "format=json"},
			{newbieEmail, "password.change", "other_sessions_ended=1"},
		} {
			var n int
			err := db.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE subject = ? AND action = ? AND outcome = 'success' AND instr(detail, ?) > 0`, want.subject, want.action, want.detail).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("no audit event %s %s %q", want.subject, want.action, want.detail)
			}
		}
		var leaks int
		if err := db.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE instr(detail, 'cfi_') > 0`).Scan(&leaks); err != nil || leaks != 0 {
			t.Errorf("%d audit events hold an invitation token (%v)", leaks, err)
		}
		if strings.Contains(srv.Log.String(), "cfi_") {
			t.Error("the server log holds an invitation token")
		}
		// The invitation token is kept only as its hash.
		var plain int
		if err := db.QueryRow(`SELECT COUNT(*) FROM invitations WHERE instr(CAST(token_hash AS TEXT), 'cfi_') > 0`).Scan(&plain); err != nil || plain != 0 {
			t.Errorf("plain tokens stored: %d %v", plain, err)
		}
	})
}
