// Package web is Coffer's HTTP surface: the HTML pages and the JSON API,
// with the middleware that protects both.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"coffer/internal/access"
	"coffer/internal/anomaly"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/idem"
	"coffer/internal/ledger"
	"coffer/internal/notices"
)

// Log keys, so every line says the same thing the same way.
const (
	logKeyRequestID = "request_id"
	logKeyMethod    = "method"
	logKeyPath      = "path"
	logKeyStatus    = "status"
	logKeyDuration  = "duration_ms"
	logKeyClient    = "client"
	logKeyErr       = "err"
)

// maxBodyBytes bounds every request body but statement imports; no other
// form or JSON body Coffer accepts comes near it.
const maxBodyBytes = 1 << 20

// maxImportBytes bounds a bank statement upload.
const maxImportBytes = 10 << 20

// Options configure a Server.
type Options struct {
	// SecurityContact is the Contact line of /.well-known/security.txt.
	SecurityContact string
	// SecurityPolicyURL, SecurityLanguages and SecurityExpires are its
	// Policy, Preferred-Languages and Expires lines (defaults: the public
	// URL's /security/policy, "en", a year after start).
	SecurityPolicyURL string
	SecurityLanguages string
	SecurityExpires   time.Time
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For names the client (trustedproxy.go); none: the TCP
	// peer is the client.
	TrustedProxies []netip.Prefix
	// DB is the store's database handle: /readyz pings it and /metrics
	// reports its connection pool. nil: neither (metrics.go).
	DB *sql.DB
	// MetricsToken is the bearer token /metrics requires; empty: /metrics
	// answers 404.
	MetricsToken string
}

// Deps are the domain services and stores the handlers call.
type Deps struct {
	Auth        *auth.Service
	Orgs        access.Store
	Ledger      *ledger.Service
	Idempotency idem.Store
	// Members runs members, invitations, settings and the export. When nil
	// it is built from Orgs and Auth without a keyring (tests); an export
	// that meets a sealed value then fails rather than leave it out.
	Members *access.Service
	Log     *slog.Logger
	// Findings lists and resolves anomaly findings; nil: no findings pages.
	Findings *anomaly.Service
}

// Server holds what the handlers need.
type Server struct {
	auth    *auth.Service
	orgs    access.Store
	ledger  *ledger.Service
	idem    idem.Store
	members *access.Service
	log     *slog.Logger
	pages   *pages
	opts    Options
	routes  []Route
	// board and vulnReports are the security noticeboard and the
	// vulnerability report inbox (routes_notices.go, routes_reports_vuln.go).
	board       *notices.Service
	vulnReports *notices.Reports
	findings    *anomaly.Service
	// metrics, metricsTokenHash (nil: no /metrics) and draining serve
	// /metrics and /readyz (metrics.go).
	metrics          *serverMetrics
	metricsTokenHash []byte
	draining         atomic.Bool
}

// NewServer parses the templates and returns a Server.
func NewServer(d Deps, opts Options) (*Server, error) {
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	if opts.SecurityContact == "" {
		opts.SecurityContact = "mailto:security@localhost"
	}
	members := d.Members
	if members == nil {
		if st, ok := d.Orgs.(access.ServiceStore); ok {
			members = access.NewService(st, d.Auth, nil, nil, d.Log)
		}
	}
	s := &Server{auth: d.Auth, orgs: d.Orgs, ledger: d.Ledger, idem: d.Idempotency, members: members, log: d.Log, pages: p, opts: opts, findings: d.Findings}
	s.initNotices()
	s.metrics = newServerMetrics(opts.DB)
	if opts.MetricsToken != "" {
		h := sha256.Sum256([]byte(opts.MetricsToken))
		s.metricsTokenHash = h[:]
	}
	s.watchAuth(d.Auth)
	return s, nil
}

// Handler returns the whole HTTP handler with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()

	// JSON API: bearer tokens only, never cookies, so no CSRF exposure.
	mux.HandleFunc("POST /api/v1/login", s.apiLogin)
	mux.HandleFunc("POST /api/v1/login/mfa", s.apiLoginMFA)
	mux.HandleFunc("POST /api/v1/mfa/totp/enroll", s.apiEnrollActor(s.apiTOTPEnroll))
	mux.HandleFunc("POST /api/v1/mfa/totp/confirm", s.apiEnrollActor(s.apiTOTPConfirm))
	mux.HandleFunc("POST /api/v1/mfa/recovery-codes", s.apiRequireSession(s.apiRegenerateRecoveryCodes))
	mux.HandleFunc("GET /api/v1/me", s.apiRequireSession(s.apiMe))
	mux.HandleFunc("POST /api/v1/logout", s.apiRequireSession(s.apiLogout))
	mux.HandleFunc("POST /api/v1/logout/all", s.apiRequireSession(s.apiLogoutAll))
	mux.HandleFunc("POST /api/v1/step-up", s.apiRequireSession(s.apiStepUp))
	mux.HandleFunc("GET /api/v1/orgs", s.apiRequireSession(s.apiOrgs))
	mux.HandleFunc(apiCatchAll, s.apiFallback(mux))

	// HTML pages: cookies, CSRF tokens on every form.
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.csrf(s.loginSubmit))
	mux.HandleFunc("GET /enroll", s.enrollPage)
	mux.HandleFunc("POST /enroll", s.csrf(s.enrollSubmit))
	mux.HandleFunc("GET /login/mfa", s.mfaPage)
	mux.HandleFunc("POST /login/mfa", s.csrf(s.mfaSubmit))
	mux.HandleFunc("GET /dashboard", s.requireSession(s.dashboard))
	mux.HandleFunc("GET /settings/security", s.requireSession(s.securityPage))
	mux.HandleFunc("POST /settings/security/recovery-codes", s.csrf(s.requireSession(s.regenerateCodes)))
	mux.HandleFunc("POST /logout", s.csrf(s.requireSession(s.logout)))
	mux.HandleFunc("POST /logout/all", s.csrf(s.requireSession(s.logoutAll)))
	mux.HandleFunc("GET /step-up", s.requireSession(s.stepUpPage))
	mux.HandleFunc("POST /step-up", s.csrf(s.requireSession(s.stepUpSubmit)))
	mux.HandleFunc("GET /static/{name}", s.static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})

	// Organisation-scoped routes, one table per area, each naming its
	// permission and step-up level.
	s.routes = nil
	s.routesOrgs(mux)
	s.routesLedger(mux)
	s.routesSales(mux)
	s.routesBank(mux)
	s.routesReports(mux)
	s.routesMembers(mux)
	s.routesAudit(mux)

	// Second factors: the shared list/rename/remove, then each kind's own
	// registration, sign-in and management routes.
	s.routesFactors(mux)
	s.routesHOTP(mux)
	s.routesSMS(mux)
	s.routesWebAuthn(mux)
	s.routesVerify(mux)
	s.routesReset(mux)
	s.routesFindings(mux)

	// Sessions, the security noticeboard, security.txt and vulnerability
	// reports.
	s.routesSessions(mux)
	s.routesNotices(mux)
	s.routesVulnReports(mux)

	// Metrics and readiness (metrics.go).
	s.routesOps(mux)

	return s.countRequests(s.trustProxies(s.recoverer(s.logRequests(securityHeaders(limitBody(mux))))))
}

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// clientOf describes the request's client for rate limits and the audit
// log. Behind a proxy this is the proxy (trusted-proxy support comes with
// the multi-node work).
func clientOf(r *http.Request) auth.Client {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	c := auth.Client{IP: host, UserAgent: r.UserAgent()}
	if ck, err := r.Cookie(cookieDevice); err == nil {
		c.DeviceCookie = ck.Value
	}
	return c
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (to extend
// a deadline for a long download, say).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logRequests gives each request an ID and logs one line for it. Only the
// path is logged: no query string, header or body can carry a secret here.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if probe(r.URL.Path) && sw.status < 400 {
			// Health checks and scrapes arrive every few seconds from each
			// balancer and Prometheus; their successes would bury the log.
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "request", logKeyRequestID, id, logKeyMethod, r.Method, logKeyPath, redactPath(r.URL.Path),
			logKeyStatus, sw.status, logKeyDuration, time.Since(start).Milliseconds(), logKeyClient, clientOf(r).IP)
	})
}

// probe reports the paths that load balancers and Prometheus poll.
func probe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", logKeyRequestID, requestID(r), "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows only Coffer's own files: no inline script or
// style anywhere, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxBodyBytes)
		if strings.HasSuffix(r.URL.Path, "/import") {
			limit = maxImportBytes
		}
		if r.ContentLength > limit {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				writeJSONError(w, r, nil, errs.Errorf(errs.ETOOLARGE, "The request body is larger than %d bytes.", limit))
			} else {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			}
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
