package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coffer/internal/audit"
)

var (
	_ audit.Store  = (*Store)(nil)
	_ audit.Finder = (*Store)(nil)
)

// auditKey holds the signing key of chain heads and checkpoints.
type auditKey struct{ k audit.MACer }

// SetAuditKey gives the store the key that signs chain heads and
// checkpoints (the keyring: a MAC key derived from the master key). Until
// it is set, appends still chain their hashes but sign nothing, and an
// append after it is set reports the unsigned head as altered; so call it
// once, right after opening the keyring, before serving.
//
// The first time it is called on a database that has events from before
// the audit chain (seq 0) and no chain at all yet, it chains those events,
// in id order, into the global chain (org 0) and signs its head: from then
// on, changing them shows. Later rows with seq 0 are never chained: they
// did not come from Coffer, and coffer audit verify reports them.
func (s *Store) SetAuditKey(ctx context.Context, k audit.MACer) error {
	s.auditKey.Store(&auditKey{k: k})
	return s.tx(ctx, func(tx *Tx) error {
		var chains, checkpoints, legacy int
		err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM audit_chains), (SELECT COUNT(*) FROM audit_checkpoints), (SELECT COUNT(*) FROM audit_events WHERE seq = 0)`).
			Scan(&chains, &checkpoints, &legacy)
		if err != nil {
			return fmt.Errorf("chain legacy audit events: %w", err)
		}
		if legacy == 0 || chains > 0 || checkpoints > 0 {
			return nil
		}
		events, err := findAll(ctx, tx, "audit event", scanAuditEvent, `SELECT `+auditColumns+` FROM audit_events WHERE seq = 0 ORDER BY id`)
		if err != nil {
			return err
		}
		for _, e := range events {
			e.OrgID = 0
			if err := s.chainAudit(ctx, tx, e, true); err != nil {
				return fmt.Errorf("chain legacy audit event %d: %w", e.ID, err)
			}
		}
		return nil
	})
}

func (s *Store) auditMAC() audit.MACer {
	if h := s.auditKey.Load(); h != nil {
		return h.k
	}
	return nil
}

// AppendAudit implements audit.Store.
func (s *Store) AppendAudit(ctx context.Context, e *audit.Event) error {
	return s.tx(ctx, func(tx *Tx) error { return s.appendAudit(ctx, tx, e) })
}

// appendAudit appends e to its chain inside tx: every path that records an
// event goes through here, so that each one is chained and counted.
func (s *Store) appendAudit(ctx context.Context, tx *Tx, e *audit.Event) error {
	if err := s.chainAudit(ctx, tx, e, false); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// chainAudit locks e's chain head, gives e the next seq and its hashes,
// stores it (existing: updates the legacy row e.ID in place), moves and
// signs the head, and writes a signed checkpoint every
// audit.CheckpointEvery events.
func (s *Store) chainAudit(ctx context.Context, tx *Tx, e *audit.Event, existing bool) error {
	k := s.auditMAC()
	e.At = e.At.Truncate(time.Second)
	// The head row is the chain's lock: SQLite's write transaction holds
	// the whole database; PostgreSQL would take SELECT … FOR UPDATE here.
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chains (chain_id, seq, hash, mac) VALUES (?, 0, ?, ?) ON CONFLICT (chain_id) DO NOTHING`, e.OrgID, audit.Genesis, []byte{}); err != nil {
		return fmt.Errorf("create chain head: %w", err)
	}
	h := audit.Head{OrgID: e.OrgID}
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash, tampered_at, mac FROM audit_chains WHERE chain_id = ?`, e.OrgID).Scan(&h.Seq, &h.Hash, &h.TamperedAt, &h.MAC); err != nil {
		return fmt.Errorf("lock chain head: %w", err)
	}
	// A head whose signature is wrong was changed outside Coffer (perhaps
	// to hide deleted events): say so for good, rather than sign over it.
	if k != nil && h.Seq > 0 && h.TamperedAt == 0 && !audit.HeadValid(k, &h) {
		h.TamperedAt = h.Seq
	}
	e.Seq, e.PrevHash = h.Seq+1, h.Hash
	e.Hash = audit.ComputeHash(e)
	if existing {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET chain_id = ?, seq = ?, prev_hash = ?, hash = ? WHERE id = ? AND seq = 0`, e.OrgID, e.Seq, e.PrevHash, e.Hash, e.ID); err != nil {
			return err
		}
	} else {
		newID, err := insertID(ctx, tx, `INSERT INTO audit_events (chain_id, seq, at, user_id, subject, action, outcome, ip, user_agent, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.OrgID, e.Seq, audit.Seconds(e.At), e.UserID, e.Subject, e.Action, e.Outcome, e.IP, e.UserAgent, e.Detail, e.PrevHash, e.Hash)
		if err != nil {
			return err
		}
		e.ID = newID
	}
	h.Seq, h.Hash, h.MAC = e.Seq, e.Hash, nil
	if k != nil {
		audit.SignHead(k, &h)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_chains SET seq = ?, hash = ?, tampered_at = ?, mac = ? WHERE chain_id = ?`, h.Seq, h.Hash, h.TamperedAt, nonNil(h.MAC), e.OrgID); err != nil {
		return fmt.Errorf("move chain head: %w", err)
	}
	if k != nil && e.Seq%audit.CheckpointEvery == 0 {
		return insertCheckpoint(ctx, tx, k, &audit.Checkpoint{OrgID: e.OrgID, Seq: e.Seq, Hash: e.Hash, At: e.At})
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func insertCheckpoint(ctx context.Context, tx *Tx, k audit.MACer, c *audit.Checkpoint) error {
	audit.SignCheckpoint(k, c)
	newID, err := insertID(ctx, tx, `INSERT INTO audit_checkpoints (chain_id, seq, hash, at, mac) VALUES (?, ?, ?, ?, ?) ON CONFLICT (chain_id, seq) DO NOTHING`,
		c.OrgID, c.Seq, c.Hash, audit.Seconds(c.At), c.MAC)
	if err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	c.ID = newID
	return nil
}

// CheckpointAudit writes a signed checkpoint at the head of every chain
// that has events after its last checkpoint, and returns how many it
// wrote. It needs the key (SetAuditKey).
func (s *Store) CheckpointAudit(ctx context.Context, at time.Time) (int, error) {
	k := s.auditMAC()
	if k == nil {
		return 0, errors.New("checkpoint audit chains: no signing key")
	}
	n := 0
	err := s.tx(ctx, func(tx *Tx) error {
		heads, err := findAll(ctx, tx, "chain head", scanHead, `SELECT chain_id, seq, hash, tampered_at, mac FROM audit_chains c
			WHERE seq > COALESCE((SELECT MAX(seq) FROM audit_checkpoints p WHERE p.chain_id = c.chain_id), 0) ORDER BY chain_id`)
		if err != nil {
			return err
		}
		for _, h := range heads {
			if err := insertCheckpoint(ctx, tx, k, &audit.Checkpoint{OrgID: h.OrgID, Seq: h.Seq, Hash: h.Hash, At: at}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("checkpoint audit chains: %w", err)
	}
	return n, nil
}

func scanHead(row rowScanner) (*audit.Head, error) {
	var h audit.Head
	err := row.Scan(&h.OrgID, &h.Seq, &h.Hash, &h.TamperedAt, &h.MAC)
	return &h, err
}

const auditColumns = `id, chain_id, seq, at, user_id, subject, action, outcome, ip, user_agent, detail, prev_hash, hash`

func scanAuditEvent(row rowScanner) (*audit.Event, error) {
	var e audit.Event
	var at int64
	if err := row.Scan(&e.ID, &e.OrgID, &e.Seq, &at, &e.UserID, &e.Subject, &e.Action, &e.Outcome, &e.IP, &e.UserAgent, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromUnix(at)
	return &e, nil
}

// FindAuditEvents returns the user's events in every chain, newest first
// (userID 0: everyone's).
func (s *Store) FindAuditEvents(ctx context.Context, userID int64, limit int) ([]*audit.Event, error) {
	return findAll(ctx, s.db, "audit event", scanAuditEvent, `SELECT `+auditColumns+` FROM audit_events
		WHERE (? = 0 OR user_id = ?) ORDER BY id DESC LIMIT ?`, userID, userID, limit)
}

// FindAudit implements audit.Finder.
func (s *Store) FindAudit(ctx context.Context, orgID int64, f audit.Filter) ([]*audit.Event, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	to := int64(1<<63 - 1)
	if !f.To.IsZero() {
		to = f.To.Unix()
	}
	// substr, not LIKE, so that no character of the prefix is a wildcard.
	where := `WHERE chain_id = ? AND substr(action, 1, ?) = ? AND (? = 0 OR user_id = ?) AND (? = '' OR outcome = ?) AND at >= ? AND at < ?`
	args := []any{orgID, len(f.ActionPrefix), f.ActionPrefix, f.UserID, f.UserID, f.Outcome, f.Outcome, audit.Seconds(f.From), to}
	var events []*audit.Event
	var total int
	err := s.readTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events `+where, args...).Scan(&total); err != nil {
			return fmt.Errorf("count audit events: %w", err)
		}
		var err error
		events, err = findAll(ctx, tx, "audit event", scanAuditEvent, `SELECT `+auditColumns+` FROM audit_events `+where+` ORDER BY seq DESC, id DESC LIMIT ? OFFSET ?`,
			append(args, f.Limit, f.Offset)...)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return events, total, nil
}

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	Chains      int
	Events      int
	Checkpoints int
	Problems    []audit.Problem
}

// VerifyAudit checks every chain (every org id found among the events,
// heads and checkpoints) with k, from one snapshot of the database.
func (s *Store) VerifyAudit(ctx context.Context, k audit.MACer) (*AuditReport, error) {
	rep := &AuditReport{}
	err := s.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT chain_id FROM audit_events UNION SELECT chain_id FROM audit_chains UNION SELECT chain_id FROM audit_checkpoints ORDER BY 1`)
		if err != nil {
			return fmt.Errorf("list audit chains: %w", err)
		}
		var orgs []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			orgs = append(orgs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, orgID := range orgs {
			links, err := chainLinks(ctx, tx, orgID)
			if err != nil {
				return err
			}
			var head *audit.Head
			heads, err := findAll(ctx, tx, "chain head", scanHead, `SELECT chain_id, seq, hash, tampered_at, mac FROM audit_chains WHERE chain_id = ?`, orgID)
			if err != nil {
				return err
			}
			if len(heads) == 1 {
				head = heads[0]
			}
			cps, err := findAll(ctx, tx, "audit checkpoint", func(row rowScanner) (*audit.Checkpoint, error) {
				var c audit.Checkpoint
				var at int64
				err := row.Scan(&c.ID, &c.OrgID, &c.Seq, &c.Hash, &at, &c.MAC)
				c.At = fromUnix(at)
				return &c, err
			}, `SELECT id, chain_id, seq, hash, at, mac FROM audit_checkpoints WHERE chain_id = ? ORDER BY seq`, orgID)
			if err != nil {
				return err
			}
			rep.Chains++
			rep.Events += len(links)
			rep.Checkpoints += len(cps)
			rep.Problems = append(rep.Problems, audit.Verify(orgID, links, head, cps, k)...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	return rep, nil
}

// chainLinks streams a chain's events, hashing each as it goes, so that
// only the links stay in memory.
func chainLinks(ctx context.Context, tx *Tx, orgID int64) ([]audit.Link, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE chain_id = ? ORDER BY seq, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("read audit chain %d: %w", orgID, err)
	}
	defer rows.Close()
	var links []audit.Link
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("scan audit event: %w", err)
		}
		links = append(links, audit.NewLink(e))
	}
	return links, rows.Err()
}
