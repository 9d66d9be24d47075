package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/errs"
	"coffer/internal/notify"
)

var _ notify.OutboxStore = (*Store)(nil)

// ms is a time as stored in mail_outbox: milliseconds since the epoch, 0
// for none.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

const outboxColumns = `id, message_id, kind, body_enc, status, attempts, created_at, next_attempt_at, lease_until, lease_token, finished_at, last_error`

func scanOutboxMail(row rowScanner) (*notify.OutboxMail, error) {
	var m notify.OutboxMail
	var created, next, lease, finished int64
	if err := row.Scan(&m.ID, &m.MessageID, &m.Kind, &m.Sealed, &m.Status, &m.Attempts, &created, &next, &lease, &m.LeaseToken, &finished, &m.LastError); err != nil {
		return nil, err
	}
	m.CreatedAt, m.NextAttemptAt, m.LeaseUntil, m.SentAt = fromMS(created), fromMS(next), fromMS(lease), fromMS(finished)
	return &m, nil
}

// CreateOutboxMail implements notify.OutboxStore.
func (s *Store) CreateOutboxMail(ctx context.Context, m *notify.OutboxMail, seal func(id int64) ([]byte, error)) error {
	return s.tx(ctx, func(tx *Tx) error {
		newID, err := insertID(ctx, tx, `INSERT INTO mail_outbox (message_id, kind, status, attempts, created_at, next_attempt_at, lease_until, lease_token)
			VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)`,
			m.MessageID, m.Kind, m.Attempts, ms(m.CreatedAt), ms(m.NextAttemptAt), ms(m.LeaseUntil), m.LeaseToken)
		if err != nil {
			return fmt.Errorf("queue mail: %w", err)
		}
		id := newID
		sealed, err := seal(id)
		if err != nil {
			return fmt.Errorf("seal mail: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET body_enc = ? WHERE id = ?`, sealed, id); err != nil {
			return fmt.Errorf("queue mail: %w", err)
		}
		m.ID, m.Sealed, m.Status = id, sealed, notify.StatusPending
		return nil
	})
}

// ClaimOutboxMail implements notify.OutboxStore. Each row is taken by a
// conditional UPDATE that repeats the "due and not leased" test, so the
// claim holds even where two transactions could read the same candidates.
func (s *Store) ClaimOutboxMail(ctx context.Context, now time.Time, lease time.Duration, limit int, token string) ([]*notify.OutboxMail, error) {
	var out []*notify.OutboxMail
	err := s.tx(ctx, func(tx *Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= ?1 AND lease_until <= ?1 ORDER BY next_attempt_at, id LIMIT ?2`, ms(now), limit)
		if err != nil {
			return fmt.Errorf("find due mail: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find due mail: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find due mail: %w", err)
		}
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET lease_until = ?1, lease_token = ?2, attempts = attempts + 1
				WHERE id = ?3 AND status = 'pending' AND next_attempt_at <= ?4 AND lease_until <= ?4`, ms(now.Add(lease)), token, id, ms(now))
			if err != nil {
				return fmt.Errorf("claim mail: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			m, err := scanOutboxMail(tx.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM mail_outbox WHERE id = ?`, id))
			if err != nil {
				return fmt.Errorf("read claimed mail: %w", err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// MarkOutboxMailSent implements notify.OutboxStore. It does not ask for
// the lease: the server accepted the message, whoever sent it.
func (s *Store) MarkOutboxMailSent(ctx context.Context, id int64, now time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET status = 'sent', body_enc = NULL, finished_at = ?, lease_until = 0, last_error = '' WHERE id = ? AND status = 'pending'`, ms(now), id)
		if err != nil {
			return fmt.Errorf("mark mail sent: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ENOTFOUND, "Outbox mail not found.")
		}
		return nil
	})
}

// RetryOutboxMail implements notify.OutboxStore.
func (s *Store) RetryOutboxMail(ctx context.Context, id int64, token string, next time.Time, lastErr string) error {
	return s.leased(ctx, id, token, "schedule mail retry",
		`UPDATE mail_outbox SET next_attempt_at = ?, lease_until = 0, lease_token = '', last_error = ? WHERE id = ? AND lease_token = ? AND status = 'pending'`,
		ms(next), lastErr, id, token)
}

// FailOutboxMail implements notify.OutboxStore.
func (s *Store) FailOutboxMail(ctx context.Context, id int64, token string, now time.Time, lastErr string) error {
	return s.leased(ctx, id, token, "mark mail failed",
		`UPDATE mail_outbox SET status = 'failed', body_enc = NULL, finished_at = ?, lease_until = 0, lease_token = '', last_error = ? WHERE id = ? AND lease_token = ? AND status = 'pending'`,
		ms(now), lastErr, id, token)
}

func (s *Store) leased(ctx context.Context, id int64, token, what, query string, args ...any) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Errorf(errs.ECONFLICT, "The outbox mail's lease was lost.")
		}
		return nil
	})
}

// PruneOutboxMail implements notify.OutboxStore.
func (s *Store) PruneOutboxMail(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND finished_at < ?`, ms(before))
		if err != nil {
			return fmt.Errorf("prune outbox: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// FindOutboxMail returns the outbox rows, oldest first: for tests and an
// operator's look at what waits.
func (s *Store) FindOutboxMail(ctx context.Context) ([]*notify.OutboxMail, error) {
	return findAll(ctx, s.db, "outbox mail", scanOutboxMail, `SELECT `+outboxColumns+` FROM mail_outbox ORDER BY id`)
}
