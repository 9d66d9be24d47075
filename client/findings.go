package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Finding is something anomaly detection noticed.
type Finding struct {
	ID         int64      `json:"id"`
	Rule       string     `json:"rule"`
	Label      string     `json:"label"`
	Severity   string     `json:"severity"`
	UserID     int64      `json:"user_id"`
	UserEmail  string     `json:"user_email"`
	OrgID      int64      `json:"org_id"`
	IP         string     `json:"ip"`
	Detail     string     `json:"detail"`
	Actions    []string   `json:"actions"`
	CreatedAt  time.Time  `json:"created_at"`
	Status     string     `json:"status"`
	ResolvedBy int64      `json:"resolved_by"`
	ResolvedAt *time.Time `json:"resolved_at"`
}

func findingsPath(base, status string) string {
	if status != "" {
		return base + "?status=" + url.QueryEscape(status)
	}
	return base
}

// Findings lists an organisation's findings (status "", "open" or
// "resolved"), newest first; owners and advisers only.
func (c *Client) Findings(ctx context.Context, session string, orgID int64, status string) ([]Finding, error) {
	var out struct {
		Findings []Finding `json:"findings"`
	}
	if err := c.Do(ctx, http.MethodGet, findingsPath(fmt.Sprintf("/api/v1/orgs/%d/findings", orgID), status), session, nil, &out); err != nil {
		return nil, err
	}
	return out.Findings, nil
}

// AdminFindings lists every finding; platform administrators only.
func (c *Client) AdminFindings(ctx context.Context, session, status string) ([]Finding, error) {
	var out struct {
		Findings []Finding `json:"findings"`
	}
	if err := c.Do(ctx, http.MethodGet, findingsPath("/api/v1/admin/findings", status), session, nil, &out); err != nil {
		return nil, err
	}
	return out.Findings, nil
}

// ResolveFinding marks one of the organisation's findings resolved.
func (c *Client) ResolveFinding(ctx context.Context, session string, orgID, id int64) (*Finding, error) {
	var out Finding
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/orgs/%d/findings/%d/resolve", orgID, id), session, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
