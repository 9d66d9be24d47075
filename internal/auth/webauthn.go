package auth

// Owned by the WebAuthn work: security keys, passkeys, passkey sign-in.

import (
	"context"
	"time"

	"coffer/internal/errs"
)

func (s *Service) checkWebAuthn(ctx context.Context, u *User, at Attempt, credential []byte, c Client, now time.Time) error {
	return errs.Errorf(errs.EINVALID, "Security keys are not available yet.")
}
