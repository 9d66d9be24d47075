package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Session is one of the signed-in user's sessions. The token is never
// shown.
type Session struct {
	ID         int64     `json:"id"`
	Device     string    `json:"device"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Place      string    `json:"place"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	MFAMethod  string    `json:"mfa_method"`
	// Current marks the session the request was made with.
	Current bool `json:"current"`
}

// Sessions lists the signed-in user's active sessions, most recently used
// first.
func (c *Client) Sessions(ctx context.Context, session string) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/sessions", session, nil, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// RevokeSession signs out one of the user's sessions; it takes effect at
// that session's next request.
func (c *Client) RevokeSession(ctx context.Context, session string, id int64) error {
	return c.Do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/sessions/%d", id), session, nil, nil)
}

// RevokeOtherSessions signs out every session of the user but this one
// and returns how many ended.
func (c *Client) RevokeOtherSessions(ctx context.Context, session string) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions/revoke-others", session, nil, &out); err != nil {
		return 0, err
	}
	return out.N, nil
}

// RevokeMemberSessions signs member userID of organisation orgID out
// everywhere (an owner or adviser, with a fresh second factor; only an
// owner for an owner) and returns how many sessions ended.
func (c *Client) RevokeMemberSessions(ctx context.Context, session string, orgID, userID int64) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/orgs/%d/members/%d/sessions/revoke", orgID, userID), session, nil, &out); err != nil {
		return 0, err
	}
	return out.N, nil
}
