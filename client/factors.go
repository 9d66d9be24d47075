package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Factor is one of the signed-in user's second factors.
type Factor struct {
	ID                int64      `json:"id"`
	Type              string     `json:"type"`
	Name              string     `json:"name"`
	Hint              string     `json:"hint"`
	CreatedAt         time.Time  `json:"created_at"`
	LastUsedAt        *time.Time `json:"last_used_at"`
	PhishingResistant bool       `json:"phishing_resistant"`
}

// Factors lists the user's second factors and how many recovery codes are
// left.
func (c *Client) Factors(ctx context.Context, session string) ([]Factor, int, error) {
	var out struct {
		Factors           []Factor `json:"factors"`
		RecoveryCodesLeft int      `json:"recovery_codes_left"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/mfa/factors", session, nil, &out); err != nil {
		return nil, 0, err
	}
	return out.Factors, out.RecoveryCodesLeft, nil
}

// RenameFactor renames a factor.
func (c *Client) RenameFactor(ctx context.Context, session string, id int64, name string) (*Factor, error) {
	var out Factor
	if err := c.Do(ctx, http.MethodPatch, fmt.Sprintf("/api/v1/mfa/factors/%d", id), session, map[string]string{"name": name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveFactor removes a factor (it needs a recent second factor).
func (c *Client) RemoveFactor(ctx context.Context, session string, id int64) error {
	return c.Do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/mfa/factors/%d", id), session, nil, nil)
}

// SwitchTOTP confirms a newly enrolled authenticator app with a code from
// it and removes the app it replaces, in one step.
func (c *Client) SwitchTOTP(ctx context.Context, session, code string, replace int64) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/mfa/totp/confirm", session, map[string]any{"code": code, "replace_factor_id": replace}, nil)
}

// StepUpWith verifies a second factor now in the session, by any method.
func (c *Client) StepUpWith(ctx context.Context, session, method, code string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/step-up", session, map[string]string{"method": method, "code": code}, nil)
}
