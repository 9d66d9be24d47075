package auth

// Owned by the HOTP/SMS work: hardware HOTP tokens (RFC 4226).

import (
	"context"
	"time"

	"coffer/internal/errs"
)

func (s *Service) checkHOTP(ctx context.Context, u *User, code string, c Client, now time.Time) error {
	return errs.Errorf(errs.EINVALID, "Hardware tokens are not available yet.")
}
