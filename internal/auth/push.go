package auth

// Owned by the Coffer Verify work: paired devices and push approvals.

import (
	"context"
	"time"

	"coffer/internal/errs"
)

func (s *Service) checkPush(ctx context.Context, u *User, at Attempt, pushID int64, c Client, now time.Time) error {
	return errs.Errorf(errs.EINVALID, "Coffer Verify is not available yet.")
}
