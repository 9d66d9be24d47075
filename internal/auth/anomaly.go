package auth

import (
	"context"
	"fmt"
	"time"

	"coffer/internal/audit"
)

// Observer is told of every event auth audits, with the client it came
// from (device cookie included), so that anomaly detection can watch
// sign-ins without auth knowing its rules. Observe runs on the request
// path and must return at once (queue, never evaluate there).
type Observer interface {
	Observe(ctx context.Context, e *audit.Event, c Client)
}

// holdFor is how long a held account stays locked: in effect until an
// administrator unlocks it (UnlockAccount).
const holdFor = 100 * 365 * 24 * time.Hour

// HoldAccount locks the user's account until an administrator unlocks it
// and ends all its sessions, for anomaly detection's "lock" action. It
// uses the ordinary lockout of the account key, so sign-in, second factors
// and push requests from any client without a device cookie for the
// account refuse with the usual lockout message, and UnlockAccount lifts
// it. A device that already completed a sign-in for the account keeps its
// own lockout key (the device-cookie design), so the owner's own browser is
// not shut out by an attacker's activity.
func (s *Service) HoldAccount(ctx context.Context, userID int64, reason string) error {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil {
		return err
	}
	now := s.Now()
	until, err := s.store.RecordFailure(ctx, accountKey(u.Email), 1, holdFor, holdFor, now)
	if err != nil {
		return fmt.Errorf("hold account: %w", err)
	}
	n, err := s.store.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("hold account: %w", err)
	}
	s.audit(ctx, u.ID, u.Email, "account.hold", audit.Success, Client{UserAgent: "coffer anomaly detection"}, fmt.Sprintf("%s sessions=%d until=%s", reason, n, until.Format(time.RFC3339)))
	s.notifyUser(ctx, u, "account.locked", "Your Coffer account is locked",
		"Coffer locked your account after suspicious activity and signed it out everywhere. Ask an administrator of your organisation to unlock it.")
	return nil
}
