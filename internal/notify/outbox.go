package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// The outbox makes sending a notification a database insert: a request
// never waits on a mail server, and a mail server that is down for a while
// loses nothing. A worker delivers due messages, retrying with exponential
// back-off.
//
// Delivery is at least once, never exactly once: a worker can crash after
// the mail server accepted a message and before the row is marked sent, or
// lose its lease while a slow server still accepts, and the message is sent
// again. Every retry of one row carries the same Message-ID header, so a
// receiver (and our tests, which count by it) can drop the duplicate.

// Outbox statuses.
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// OutboxMail is one row of the outbox. Sealed holds the message (recipient,
// subject, text, kind), encrypted and bound to the row's ID: a reset link
// is a secret while it waits. It is emptied once the row is sent or failed.
type OutboxMail struct {
	ID int64
	// MessageID is the random left part of the Message-ID header, fixed at
	// insert.
	MessageID     string
	Kind          string
	Sealed        []byte
	Status        string
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LeaseUntil and LeaseToken mark the row claimed by one worker; another
	// may claim it only once the lease has run out.
	LeaseUntil time.Time
	LeaseToken string
	SentAt     time.Time
	LastError  string
}

// OutboxStore keeps the outbox. Each method is one transaction.
type OutboxStore interface {
	// CreateOutboxMail inserts m, calling seal with the new row's ID for
	// the sealed body, and sets m.ID.
	CreateOutboxMail(ctx context.Context, m *OutboxMail, seal func(id int64) ([]byte, error)) error
	// ClaimOutboxMail leases up to limit pending rows that are due at now
	// and not leased by anyone else, to token until now+lease, counting an
	// attempt on each. Two callers never get the same row while its lease
	// holds.
	ClaimOutboxMail(ctx context.Context, now time.Time, lease time.Duration, limit int, token string) ([]*OutboxMail, error)
	// MarkOutboxMailSent records that the mail server accepted row id and
	// drops its body. ENOTFOUND when the row is no longer pending.
	MarkOutboxMailSent(ctx context.Context, id int64, now time.Time) error
	// RetryOutboxMail releases row id, leased to token, to be tried again
	// at next. ECONFLICT when the lease was lost.
	RetryOutboxMail(ctx context.Context, id int64, token string, next time.Time, lastErr string) error
	// FailOutboxMail gives up on row id, leased to token, and drops its
	// body. ECONFLICT when the lease was lost.
	FailOutboxMail(ctx context.Context, id int64, token string, now time.Time, lastErr string) error
	// PruneOutboxMail deletes rows sent or failed before before.
	PruneOutboxMail(ctx context.Context, before time.Time) (int, error)
}

// Sealer encrypts a message body at rest (the keyring; orgID 0 is the
// platform's data key).
type Sealer interface {
	Seal(ctx context.Context, orgID int64, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, orgID int64, sealed, aad []byte) ([]byte, error)
	// PrepareKey makes sure the data key exists before the store
	// transaction inside which Seal runs.
	PrepareKey(ctx context.Context, orgID int64) error
}

// Transport delivers one rendered email. An error wrapping ErrPermanent
// means a retry cannot succeed (the server refused the recipient).
type Transport interface {
	Send(ctx context.Context, e *Email) error
}

// ErrPermanent marks a delivery error no retry can fix.
var ErrPermanent = errors.New("permanent delivery failure")

// Backoff is the retry schedule: Base after the first failed attempt,
// doubling up to Max, until GiveUp after the message was created.
type Backoff struct {
	Base, Max, GiveUp time.Duration
}

// DefaultBackoff retries after 30 s, 1 min, 2 min … up to hourly, for
// three days.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: time.Hour, GiveUp: 72 * time.Hour}

// Delay is the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// aadTable and aadColumn name the sealed body in its associated data.
const (
	aadTable  = "mail_outbox"
	aadColumn = "body_enc"
)

// AADFunc builds the associated data that binds a sealed body to its row
// (keyring.AAD).
type AADFunc func(table, column string, id int64) []byte

// Outbox is the Notifier that keeps every message until a Transport has
// taken it.
type Outbox struct {
	store OutboxStore
	keys  Sealer
	aad   AADFunc
	log   *slog.Logger

	// Transport delivers; nil leaves messages waiting for a process that
	// has one (a command other than serve only enqueues).
	Transport Transport
	// DeliverInline makes Notify deliver at once, inside the request, after
	// the insert: for a local Transport (Dir), which cannot be down the way
	// a mail server can and costs what the insert costs. The row is
	// inserted already leased, so no worker sends it too; if delivery
	// fails, the worker retries it like any other.
	DeliverInline bool
	// From is the sender of every message; its domain is the right part of
	// the Message-ID.
	From string
	// PublicURL is where users reach Coffer (the footer's sessions link).
	PublicURL string
	Backoff   Backoff
	// Lease bounds one delivery attempt; it must exceed the transport's
	// timeout.
	Lease time.Duration
	// Poll is how often the worker looks for due messages it was not woken
	// for (those of other processes, and retries).
	Poll time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time

	wake     chan struct{}
	pruneMu  sync.Mutex
	prunedAt time.Time
}

var _ Notifier = (*Outbox)(nil)

// NewOutbox returns an outbox over store, sealing bodies with keys.
func NewOutbox(store OutboxStore, keys Sealer, aad AADFunc, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{store: store, keys: keys, aad: aad, log: log,
		From: "Coffer <coffer@localhost>", Backoff: DefaultBackoff, Lease: 5 * time.Minute, Poll: 5 * time.Second,
		Now: func() time.Time { return time.Now().UTC() }, wake: make(chan struct{}, 1)}
}

// body is what the sealed column holds.
type body struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Kind    string `json:"kind,omitempty"`
}

// Notify implements Notifier: it stores m and returns. The error is only
// that of the insert; delivery problems are the worker's, and logged.
func (o *Outbox) Notify(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	plain, err := json.Marshal(body(m))
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer clear(plain)
	mid, err := NewMessageID()
	if err != nil {
		return err
	}
	now := o.Now()
	row := &OutboxMail{MessageID: mid, Kind: m.Kind, Status: StatusPending, CreatedAt: now, NextAttemptAt: now}
	inline := o.DeliverInline && o.Transport != nil
	if inline {
		if row.LeaseToken, err = leaseToken(); err != nil {
			return err
		}
		row.LeaseUntil, row.Attempts = now.Add(o.Lease), 1
	}
	if err := o.keys.PrepareKey(ctx, 0); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	err = o.store.CreateOutboxMail(ctx, row, func(id int64) ([]byte, error) {
		return o.keys.Seal(ctx, 0, plain, o.aad(aadTable, aadColumn, id))
	})
	if err != nil {
		return fmt.Errorf("notify: queue %s: %w", m.Kind, err)
	}
	if inline {
		o.deliver(ctx, row, m)
		return nil
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers due messages until ctx ends: at once, whenever Notify
// queued one, and every Poll.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		if _, err := o.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("mail outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
	}
}

// DeliverDue claims the messages due now and tries each once, until none is
// due; it returns how many the transport accepted.
func (o *Outbox) DeliverDue(ctx context.Context) (int, error) {
	if o.Transport == nil {
		return 0, errors.New("notify: no transport to deliver the outbox through")
	}
	o.prune(ctx)
	sent := 0
	for ctx.Err() == nil {
		token, err := leaseToken()
		if err != nil {
			return sent, err
		}
		rows, err := o.store.ClaimOutboxMail(ctx, o.Now(), o.Lease, 20, token)
		if err != nil {
			return sent, fmt.Errorf("claim: %w", err)
		}
		if len(rows) == 0 {
			return sent, nil
		}
		for _, row := range rows {
			m, err := o.open(ctx, row)
			if err != nil {
				// Tampered or under a destroyed key: no retry helps.
				o.fail(ctx, row, err)
				continue
			}
			if o.deliver(ctx, row, m) {
				sent++
			}
		}
	}
	return sent, ctx.Err()
}

func (o *Outbox) open(ctx context.Context, row *OutboxMail) (Message, error) {
	plain, err := o.keys.Open(ctx, 0, row.Sealed, o.aad(aadTable, aadColumn, row.ID))
	if err != nil {
		return Message{}, fmt.Errorf("open sealed message: %w", err)
	}
	defer clear(plain)
	var b body
	if err := json.Unmarshal(plain, &b); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	return Message(b), nil
}

// deliver tries row once and records the outcome; true when sent.
func (o *Outbox) deliver(ctx context.Context, row *OutboxMail, m Message) bool {
	e := Render(m, o.From, row.MessageID+"@"+o.domain(), row.CreatedAt, RenderOptions{PublicURL: o.PublicURL})
	sendCtx, cancel := context.WithTimeout(ctx, o.Lease)
	err := o.Transport.Send(sendCtx, e)
	cancel()
	if err == nil {
		// The server has the message: recording it must not be cut short
		// by a shutdown, or it would be sent again.
		markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := o.store.MarkOutboxMailSent(markCtx, row.ID, o.Now()); err != nil {
			o.log.Warn("mail sent but not marked sent; it may be sent again", "outbox_id", row.ID, "message_id", row.MessageID, "err", err)
		}
		return true
	}
	now := o.Now()
	if errors.Is(err, ErrPermanent) || now.Sub(row.CreatedAt) >= o.Backoff.GiveUp {
		o.fail(ctx, row, err)
		return false
	}
	next := now.Add(o.Backoff.Delay(row.Attempts))
	o.log.Warn("mail not delivered; will retry", "outbox_id", row.ID, "kind", row.Kind, "attempt", row.Attempts, "retry_at", next.Format(time.RFC3339), "err", err)
	retryCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.store.RetryOutboxMail(retryCtx, row.ID, row.LeaseToken, next, errText(err)); err != nil {
		o.log.Error("mail outbox: schedule retry", "outbox_id", row.ID, "err", err)
	}
	return false
}

func (o *Outbox) fail(ctx context.Context, row *OutboxMail, cause error) {
	o.log.Error("mail given up", "outbox_id", row.ID, "message_id", row.MessageID, "kind", row.Kind, "attempts", row.Attempts, "err", cause)
	failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.store.FailOutboxMail(failCtx, row.ID, row.LeaseToken, o.Now(), errText(cause)); err != nil {
		o.log.Error("mail outbox: mark failed", "outbox_id", row.ID, "err", err)
	}
}

// prune drops rows finished more than 30 days ago, at most hourly.
func (o *Outbox) prune(ctx context.Context) {
	o.pruneMu.Lock()
	now := o.Now()
	due := now.Sub(o.prunedAt) >= time.Hour
	if due {
		o.prunedAt = now
	}
	o.pruneMu.Unlock()
	if !due {
		return
	}
	if n, err := o.store.PruneOutboxMail(ctx, now.Add(-30*24*time.Hour)); err != nil {
		o.log.Error("mail outbox: prune", "err", err)
	} else if n > 0 {
		o.log.Info("mail outbox pruned", "rows", n)
	}
}

// domain is the right part of Message-IDs: the sender's domain.
func (o *Outbox) domain() string {
	if a, err := mail.ParseAddress(o.From); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			return d
		}
	}
	return "localhost"
}

func leaseToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// errText keeps a stored error short and on one line.
func errText(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
