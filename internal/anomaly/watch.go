package anomaly

import (
	"context"

	"coffer/internal/access"
	"coffer/internal/audit"
	"coffer/internal/auth"
)

// watchedStore passes access.Service's audit events (role changes,
// exports) to the detector after storing them, as auth.Service does with
// its Observer.
type watchedStore struct {
	access.ServiceStore
	obs auth.Observer
}

// Watch returns st with its audit events also observed by obs.
func Watch(st access.ServiceStore, obs auth.Observer) access.ServiceStore {
	return watchedStore{ServiceStore: st, obs: obs}
}

// AppendAudit implements audit.Store.
func (w watchedStore) AppendAudit(ctx context.Context, e *audit.Event) error {
	if err := w.ServiceStore.AppendAudit(ctx, e); err != nil {
		return err
	}
	w.obs.Observe(ctx, e, auth.Client{IP: e.IP, UserAgent: e.UserAgent})
	return nil
}
