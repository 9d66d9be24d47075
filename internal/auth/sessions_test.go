package auth

import (
	"strings"
	"testing"
	"unicode/utf8"

	"coffer/internal/errs"
)

func TestDescribeUserAgent(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"empty", "", "Unknown device"},
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"edge before chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge on Windows"},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"safari mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"chrome android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36", "Headless Chrome on Linux"},
		{"go client", "Go-http-client/2.0", "Go program"},
		{"curl", "curl/8.5.0", "curl"},
		{"unknown product", "Acme-Sync/3.1 (+https://acme.example)", "Acme-Sync"},
		{"unknown on a system", "Mozilla/5.0 (Windows NT 10.0) SomethingNew", "Unknown browser on Windows"},
		{"markup stays text", "<script>/1", "<script>"},
		{"control characters dropped", "\x01\x02/1", "Unknown device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DescribeUserAgent(tt.ua); got != tt.want {
				t.Errorf("DescribeUserAgent(%q) = %q, want %q", tt.ua, got, tt.want)
			}
		})
	}
}

func FuzzDescribeUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	f.Add("Go-http-client/2.0")
	f.Add("")
	f.Add("\xff\xfe/")
	f.Fuzz(func(t *testing.T, ua string) {
		got := DescribeUserAgent(ua)
		if got == "" || len(got) > 64 || !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("DescribeUserAgent(%q) = %q", ua, got)
		}
	})
}

func TestCheckSessionRevoke(t *testing.T) {
	tests := []struct {
		actor, target, want string
	}{
		{"owner", "owner", ""},
		{"owner", "standard", ""},
		{"adviser", "standard", ""},
		{"adviser", "adviser", ""},
		{"adviser", "owner", errs.EFORBIDDEN},
		{"standard", "read_only", errs.EFORBIDDEN},
		{"read_only", "standard", errs.EFORBIDDEN},
		{"invoice_only", "standard", errs.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.actor+" signs out "+tt.target, func(t *testing.T) {
			err := checkSessionRevoke(tt.actor, tt.target)
			if (err == nil) != (tt.want == "") || (err != nil && errs.Code(err) != tt.want) {
				t.Fatalf("checkSessionRevoke = %v, want %q", err, tt.want)
			}
		})
	}
}
