package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// AuditEvent is one entry of an audit chain.
type AuditEvent struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"org_id"`
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	UserID    int64     `json:"user_id"`
	Subject   string    `json:"subject"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
	// Hash is the event's chain hash, hex.
	Hash string `json:"hash"`
}

// AuditPage is a page of events, newest first, and how many match in all.
type AuditPage struct {
	Events []AuditEvent `json:"events"`
	Total  int          `json:"total"`
	Limit  int          `json:"limit"`
	Offset int          `json:"offset"`
}

// AuditFilter selects events; zero fields do not filter. From and To are
// dates (YYYY-MM-DD), both inclusive.
type AuditFilter struct {
	Action   string // a prefix of the action
	UserID   int64
	Outcome  string // "success" or "failure"
	From, To string
	Limit    int
	Offset   int
}

func (f AuditFilter) query() string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("action", f.Action)
	set("outcome", f.Outcome)
	set("from", f.From)
	set("to", f.To)
	if f.UserID != 0 {
		q.Set("user", strconv.FormatInt(f.UserID, 10))
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset != 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// OrgAudit lists an organisation's audit log (owners and advisers).
func (c *Client) OrgAudit(ctx context.Context, token string, orgID int64, f AuditFilter) (*AuditPage, error) {
	var out AuditPage
	err := c.Do(ctx, "GET", "/api/v1/orgs/"+strconv.FormatInt(orgID, 10)+"/audit"+f.query(), token, nil, &out)
	return &out, err
}

// AdminAudit lists the platform's audit log (platform operators).
func (c *Client) AdminAudit(ctx context.Context, token string, f AuditFilter) (*AuditPage, error) {
	var out AuditPage
	err := c.Do(ctx, "GET", "/api/v1/admin/audit"+f.query(), token, nil, &out)
	return &out, err
}
