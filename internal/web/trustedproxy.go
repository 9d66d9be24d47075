package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustProxies sets the request's remote address to the client a trusted
// reverse proxy names, so clientOf, rate limits, the audit log and anomaly
// detection see the real client. Only when the TCP peer is inside one of
// Options.TrustedProxies is X-Forwarded-For read, from the right: each
// address added by a trusted proxy is skipped, and the first untrusted one
// is the client (addresses further left are whatever the client claimed).
// Without trusted proxies, or from any other peer, the header is ignored.
func (s *Server) trustProxies(next http.Handler) http.Handler {
	if len(s.opts.TrustedProxies) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, ok := forwardedClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.opts.TrustedProxies); ok {
			r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
		}
		next.ServeHTTP(w, r)
	})
}

// maxForwardedHops bounds the addresses read from X-Forwarded-For.
const maxForwardedHops = 20

// forwardedClient returns the client address a trusted peer forwards for;
// false when the peer is not trusted, the header is absent or malformed.
func forwardedClient(remoteAddr string, headers []string, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer.Unmap(), trusted) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	if len(hops) == 0 || len(hops) > maxForwardedHops {
		return netip.Addr{}, false
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil || a.Zone() != "" {
			// A hop no proxy of ours would write: keep the peer.
			return netip.Addr{}, false
		}
		a = a.Unmap()
		if !inPrefixes(a, trusted) {
			return a, true
		}
		last = a
	}
	// Every hop is a trusted proxy: the left-most is the closest we know.
	return last, last.IsValid()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxy parses a --trusted-proxy value: a CIDR or one address.
func ParseTrustedProxy(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(strings.TrimSpace(v)); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
