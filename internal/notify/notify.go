// Package notify tells people about security events on their account: a
// factor added or removed, a reset started, a sign-in denied. Callers hold a
// Notifier; in Coffer that is the Outbox, which stores each message (sealed)
// and returns, and whose worker renders it (text and HTML, Render) and hands
// it to a Transport with retries: SMTP for a mail server, Dir for a
// directory of .eml files when none is configured.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one notification to one person. Text must not carry a secret
// that would let the reader act as the user, except a one-time link that
// exists for exactly that purpose (a reset confirmation), which is why
// transports keep messages private.
type Message struct {
	To      string
	Subject string
	Text    string
	// Kind names the event ("factor.added", "reset.started", …) for
	// transports that sort or count messages.
	Kind string
}

// Validate refuses what no transport can deliver safely.
func (m Message) Validate() error {
	if m.To == "" || strings.ContainsAny(m.To, "\r\n") {
		return errors.New("notify: recipient must be one address")
	}
	if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("notify: subject must be one line")
	}
	if strings.ContainsAny(m.Kind, "\r\n") {
		return errors.New("notify: kind must be one line")
	}
	return nil
}

// Notifier delivers notifications.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

var _ Transport = (*Dir)(nil)

// Dir writes each message as an RFC 5322 file into a directory, readable
// only by Coffer's user: the development and test transport, and a record
// an operator can read when no mail server is configured.
type Dir struct {
	Path string
	From string
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewDir returns a Dir, creating the directory (0700) if needed.
func NewDir(path, from string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("notify: create %s: %w", path, err)
	}
	if from == "" {
		from = "Coffer <coffer@localhost>"
	}
	return &Dir{Path: path, From: from, Now: time.Now}, nil
}

// Notify implements Notifier: m rendered (text and HTML) and written at
// once, without an outbox. Coffer serve delivers through an Outbox, which
// calls Send.
func (d *Dir) Notify(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	id, err := NewMessageID()
	if err != nil {
		return err
	}
	return d.Send(ctx, Render(m, d.From, id+"@localhost", d.Now().UTC(), RenderOptions{}))
}

// Send implements Transport. The file appears complete or not at all
// (written beside, then renamed), named so that a directory listing sorts
// by time.
func (d *Dir) Send(_ context.Context, e *Email) error {
	if e.From == "" {
		c := *e
		c.From = d.From
		e = &c
	}
	// A file has no transport limits: the text part stays readable as is.
	raw, err := e.Bytes(true)
	if err != nil {
		return err
	}
	now := d.Now().UTC()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	name := fmt.Sprintf("%s-%s.eml", now.Format("20060102T150405.000000000Z"), hex.EncodeToString(rnd[:]))
	tmp := filepath.Join(d.Path, "."+name+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("notify: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(d.Path, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// NewMessageID returns 128 random bits in hex: the left part of a
// Message-ID, unique without coordination.
func NewMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
