package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// envMetricsToken holds /metrics' bearer token, so it never appears in
// argv (ps, shell history).
const envMetricsToken = "COFFER_METRICS_TOKEN"

// minMetricsTokenLen keeps the token out of guessing range: 32 characters,
// e.g. `openssl rand -hex 32` (64).
const minMetricsTokenLen = 32

const serveOpsHelp = `
Operations: GET /healthz answers 200 while the process runs (liveness).
GET /readyz answers 200 {"status":"ready"} when the database answers within
2 s, else 503 {"status":"database unavailable"}; from the first SIGTERM or
SIGINT it answers 503 {"status":"draining"}. Then Coffer keeps serving for
--drain-delay (set it to your load balancer's health-check interval times
its unhealthy threshold, so it stops sending new requests first), stops
accepting connections and waits up to --shutdown-timeout for requests in
flight to finish.

GET /metrics (Prometheus text format) is served on the HTTPS listener only
with "Authorization: Bearer TOKEN", the token read from
--metrics-token-file FILE or $COFFER_METRICS_TOKEN (at least 32
characters, e.g. openssl rand -hex 32). Without a token /metrics answers
404, so a reverse proxy cannot expose it by accident.
`

// opsConfig is coffer serve's metrics token and shutdown timing.
type opsConfig struct {
	MetricsTokenFile string
	// envToken is $COFFER_METRICS_TOKEN.
	envToken        string
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
}

func defaultOpsConfig(env Env) opsConfig {
	return opsConfig{envToken: env.Getenv(envMetricsToken), ShutdownTimeout: 30 * time.Second}
}

func (c *opsConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.MetricsTokenFile, "metrics-token-file", "", "file holding the bearer token GET /metrics requires (instead of $"+envMetricsToken+"; default: no /metrics)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "at SIGTERM/SIGINT, how long /readyz answers 503 while requests are still served, before shutting down (default 0: at once; behind a load balancer: its health-check interval times its unhealthy threshold)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "at shutdown, how long requests in flight get to finish")
}

func (c opsConfig) validate() error {
	var problems []error
	if c.DrainDelay < 0 || c.DrainDelay > 10*time.Minute {
		problems = append(problems, fmt.Errorf("--drain-delay %s must be between 0s and 10m", c.DrainDelay))
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > time.Hour {
		problems = append(problems, fmt.Errorf("--shutdown-timeout %s must be between 1s and 1h", c.ShutdownTimeout))
	}
	if _, err := c.metricsToken(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// metricsToken returns the configured token, "" for none. Errors never
// contain the token.
func (c opsConfig) metricsToken() (string, error) {
	var tok, from string
	switch {
	case c.MetricsTokenFile != "" && c.envToken != "":
		return "", fmt.Errorf("give the metrics token either in --metrics-token-file or in $%s, not both", envMetricsToken)
	case c.MetricsTokenFile != "":
		b, err := os.ReadFile(c.MetricsTokenFile)
		if err != nil {
			return "", fmt.Errorf("--metrics-token-file: %w", err)
		}
		tok, from = string(b), "--metrics-token-file "+c.MetricsTokenFile
	case c.envToken != "":
		tok, from = c.envToken, "$"+envMetricsToken
	default:
		return "", nil
	}
	tok = strings.TrimSpace(tok)
	if len(tok) < minMetricsTokenLen {
		return "", fmt.Errorf("the metrics token in %s is shorter than %d characters; make one with: openssl rand -hex 32", from, minMetricsTokenLen)
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return "", fmt.Errorf("the metrics token in %s must be one line of printable ASCII without spaces", from)
		}
	}
	return tok, nil
}
