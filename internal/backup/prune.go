package backup

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PruneResult is what Prune removed.
type PruneResult struct {
	Deleted []string
	// Orphans are incomplete backups older than a day that were removed.
	Orphans []string
}

// Prune applies policy p on t at time now: backups the policy does not keep
// are deleted (manifest first, so a backup stops being listed before its
// data goes), and so are incomplete backups (no manifest) older than a day.
// protect is the newest backup known to have verified; it is never deleted.
func Prune(ctx context.Context, t Target, p Policy, now time.Time, protect string) (*PruneResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	l, err := List(ctx, t)
	if err != nil {
		return nil, err
	}
	points := make([]Point, 0, len(l.Backups))
	for _, b := range l.Backups {
		at, err := IDTime(b.ID)
		if err != nil {
			continue
		}
		points = append(points, Point{ID: b.ID, Time: at})
	}
	keep := p.Keep(points, now, protect)
	res := &PruneResult{}
	var errs []error
	for _, pt := range points {
		if keep[pt.ID] {
			continue
		}
		if err := deleteBackup(ctx, t, pt.ID, true); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Deleted = append(res.Deleted, pt.ID)
	}
	for _, id := range l.Orphans {
		at, err := IDTime(id)
		if err != nil || now.Sub(at) < minAge {
			continue // perhaps still being written
		}
		if err := deleteBackup(ctx, t, id, false); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Orphans = append(res.Orphans, id)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("prune %s: %w", t.Name(), errors.Join(errs...))
	}
	return res, nil
}

// deleteBackup removes the manifest first, then every other object.
func deleteBackup(ctx context.Context, t Target, id string, hasManifest bool) error {
	if hasManifest {
		if err := t.Delete(ctx, cleanName(id, ManifestObject)); err != nil {
			return err
		}
	}
	names, err := t.List(ctx, id+"/")
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := t.Delete(ctx, n); err != nil {
			return err
		}
	}
	return nil
}
