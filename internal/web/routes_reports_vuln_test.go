package web

import (
	"bufio"
	"net/url"
	"strings"
	"testing"
	"time"
)

// parseSecurityTxt reads RFC 9116 fields: "Name: value" lines; comments
// and blank lines are skipped. Field names are case-insensitive.
func parseSecurityTxt(t *testing.T, body string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok || strings.ContainsAny(name, " \t") || value == "" {
			t.Fatalf("malformed security.txt line %q", line)
		}
		out[strings.ToLower(name)] = append(out[strings.ToLower(name)], value)
	}
	return out
}

func TestSecurityTxt(t *testing.T) {
	exp := time.Date(2031, time.January, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		opts Options
		want map[string][]string
	}{
		{"defaults from the public URL", Options{SecurityContact: "mailto:security@example.com", SecurityExpires: exp},
			map[string][]string{"contact": {"mailto:security@example.com"}, "expires": {"2031-01-02T03:04:05Z"}, "policy": {"https://books.example.com/security/policy"},
				"preferred-languages": {"en"}, "canonical": {"https://books.example.com/.well-known/security.txt"}}},
		{"configured", Options{SecurityContact: "mailto:a@example.com, https://example.com/report", SecurityExpires: exp, SecurityPolicyURL: "https://example.com/policy", SecurityLanguages: "en, fr"},
			map[string][]string{"contact": {"mailto:a@example.com", "https://example.com/report"}, "expires": {"2031-01-02T03:04:05Z"}, "policy": {"https://example.com/policy"},
				"preferred-languages": {"en, fr"}, "canonical": {"https://books.example.com/.well-known/security.txt"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseSecurityTxt(t, SecurityTxt(tt.opts, "https://books.example.com"))
			for k, v := range tt.want {
				if strings.Join(got[k], "|") != strings.Join(v, "|") {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(got["expires"]) != 1 || len(got["preferred-languages"]) != 1 {
				t.Errorf("Expires and Preferred-Languages must appear once: %v", got)
			}
			for _, c := range got["canonical"] {
				if u, err := url.Parse(c); err != nil || u.Scheme != "https" {
					t.Errorf("canonical %q is not https", c)
				}
			}
		})
	}
}
