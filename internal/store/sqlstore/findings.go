package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"coffer/internal/anomaly"
	"coffer/internal/errs"
)

var _ anomaly.Store = (*Store)(nil)

// RecordSignal implements anomaly.Store.
func (s *Store) RecordSignal(ctx context.Context, sg *anomaly.Signal) error {
	newID, err := insertID(ctx, s.db, `INSERT INTO anomaly_signals (kind, user_id, account, known, ip, user_agent, device, country, lat, lon, has_loc, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sg.Kind, sg.UserID, sg.Account, sg.Known, sg.IP, sg.UserAgent, sg.Device, sg.Country, sg.Lat, sg.Lon, sg.HasLoc, sg.At.UnixNano())
	if err != nil {
		return fmt.Errorf("record signal: %w", err)
	}
	sg.ID = newID
	return err
}

// FindSignals implements anomaly.Store. Times are kept in nanoseconds:
// two sign-ins within a second must still be ordered and far apart.
func (s *Store) FindSignals(ctx context.Context, f anomaly.SignalFilter) ([]*anomaly.Signal, error) {
	q := `SELECT id, kind, user_id, account, known, ip, user_agent, device, country, lat, lon, has_loc, at FROM anomaly_signals WHERE kind = ? AND at >= ?`
	args := []any{f.Kind, f.Since.UnixNano()}
	if f.Since.IsZero() {
		args[1] = int64(0)
	}
	if f.UserID != 0 {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.IP != "" {
		q += ` AND ip = ?`
		args = append(args, f.IP)
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	return findAll(ctx, s.db, "signal", func(r rowScanner) (*anomaly.Signal, error) {
		var sg anomaly.Signal
		var at int64
		if err := r.Scan(&sg.ID, &sg.Kind, &sg.UserID, &sg.Account, &sg.Known, &sg.IP, &sg.UserAgent, &sg.Device, &sg.Country, &sg.Lat, &sg.Lon, &sg.HasLoc, &at); err != nil {
			return nil, err
		}
		sg.At = time.Unix(0, at).UTC()
		return &sg, nil
	}, q, args...)
}

// CountUnapprovedPushes implements anomaly.Store: denied requests and
// requests still waiting (answered or not, a request that was never
// approved is what a push bomb leaves behind).
func (s *Store) CountUnapprovedPushes(ctx context.Context, userID int64, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM push_requests WHERE user_id = ? AND created_at >= ? AND status IN ('pending', 'denied')`, userID, since.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count push requests: %w", err)
	}
	return n, nil
}

// CreateFinding implements anomaly.Store.
func (s *Store) CreateFinding(ctx context.Context, f *anomaly.Finding) error {
	if f.Status == "" {
		f.Status = anomaly.StatusOpen
	}
	newID, err := insertID(ctx, s.db, `INSERT INTO findings (rule, severity, user_id, org_id, ip, detail, actions, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.Rule, f.Severity, f.UserID, f.OrgID, f.IP, f.Detail, strings.Join(f.Actions, ","), f.CreatedAt.UnixNano(), f.Status)
	if err != nil {
		return fmt.Errorf("create finding: %w", err)
	}
	f.ID = newID
	return err
}

// HasFindingSince implements anomaly.Store.
func (s *Store) HasFindingSince(ctx context.Context, rule string, userID int64, ip string, since time.Time) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM findings WHERE rule = ? AND user_id = ? AND created_at >= ?`
	args := []any{rule, userID, since.UnixNano()}
	if ip != "" {
		q += ` AND ip = ?`
		args = append(args, ip)
	}
	var ok bool
	if err := s.db.QueryRowContext(ctx, q+`)`, args...).Scan(&ok); err != nil {
		return false, fmt.Errorf("find finding: %w", err)
	}
	return ok, nil
}

const findingColumns = `f.id, f.rule, f.severity, f.user_id, f.org_id, f.ip, f.detail, f.actions, f.created_at, f.status, f.resolved_by, f.resolved_at, COALESCE(u.email, '')`

func scanFinding(r rowScanner) (*anomaly.Finding, error) {
	var f anomaly.Finding
	var actions string
	var created, resolved int64
	if err := r.Scan(&f.ID, &f.Rule, &f.Severity, &f.UserID, &f.OrgID, &f.IP, &f.Detail, &actions, &created, &f.Status, &f.ResolvedBy, &resolved, &f.UserEmail); err != nil {
		return nil, err
	}
	if actions != "" {
		f.Actions = strings.Split(actions, ",")
	}
	f.CreatedAt = time.Unix(0, created).UTC()
	if resolved != 0 {
		f.ResolvedAt = time.Unix(0, resolved).UTC()
	}
	return &f, nil
}

// orgScope is the findings an organisation sees: its own, and the user
// findings (org 0) of its current members.
const orgScope = `(f.org_id = ? OR (f.org_id = 0 AND f.user_id <> 0 AND f.user_id IN (SELECT user_id FROM memberships WHERE org_id = ?)))`

// FindFindings implements anomaly.Store.
func (s *Store) FindFindings(ctx context.Context, orgID int64, ff anomaly.FindingFilter) ([]*anomaly.Finding, error) {
	q := `SELECT ` + findingColumns + ` FROM findings f LEFT JOIN users u ON u.id = f.user_id WHERE 1 = 1`
	var args []any
	if orgID != 0 {
		q += ` AND ` + orgScope
		args = append(args, orgID, orgID)
	}
	if ff.Status != "" {
		q += ` AND f.status = ?`
		args = append(args, ff.Status)
	}
	limit := ff.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	q += ` ORDER BY f.created_at DESC, f.id DESC LIMIT ?`
	args = append(args, limit)
	return findAll(ctx, s.db, "finding", scanFinding, q, args...)
}

// ResolveFinding implements anomaly.Store.
func (s *Store) ResolveFinding(ctx context.Context, orgID, id, by int64, at time.Time) (*anomaly.Finding, error) {
	var out *anomaly.Finding
	err := s.tx(ctx, func(tx *Tx) error {
		q := `SELECT ` + findingColumns + ` FROM findings f LEFT JOIN users u ON u.id = f.user_id WHERE f.id = ?`
		args := []any{id}
		if orgID != 0 {
			q += ` AND ` + orgScope
			args = append(args, orgID, orgID)
		}
		f, err := scanFinding(tx.QueryRowContext(ctx, q, args...))
		if err != nil {
			return notFound("Finding", err)
		}
		if f.Status == anomaly.StatusResolved {
			return errs.Errorf(errs.ECONFLICT, "This finding is already resolved.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET status = 'resolved', resolved_by = ?, resolved_at = ? WHERE id = ?`, by, at.UnixNano(), id); err != nil {
			return fmt.Errorf("resolve finding: %w", err)
		}
		f.Status, f.ResolvedBy, f.ResolvedAt = anomaly.StatusResolved, by, at.UTC()
		out = f
		return nil
	})
	return out, err
}

// UserEmail implements anomaly.Store.
func (s *Store) UserEmail(ctx context.Context, userID int64) (string, error) {
	var email string
	if err := s.db.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, userID).Scan(&email); err != nil {
		return "", notFound("User", err)
	}
	return email, nil
}

// UserOrgIDs implements anomaly.Store.
func (s *Store) UserOrgIDs(ctx context.Context, userID int64) ([]int64, error) {
	return s.UsersOrgIDs(ctx, []int64{userID})
}

// UsersOrgIDs implements anomaly.Store.
func (s *Store) UsersOrgIDs(ctx context.Context, userIDs []int64) ([]int64, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(userIDs))
	for i, id := range userIDs {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT org_id FROM memberships WHERE user_id IN (?`+strings.Repeat(", ?", len(userIDs)-1)+`) ORDER BY org_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("find organisations: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (s *Store) recipients(ctx context.Context, q string, args ...any) ([]anomaly.Recipient, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find recipients: %w", err)
	}
	defer rows.Close()
	var out []anomaly.Recipient
	for rows.Next() {
		var r anomaly.Recipient
		if err := rows.Scan(&r.UserID, &r.Email); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OrgAdmins implements anomaly.Store.
func (s *Store) OrgAdmins(ctx context.Context, orgID int64) ([]anomaly.Recipient, error) {
	return s.recipients(ctx, `SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.role IN ('owner', 'adviser') ORDER BY u.id`, orgID)
}

// PlatformAdmins implements anomaly.Store.
func (s *Store) PlatformAdmins(ctx context.Context) ([]anomaly.Recipient, error) {
	return s.recipients(ctx, `SELECT id, email FROM users WHERE is_admin = 1 ORDER BY id`)
}

// ExpireStepUp implements anomaly.Store.
func (s *Store) ExpireStepUp(ctx context.Context, userID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET mfa_at = 0 WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("expire step-up: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
