package e2e

// End-to-end tests of the security noticeboard and its Atom feed,
// /.well-known/security.txt and the public vulnerability report form.
// Addresses 127.0.0.120–129.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/testserver"
)

// atomDoc is what the tests read of the feed, through encoding/xml with
// the Atom namespace.
type atomDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"http://www.w3.org/2005/Atom id"`
	Title   string   `xml:"http://www.w3.org/2005/Atom title"`
	Updated string   `xml:"http://www.w3.org/2005/Atom updated"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"http://www.w3.org/2005/Atom link"`
	Entries []struct {
		ID      string `xml:"http://www.w3.org/2005/Atom id"`
		Title   string `xml:"http://www.w3.org/2005/Atom title"`
		Updated string `xml:"http://www.w3.org/2005/Atom updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"http://www.w3.org/2005/Atom link"`
		Content struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"http://www.w3.org/2005/Atom content"`
	} `xml:"http://www.w3.org/2005/Atom entry"`
}

func getPublic(t *testing.T, srv *testserver.Server, ip, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.HTTPClient(ip).Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestNoticeboard(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	// The first user created is the platform operator.
	op := signedInMember(t, srv, "127.0.0.120", "op@notices.example", "Notices Ltd", "owner")
	user := signedInMember(t, srv, "127.0.0.121", "user@notices.example", "Notices Ltd", "adviser")

	_, err := user.C.PostNotice(ctx, user.Session, client.NewNotice{Kind: "info", Title: "Not mine to post", Body: "b"})
	wantAPIError(t, err, http.StatusForbidden, "forbidden")
	_, err = op.C.PostNotice(ctx, op.Session, client.NewNotice{Kind: "action_required", Title: "No date", Body: "b"})
	wantAPIError(t, err, http.StatusBadRequest, "invalid")

	due := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
	n, err := op.C.PostNotice(ctx, op.Session, client.NewNotice{Kind: "action_required", Title: "Passkeys required for advisers",
		Body: "From " + due + ", advisers sign in with a passkey or security key. Add one under Security settings.", DueAt: due})
	if err != nil {
		t.Fatal(err)
	}
	if n.DueAt == nil || n.DueAt.Format("2006-01-02") != due {
		t.Fatalf("posted = %+v", n)
	}

	t.Run("unread on the dashboard until marked read", func(t *testing.T) {
		list, unread, err := user.C.Notices(ctx, user.Session)
		if err != nil || unread != 1 || len(list) != 1 || list[0].Read {
			t.Fatalf("notices = %+v unread %d, %v", list, unread, err)
		}
		br := newBrowser(t, srv, "127.0.0.122")
		br.signIn(user.Session)
		dash := br.get("/dashboard", http.StatusOK)
		if !strings.Contains(dash, `id="notices-banner"`) || !strings.Contains(dash, "Passkeys required for advisers") || !strings.Contains(dash, `id="nav-notices-unread"`) {
			t.Fatalf("dashboard has no banner for the unread notice:\n%s", firstLines(dash, 80))
		}
		board := br.get("/notices", http.StatusOK)
		if !strings.Contains(board, fmt.Sprintf(`id="notice-unread-%d"`, n.ID)) {
			t.Fatalf("noticeboard does not mark the notice unread:\n%s", firstLines(board, 80))
		}
		st, h, _ := br.post(fmt.Sprintf("/notices/%d/read", n.ID), board, url.Values{})
		if st != http.StatusSeeOther || h.Get("Location") != "/notices?read" {
			t.Fatalf("mark read = %d %s", st, h.Get("Location"))
		}
		dash = br.get("/dashboard", http.StatusOK)
		if strings.Contains(dash, `id="notices-banner"`) {
			t.Fatal("the banner stayed after the notice was read")
		}
		if _, unread, _ := user.C.Notices(ctx, user.Session); unread != 0 {
			t.Fatalf("unread = %d after reading", unread)
		}
		if _, unread, _ := op.C.Notices(ctx, op.Session); unread != 1 {
			t.Fatalf("the operator's unread = %d, want 1 (read state is per user)", unread)
		}
		wantAPIError(t, user.C.MarkNoticeRead(ctx, user.Session, n.ID+1000), http.StatusNotFound, "not_found")
	})

	t.Run("Atom feed is public and parses", func(t *testing.T) {
		resp, body := getPublic(t, srv, "127.0.0.123", "/notices.atom")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
			t.Fatalf("feed = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var f atomDoc
		if err := xml.Unmarshal(body, &f); err != nil {
			t.Fatalf("feed does not parse: %v\n%s", err, body)
		}
		if !strings.HasPrefix(f.ID, "tag:127.0.0.1,") || f.Title == "" || len(f.Entries) != 1 {
			t.Fatalf("feed = %+v", f)
		}
		if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
			t.Fatalf("feed updated %q: %v", f.Updated, err)
		}
		e := f.Entries[0]
		if !strings.HasPrefix(e.ID, "tag:127.0.0.1,") || !strings.HasSuffix(e.ID, fmt.Sprintf(":coffer/notices/%d", n.ID)) || e.Title != n.Title ||
			e.Content.Type != "text" || !strings.Contains(e.Content.Text, "Action required by") || !strings.HasPrefix(e.Link.Href, "https://") {
			t.Fatalf("entry = %+v", e)
		}
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
			t.Fatalf("entry updated %q: %v", e.Updated, err)
		}
	})
}

func TestSecurityTxtAndReports(t *testing.T) {
	expires := time.Now().UTC().AddDate(0, 6, 0).Truncate(time.Second)
	srv := testserver.Start(t, "--security-contact", "mailto:security@books.example", "--security-languages", "en, de",
		"--security-expires", expires.Format(time.RFC3339), "--public-url", "https://books.example")
	op := signedInMember(t, srv, "127.0.0.124", "op@reports.example", "Reports Ltd", "owner")

	t.Run("security.txt", func(t *testing.T) {
		resp, body := getPublic(t, srv, "127.0.0.125", "/.well-known/security.txt")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("security.txt = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		fields := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), ": ")
			if !ok {
				t.Fatalf("malformed line %q", sc.Text())
			}
			fields[strings.ToLower(name)] = value
		}
		want := map[string]string{
			"contact":             "mailto:security@books.example",
			"expires":             expires.Format(time.RFC3339),
			"policy":              "https://books.example/security/policy",
			"preferred-languages": "en, de",
			"canonical":           "https://books.example/.well-known/security.txt",
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("%s = %q, want %q", k, fields[k], v)
			}
		}
		if resp, _ := getPublic(t, srv, "127.0.0.125", "/security/policy"); resp.StatusCode != http.StatusOK {
			t.Errorf("policy page = %d", resp.StatusCode)
		}
	})

	secret := fmt.Sprintf("Stored XSS in contact notes %d", time.Now().UnixNano())
	t.Run("report form stores encrypted and tells the operator", func(t *testing.T) {
		br := newBrowser(t, srv, "127.0.0.126")
		form := br.get("/security/report", http.StatusOK)
		// Without the CSRF token the form is refused.
		if st, _, _ := br.do(http.MethodPost, "/security/report", url.Values{"summary": {"x"}, "details": {"y"}}); st != http.StatusForbidden {
			t.Fatalf("post without a CSRF token = %d, want 403", st)
		}
		st, _, page := br.post("/security/report", form, url.Values{"contact": {"finder@example.net"}, "summary": {secret}, "details": {"Put <script> in a note; it runs for every viewer."}})
		if st != http.StatusOK || !strings.Contains(page, `id="vuln-sent-id"`) {
			t.Fatalf("submit = %d:\n%s", st, firstLines(page, 60))
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "coffer.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var body []byte
		if err := db.QueryRow(`SELECT body_enc FROM vuln_reports ORDER BY id DESC LIMIT 1`).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if len(body) == 0 || bytes.Contains(body, []byte(secret)) || bytes.Contains(body, []byte("finder@example.net")) {
			t.Fatalf("the report is stored in the clear: %q", body)
		}
		if countMail(t, srv.DataDir, op.Email, "security_report.received") != 1 {
			t.Fatal("the operator was not emailed")
		}

		ob := newBrowser(t, srv, "127.0.0.127")
		ob.signIn(op.Session)
		list := ob.get("/admin/security-reports", http.StatusOK)
		if !strings.Contains(list, secret) {
			t.Fatalf("the operator's list does not show the decrypted summary:\n%s", firstLines(list, 60))
		}
		ub := newBrowser(t, srv, "127.0.0.127")
		member := signedInMember(t, srv, "127.0.0.127", "member@reports.example", "Reports Ltd", "standard")
		ub.signIn(member.Session)
		if got := ub.get("/admin/security-reports", http.StatusForbidden); strings.Contains(got, secret) {
			t.Fatal("a user who is not an operator saw the report")
		}
	})

	t.Run("rate limited per client", func(t *testing.T) {
		br := newBrowser(t, srv, "127.0.0.128")
		form := br.get("/security/report", http.StatusOK)
		var statuses []int
		for range 6 {
			st, _, _ := br.post("/security/report", form, url.Values{"summary": {"flood"}, "details": {"flood"}})
			statuses = append(statuses, st)
		}
		if fmt.Sprint(statuses) != "[200 200 200 200 200 429]" {
			t.Fatalf("statuses = %v, want five accepted then 429", statuses)
		}
		// Another client is still heard.
		other := newBrowser(t, srv, "127.0.0.129")
		form = other.get("/security/report", http.StatusOK)
		if st, _, _ := other.post("/security/report", form, url.Values{"summary": {"s"}, "details": {"d"}}); st != http.StatusOK {
			t.Fatalf("another client = %d", st)
		}
	})
}
