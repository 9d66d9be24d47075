package cli

import (
	"strings"
	"testing"
	"time"
)

func TestSecurityTxtConfig(t *testing.T) {
	now := time.Date(2030, time.March, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		cfg     securityTxtConfig
		contact string
		want    []string // substrings of the error; none: valid
	}{
		{"OK defaults", securityTxtConfig{Languages: "en"}, "mailto:security@localhost", nil},
		{"OK everything", securityTxtConfig{PolicyURL: "https://example.com/policy", Languages: "en, fr-CA", Expires: now.Add(time.Hour)}, "mailto:a@example.com, https://example.com/report", nil},
		{"past expiry", securityTxtConfig{Languages: "en", Expires: now.Add(-time.Second)}, "mailto:a@example.com", []string{"--security-expires"}},
		{"plain http policy", securityTxtConfig{PolicyURL: "http://example.com/policy", Languages: "en"}, "mailto:a@example.com", []string{"--security-policy-url"}},
		{"bad language", securityTxtConfig{Languages: "en;q=1"}, "mailto:a@example.com", []string{"--security-languages"}},
		{"every problem at once", securityTxtConfig{PolicyURL: "ftp://x", Languages: "", Expires: now}, "security@example.com", []string{"--security-policy-url", "--security-languages", "--security-expires", "--security-contact"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.now = func() time.Time { return now }
			err := tt.cfg.validate()
			if cerr := validateSecurityContact(tt.contact); cerr != nil {
				if err == nil {
					err = cerr
				} else {
					err = &joined{err, cerr}
				}
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

type joined struct{ a, b error }

func (j *joined) Error() string { return j.a.Error() + "\n" + j.b.Error() }

func TestParseExpires(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2031-01-02", time.Date(2031, 1, 2, 23, 59, 59, 0, time.UTC), true},
		{"2031-01-02T10:00:00+02:00", time.Date(2031, 1, 2, 8, 0, 0, 0, time.UTC), true},
		{"next year", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpires(tt.in)
			if (err == nil) != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("parseExpires(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func FuzzParseExpires(f *testing.F) {
	f.Add("2031-01-02")
	f.Add("2031-01-02T10:00:00Z")
	f.Add("x")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseExpires(v)
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("parseExpires(%q) not UTC", v)
		}
		if err != nil && !got.IsZero() {
			t.Fatalf("parseExpires(%q) = %v with error", v, got)
		}
	})
}
