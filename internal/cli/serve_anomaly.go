package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"coffer/internal/anomaly"
	"coffer/internal/web"
)

const serveAnomalyHelp = `
Anomaly detection watches sign-ins, second factors, exports and role
changes (docs/anomalies.md). --geoip-csv FILE gives places to address
prefixes, one "prefix,latitude,longitude,country" per line (# comments),
for the new-country and impossible-travel rules; without it a new /16
(IPv4) or /48 (IPv6) network stands in for a new region and travel is not
judged.

Behind a reverse proxy, --trusted-proxy CIDR (repeatable) names the
proxies: only a request whose TCP peer is in one of them has its client
taken from X-Forwarded-For (the right-most address that is not itself a
trusted proxy). Without it the TCP peer is the client.
`

// anomalyConfig is the serve configuration of anomaly detection and of the
// client address it (and everything else) sees.
type anomalyConfig struct {
	GeoIPCSV       string
	TrustedProxies []netip.Prefix
}

func (c *anomalyConfig) addFlags(fs *flag.FlagSet, a *authFlagTarget) {
	fs.StringVar(&c.GeoIPCSV, "geoip-csv", "", "address prefix → place file for the new-country and impossible-travel rules (prefix,latitude,longitude,country per line)")
	fs.Func("trusted-proxy", "CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable; default: none, the TCP peer is the client)", func(v string) error {
		p, err := web.ParseTrustedProxy(v)
		if err != nil {
			return fmt.Errorf("want a CIDR such as 10.0.0.0/8 or one address: %w", err)
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
		return nil
	})
	fs.IntVar(a.clientAttempts, "login-attempts-per-client", *a.clientAttempts, "password attempts a minute from one client before it is refused")
}

// authFlagTarget is the auth setting the anomaly flags also reach.
type authFlagTarget struct{ clientAttempts *int }

func (c anomalyConfig) validate() error {
	var problems []error
	for _, p := range c.TrustedProxies {
		if p.Bits() == 0 {
			problems = append(problems, fmt.Errorf("--trusted-proxy %s would trust every client's X-Forwarded-For", p))
		}
	}
	if c.GeoIPCSV != "" && strings.TrimSpace(c.GeoIPCSV) == "" {
		problems = append(problems, errors.New("--geoip-csv must name a file"))
	}
	return errors.Join(problems...)
}

// newDetector opens the location file and builds the detector; the caller
// starts it once the public URL is known and closes it at shutdown.
func (c anomalyConfig) newDetector(a *app, log *slog.Logger) (*anomaly.Service, error) {
	var geo *anomaly.GeoDB
	if c.GeoIPCSV != "" {
		db, err := anomaly.OpenGeoCSV(c.GeoIPCSV)
		if err != nil {
			return nil, err
		}
		geo = db
		log.Info("anomaly detection location file", "path", c.GeoIPCSV, "prefixes", db.Len())
	}
	return anomaly.New(a.store, a.auth, a.auth.Notifier, geo, anomaly.DefaultConfig(), log)
}
