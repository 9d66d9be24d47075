package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/errs"
	"coffer/internal/notices"
)

var _ notices.Store = (*Store)(nil)

// CreateNotice implements notices.Store.
func (s *Store) CreateNotice(ctx context.Context, n *notices.Notice) error {
	newID, err := insertID(ctx, s.db, `INSERT INTO notices (kind, title, body, due_at, published_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.Kind, n.Title, n.Body, unix(n.DueAt), unix(n.PublishedAt), unix(n.CreatedAt), n.CreatedBy)
	if err != nil {
		return fmt.Errorf("create notice: %w", err)
	}
	n.ID = newID
	return nil
}

func scanNotice(row rowScanner) (*notices.Notice, error) {
	var n notices.Notice
	var due, published, created int64
	if err := row.Scan(&n.ID, &n.Kind, &n.Title, &n.Body, &due, &published, &created, &n.CreatedBy, &n.Read); err != nil {
		return nil, err
	}
	n.DueAt, n.PublishedAt, n.CreatedAt = fromUnix(due), fromUnix(published), fromUnix(created)
	return &n, nil
}

// FindNotices implements notices.Store.
func (s *Store) FindNotices(ctx context.Context, userID int64, now time.Time, limit int) ([]*notices.Notice, error) {
	return findAll(ctx, s.db, "notice", scanNotice,
		`SELECT n.id, n.kind, n.title, n.body, n.due_at, n.published_at, n.created_at, n.created_by,
		        EXISTS (SELECT 1 FROM notice_reads r WHERE r.notice_id = n.id AND r.user_id = ?1)
		 FROM notices n WHERE n.published_at <= ?2 ORDER BY n.published_at DESC, n.id DESC LIMIT ?3`,
		userID, now.Unix(), limit)
}

// MarkNoticeRead implements notices.Store.
func (s *Store) MarkNoticeRead(ctx context.Context, userID, id int64, at time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM notices WHERE id = ? AND published_at <= ?`, id, at.Unix()).Scan(&n); err != nil {
			return fmt.Errorf("find notice: %w", err)
		}
		if n == 0 {
			return errs.Errorf(errs.ENOTFOUND, "Notice not found.")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notice_reads (notice_id, user_id, read_at) VALUES (?, ?, ?) ON CONFLICT (notice_id, user_id) DO NOTHING`, id, userID, unix(at)); err != nil {
			return fmt.Errorf("mark notice read: %w", err)
		}
		return nil
	})
}
