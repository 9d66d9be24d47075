package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/metrics"
)

// Label values are fixed sets, never anything a client sent: each value is
// a time series kept for the life of the process, and a client-chosen one
// (an email, an address, a path) would both leak and let a client grow
// memory without bound.

// Results of coffer_logins_total.
const (
	loginSuccess = "success" // a session was issued
	loginFailure = "failure" // a wrong password or unknown account
	loginLocked  = "locked"  // refused: the account is locked after repeated failures
	loginRefused = "refused" // refused by a rate limit before any check
)

// secondFactorMethods are the method label values of
// coffer_second_factor_total: the "login.mfa.<method>" audit actions and
// passkey sign-in; anything else is "other".
var secondFactorMethods = []string{"hotp", "passkey", "push", "recovery_code", "sms", "totp", "webauthn"}

// httpMethods are the method label values of the request metrics; any
// other method a client invents is "other".
var httpMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// requestBuckets are coffer_http_request_duration_seconds' upper bounds,
// 5 ms to 10 s.
var requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// readyTimeout bounds /readyz's database ping.
const readyTimeout = 2 * time.Second

// serverMetrics are the metrics /metrics serves.
type serverMetrics struct {
	reg          *metrics.Registry
	requests     *metrics.CounterVec
	duration     *metrics.HistogramVec
	inFlight     atomic.Int64
	logins       *metrics.CounterVec
	secondFactor *metrics.CounterVec
	lockouts     *metrics.Counter
}

// newServerMetrics registers Coffer's metrics; db, when not nil, is the
// database handle whose pool is reported.
func newServerMetrics(db *sql.DB) *serverMetrics {
	reg := metrics.NewRegistry()
	m := &serverMetrics{
		reg:          reg,
		requests:     reg.NewCounterVec("coffer_http_requests_total", "HTTP requests answered, by method and status code.", "method", "code"),
		duration:     reg.NewHistogramVec("coffer_http_request_duration_seconds", "Time from receiving a request to its handler returning, by method.", requestBuckets, "method"),
		logins:       reg.NewCounterVec("coffer_logins_total", "Sign-in outcomes: success (a session issued), failure (wrong password or unknown account, or a failed passkey), locked (account locked), refused (rate-limited; per-client refusals are counted when summarised, once a minute).", "result"),
		secondFactor: reg.NewCounterVec("coffer_second_factor_total", "Second-factor checks at sign-in and step-up, by method and result.", "method", "result"),
		lockouts:     reg.NewCounter("coffer_lockouts_total", "Accounts (or unknown addresses) locked after repeated sign-in failures."),
	}
	reg.NewGaugeFunc("coffer_http_requests_in_flight", "HTTP requests being handled now.", func() float64 { return float64(m.inFlight.Load()) })
	// Every fixed series exists from the start at 0, so rate() and alerts
	// see the first event rather than a series appearing.
	for _, r := range []string{loginSuccess, loginFailure, loginLocked, loginRefused} {
		m.logins.With(r)
	}
	for _, meth := range slices.Concat(secondFactorMethods, []string{"other"}) {
		m.secondFactor.With(meth, audit.Success)
		m.secondFactor.With(meth, audit.Failure)
	}
	if db != nil {
		reg.NewGaugeFunc("coffer_db_open_connections", "Database connections open (in use and idle).", func() float64 { return float64(db.Stats().OpenConnections) })
		reg.NewGaugeFunc("coffer_db_in_use_connections", "Database connections in use.", func() float64 { return float64(db.Stats().InUse) })
		reg.NewGaugeFunc("coffer_db_idle_connections", "Database connections idle.", func() float64 { return float64(db.Stats().Idle) })
		reg.NewCounterFunc("coffer_db_wait_count_total", "Times a request waited for a database connection.", func() float64 { return float64(db.Stats().WaitCount) })
		reg.NewCounterFunc("coffer_db_wait_seconds_total", "Time spent waiting for a database connection.", func() float64 { return db.Stats().WaitDuration.Seconds() })
	}
	reg.NewGaugeFunc("coffer_build_info", "Always 1; the labels say which build runs.", func() float64 { return 1 },
		metrics.Label{Name: "version", Value: buildVersion()}, metrics.Label{Name: "go_version", Value: runtime.Version()})
	return m
}

// buildVersion is the module version, or for a build from a checkout the
// VCS revision (with "-dirty" for uncommitted changes), or "unknown".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// watchAuth counts the auth service's security events. An OnEvent already
// set is still called.
func (s *Server) watchAuth(a *auth.Service) {
	if a == nil {
		return
	}
	prev := a.OnEvent
	a.OnEvent = func(action, outcome, detail string) {
		s.metrics.authEvent(action, outcome, detail)
		if prev != nil {
			prev(action, outcome, detail)
		}
	}
}

// authEvent maps an audited auth event to the metrics. Only the action,
// the outcome and the detail's reason (all chosen by Coffer's code) pick a
// label; nothing a client typed does.
func (m *serverMetrics) authEvent(action, outcome, detail string) {
	reason := detailValue(detail, "reason")
	switch {
	case action == "login" && outcome == audit.Success:
		m.logins.With(loginSuccess).Inc()
	case action == "login.password" && outcome == audit.Failure:
		switch {
		case reason == "locked":
			m.logins.With(loginLocked).Inc()
		case reason == "account_rate_limited":
			m.logins.With(loginRefused).Inc()
		case detailValue(detail, "count") != "":
			// The per-minute summary of refusals by a per-client limit
			// or a full hash pool (auth.Service.FlushRefusals).
			if n, err := strconv.ParseUint(detailValue(detail, "count"), 10, 32); err == nil {
				m.logins.With(loginRefused).Add(n)
			}
		default:
			m.logins.With(loginFailure).Inc()
		}
	case action == "login.mfa" && outcome == audit.Failure && reason == "locked":
		m.logins.With(loginLocked).Inc()
	case action == "account.lockout":
		m.lockouts.Inc()
	case action == "login.passkey":
		m.secondFactor.With("passkey", outcomeLabel(outcome)).Inc()
		if outcome == audit.Failure {
			m.logins.With(loginFailure).Inc()
		}
	case strings.HasPrefix(action, "login.mfa."):
		m.secondFactor.With(knownOr(strings.TrimPrefix(action, "login.mfa."), secondFactorMethods), outcomeLabel(outcome)).Inc()
	}
}

// detailValue returns the value of key in an audit detail of space
// separated key=value pairs, or "".
func detailValue(detail, key string) string {
	for f := range strings.FieldsSeq(detail) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func outcomeLabel(o string) string {
	if o == audit.Success {
		return audit.Success
	}
	return audit.Failure
}

// knownOr returns v when it is one of known, else "other".
func knownOr(v string, known []string) string {
	for _, k := range known {
		if v == k {
			return k
		}
	}
	return "other"
}

// countRequests feeds the request metrics. It wraps everything else, so a
// request's time includes all middleware and a recovered panic counts as
// its 500.
func (s *Server) countRequests(next http.Handler) http.Handler {
	m := s.metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Add(1)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			m.inFlight.Add(-1)
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			method := knownOr(r.Method, httpMethods)
			m.requests.With(method, strconv.Itoa(code)).Inc()
			m.duration.With(method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// routesOps adds the endpoints for operators and load balancers. /healthz
// (liveness) is in the main route table.
func (s *Server) routesOps(mux *http.ServeMux) {
	// No method in the pattern: without a token, every method gets the
	// same 404 as an unknown path, not a 405 that shows the route exists.
	mux.HandleFunc("/metrics", s.serveMetrics)
	mux.HandleFunc("GET /readyz", s.readyz)
}

// serveMetrics serves the metrics to a scraper holding the token. Without
// a configured token the endpoint does not exist (404), so a reverse proxy
// that forwards every path cannot expose it by accident. A wrong or
// missing token gets 401 with a WWW-Authenticate header (RFC 6750): the
// endpoint's existence is no secret (Coffer is open source), and telling
// "wrong token" apart from "metrics off" saves an operator a guess; the
// token itself is long and compared in constant time.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metricsTokenHash == nil {
		http.NotFound(w, r)
		return
	}
	if !s.metricsAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer metrics"`)
		http.Error(w, "Unauthorized: send the metrics token (from --metrics-token-file or COFFER_METRICS_TOKEN) as Authorization: Bearer <token>.", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", metrics.ContentType)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := s.metrics.reg.WriteTo(w); err != nil {
		s.log.Debug("write metrics", logKeyRequestID, requestID(r), logKeyErr, err)
	}
}

// metricsAuthorized compares the bearer token's hash with the configured
// one in constant time (hashing first, so the length leaks nothing either).
func (s *Server) metricsAuthorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.metricsTokenHash) == 1
}

// readyz tells a load balancer whether to send this node new requests:
// not while it drains before shutting down, nor when its database does not
// answer within readyTimeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	type readiness struct {
		Status string `json:"status"`
	}
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, readiness{"draining"})
		return
	}
	if s.opts.DB != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.opts.DB.PingContext(ctx); err != nil {
			s.log.Warn("not ready: database ping failed", logKeyRequestID, requestID(r), logKeyErr, err)
			writeJSON(w, http.StatusServiceUnavailable, readiness{"database unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, readiness{"ready"})
}

// StartDraining makes /readyz answer 503 {"status":"draining"} from now
// on, so load balancers stop sending new requests before the server shuts
// down. Requests keep being served.
func (s *Server) StartDraining() { s.draining.Store(true) }
