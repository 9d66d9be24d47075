package auth

import (
	"context"
	"fmt"
)

// Platform sealing for records that belong to no organisation and no
// user's factors (vulnerability reports): the same platform data key and
// row-bound associated data as factor secrets.

// PreparePlatformKey makes sure the platform data key exists, before a
// store transaction inside which SealPlatform runs.
func (s *Service) PreparePlatformKey(ctx context.Context) error {
	return s.keys.PrepareKey(ctx, platformOrg)
}

// SealPlatform seals plaintext under the platform data key, bound to row
// id of table.column.
func (s *Service) SealPlatform(ctx context.Context, table, column string, id int64, plaintext []byte) ([]byte, error) {
	out, err := s.keys.Seal(ctx, platformOrg, plaintext, s.aad(table, column, id))
	if err != nil {
		return nil, fmt.Errorf("seal %s.%s %d: %w", table, column, id, err)
	}
	return out, nil
}

// OpenPlatform opens what SealPlatform sealed for the same row.
func (s *Service) OpenPlatform(ctx context.Context, table, column string, id int64, sealed []byte) ([]byte, error) {
	out, err := s.keys.Open(ctx, platformOrg, sealed, s.aad(table, column, id))
	if err != nil {
		return nil, fmt.Errorf("open %s.%s %d: %w", table, column, id, err)
	}
	return out, nil
}

// TellUser sends u a plain notification (no "if this was not you"
// advice), for messages that are not about u's own account, such as an
// operator hearing of a vulnerability report. Delivery failures are
// logged and audited, never returned: the caller's action is done.
func (s *Service) TellUser(ctx context.Context, u *User, kind, subject, text string) {
	s.notifyPlain(ctx, u, kind, subject, text)
}
