package notify

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

// parseEmail reads raw as a mail client would and returns its text and
// HTML parts, decoded.
func parseEmail(tb testing.TB, raw []byte) (h mail.Header, text, html string) {
	tb.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		tb.Fatalf("parse: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		tb.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		var body io.Reader = p
		switch p.Header.Get("Content-Transfer-Encoding") {
		case "quoted-printable":
			body = quotedprintable.NewReader(p)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, p)
		case "7bit", "8bit":
		default:
			tb.Fatalf("transfer encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(body)
		if err != nil {
			tb.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	return m.Header, text, html
}

func TestRender(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		publicURL string
		wantText  []string
		wantHTML  []string
	}{
		{"link and paragraphs", "Hello Ann,\n\nConfirm: https://b.example/x?token=a&b=c.\nThanks", "https://b.example",
			[]string{"https://b.example/x?token=a&b=c.", "https://b.example/settings/sessions"},
			[]string{`<p>Hello Ann,</p>`, `<a href="https://b.example/x?token=a&amp;b=c">https://b.example/x?token=a&amp;b=c</a>.<br>`, `<a href="https://b.example/settings/sessions">`}},
		{"no public URL", "Hi", "", []string{"under Settings, Sessions."}, []string{"under Settings, Sessions."}},
		{"markup is text", `<b onclick="x">&</b> javascript:alert(1)`, "", nil, []string{`&lt;b onclick=&#34;x&#34;&gt;&amp;&lt;/b&gt; javascript:alert(1)`}},
		{"not ASCII", "Grüße, Zoë — 10 €", "", nil, []string{"Grüße, Zoë — 10 €"}},
	}
	for _, tt := range tests {
		for _, eightBit := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/8bit=%v", tt.name, eightBit), func(t *testing.T) {
				e := Render(Message{To: "Zoë <z@example.com>", Subject: "Sïgn-in", Text: tt.text, Kind: "k"}, "Coffer <c@b.example>", "id@b.example", time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), RenderOptions{PublicURL: tt.publicURL})
				raw, err := e.Bytes(eightBit)
				if err != nil {
					t.Fatal(err)
				}
				if cte := "Content-Transfer-Encoding: 8bit"; strings.Contains(string(raw), cte) != (eightBit && tt.name == "not ASCII") {
					t.Errorf("8bit = %v, %s used = %v", eightBit, cte, !eightBit)
				}
				h, text, html := parseEmail(t, raw)
				dec := new(mime.WordDecoder)
				if s, _ := dec.DecodeHeader(h.Get("Subject")); s != "Sïgn-in" {
					t.Errorf("Subject %q", s)
				}
				if a, err := mail.ParseAddress(h.Get("To")); err != nil || a.Name != "Zoë" || a.Address != "z@example.com" {
					t.Errorf("To %q: %v", h.Get("To"), err)
				}
				if h.Get("Message-Id") != "<id@b.example>" || h.Get("Date") != "Wed, 02 Jan 2030 03:04:05 +0000" {
					t.Errorf("headers %v", h)
				}
				if text != strings.ReplaceAll(e.Text, "\n", "\r\n") || !strings.HasPrefix(text, tt.text[:min(len(tt.text), 5)]) {
					t.Errorf("text part %q", text)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(text, w) {
						t.Errorf("text lacks %q:\n%s", w, text)
					}
				}
				for _, w := range tt.wantHTML {
					if !strings.Contains(html, w) {
						t.Errorf("HTML lacks %q:\n%s", w, html)
					}
				}
				for _, line := range strings.Split(string(raw), "\r\n") {
					if len(line) > 998 {
						t.Errorf("line of %d octets", len(line))
					}
				}
			})
		}
	}
}

func TestEmailRefusesHeaderInjection(t *testing.T) {
	for _, e := range []*Email{
		{From: "a@b.c", To: "x@y.z\r\nBcc: e@v.il", Subject: "s"},
		{From: "a@b.c\nBcc: e@v.il", To: "x@y.z", Subject: "s"},
		{From: "a@b.c", To: "x@y.z", Subject: "s", Kind: "k\r\nBcc: e@v.il"},
		{From: "a@b.c", To: "x@y.z", Subject: "s", MessageID: "i\r\nBcc: e@v.il"},
		{From: "", To: "x@y.z", Subject: "s"},
	} {
		if _, err := e.Bytes(false); err == nil {
			t.Errorf("%+v: accepted", e)
		}
	}
}

// ownTagsRE matches the tags renderHTML writes itself.
var ownTagsRE = regexp.MustCompile(`<p>|</p>|<br>|<a href="https://[^"<>\s]*">|</a>|</body></html>`)

// FuzzRender: whatever the text, the email parses, its text part is the
// text and the footer, and its HTML carries no markup from the text.
func FuzzRender(f *testing.F) {
	f.Add("Hello,\n\nhttps://b.example/x?t=1.\n", "https://b.example", false)
	f.Add("<script>alert(1)</script> https://a\"onmouseover=x", "", true)
	f.Add(strings.Repeat("x", 2000)+"\r\n\r\n\xff", "", true)
	f.Add("Grüße — Zoë\r", "", true)
	f.Fuzz(func(t *testing.T, text, publicURL string, eightBit bool) {
		e := Render(Message{To: "a@example.com", Subject: "s", Text: text}, "c@b.example", "id@b.example", time.Unix(0, 0), RenderOptions{PublicURL: strings.Map(func(r rune) rune {
			if r < ' ' {
				return -1
			}
			return r
		}, publicURL)})
		raw, err := e.Bytes(eightBit)
		if err != nil {
			t.Fatal(err)
		}
		_, gotText, html := parseEmail(t, raw)
		if gotText != strings.ReplaceAll(e.Text, "\n", "\r\n") {
			t.Fatalf("text part %q, want %q", gotText, e.Text)
		}
		body := html[strings.Index(html, "<body"):]
		body = body[strings.Index(body, ">")+1:]
		body = ownTagsRE.ReplaceAllString(body, "")
		if strings.ContainsAny(body, "<>") {
			t.Fatalf("HTML carries markup from the text:\n%s", html)
		}
	})
}
