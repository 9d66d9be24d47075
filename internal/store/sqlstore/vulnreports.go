package sqlstore

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/auth"
	"coffer/internal/notices"
)

var _ notices.ReportStore = (*Store)(nil)

// CreateVulnReport implements notices.ReportStore.
func (s *Store) CreateVulnReport(ctx context.Context, at time.Time, seal func(id int64) ([]byte, error)) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *Tx) error {
		newID, err := insertID(ctx, tx, `INSERT INTO vuln_reports (received_at, body_enc) VALUES (?, ?)`, unix(at), []byte{})
		if err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		id = newID
		enc, err := seal(id)
		if err != nil {
			return fmt.Errorf("seal report: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE vuln_reports SET body_enc = ? WHERE id = ?`, enc, id); err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

func scanVulnReport(row rowScanner) (*notices.SealedReport, error) {
	var r notices.SealedReport
	var at int64
	if err := row.Scan(&r.ID, &at, &r.BodyEnc); err != nil {
		return nil, err
	}
	r.ReceivedAt = fromUnix(at)
	return &r, nil
}

// FindVulnReports implements notices.ReportStore.
func (s *Store) FindVulnReports(ctx context.Context, limit int) ([]*notices.SealedReport, error) {
	return findAll(ctx, s.db, "report", scanVulnReport, `SELECT id, received_at, body_enc FROM vuln_reports ORDER BY id DESC LIMIT ?`, limit)
}

// FindVulnReport implements notices.ReportStore.
func (s *Store) FindVulnReport(ctx context.Context, id int64) (*notices.SealedReport, error) {
	r, err := scanVulnReport(s.db.QueryRowContext(ctx, `SELECT id, received_at, body_enc FROM vuln_reports WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Report", err)
	}
	return r, nil
}

// FindOperators implements notices.ReportStore.
func (s *Store) FindOperators(ctx context.Context) ([]*auth.User, error) {
	return findAll(ctx, s.db, "operator", scanUser, `SELECT `+userColumns+` FROM users WHERE is_admin = 1 ORDER BY id`)
}
