package keyring

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"coffer/internal/errs"
)

// SealedColumn is one encrypted column, as the store knows it. Name is
// "table.column" in the database; AADTable and AADColumn are what the
// value's associated data names. OrgScoped values are bound with OrgAAD,
// the others (TOTP seeds, PlatformOrg) with AAD.
type SealedColumn struct {
	Name      string
	AADTable  string
	AADColumn string
	OrgScoped bool
}

// AAD returns the associated data of the value in row id.
func (c SealedColumn) AAD(orgID, id int64) []byte {
	if c.OrgScoped {
		return OrgAAD(orgID, c.AADTable, c.AADColumn, id)
	}
	return AAD(c.AADTable, c.AADColumn, id)
}

// SealedValue is one stored ciphertext and its row id.
type SealedValue struct {
	ID    int64
	Value []byte
}

// Rotation is an organisation's re-encryption under a new data key, with
// one progress entry per encrypted column.
type Rotation struct {
	OrgID   int64
	FromKey int64
	ToKey   int64
	Columns []RotationProgress
}

// RotationProgress is the progress of one column (a key_rotations row).
type RotationProgress struct {
	Table      string
	LastID     int64
	Done       int64
	Total      int64
	State      string // running or done
	StartedAt  time.Time
	FinishedAt time.Time
}

// RotationStore is what rotation needs from storage. Each method is one
// transaction.
type RotationStore interface {
	DataKeyStore
	// SealedColumns lists the encrypted columns of an organisation's data
	// (for PlatformOrg: the user-level secrets).
	SealedColumns(orgID int64) []SealedColumn
	// FindRotation returns the organisation's unfinished rotation;
	// ENOTFOUND if none.
	FindRotation(ctx context.Context, orgID int64) (*Rotation, error)
	// FindRotations returns every rotation, newest first, unfinished only
	// when unfinished is true.
	FindRotations(ctx context.Context, unfinished bool) ([]*Rotation, error)
	// StartRotation, in one transaction, demotes the organisation's active
	// key to retiring, stores k as the new active key and records a
	// running progress row per column, with the count of values to
	// re-encrypt as its total. ECONFLICT if a rotation is unfinished.
	StartRotation(ctx context.Context, orgID int64, k *DataKey, at time.Time) (*Rotation, error)
	// FindStaleSealed returns up to limit values of col, in id order after
	// afterID, that are not sealed under the key with header keep.
	FindStaleSealed(ctx context.Context, orgID int64, col SealedColumn, keep []byte, afterID int64, limit int) ([]SealedValue, error)
	// ReplaceSealed, in one transaction, writes each new value where the
	// row still holds the old one (a value changed meanwhile is left
	// alone) and advances the column's progress to lastID.
	ReplaceSealed(ctx context.Context, orgID, toKey int64, col SealedColumn, old, new []SealedValue, lastID int64) error
	// FinishRotation, in one transaction, counts the organisation's values
	// not sealed under keep; when there are none it destroys every
	// retiring key of the organisation (wrapped bytes overwritten with
	// zeros) and marks the rotation done, returning the destroyed ids.
	FinishRotation(ctx context.Context, orgID, toKey int64, keep []byte, at time.Time) (remaining int64, destroyed []int64, err error)
}

// RotateOptions tunes Rotate.
type RotateOptions struct {
	// Batch is the number of rows re-encrypted per transaction (default 200).
	Batch int
	// Pause is slept between batches, to leave the database to requests
	// (and, in tests, to be killed mid-way).
	Pause time.Duration
	// Progress, if set, is called after each batch and column.
	Progress func(RotationProgress)
	// Grace is how long after the rotation started the old keys are kept
	// at least (0: DefaultGrace; negative: none). Other processes may have
	// cached the old key as active for up to a second, and a write sealed
	// with it may wait on the database lock for up to its busy timeout;
	// after the grace no such write is left, and a last pass moves any
	// value they wrote. (A later one would be refused by the database,
	// never lost.)
	Grace time.Duration
}

// DefaultGrace covers the active-key cache (1 s) and SQLite's busy timeout
// (10 s) with a margin.
const DefaultGrace = 12 * time.Second

// ErrRotationBusy is returned when values keep being written under an old
// key faster than the rotation catches up; running it again continues.
var ErrRotationBusy = errors.New("rotation did not converge: values keep being written under an old key; run it again")

// Rotate gives the organisation a new data key and re-encrypts every value
// under it, then destroys the old keys. An unfinished rotation (a crash,
// kill -9) is resumed instead of starting another. Reads keep working
// throughout, since both keys open until the last value has moved.
func (e *Envelope) Rotate(ctx context.Context, st RotationStore, orgID int64, opt RotateOptions) (*Rotation, error) {
	rot, err := st.FindRotation(ctx, orgID)
	if errs.Code(err) == errs.ENOTFOUND {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		wrapped, err := e.kek.Wrap(ctx, secret)
		clear(secret)
		if err != nil {
			return nil, fmt.Errorf("rotate: wrap new data key: %w", err)
		}
		rot, err = st.StartRotation(ctx, orgID, &DataKey{OrgID: orgID, Wrapped: wrapped, KEKID: e.kek.ID(), State: StateActive, CreatedAt: e.Now().UTC()}, e.Now().UTC())
		if err != nil {
			return nil, fmt.Errorf("rotate: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	return rot, e.resume(ctx, st, rot, opt)
}

// ResumeRotations finishes every unfinished rotation; coffer serve runs it
// in the background at start.
func (e *Envelope) ResumeRotations(ctx context.Context, st RotationStore, opt RotateOptions) error {
	rots, err := st.FindRotations(ctx, true)
	if err != nil {
		return err
	}
	var problems []error
	for _, r := range rots {
		if err := e.resume(ctx, st, r, opt); err != nil {
			problems = append(problems, fmt.Errorf("organisation %d: %w", r.OrgID, err))
		}
	}
	return errors.Join(problems...)
}

func (e *Envelope) resume(ctx context.Context, st RotationStore, rot *Rotation, opt RotateOptions) error {
	if opt.Batch <= 0 {
		opt.Batch = 200
	}
	row, err := st.FindDataKeyByID(ctx, rot.ToKey)
	if err != nil {
		return fmt.Errorf("rotate: new data key: %w", err)
	}
	to, err := e.load(ctx, row)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	keep := envelopeHeader(to.id)
	progress := make(map[string]RotationProgress, len(rot.Columns))
	for _, p := range rot.Columns {
		progress[p.Table] = p
	}
	grace := opt.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	var started time.Time
	for _, p := range rot.Columns {
		if started.IsZero() || p.StartedAt.Before(started) {
			started = p.StartedAt
		}
	}
	deadline := started.Add(grace)
	// The first pass starts where the last run stopped; later passes pick
	// up values written under the old key by a server that had not yet
	// noticed the new one.
	for pass := 0; pass < 6; pass++ {
		for _, col := range st.SealedColumns(rot.OrgID) {
			p := progress[col.Name]
			p.Table = col.Name
			after := p.LastID
			if pass > 0 {
				after = 0
			}
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				batch, err := st.FindStaleSealed(ctx, rot.OrgID, col, keep, after, opt.Batch)
				if err != nil {
					return fmt.Errorf("rotate %s: %w", col.Name, err)
				}
				if len(batch) == 0 {
					break
				}
				fresh := make([]SealedValue, len(batch))
				for i, v := range batch {
					aad := col.AAD(rot.OrgID, v.ID)
					pt, err := e.Open(ctx, rot.OrgID, v.Value, aad)
					if err != nil {
						return fmt.Errorf("rotate %s row %d: %w", col.Name, v.ID, err)
					}
					ct, err := sealWith(to, pt, aad)
					clear(pt)
					if err != nil {
						return err
					}
					fresh[i] = SealedValue{ID: v.ID, Value: ct}
				}
				after = batch[len(batch)-1].ID
				if err := st.ReplaceSealed(ctx, rot.OrgID, rot.ToKey, col, batch, fresh, after); err != nil {
					return fmt.Errorf("rotate %s: %w", col.Name, err)
				}
				p.Done += int64(len(batch))
				if after > p.LastID {
					p.LastID = after
				}
				if opt.Progress != nil {
					opt.Progress(p)
				}
				if opt.Pause > 0 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(opt.Pause):
					}
				}
			}
			progress[col.Name] = p
		}
		if wait := time.Until(deadline); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		remaining, destroyed, err := st.FinishRotation(ctx, rot.OrgID, rot.ToKey, keep, e.Now().UTC())
		if err != nil {
			return fmt.Errorf("rotate: finish: %w", err)
		}
		if remaining == 0 {
			for _, id := range destroyed {
				e.Forget(uint32(id))
			}
			return nil
		}
	}
	return ErrRotationBusy
}

// RewrapStore is what a master key rotation needs from storage.
type RewrapStore interface {
	// FindDataKeys returns every data key, destroyed ones included.
	FindDataKeys(ctx context.Context) ([]*DataKey, error)
	// RewrapDataKeys, in one transaction, replaces each key's wrapped bytes
	// and KEK id, provided the row still holds what was read (ECONFLICT
	// otherwise: nothing is changed).
	RewrapDataKeys(ctx context.Context, old, new []*DataKey) error
}

// Rewrap re-wraps every live data key (and the root secret) from the KEK
// from to the KEK to, in one transaction: either every key moves or none
// does. Values are not touched. Keys already under another to are left as
// they are, so a rerun after a crash is harmless; when from and to have the
// same id (a Vault transit key rotated in Vault), every key is re-wrapped so
// that it moves to the newest key version.
func Rewrap(ctx context.Context, st RewrapStore, from, to KEK) (int, error) {
	keys, err := st.FindDataKeys(ctx)
	if err != nil {
		return 0, err
	}
	same := from.ID() == to.ID()
	var old, moved []*DataKey
	for _, k := range keys {
		if k.State == StateDestroyed || (!same && k.KEKID == to.ID()) {
			continue
		}
		if k.KEKID != from.ID() {
			return 0, fmt.Errorf("data key %d is wrapped by %s, which is neither the current (%s) nor the new master key", k.ID, k.KEKID, from.ID())
		}
		raw, err := from.Unwrap(ctx, k.Wrapped)
		if err != nil {
			return 0, fmt.Errorf("data key %d: %w", k.ID, err)
		}
		w, err := to.Wrap(ctx, raw)
		clear(raw)
		if err != nil {
			return 0, fmt.Errorf("data key %d: %w", k.ID, err)
		}
		n := *k
		n.Wrapped, n.KEKID = w, to.ID()
		old, moved = append(old, k), append(moved, &n)
	}
	if len(moved) == 0 {
		return 0, nil
	}
	if err := st.RewrapDataKeys(ctx, old, moved); err != nil {
		return 0, err
	}
	return len(moved), nil
}
