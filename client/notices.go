package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Notice is a post on the security noticeboard.
type Notice struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"` // info, warning or action_required
	Title string `json:"title"`
	Body  string `json:"body"`
	// DueAt is set for a required action.
	DueAt       *time.Time `json:"due_at"`
	PublishedAt time.Time  `json:"published_at"`
	Read        bool       `json:"read"`
}

// NewNotice is a notice to post. DueAt and PublishedAt are RFC 3339 times
// or YYYY-MM-DD dates; an empty PublishedAt publishes now.
type NewNotice struct {
	Kind        string `json:"kind"`
	Title       string `json:"title"`
	Body        string `json:"body"`
	DueAt       string `json:"due_at,omitempty"`
	PublishedAt string `json:"published_at,omitempty"`
}

// Notices lists the published notices, newest first, and how many the
// user has not read.
func (c *Client) Notices(ctx context.Context, session string) ([]Notice, int, error) {
	var out struct {
		Notices []Notice `json:"notices"`
		Unread  int      `json:"unread"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/notices", session, nil, &out); err != nil {
		return nil, 0, err
	}
	return out.Notices, out.Unread, nil
}

// MarkNoticeRead marks a notice read for the signed-in user.
func (c *Client) MarkNoticeRead(ctx context.Context, session string, id int64) error {
	return c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/notices/%d/read", id), session, nil, nil)
}

// PostNotice publishes a notice (platform operators only).
func (c *Client) PostNotice(ctx context.Context, session string, n NewNotice) (*Notice, error) {
	var out Notice
	if err := c.Do(ctx, http.MethodPost, "/api/v1/admin/notices", session, n, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
