package web

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"coffer/internal/notices"
)

// parsedFeed reads an Atom document independently of the types that
// wrote it.
type parsedFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"http://www.w3.org/2005/Atom id"`
	Title   string   `xml:"http://www.w3.org/2005/Atom title"`
	Updated string   `xml:"http://www.w3.org/2005/Atom updated"`
	Author  []struct {
		Name string `xml:"http://www.w3.org/2005/Atom name"`
	} `xml:"http://www.w3.org/2005/Atom author"`
	Links []struct {
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
			Body string `xml:",chardata"`
		} `xml:"http://www.w3.org/2005/Atom content"`
	} `xml:"http://www.w3.org/2005/Atom entry"`
}

// checkAtom parses doc and checks what RFC 4287 requires of a feed and
// its entries (4.1.1, 4.1.2): id (an absolute IRI), title, updated (an
// RFC 3339 date), an author, and a link for each entry.
func checkAtom(t *testing.T, doc []byte) *parsedFeed {
	t.Helper()
	var f parsedFeed
	if err := xml.Unmarshal(doc, &f); err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, doc)
	}
	iri := func(what, v string) {
		if !strings.HasPrefix(v, "tag:") && !strings.HasPrefix(v, "https://") {
			t.Errorf("%s %q is not an absolute IRI", what, v)
		}
	}
	date := func(what, v string) {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			t.Errorf("%s %q is not an RFC 3339 date", what, v)
		}
	}
	iri("feed id", f.ID)
	date("feed updated", f.Updated)
	if f.Title == "" || len(f.Author) == 0 || f.Author[0].Name == "" {
		t.Errorf("feed title %q / author %+v missing", f.Title, f.Author)
	}
	self := false
	for _, l := range f.Links {
		self = self || l.Rel == "self"
	}
	if !self {
		t.Error("feed has no self link")
	}
	ids := map[string]bool{}
	for _, e := range f.Entries {
		iri("entry id", e.ID)
		date("entry updated", e.Updated)
		if ids[e.ID] {
			t.Errorf("entry id %q repeats", e.ID)
		}
		ids[e.ID] = true
		if e.Title == "" || e.Link.Href == "" || e.Content.Type != "text" {
			t.Errorf("entry %+v lacks title, link or text content", e)
		}
	}
	return &f
}

func TestBuildFeed(t *testing.T) {
	t0 := time.Date(2030, time.March, 1, 8, 0, 0, 0, time.UTC)
	list := []*notices.Notice{
		{ID: 2, Kind: notices.KindActionRequired, Title: "Passkeys <required> & soon", Body: "Advisers need a passkey.", DueAt: t0.Add(72 * time.Hour), PublishedAt: t0},
		{ID: 1, Kind: notices.KindInfo, Title: "Welcome", Body: "Hello\n\nworld", PublishedAt: t0.Add(-24 * time.Hour)},
	}
	tests := []struct {
		name, base, wantAuthority string
		list                      []*notices.Notice
	}{
		{"with a port", "https://books.example.com:8443", "books.example.com", list},
		{"plain host", "https://books.example.com", "books.example.com", list},
		{"empty feed", "https://localhost:9999", "localhost", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := xml.Marshal(buildFeed(tt.base, tt.list, t0))
			if err != nil {
				t.Fatal(err)
			}
			f := checkAtom(t, append([]byte(xml.Header), doc...))
			if !strings.HasPrefix(f.ID, "tag:"+tt.wantAuthority+",") || len(f.Entries) != len(tt.list) {
				t.Fatalf("feed id %q, %d entries", f.ID, len(f.Entries))
			}
			if len(tt.list) == 0 {
				return
			}
			e := f.Entries[0]
			if e.ID != "tag:"+tt.wantAuthority+",2030-03-01:coffer/notices/2" || e.Title != "Passkeys <required> & soon" ||
				!strings.HasPrefix(e.Content.Body, "Action required by 4 March 2030.") || e.Link.Href != tt.base+"/notices#notice-2" {
				t.Fatalf("entry = %+v", e)
			}
			if f.Updated != "2030-03-01T08:00:00Z" {
				t.Errorf("feed updated = %s, want the newest notice's time", f.Updated)
			}
		})
	}
}

func FuzzParseNoticeTime(f *testing.F) {
	f.Add("2030-03-01")
	f.Add("2030-03-01T10:00")
	f.Add("2030-03-01T10:00:00+02:00")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseNoticeTime(v, "date")
		if err != nil {
			if got != (time.Time{}) {
				t.Fatalf("error with a time: %v", got)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseNoticeTime(%q) not in UTC", v)
		}
	})
}
