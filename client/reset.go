package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Reset is a support-assisted reset of a member's second factors.
type Reset struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	OrgID  int64 `json:"org_id"`
	// Status is "awaiting_confirmation" (the member has not confirmed the
	// mailed link yet) or "waiting" (confirmed; takes effect at
	// EffectiveAt, at the member's next sign-in with their password).
	Status      string     `json:"status"`
	StartedBy   string     `json:"started_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmBy   time.Time  `json:"confirm_by"`
	EffectiveAt *time.Time `json:"effective_at"`
}

func memberResetPath(orgID, userID int64) string {
	return fmt.Sprintf("/api/v1/orgs/%d/members/%d/mfa-reset", orgID, userID)
}

// StartMemberReset starts a reset of member userID's second factors in
// organisation orgID (an owner or adviser, with a fresh second factor).
// The member gets an email with a link to confirm it.
func (c *Client) StartMemberReset(ctx context.Context, session string, orgID, userID int64) (*Reset, error) {
	var out Reset
	if err := c.Do(ctx, http.MethodPost, memberResetPath(orgID, userID), session, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MemberReset returns member userID's reset in progress started in orgID,
// or nil if there is none.
func (c *Client) MemberReset(ctx context.Context, session string, orgID, userID int64) (*Reset, error) {
	var out struct {
		Reset *Reset `json:"reset"`
	}
	if err := c.Do(ctx, http.MethodGet, memberResetPath(orgID, userID), session, nil, &out); err != nil {
		return nil, err
	}
	return out.Reset, nil
}

// CancelMemberReset cancels member userID's reset in progress in orgID.
func (c *Client) CancelMemberReset(ctx context.Context, session string, orgID, userID int64) error {
	return c.Do(ctx, http.MethodDelete, memberResetPath(orgID, userID), session, nil, nil)
}

// MyReset returns the reset of the signed-in user's own second factors in
// progress, or nil if there is none.
func (c *Client) MyReset(ctx context.Context, session string) (*Reset, error) {
	var out struct {
		Reset *Reset `json:"reset"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/mfa/reset", session, nil, &out); err != nil {
		return nil, err
	}
	return out.Reset, nil
}

// CancelMyReset cancels the reset of the signed-in user's own second
// factors.
func (c *Client) CancelMyReset(ctx context.Context, session string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/mfa/reset", session, nil, nil)
}
