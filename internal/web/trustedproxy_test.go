package web

import (
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		remote  string
		headers []string
		want    string // "" = keep the peer
	}{
		{"untrusted peer: header ignored", "192.0.2.1:5000", []string{"203.0.113.9"}, ""},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"right-most untrusted wins over a forged left", "127.0.0.1:5000", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops skipped", "127.0.0.1:5000", []string{"203.0.113.9, 10.1.1.1"}, "203.0.113.9"},
		{"several headers read in order", "127.0.0.1:5000", []string{"198.51.100.1", "203.0.113.9, 10.1.1.1"}, "203.0.113.9"},
		{"all trusted: left-most", "127.0.0.1:5000", []string{"10.2.2.2, 10.1.1.1"}, "10.2.2.2"},
		{"no header", "127.0.0.1:5000", nil, ""},
		{"malformed hop", "127.0.0.1:5000", []string{"203.0.113.9, nonsense"}, ""},
		{"zone refused", "127.0.0.1:5000", []string{"fe80::1%eth0"}, ""},
		{"ipv4-mapped", "[::ffff:127.0.0.1]:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"ipv6 client", "127.0.0.1:5000", []string{"2001:db8::7"}, "2001:db8::7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := forwardedClient(tt.remote, tt.headers, trusted)
			if tt.want == "" {
				if ok {
					t.Errorf("client = %s, want the peer", got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("client = %s, %t; want %s", got, ok, tt.want)
			}
		})
	}
	if _, ok := forwardedClient("127.0.0.1:1", []string{"203.0.113.9"}, nil); ok {
		t.Error("no trusted proxies, header used")
	}
}

func TestParseTrustedProxy(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.0/8": "127.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "192.0.2.1": "192.0.2.1/32", "::1": "::1/128"} {
		p, err := ParseTrustedProxy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTrustedProxy(%s) = %s, %v; want %s", in, p, err, want)
		}
	}
	if _, err := ParseTrustedProxy("localhost"); err == nil {
		t.Error("a name accepted")
	}
}

func FuzzForwardedClient(f *testing.F) {
	f.Add("127.0.0.1:1", "203.0.113.9, 10.0.0.1")
	f.Add("127.0.0.1:1", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, header string) {
		got, ok := forwardedClient(remote, []string{header}, trusted)
		if ok && !got.IsValid() {
			t.Fatal("ok with an invalid address")
		}
	})
}
