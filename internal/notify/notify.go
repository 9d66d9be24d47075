// Package notify tells people about security events on their account: a
// factor added or removed, a reset started, a sign-in denied. Delivery is
// behind Notifier so the mail transport can change without the callers
// knowing; Dir is the development transport that drops each message into a
// directory.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
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
	return nil
}

// Notifier delivers notifications.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

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

// Notify implements Notifier. The file appears complete or not at all
// (written beside, then renamed), named so that a directory listing sorts
// by time.
func (d *Dir) Notify(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	now := d.Now().UTC()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	name := fmt.Sprintf("%s-%s.eml", now.Format("20060102T150405.000000000Z"), hex.EncodeToString(rnd[:]))
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", d.From)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	if m.Kind != "" {
		fmt.Fprintf(&b, "X-Coffer-Event: %s\r\n", m.Kind)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.Text, "\n", "\r\n"))
	tmp := filepath.Join(d.Path, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("notify: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(d.Path, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
