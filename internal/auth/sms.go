package auth

// Owned by the HOTP/SMS work: codes by SMS or voice call.

import (
	"context"
	"time"

	"coffer/internal/errs"
)

func (s *Service) checkSMS(ctx context.Context, u *User, code string, c Client, now time.Time) error {
	return errs.Errorf(errs.EINVALID, "SMS codes are not available yet.")
}
