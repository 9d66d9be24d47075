// Package sms sends one-time codes by SMS or voice call through a
// provider: a local outbox file for development, or an HTTP webhook that
// an operator points at their SMS gateway. It knows nothing of codes or
// users; auth decides what to send and to whom.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Channels a message can go by.
const (
	ChannelSMS   = "sms"
	ChannelVoice = "voice" // a call that reads the body aloud
)

// Message is one text to send.
type Message struct {
	// To is the number in E.164 form (+ and 8 to 15 digits).
	To string `json:"to"`
	// Body is the text, or what a voice call reads aloud.
	Body string `json:"body"`
	// Channel is ChannelSMS or ChannelVoice.
	Channel string `json:"channel"`
}

// Validate checks what every provider relies on.
func (m Message) Validate() error {
	if m.Channel != ChannelSMS && m.Channel != ChannelVoice {
		return fmt.Errorf("channel %.16q: want sms or voice", m.Channel)
	}
	if len(m.To) < 9 || len(m.To) > 16 || m.To[0] != '+' {
		return errors.New("number is not in E.164 form")
	}
	for _, c := range m.To[1:] {
		if c < '0' || c > '9' {
			return errors.New("number is not in E.164 form")
		}
	}
	if m.Body == "" {
		return errors.New("empty body")
	}
	return nil
}

// Provider delivers messages. Send returns once the provider has accepted
// the message (not when the phone got it); its errors never contain the
// body, which holds a code.
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// Outbox is the development provider: it appends each message as one JSON
// line to a file (0600) and syncs it, so a developer or a test reads the
// code there. Nothing leaves the machine.
type Outbox struct {
	Path string
	mu   sync.Mutex
}

// NewOutbox returns an outbox writing to path, creating its directory
// (0700) if needed.
func NewOutbox(path string) (*Outbox, error) {
	if path == "" {
		return nil, errors.New("sms outbox: no file given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sms outbox: %w", err)
	}
	return &Outbox{Path: path}, nil
}

// Send implements Provider.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("sms outbox: %w", err)
	}
	line, err := json.Marshal(struct {
		Message
		At time.Time `json:"at"`
	}{m, time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("sms outbox: %w", err)
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sms outbox: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("sms outbox: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sms outbox: sync: %w", err)
	}
	return f.Close()
}

// DefaultWebhookTemplate is the body posted when no template is given.
const DefaultWebhookTemplate = `{"to":{{json .To}},"body":{{json .Body}},"channel":{{json .Channel}}}`

// WebhookTimeout bounds one delivery.
const WebhookTimeout = 10 * time.Second

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL receives a POST per message. It must be https, except on a
	// loopback host (127.0.0.1, ::1, localhost).
	URL string
	// Template is a text/template over a Message producing the body; the
	// "json" function writes a value as a JSON string. Empty:
	// DefaultWebhookTemplate.
	Template string
	// ContentType of the body (default application/json).
	ContentType string
	// AuthHeader and AuthValue, when set, are sent as a header (e.g.
	// "Authorization" and "Bearer …"). The value comes from the
	// environment or a file, never from the command line.
	AuthHeader string
	AuthValue  string
	// Client sends the requests; nil: one with WebhookTimeout.
	Client *http.Client
}

// Webhook posts each message to an HTTP endpoint: a gateway's API, or a
// small relay an operator runs in front of one.
type Webhook struct {
	cfg  WebhookConfig
	tmpl *template.Template
}

// templateFuncs are what a webhook template may call.
var templateFuncs = template.FuncMap{
	// json writes v as JSON (a quoted, escaped string for a string), so a
	// JSON template stays valid whatever the body contains.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// NewWebhook checks cfg and returns the provider.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	var problems []error
	if err := checkWebhookURL(cfg.URL); err != nil {
		problems = append(problems, err)
	}
	if cfg.Template == "" {
		cfg.Template = DefaultWebhookTemplate
	}
	tmpl, err := template.New("sms-webhook").Funcs(templateFuncs).Option("missingkey=error").Parse(cfg.Template)
	if err != nil {
		problems = append(problems, fmt.Errorf("sms webhook template: %w", err))
	} else if err := tmpl.Execute(io.Discard, Message{To: "+10000000000", Body: "test", Channel: ChannelSMS}); err != nil {
		problems = append(problems, fmt.Errorf("sms webhook template: %w", err))
	}
	if (cfg.AuthHeader == "") != (cfg.AuthValue == "") {
		problems = append(problems, errors.New("sms webhook auth header: give both the header name and its value (the value from the environment)"))
	}
	if cfg.AuthHeader != "" && !validHeaderName(cfg.AuthHeader) {
		problems = append(problems, fmt.Errorf("sms webhook auth header %.40q is not a valid header name", cfg.AuthHeader))
	}
	if strings.ContainsAny(cfg.AuthValue, "\r\n") {
		problems = append(problems, errors.New("sms webhook auth value must be one line"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if cfg.ContentType == "" {
		cfg.ContentType = "application/json"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: WebhookTimeout}
	}
	return &Webhook{cfg: cfg, tmpl: tmpl}, nil
}

// checkWebhookURL demands https, so codes and the credential never cross a
// network in clear; plain http only to this machine (a local relay, tests).
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("sms webhook URL: want https://HOST/PATH")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("sms webhook URL: must be https (plain http only to 127.0.0.1, ::1 or localhost)")
	}
	return errors.New("sms webhook URL: want https://HOST/PATH")
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return s != ""
}

// Send implements Provider.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	var body bytes.Buffer
	if err := w.tmpl.Execute(&body, m); err != nil {
		return fmt.Errorf("sms webhook: template: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, &body)
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	req.Header.Set("Content-Type", w.cfg.ContentType)
	req.Header.Set("User-Agent", "Coffer-SMS-Webhook/1")
	if w.cfg.AuthHeader != "" {
		req.Header.Set(w.cfg.AuthHeader, w.cfg.AuthValue)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry a token in its
		// query; say only what kind of failure it was.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("sms webhook: post: %w", err)
	}
	defer resp.Body.Close()
	// The answer is drained, never logged: a gateway may echo the code.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms webhook: gateway answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// Interface guards.
var (
	_ Provider = (*Outbox)(nil)
	_ Provider = (*Webhook)(nil)
)
