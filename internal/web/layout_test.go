package web

import (
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"coffer/internal/access"
)

// layoutServer is a Server with the real templates and assets and nothing
// else: enough to render pages.
func layoutServer(t *testing.T) *Server {
	t.Helper()
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{pages: p, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// renderPage renders template name with d through the shared layout and
// returns the page, failing on anything but a 200 (a template error is a
// 500).
func renderPage(t *testing.T, s *Server, name string, d pageData) string {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	s.render(w, r, http.StatusOK, name, d)
	if w.Code != http.StatusOK {
		t.Fatalf("render %s: status %d: %s", name, w.Code, w.Body.String())
	}
	body := w.Body.String()
	checkCSPSafe(t, name, body)
	return body
}

// checkCSPSafe fails on markup the Content-Security-Policy would refuse: a
// style attribute, a <style> block or a script without src.
func checkCSPSafe(t *testing.T, name, body string) {
	t.Helper()
	if strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Errorf("%s: inline style, which the CSP refuses", name)
	}
	for _, tag := range startTags(body, "script") {
		if tag["src"] == "" {
			t.Errorf("%s: inline <script>, which the CSP refuses", name)
		}
	}
}

var attrRE = regexp.MustCompile(`([a-zA-Z_:-]+)(?:="([^"]*)")?`)

// startTags returns the attributes of every <name …> start tag in s, with
// entities decoded.
func startTags(s, name string) []map[string]string {
	re := regexp.MustCompile(`<` + name + `(\s[^>]*)?>`)
	var out []map[string]string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(m[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		out = append(out, attrs)
	}
	return out
}

// element returns the markup of the <tag id="id"> element up to its first
// closing tag, "" if absent (the elements looked at here contain no
// element of their own kind).
func element(s, tag, id string) string {
	re := regexp.MustCompile(`(?s)<` + tag + `\s[^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</` + tag + `>`)
	return re.FindString(s)
}

// text is the element's text with tags removed and spaces collapsed.
func text(s string) string {
	s = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// navSection is one link of the organisation navigation and the action
// that must allow it.
type navSection struct {
	label, path string
	action      access.Action
}

var navSections = []navSection{
	{"Overview", "/orgs/7", access.OrgRead},
	{"Contacts", "/orgs/7/contacts", access.ContactsRead},
	{"Sales", "/orgs/7/invoices", access.SalesRead},
	{"Purchases", "/orgs/7/bills", access.PurchasesRead},
	{"Bank", "/orgs/7/bank", access.BankRead},
	{"Journals", "/orgs/7/journals", access.JournalsRead},
	{"Accounts", "/orgs/7/accounts", access.AccountsRead},
	{"Reports", "/orgs/7/reports", access.ReportsRead},
	{"Members", "/orgs/7/members", access.MembersRead},
	{"Audit log", "/orgs/7/audit", access.AuditRead},
	{"Security findings", "/orgs/7/findings", access.AuditRead},
	{"Settings", "/orgs/7/settings", access.SettingsManage},
}

func orgPageData(role access.Role, section string) pageData {
	d := pageData{
		Title: "Acme & Sons",
		CSRF:  "csrf-token-value",
		User:  &pageUser{Name: "Ada Lovelace", Email: "ada@example.com"},
		Org:   &pageOrg{ID: 7, Name: "Acme & Sons", Role: role, Currency: "GBP"},
		Data:  map[string]any{"RoleLabel": role.Label(), "LockDate": ""},
	}
	if section != "" {
		d.Data["Section"] = section
	}
	return d
}

// navLinks returns the organisation navigation's links as label → href, and
// the labels marked as the current page.
func navLinks(t *testing.T, body string) (links map[string]string, current []string) {
	t.Helper()
	nav := element(body, "nav", "org-nav")
	if nav == "" {
		t.Fatalf("no <nav id=\"org-nav\"> on an organisation page:\n%s", body)
	}
	if !strings.Contains(nav, `aria-label="Organisation"`) {
		t.Errorf("the organisation nav has no aria-label=\"Organisation\": %s", nav)
	}
	links = map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<a\s([^>]*)>(.*?)</a>`).FindAllStringSubmatch(nav, -1) {
		label := text(m[2])
		attrs := startTags("<a "+m[1]+">", "a")[0]
		links[label] = attrs["href"]
		if v, ok := attrs["aria-current"]; ok {
			if v != "page" {
				t.Errorf("link %s has aria-current=%q, want \"page\"", label, v)
			}
			current = append(current, label)
		}
	}
	return links, current
}

// TestLayoutOrgNav checks the organisation bar and navigation for every
// role: a link appears exactly when the role may take the section's
// action, with owners seeing Members and Settings and read-only members
// neither.
func TestLayoutOrgNav(t *testing.T) {
	s := layoutServer(t)
	for _, role := range access.Roles {
		t.Run(string(role), func(t *testing.T) {
			body := renderPage(t, s, "org_home", orgPageData(role, ""))
			links, current := navLinks(t, body)
			for _, sec := range navSections {
				href, shown := links[sec.label]
				if want := access.Can(role, sec.action); shown != want {
					t.Errorf("%s link shown = %v, want %v (access.Can(%s, %s))", sec.label, shown, want, role, sec.action)
				}
				if shown && href != sec.path {
					t.Errorf("%s link goes to %q, want %q", sec.label, href, sec.path)
				}
			}
			if len(links) > len(navSections) {
				t.Errorf("unexpected nav links: %v", links)
			}
			if len(current) != 0 {
				t.Errorf("without a section, %v marked current", current)
			}
			if got := text(element(body, "a", "org-name")); got != "Acme & Sons" {
				t.Errorf("organisation bar name %q, want %q", got, "Acme & Sons")
			}
			if got := text(element(body, "span", "org-role")); got != role.Label() {
				t.Errorf("role badge %q, want %q", got, role.Label())
			}
			if !strings.Contains(element(body, "a", "org-switch"), `href="/orgs"`) {
				t.Errorf("no Switch link to /orgs: %s", element(body, "a", "org-switch"))
			}
		})
	}

	// The matrix decides, but say the two cases people care about plainly.
	tests := []struct {
		role      access.Role
		want, not []string
	}{
		{access.Owner, []string{"Overview", "Contacts", "Sales", "Purchases", "Bank", "Journals", "Accounts", "Reports", "Members", "Settings"}, nil},
		{access.ReadOnly, []string{"Overview", "Contacts", "Sales", "Reports"}, []string{"Members", "Settings"}},
		{access.InvoiceOnly, []string{"Overview", "Contacts", "Sales"}, []string{"Purchases", "Bank", "Journals", "Accounts", "Reports", "Members", "Settings"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.role)+"/explicit", func(t *testing.T) {
			links, _ := navLinks(t, renderPage(t, s, "org_home", orgPageData(tt.role, "")))
			for _, l := range tt.want {
				if _, ok := links[l]; !ok {
					t.Errorf("%s nav lacks %s: %v", tt.role, l, links)
				}
			}
			for _, l := range tt.not {
				if _, ok := links[l]; ok {
					t.Errorf("%s nav shows %s: %v", tt.role, l, links)
				}
			}
		})
	}
}

// TestLayoutCurrentSection checks that the section a page names is the one
// link marked aria-current, and that an unknown or non-string section
// marks nothing and breaks nothing.
func TestLayoutCurrentSection(t *testing.T) {
	s := layoutServer(t)
	tests := []struct {
		section any
		want    []string
	}{
		{"overview", []string{"Overview"}},
		{"invoices", []string{"Sales"}},
		{"bills", []string{"Purchases"}},
		{"settings", []string{"Settings"}},
		{"nonsense", nil},
		{42, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.section), func(t *testing.T) {
			d := orgPageData(access.Owner, "")
			d.Data["Section"] = tt.section
			_, current := navLinks(t, renderPage(t, s, "org_home", d))
			if !slices.Equal(current, tt.want) {
				t.Errorf("Section %v: current %v, want %v", tt.section, current, tt.want)
			}
		})
	}
}

// TestLayoutWithoutOrg checks that pages outside an organisation keep the
// narrow frame with no organisation bar or navigation.
func TestLayoutWithoutOrg(t *testing.T) {
	s := layoutServer(t)
	d := pageData{Title: "Organisations", CSRF: "t", User: &pageUser{Name: "Ada", Email: "ada@example.com"}, Data: map[string]any{}}
	body := renderPage(t, s, "orgs", d)
	for _, bad := range []string{`id="org-nav"`, `id="org-name"`, "container-wide"} {
		if strings.Contains(body, bad) {
			t.Errorf("a page without an organisation contains %s", bad)
		}
	}
	// The sign-out form the browser tests click stays in the header.
	if !strings.Contains(body, `action="/logout"`) {
		t.Error("no sign-out form")
	}
	org := renderPage(t, s, "org_home", orgPageData(access.Owner, ""))
	if main := startTags(org, "main"); len(main) != 1 || !strings.Contains(main[0]["class"], "container-wide") {
		t.Errorf("an organisation page's <main> is not wide: %v", main)
	}
}

type orgRow struct {
	ID                         int64
	Name, Role, Currency, Path string
}

// TestOrgsPage checks the organisation list: a link per organisation with
// role and currency, names escaped, and an empty state that says how to get
// access.
func TestOrgsPage(t *testing.T) {
	s := layoutServer(t)
	base := func(orgs any) pageData {
		return pageData{Title: "Organisations", CSRF: "t", User: &pageUser{Name: "Ada", Email: "ada@example.com"}, Data: map[string]any{"Orgs": orgs}}
	}
	t.Run("OK", func(t *testing.T) {
		body := renderPage(t, s, "orgs", base([]orgRow{
			{ID: 1, Name: "Acme Ltd", Role: "Owner", Currency: "GBP", Path: "/orgs/1"},
			{ID: 2, Name: "Birch & <Sons>", Role: "Read only", Currency: "EUR", Path: "/orgs/2"},
		}))
		list := element(body, "ul", "org-list")
		if list == "" {
			t.Fatalf("no #org-list:\n%s", body)
		}
		var hrefs []string
		for _, a := range startTags(list, "a") {
			hrefs = append(hrefs, a["href"])
		}
		if !slices.Equal(hrefs, []string{"/orgs/1", "/orgs/2"}) {
			t.Errorf("links %v, want /orgs/1 and /orgs/2", hrefs)
		}
		got := text(list)
		for _, want := range []string{"Acme Ltd", "Owner", "GBP", "Birch & <Sons>", "Read only", "EUR"} {
			if !strings.Contains(got, want) {
				t.Errorf("list %q lacks %q", got, want)
			}
		}
		if strings.Contains(body, "<Sons>") {
			t.Error("organisation name not escaped")
		}
		if strings.Contains(body, `id="orgs-empty"`) {
			t.Error("empty state shown with organisations")
		}
	})
	t.Run("Empty", func(t *testing.T) {
		for _, orgs := range []any{nil, []orgRow{}} {
			body := renderPage(t, s, "orgs", base(orgs))
			got := text(element(body, "p", "orgs-empty"))
			if !strings.Contains(got, "not a member of any organisation") || !strings.Contains(got, "coffer admin user add … --org NAME --role owner") || !strings.Contains(got, "invite") {
				t.Errorf("empty state %q", got)
			}
		}
	})
}

// TestOrgHomePage checks the organisation home: name, role, currency and
// lock date, and tiles only for what the role opens.
func TestOrgHomePage(t *testing.T) {
	s := layoutServer(t)
	tiles := func(body string) []string {
		var out []string
		for _, a := range startTags(element(body, "ul", "org-sections"), "a") {
			out = append(out, a["href"])
		}
		return out
	}
	t.Run("Owner", func(t *testing.T) {
		d := orgPageData(access.Owner, "overview")
		d.Data["LockDate"] = "2026-03-31"
		body := renderPage(t, s, "org_home", d)
		if got := text(element(body, "h1", "org-title")); got != "Acme & Sons" {
			t.Errorf("heading %q", got)
		}
		for id, want := range map[string]string{"org-home-role": "Owner", "org-home-currency": "GBP", "org-home-lock-date": "2026-03-31"} {
			if got := text(element(body, "dd", id)); got != want {
				t.Errorf("#%s = %q, want %q", id, got, want)
			}
		}
		want := []string{"/orgs/7/contacts", "/orgs/7/invoices", "/orgs/7/bills", "/orgs/7/bank", "/orgs/7/journals", "/orgs/7/accounts", "/orgs/7/reports", "/orgs/7/members", "/orgs/7/audit", "/orgs/7/findings", "/orgs/7/settings", "/orgs/7/export"}
		if got := tiles(body); !slices.Equal(got, want) {
			t.Errorf("owner tiles %v, want %v", got, want)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		body := renderPage(t, s, "org_home", orgPageData(access.ReadOnly, "overview"))
		if got := text(element(body, "dd", "org-home-lock-date")); got != "No lock date" {
			t.Errorf("lock date %q, want \"No lock date\"", got)
		}
		if got := text(element(body, "dd", "org-home-role")); got != "Read only" {
			t.Errorf("role %q", got)
		}
		want := []string{"/orgs/7/contacts", "/orgs/7/invoices", "/orgs/7/bills", "/orgs/7/bank", "/orgs/7/journals", "/orgs/7/accounts", "/orgs/7/reports"}
		if got := tiles(body); !slices.Equal(got, want) {
			t.Errorf("read-only tiles %v, want %v", got, want)
		}
	})
	t.Run("EveryRole", func(t *testing.T) {
		// A tile for a section appears exactly when its nav link does.
		for _, role := range access.Roles {
			body := renderPage(t, s, "org_home", orgPageData(role, ""))
			links, _ := navLinks(t, body)
			got := tiles(body)
			for _, sec := range navSections[1:] {
				_, inNav := links[sec.label]
				if inTiles := slices.Contains(got, sec.path); inTiles != inNav {
					t.Errorf("%s: %s tile shown = %v, nav link shown = %v", role, sec.label, inTiles, inNav)
				}
			}
			if want := access.Can(role, access.ExportAll); slices.Contains(got, "/orgs/7/export") != want {
				t.Errorf("%s: export tile shown = %v, want %v", role, !want, want)
			}
		}
	})
}

// TestStepUpPage checks the step-up form for both methods: it posts to
// /step-up with the CSRF token, where to go next and the method; the code
// field suits the method; the switch link keeps the destination intact
// through query escaping; cancel goes to the organisation's home.
func TestStepUpPage(t *testing.T) {
	s := layoutServer(t)
	const next = "/orgs/7/contacts/3/bank-details?tab=a&b=c d"
	tests := []struct {
		method     string
		switchID   string
		switchTo   url.Values
		codeAttrs  map[string]string
		codeAbsent []string
	}{
		{"totp", "use-recovery", url.Values{"method": {"recovery_code"}, "next": {next}},
			map[string]string{"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "7"}, nil},
		{"recovery_code", "use-totp", url.Values{"next": {next}},
			map[string]string{"autocomplete": "off"}, []string{"inputmode"}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			d := pageData{Title: "Confirm it's you", CSRF: "csrf-123", User: &pageUser{Name: "Ada", Email: "ada@example.com"},
				Data: map[string]any{"Cancel": cancelTarget(next)}}
			fillFactorForm(d, []string{"totp", "recovery_code"}, tt.method, "/step-up", "step-up", next, false)
			body := renderPage(t, s, "step_up", d)
			if got := text(element(body, "h1", "step-up-heading")); got != "Confirm it's you" {
				t.Errorf("heading %q", got)
			}
			if !strings.Contains(text(body), "This action needs a fresh code from your authenticator app.") {
				t.Error("no explanation")
			}
			form := element(body, "form", "step-up-form")
			if form == "" {
				t.Fatalf("no #step-up-form:\n%s", body)
			}
			fa := startTags(form, "form")[0]
			if fa["method"] != "post" || fa["action"] != "/step-up" {
				t.Errorf("form method=%q action=%q, want post /step-up", fa["method"], fa["action"])
			}
			hidden := map[string]string{}
			var code map[string]string
			for _, in := range startTags(form, "input") {
				if in["type"] == "hidden" {
					hidden[in["name"]] = in["value"]
				}
				if in["id"] == "code" {
					code = in
				}
			}
			wantHidden := map[string]string{"csrf_token": "csrf-123", "next": next, "method": tt.method}
			for k, v := range wantHidden {
				if hidden[k] != v {
					t.Errorf("hidden %s = %q, want %q", k, hidden[k], v)
				}
			}
			if code == nil || code["name"] != "code" {
				t.Fatalf("no input#code named code: %v", code)
			}
			if _, ok := code["required"]; !ok {
				t.Error("the code is not required")
			}
			for k, v := range tt.codeAttrs {
				if code[k] != v {
					t.Errorf("code %s = %q, want %q", k, code[k], v)
				}
			}
			for _, k := range tt.codeAbsent {
				if _, ok := code[k]; ok {
					t.Errorf("code input has %s", k)
				}
			}
			btn := startTags(element(body, "button", "step-up-submit"), "button")
			if len(btn) != 1 || btn[0]["type"] != "submit" || text(element(body, "button", "step-up-submit")) != "Confirm" {
				t.Errorf("submit button %v", btn)
			}
			sw := startTags(element(body, "a", tt.switchID), "a")
			if len(sw) != 1 {
				t.Fatalf("no #%s link", tt.switchID)
			}
			u, err := url.Parse(sw[0]["href"])
			if err != nil || u.Path != "/step-up" {
				t.Fatalf("switch link %q: %v", sw[0]["href"], err)
			}
			if got := u.Query(); got.Encode() != tt.switchTo.Encode() {
				t.Errorf("switch link query %v, want %v", got, tt.switchTo)
			}
			cancel := startTags(element(body, "a", "step-up-cancel"), "a")
			if len(cancel) != 1 {
				t.Fatal("no cancel link")
			}
			// Cancel leaves for the organisation's home, not for next, which
			// may itself be a page that asks for the step-up again.
			if cancel[0]["href"] != "/orgs/7" {
				t.Errorf("cancel link %q, want /orgs/7", cancel[0]["href"])
			}
		})
	}
}

// TestDashboardOrgs checks the dashboard's way into the books.
func TestDashboardOrgs(t *testing.T) {
	s := layoutServer(t)
	d := pageData{Title: "Dashboard", CSRF: "t", User: &pageUser{Name: "Ada", Email: "ada@example.com"},
		Data: map[string]any{"RecoveryCodesLeft": 10, "LastLogin": "", "Orgs": []orgRow{{Name: "Acme Ltd", Role: "Adviser", Currency: "GBP", Path: "/orgs/1"}}}}
	body := renderPage(t, s, "dashboard", d)
	list := element(body, "ul", "dashboard-orgs")
	if a := startTags(list, "a"); len(a) != 1 || a[0]["href"] != "/orgs/1" || !strings.Contains(text(list), "Acme Ltd Adviser GBP") {
		t.Errorf("dashboard organisations %q", list)
	}
	if !strings.Contains(body, `id="dashboard-title"`) || !strings.Contains(body, `id="recovery-codes-left"`) {
		t.Error("dashboard lost the ids the browser tests use")
	}
	d.Data["Orgs"] = nil
	if body := renderPage(t, s, "dashboard", d); !strings.Contains(body, `id="dashboard-orgs-empty"`) {
		t.Error("no empty state without organisations")
	}
}

func TestCancelTarget(t *testing.T) {
	for next, want := range map[string]string{
		"/orgs/7/export":          "/orgs/7",
		"/orgs/12":                "/orgs/12",
		"/orgs/x/export":          "/dashboard",
		"/settings/security":      "/dashboard",
		"/orgs/-1/contacts":       "/dashboard",
		"/orgs/3/contacts/9/bank": "/orgs/3",
	} {
		if got := cancelTarget(next); got != want {
			t.Errorf("cancelTarget(%q) = %q, want %q", next, got, want)
		}
	}
}
