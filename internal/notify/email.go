package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Email is a notification rendered for the wire: both a plain-text and an
// HTML body, and the headers a mail client and a receiving server need.
type Email struct {
	From string
	To   string
	// Subject is one line; Kind goes into X-Coffer-Event.
	Subject string
	Kind    string
	// Date is when the event happened, not when the mail left: a message
	// retried for an hour still says when the thing it reports took place.
	Date time.Time
	// MessageID is the Message-ID header without angle brackets. The outbox
	// keeps it per row, so every retry of one notification carries the same
	// one and a receiver can drop a duplicate.
	MessageID string
	Text      string
	HTML      string
}

// RenderOptions is what rendering adds to every notification.
type RenderOptions struct {
	// PublicURL is where users reach Coffer; the footer links to the
	// sessions page under it. Empty: the footer names the page.
	PublicURL string
}

// SessionsPath is the page where a user reviews and revokes their
// sessions; every notification's footer points to it.
const SessionsPath = "/settings/sessions"

// Render turns m into an Email: the text with a footer that links to the
// sessions page, and an HTML body made from that text (escaped, paragraphs
// at blank lines, https links clickable).
func Render(m Message, from, messageID string, date time.Time, opt RenderOptions) *Email {
	// Lines end in LF here and CRLF on the wire; a stray CR is a line end.
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\r", "\n")
	text = strings.TrimRight(text, "\n")
	if base := strings.TrimRight(opt.PublicURL, "/"); base != "" {
		text += "\n\n--\nReview the devices signed in to your account, and sign any of them out: " + base + SessionsPath + "\n"
	} else {
		text += "\n\n--\nReview the devices signed in to your account, and sign any of them out, under Settings, Sessions.\n"
	}
	return &Email{From: from, To: m.To, Subject: m.Subject, Kind: m.Kind, Date: date, MessageID: messageID, Text: text, HTML: renderHTML(m.Subject, text)}
}

// linkRE finds the links the HTML body makes clickable. Only https: every
// link Coffer sends is to itself, over TLS.
var linkRE = regexp.MustCompile(`https://[^\s<>"']+`)

// span is a piece of a line: text, or a link.
type span struct {
	Text string
	URL  template.URL
}

var htmlTmpl = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 15px; line-height: 1.5; color: #1d1d1f; max-width: 40em;">
{{range .Paragraphs}}<p>{{range $i, $line := .}}{{if $i}}<br>
{{end}}{{range $line}}{{if .URL}}<a href="{{.URL}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}{{end}}</p>
{{end}}</body></html>
`))

func renderHTML(subject, text string) string {
	var paras [][][]span
	for _, block := range strings.Split(text, "\n\n") {
		block = strings.Trim(block, "\n")
		if block == "" {
			continue
		}
		var lines [][]span
		for _, line := range strings.Split(block, "\n") {
			lines = append(lines, spans(line))
		}
		paras = append(paras, lines)
	}
	var b strings.Builder
	// The template and its data are ours; an error here is a bug.
	if err := htmlTmpl.Execute(&b, map[string]any{"Subject": subject, "Paragraphs": paras}); err != nil {
		panic("notify: render html: " + err.Error())
	}
	return b.String()
}

// spans splits a line into text and links. Trailing punctuation ends a
// sentence, not the link.
func spans(line string) []span {
	var out []span
	for line != "" {
		loc := linkRE.FindStringIndex(line)
		if loc == nil {
			out = append(out, span{Text: line})
			break
		}
		u := strings.TrimRight(line[loc[0]:loc[1]], ".,;:!?)")
		if loc[0] > 0 {
			out = append(out, span{Text: line[:loc[0]]})
		}
		// template.URL skips html/template's URL filter, which would also
		// pass an https URL; the escaper still escapes it for the attribute.
		out = append(out, span{Text: u, URL: template.URL(u)})
		line = line[loc[0]+len(u):]
	}
	return out
}

// Validate refuses an email no transport can send safely: a header that
// would break into two.
func (e *Email) Validate() error {
	for name, v := range map[string]string{"From": e.From, "To": e.To, "Subject": e.Subject, "Kind": e.Kind, "Message-ID": e.MessageID} {
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("notify: %s must be one line", name)
		}
	}
	if e.To == "" || e.From == "" {
		return fmt.Errorf("notify: an email needs a sender and a recipient")
	}
	return nil
}

// Bytes is the RFC 5322 message: multipart/alternative with the text part
// first and the HTML part in base64. The text part is 7bit when it is plain
// ASCII; otherwise 8bit when eightBit (a file, or a server that announced
// 8BITMIME), else quoted-printable. Every line ends in CRLF.
func (e *Email) Bytes(eightBit bool) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	boundary := "coffer-" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", encodeAddress(e.From))
	header("To", encodeAddress(e.To))
	header("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	header("Date", e.Date.Format(time.RFC1123Z))
	if e.MessageID != "" {
		header("Message-ID", "<"+e.MessageID+">")
	}
	if e.Kind != "" {
		header("X-Coffer-Event", e.Kind)
	}
	// RFC 3834: no vacation replies to a machine.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")

	fmt.Fprintf(&b, "--%s\r\n", boundary)
	text := strings.ReplaceAll(e.Text, "\n", "\r\n")
	switch {
	case plainASCII(e.Text):
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
		b.WriteString(text)
	case eightBit && utf8.ValidString(e.Text) && shortLines(text):
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(text)
	default:
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(text))
		w.Close()
	}
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	b.WriteString("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(e.HTML))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// shortLines reports CRLF text whose lines fit SMTP's 998 octets, with no
// bare CR or NUL.
func shortLines(s string) bool {
	for _, line := range strings.Split(s, "\r\n") {
		if len(line) > 998 || strings.ContainsAny(line, "\r\x00") {
			return false
		}
	}
	return true
}

// encodeAddress Q-encodes a display name that is not ASCII and leaves a
// plain address, or one that does not parse, as it was.
func encodeAddress(s string) string {
	if plainASCII(s) {
		return s
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.String()
}

// plainASCII reports text that 7bit carries: printable ASCII, tabs and
// newlines, lines of at most 900 characters.
func plainASCII(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			n = 0
			continue
		case c == '\t' || (c >= 0x20 && c < 0x7f):
		default:
			return false
		}
		if n++; n > 900 {
			return false
		}
	}
	return true
}
