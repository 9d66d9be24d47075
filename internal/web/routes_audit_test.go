package web

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"coffer/internal/audit"
)

func TestParseAuditFilter(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		name  string
		query string
		want  audit.Filter
		page  int
		err   string
	}{
		{"empty", "", audit.Filter{Limit: 50}, 1, ""},
		{"all", "action=+member.&user=7&outcome=failure&from=2030-01-01&to=2030-01-31&page=3", audit.Filter{ActionPrefix: "member.", UserID: 7, Outcome: "failure", From: day("2030-01-01"), To: day("2030-02-01"), Limit: 50, Offset: 100}, 3, ""},
		{"limit and offset", "limit=10&offset=20", audit.Filter{Limit: 10, Offset: 20}, 1, ""},
		{"bad user", "user=bob", audit.Filter{}, 0, "user must be a user id"},
		{"bad date", "from=31/01/2030", audit.Filter{}, 0, "from must be a date like 2030-01-31"},
		{"to before from", "from=2030-02-01&to=2030-01-01", audit.Filter{}, 0, "the start date must be before the end date"},
		{"bad outcome", "outcome=maybe", audit.Filter{}, 0, "outcome must be success or failure"},
		{"limit too big", "limit=501", audit.Filter{}, 0, "limit must be a number from 1 to 500"},
		{"every problem at once", "user=0&page=0", audit.Filter{}, 0, "user must be a user id; page must be a number from 1 to 1000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			f, page, err := parseAuditFilter(q, 50)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil || page != tt.page || f.ActionPrefix != tt.want.ActionPrefix || f.UserID != tt.want.UserID || f.Outcome != tt.want.Outcome ||
				!f.From.Equal(tt.want.From) || !f.To.Equal(tt.want.To) || f.Limit != tt.want.Limit || f.Offset != tt.want.Offset {
				t.Fatalf("got %+v page %d, %v; want %+v page %d", f, page, err, tt.want, tt.page)
			}
		})
	}
}

// FuzzParseAuditFilter: any query either fails with EINVALID or gives a
// filter the store accepts.
func FuzzParseAuditFilter(f *testing.F) {
	f.Add("action=login&user=3&outcome=success&from=2030-01-01&to=2030-01-02&page=2")
	f.Add("limit=0&offset=-1&page=99999999999")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		fl, page, err := parseAuditFilter(q, 50)
		if err != nil {
			return
		}
		if err := fl.Validate(); err != nil || page < 1 || fl.Limit < 1 || fl.Offset < 0 {
			t.Fatalf("accepted %q as %+v page %d (%v)", query, fl, page, err)
		}
	})
}
