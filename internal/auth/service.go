package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/notify"
	"coffer/internal/session"
	"coffer/internal/sms"
)

// Sealer is what auth needs from the keyring: authenticated encryption bound
// to a record's identity, and purpose-bound MACs. User-level secrets belong
// to no organisation: auth seals them with orgID 0, the platform data key.
type Sealer interface {
	Seal(ctx context.Context, orgID int64, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, orgID int64, ciphertext, aad []byte) ([]byte, error)
	// PrepareKey makes sure the data key exists before a store transaction
	// inside which Seal runs.
	PrepareKey(ctx context.Context, orgID int64) error
	MAC(purpose string, data []byte) []byte
}

// platformOrg is the keyring's organisation id for user-level secrets.
const platformOrg = 0

// AADFunc builds the associated data that binds a sealed value to its row.
type AADFunc func(table, column string, id int64) []byte

// Config holds the authentication settings.
type Config struct {
	Argon2   Argon2Params
	Password PasswordPolicy
	Session  session.Policy
	// MaxFailures consecutive failures of password or second factor lock the
	// account for LockoutBase, doubling with each further lockout up to
	// LockoutMax (PCI DSS 8.3.4: at most 10 tries, at least 30 minutes).
	MaxFailures int
	LockoutBase time.Duration
	LockoutMax  time.Duration
	// ClientAttemptsPerMinute and AccountAttemptsPerMinute bound sign-in
	// attempts before any password is hashed.
	ClientAttemptsPerMinute int
	// SharedClientLimit counts ClientAttemptsPerMinute in the database as
	// well, so that it holds across several nodes (PostgreSQL). With one
	// node (SQLite) the count in memory is already exact, and the flood it
	// turns away costs no write at all.
	SharedClientLimit        bool
	AccountAttemptsPerMinute int
	// PendingTTL bounds the time between the password and the second factor.
	PendingTTL time.Duration
	// StepUpMaxAge is how recent a second factor must be for sensitive
	// actions.
	StepUpMaxAge time.Duration
	// DeviceCookieTTL is how long a device that signed in stays trusted for
	// the priority hashing lane.
	DeviceCookieTTL time.Duration
	// ResetWait is the waiting period between a member confirming a
	// support-assisted factor reset and the reset taking effect.
	ResetWait time.Duration
	// PushTTL is how long a Coffer Verify push request waits for an answer
	// (0: DefaultPushTTL).
	PushTTL time.Duration
}

// DefaultConfig returns the defaults described in SECURITY-CHECKLIST.md.
func DefaultConfig() Config {
	return Config{
		Argon2:                   DefaultArgon2Params(),
		Password:                 DefaultPasswordPolicy(),
		Session:                  session.DefaultPolicy(),
		MaxFailures:              10,
		LockoutBase:              30 * time.Minute,
		LockoutMax:               24 * time.Hour,
		ClientAttemptsPerMinute:  30,
		AccountAttemptsPerMinute: 20,
		PendingTTL:               10 * time.Minute,
		StepUpMaxAge:             5 * time.Minute,
		DeviceCookieTTL:          90 * 24 * time.Hour,
		ResetWait:                24 * time.Hour,
		PushTTL:                  DefaultPushTTL,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var problems []error
	if err := c.Argon2.Validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Password.Validate(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Session.Validate(); err != nil {
		problems = append(problems, err)
	}
	if c.MaxFailures < 1 || c.MaxFailures > 10 {
		problems = append(problems, fmt.Errorf("max failures %d must be between 1 and 10", c.MaxFailures))
	}
	if c.LockoutBase < 30*time.Minute || c.LockoutMax < c.LockoutBase {
		problems = append(problems, fmt.Errorf("lockout %s..%s must start at 30m or more and not shrink", c.LockoutBase, c.LockoutMax))
	}
	if c.ClientAttemptsPerMinute < 1 || c.AccountAttemptsPerMinute < 1 {
		problems = append(problems, errors.New("sign-in rate limits must be at least 1 a minute"))
	}
	if c.PendingTTL < time.Minute || c.PendingTTL > 30*time.Minute {
		problems = append(problems, fmt.Errorf("pending login lifetime %s must be between 1m and 30m", c.PendingTTL))
	}
	if c.StepUpMaxAge < time.Minute || c.StepUpMaxAge > 15*time.Minute {
		problems = append(problems, fmt.Errorf("step-up age %s must be between 1m and 15m", c.StepUpMaxAge))
	}
	if err := c.validatePush(); err != nil {
		problems = append(problems, err)
	}
	if c.ResetWait < time.Second || c.ResetWait > 30*24*time.Hour {
		problems = append(problems, fmt.Errorf("factor reset waiting period %s must be between 1s and 720h", c.ResetWait))
	}
	return errors.Join(problems...)
}

// Client describes where a request comes from.
type Client struct {
	IP        string
	UserAgent string
	// DeviceCookie is the value of the device cookie, if the client sent one.
	DeviceCookie string
}

// Messages shown for authentication failures. One message for every way a
// password step can fail, so nothing tells which accounts exist.
const (
	msgBadCredentials = "The email address or password is incorrect."
	msgLocked         = "Too many failed attempts. Sign-in is locked for a while; try again later or ask an administrator to unlock it."
	msgRateLimited    = "Too many sign-in attempts. Wait a minute and try again."
	msgBusy           = "Coffer is busy. Try again in a moment."
	msgLoginExpired   = "Your sign-in has expired or is not valid. Sign in again."
	msgSessionEnded   = "Your session has ended. Sign in again."
	msgBadCode        = "The code is incorrect."
	msgReplayedCode   = "That code has already been used. Wait for the next code from your app."
)

// Service runs sign-in: password, second factor, sessions.
type Service struct {
	store Store
	keys  Sealer
	aad   AADFunc
	pool  *HashPool
	cfg   Config
	log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// dummyHash is verified for unknown emails so that they cost the same
	// time as known ones.
	dummyHash string
	// clients limits attempts per client address in memory, before the
	// same limit in the database; refusals sums the refusals it and the
	// pool produce.
	clients  *windowLimiter
	refusals refusalLog
	// Notifier tells users about changes to their account's security; nil
	// only in tests that do not look.
	Notifier notify.Notifier
	// PublicURL is where users reach Coffer, for links in notifications.
	PublicURL string
	// SMS sends codes by SMS or voice call; nil: that factor is off.
	SMS sms.Provider
	// Observer sees every audited event (anomaly detection); nil: none.
	Observer Observer
	// OnEvent, when set, is told the action, outcome (audit.Success or
	// audit.Failure) and detail of every audited event, for metrics. It
	// must be quick and must not keep the detail: it can name a user.
	OnEvent func(action, outcome, detail string)
}

// NewService returns a Service. The pool bounds concurrent hashing.
func NewService(store Store, keys Sealer, aad AADFunc, pool *HashPool, cfg Config, log *slog.Logger) (*Service, error) {
	dummy, err := HashPassword(cfg.Argon2, "coffer dummy password for unknown accounts")
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	return &Service{store: store, keys: keys, aad: aad, pool: pool, cfg: cfg, log: log, Now: func() time.Time { return time.Now().UTC() }, dummyHash: dummy,
		clients: newWindowLimiter(200_000)}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// NormalizeEmail trims and lower-cases an address; it returns "" for one
// that is not a plain address.
func NormalizeEmail(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > 254 || !utf8.ValidString(e) {
		return ""
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return ""
	}
	return e
}

func accountKey(email string) string {
	h := sha256.Sum256([]byte(email))
	return "acct:" + hex.EncodeToString(h[:16])
}

// deviceKeyInfix joins an account key and a device, so that unlocking the
// account can find the account's device keys too.
const deviceKeyInfix = ":dev:"

// failureKey is what failures, lockouts and account rate limits count
// against. A client holding a valid device cookie for the account counts
// against its own key (OWASP "device cookies"): whoever floods the account
// from elsewhere can lock out everyone but the devices it has really been
// used on, and a device still locks after MaxFailures of its own.
func (s *Service) failureKey(c Client, email string, now time.Time) (key string, trusted bool) {
	if s.trustedDevice(c.DeviceCookie, email, now) {
		h := sha256.Sum256([]byte(c.DeviceCookie))
		return accountKey(email) + deviceKeyInfix + hex.EncodeToString(h[:16]), true
	}
	return accountKey(email), false
}

func (s *Service) audit(ctx context.Context, userID int64, subject, action, outcome string, c Client, detail string) {
	e := &audit.Event{At: s.Now(), UserID: userID, Subject: subject, Action: action, Outcome: outcome, IP: c.IP, UserAgent: truncate(c.UserAgent, 256), Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		// An audit write failing must be seen by operators; the action
		// itself already happened, so it is not undone here.
		s.log.Error("audit write failed", "action", action, "err", err)
	}
	if s.Observer != nil {
		s.Observer.Observe(ctx, e, c)
	}
	if s.OnEvent != nil {
		s.OnEvent(action, outcome, detail)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkNewUser applies the rules for a new account: a plain email
// address, a name of 1 to 200 characters and a password the policy
// accepts. It returns the normalised email and trimmed name; problems come
// back together as one EINVALID error.
func (s *Service) checkNewUser(email, name, password string) (normEmail, trimmedName string, err error) {
	norm := NormalizeEmail(email)
	var problems []string
	if norm == "" {
		problems = append(problems, "Enter a valid email address.")
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		problems = append(problems, "Enter a name of 1 to 200 characters.")
	}
	if err := s.cfg.Password.Check(password, norm, name); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if len(problems) > 0 {
		return "", "", errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return norm, name, nil
}

// CreateUser validates and stores a new user. The first user becomes an
// administrator.
func (s *Service) CreateUser(ctx context.Context, email, name, password string, c Client) (*User, error) {
	norm, name, err := s.checkNewUser(email, name, password)
	if err != nil {
		return nil, err
	}
	hash, err := HashPassword(s.cfg.Argon2, password)
	if err != nil {
		return nil, err
	}
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return nil, err
	}
	u := &User{Email: norm, Name: name, PasswordHash: hash, IsAdmin: n == 0, CreatedAt: s.Now()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "user.create", audit.Success, c, fmt.Sprintf("admin=%t", u.IsAdmin))
	return u, nil
}

// UnlockAccount lifts a lockout (an administrator's action).
func (s *Service) UnlockAccount(ctx context.Context, email string, c Client) error {
	norm := NormalizeEmail(email)
	if norm == "" {
		return errs.Errorf(errs.EINVALID, "Enter a valid email address.")
	}
	if err := s.store.ClearFailures(ctx, accountKey(norm), true); err != nil {
		return err
	}
	if err := s.store.ClearFailuresPrefix(ctx, accountKey(norm)+deviceKeyInfix); err != nil {
		return err
	}
	var uid int64
	if u, err := s.store.FindUserByEmail(ctx, norm); err == nil {
		uid = u.ID
	}
	s.audit(ctx, uid, norm, "account.unlock", audit.Success, c, "")
	return nil
}

// LoginResult is the outcome of a correct password.
type LoginResult struct {
	// Status is "mfa_required" or "mfa_enrollment_required".
	Status     string
	LoginToken string
	Methods    []string
	UserID     int64
}

// clientLimit is the in-memory per-client gate.
func (s *Service) clientLimit(ctx context.Context, key string, now time.Time) error {
	// The window in memory turns a flood away on this node without a
	// database write; with several nodes, the count in the database makes
	// the limit hold for the client across all of them (N nodes would
	// otherwise allow N times the limit), at the cost of one upsert per
	// attempt that gets this far.
	if s.clients.hit(key, time.Minute, now) > s.cfg.ClientAttemptsPerMinute {
		e := errs.Errorf(errs.ERATELIMIT, msgRateLimited)
		e.RetryAfter = 60 - int(now.Unix()%60)
		return e
	}
	if !s.cfg.SharedClientLimit {
		return nil
	}
	return s.rateLimit(ctx, "client:"+key, s.cfg.ClientAttemptsPerMinute, now)
}

// rateLimit counts one attempt against key and refuses past limit.
func (s *Service) rateLimit(ctx context.Context, key string, limit int, now time.Time) error {
	n, err := s.store.HitRateLimit(ctx, key, time.Minute, now)
	if err != nil {
		return err
	}
	if n > limit {
		e := errs.Errorf(errs.ERATELIMIT, msgRateLimited)
		e.RetryAfter = 60 - int(now.Unix()%60)
		return e
	}
	return nil
}

func (s *Service) checkLocked(ctx context.Context, key string, now time.Time) error {
	until, err := s.store.LockedUntil(ctx, key, now)
	if err != nil {
		return err
	}
	if !until.IsZero() {
		e := errs.Errorf(errs.ERATELIMIT, msgLocked)
		e.RetryAfter = int(until.Sub(now).Seconds()) + 1
		return e
	}
	return nil
}

// fail records a failure against the account and audits a lockout.
func (s *Service) fail(ctx context.Context, key string, userID int64, subject string, c Client, now time.Time) {
	until, err := s.store.RecordFailure(ctx, key, s.cfg.MaxFailures, s.cfg.LockoutBase, s.cfg.LockoutMax, now)
	if err != nil {
		s.log.Error("record sign-in failure", "err", err)
		return
	}
	if !until.IsZero() {
		s.audit(ctx, userID, subject, "account.lockout", audit.Failure, c, "until="+until.Format(time.RFC3339))
		// Only a real account hears of it: an unknown address has nobody
		// to tell. The message goes out after the answer, so the locking
		// attempt takes the same time for known and unknown addresses.
		if userID != 0 {
			ctx := context.WithoutCancel(ctx)
			go func() {
				if u, err := s.store.FindUserByID(ctx, userID); err == nil {
					s.notifyUser(ctx, u, "account.locked", "Your Coffer account is locked for a while",
						fmt.Sprintf("After repeated failed sign-in attempts (the last from %s), sign-in to your account is locked until %s. If it was not you, someone may know your password: change it once you can sign in, or ask an administrator to unlock the account.", where(c), until.UTC().Format("2 January 2006 15:04 MST")))
				}
			}()
		}
	}
}

// Login checks email and password. It never creates a session: the result
// is a pending login that only allows the second step (or, for a user with
// no factor yet, enrolling one).
func (s *Service) Login(ctx context.Context, email, password string, c Client) (*LoginResult, error) {
	now := s.Now()
	norm := NormalizeEmail(email)
	subject := norm
	if subject == "" {
		subject = "(not an email address)"
	}
	// Limits come before any hashing so a flood cannot buy hash time, and
	// the per-client one before any database work.
	if err := s.clientLimit(ctx, "login-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "client_rate_limited")
		return nil, err
	}
	key, trusted := s.failureKey(c, norm, now)
	if err := s.rateLimit(ctx, "login-"+key, s.cfg.AccountAttemptsPerMinute, now); err != nil {
		if errs.Code(err) == errs.ERATELIMIT {
			s.audit(ctx, 0, subject, "login.password", audit.Failure, c, "reason=account_rate_limited")
		}
		return nil, err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		s.audit(ctx, 0, subject, "login.password", audit.Failure, c, "reason=locked")
		return nil, err
	}

	var user *User
	if norm != "" {
		u, err := s.store.FindUserByEmail(ctx, norm)
		switch {
		case err == nil:
			user = u
		case errs.Code(err) != errs.ENOTFOUND:
			return nil, err
		}
	}
	encoded := s.dummyHash
	if user != nil {
		encoded = user.PasswordHash
	}
	// Overlong input is still hashed (against the dummy) to keep timing flat.
	candidate := password
	if len(candidate) > 4096 {
		candidate, encoded = "", s.dummyHash
	}
	var ok bool
	var verr error
	err := s.pool.Do(ctx, trusted, func() {
		ok, verr = VerifyPassword(candidate, encoded)
	})
	if errors.Is(err, ErrBusy) {
		s.refusals.add(c, "hash_pool_busy")
		e := errs.Errorf(errs.EUNAVAILABLE, msgBusy)
		e.RetryAfter = 1
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("verify password: %w", err)
	}
	if verr != nil {
		return nil, fmt.Errorf("verify password: %w", verr)
	}
	if user == nil || !ok || len(password) > 4096 {
		var uid int64
		reason := "reason=unknown_email"
		if user != nil {
			uid, reason = user.ID, "reason=wrong_password"
		}
		s.audit(ctx, uid, subject, "login.password", audit.Failure, c, reason)
		s.fail(ctx, key, uid, subject, c, now)
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgBadCredentials)
	}
	// Failures are not cleared here: only a complete sign-in clears them,
	// or knowing the password would give unlimited second-factor guesses.
	if NeedsRehash(user.PasswordHash, s.cfg.Argon2) {
		if h, err := HashPassword(s.cfg.Argon2, password); err == nil {
			if err := s.store.UpdatePasswordHash(ctx, user.ID, h); err != nil {
				s.log.Error("rehash password", "err", err)
			}
		}
	}
	if err := s.applyDueReset(ctx, user, c, now); err != nil {
		return nil, err
	}
	factors, err := s.store.FindFactors(ctx, user.ID, "", true)
	if err != nil {
		return nil, err
	}
	rules, err := s.store.UserFactorRules(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	res := &LoginResult{Status: "mfa_required", Methods: methodsFor(factors, rules), UserID: user.ID}
	stage := StageMFA
	if len(factors) == 0 {
		res.Status, res.Methods, stage = "mfa_enrollment_required", []string{KindTOTP}, StageEnroll
	}
	token, hash, err := session.NewToken(session.LoginPrefix)
	if err != nil {
		return nil, err
	}
	p := &Pending{UserID: user.ID, TokenHash: hash, Stage: stage, CreatedAt: now, ExpiresAt: now.Add(s.cfg.PendingTTL), IP: c.IP, UserAgent: truncate(c.UserAgent, 256)}
	if err := s.store.CreatePending(ctx, p); err != nil {
		return nil, err
	}
	res.LoginToken = token
	s.audit(ctx, user.ID, user.Email, "login.password", audit.Success, c, "next="+stage)
	return res, nil
}

// Pending returns the pending login for token, refusing expired ones.
func (s *Service) Pending(ctx context.Context, token string) (*Pending, *User, error) {
	if !strings.HasPrefix(token, session.LoginPrefix) {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgLoginExpired)
	}
	p, err := s.store.FindPendingByTokenHash(ctx, session.HashToken(token))
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgLoginExpired)
	}
	if err != nil {
		return nil, nil, err
	}
	if !s.Now().Before(p.ExpiresAt) {
		_ = s.store.DeletePending(ctx, p.ID)
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgLoginExpired)
	}
	u, err := s.store.FindUserByID(ctx, p.UserID)
	if err != nil {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgLoginExpired)
	}
	return p, u, nil
}

// Issued is a new session and its token (shown to the client once).
type Issued struct {
	Token   string
	Session *session.Session
}

func (s *Service) issue(ctx context.Context, pendingID int64, u *User, c Client, now time.Time, method string) (*Issued, error) {
	token, hash, err := session.NewToken(session.SessionPrefix)
	if err != nil {
		return nil, err
	}
	ss := &session.Session{UserID: u.ID, TokenHash: hash, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.Session.AbsoluteTimeout), MFAAt: now, MFAMethod: method, IP: c.IP, UserAgent: truncate(c.UserAgent, 256),
		PrevLoginAt: u.LastLoginAt, PrevLoginIP: u.LastLoginIP}
	if err := s.store.CreateSession(ctx, pendingID, ss); err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			return nil, errs.Errorf(errs.EUNAUTHORIZED, msgLoginExpired)
		}
		return nil, err
	}
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.store.ClearFailures(ctx, key, false); err != nil {
		s.log.Error("clear failures", "err", err)
	}
	if err := s.store.SetLastLogin(ctx, u.ID, now, c.IP); err != nil {
		s.log.Error("set last login", "err", err)
	}
	s.audit(ctx, u.ID, u.Email, "login", audit.Success, c, fmt.Sprintf("session=%d method=%s", ss.ID, method))
	s.notifyUser(ctx, u, "login.new", "New sign-in to your Coffer account",
		fmt.Sprintf("Your Coffer account was signed in to from %s, confirmed with %s.", where(c), methodLabel(method)))
	return &Issued{Token: token, Session: ss}, nil
}

// VerifySecondFactor completes a pending login with a second factor and
// issues the session.
func (s *Service) VerifySecondFactor(ctx context.Context, loginToken string, p Proof, c Client) (*Issued, error) {
	pl, u, err := s.Pending(ctx, loginToken)
	if err != nil {
		return nil, err
	}
	if pl.Stage != StageMFA {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Set up an authenticator app first.")
	}
	method, err := s.checkSecondFactor(ctx, u, Attempt{PendingID: pl.ID}, p, c)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, pl.ID, u, c, s.Now(), method)
}

// factorAAD binds a factor's sealed secret to its row. The label is the
// table's name when the first factors were sealed, kept so they still open.
func (s *Service) factorAAD(id int64) []byte {
	return s.aad("totp_factors", "secret_enc", id)
}

// openSecret opens a factor's sealed secret.
func (s *Service) openSecret(ctx context.Context, f *Factor) ([]byte, error) {
	secret, err := s.keys.Open(ctx, platformOrg, f.SecretEnc, s.factorAAD(f.ID))
	if err != nil {
		return nil, fmt.Errorf("open secret of factor %d: %w", f.ID, err)
	}
	return secret, nil
}

// sealFor returns the sealing function SaveFactor calls with the new id.
func (s *Service) sealFor(ctx context.Context, secret []byte) func(id int64) ([]byte, error) {
	return func(id int64) ([]byte, error) {
		return s.keys.Seal(ctx, platformOrg, secret, s.factorAAD(id))
	}
}

func (s *Service) checkTOTP(ctx context.Context, u *User, code string, c Client, now time.Time) error {
	factors, err := s.store.FindFactors(ctx, u.ID, "", true)
	if err != nil {
		return err
	}
	var lastErr error = mfa.ErrCodeInvalid
	for _, f := range factors {
		// A paired Verify device also shows offline codes from its seed.
		if f.Kind != KindTOTP && f.Kind != KindPush {
			continue
		}
		secret, err := s.openSecret(ctx, f)
		if err != nil {
			return err
		}
		step, verr := mfa.VerifyTOTP(secret, code, now, f.Counter)
		if verr != nil {
			// A replay or skew on one factor is more telling than a plain
			// mismatch on another.
			if !errors.Is(verr, mfa.ErrCodeInvalid) {
				lastErr = verr
			}
			continue
		}
		fresh, err := s.store.AdvanceCounter(ctx, f.ID, step, now)
		if err != nil {
			return err
		}
		if !fresh {
			lastErr = mfa.ErrCodeReplayed
			continue
		}
		s.audit(ctx, u.ID, u.Email, "login.mfa.totp", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
		return nil
	}
	return s.codeError(ctx, u, "login.mfa.totp", lastErr, c)
}

// codeError audits a refused code and turns it into the user's message.
func (s *Service) codeError(ctx context.Context, u *User, action string, err error, c Client) error {
	var skew *mfa.ClockSkewError
	switch {
	case errors.Is(err, mfa.ErrCodeReplayed):
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=replayed")
		return errs.Errorf(errs.EUNAUTHORIZED, msgReplayedCode)
	case errors.As(err, &skew):
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=clock_skew offset="+skew.Offset.String())
		dir := "ahead"
		if skew.Offset < 0 {
			dir = "behind"
		}
		mins := int(skew.Offset.Abs().Round(time.Minute) / time.Minute)
		return errs.Errorf(errs.EUNAUTHORIZED, "That code is not valid now: your device's clock looks about %d minute(s) %s. Set its date and time to update automatically, then try the new code.", max(mins, 1), dir)
	case errors.Is(err, mfa.ErrCodeMalformed):
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=malformed")
		return errs.Errorf(errs.EUNAUTHORIZED, "Enter the 6-digit code from your authenticator app.")
	default:
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=wrong_code")
		return errs.Errorf(errs.EUNAUTHORIZED, msgBadCode)
	}
}

func (s *Service) checkRecoveryCode(ctx context.Context, u *User, code string, c Client, now time.Time) error {
	if _, err := mfa.NormalizeRecoveryCode(code); err != nil {
		s.audit(ctx, u.ID, u.Email, "login.mfa.recovery_code", audit.Failure, c, "reason=malformed")
		return errs.Errorf(errs.EUNAUTHORIZED, "That is not a recovery code. Recovery codes look like xxxx-xxxx-xxxx-xxxx.")
	}
	codes, err := s.store.FindUnusedRecoveryCodes(ctx, u.ID)
	if err != nil {
		return err
	}
	// Every stored code is compared, so the time taken says nothing about
	// which one matched.
	var match *RecoveryCode
	for _, rc := range codes {
		if (mfa.HashedRecoveryCode{Salt: rc.Salt, Hash: rc.Hash}).Matches(code) && match == nil {
			match = rc
		}
	}
	if match != nil {
		ok, err := s.store.UseRecoveryCode(ctx, match.ID, now)
		if err != nil {
			return err
		}
		if ok {
			s.audit(ctx, u.ID, u.Email, "login.mfa.recovery_code", audit.Success, c, fmt.Sprintf("remaining=%d", len(codes)-1))
			s.notifyUser(ctx, u, "recovery_code.used", "A recovery code was used on your Coffer account",
				fmt.Sprintf("One of your recovery codes was used from %s; %d are left. If you lost your device, add a new second factor and remove the lost one.", where(c), len(codes)-1))
			return nil
		}
	}
	s.audit(ctx, u.ID, u.Email, "login.mfa.recovery_code", audit.Failure, c, "reason=wrong_or_used_code")
	return errs.Errorf(errs.EUNAUTHORIZED, "That recovery code is incorrect or has already been used.")
}

// Enrollment is a TOTP secret being set up.
type Enrollment struct {
	Secret     string // base32, for manual entry
	URI        string
	QRPNG      []byte
	Account    string
	CreatedNew bool
}

// Actor is who asks for a factor change: a pending login at the enrollment
// stage, or a signed-in session.
type Actor struct {
	Pending *Pending
	Session *session.Session
	User    *User
}

func (s *Service) checkEnrollActor(ctx context.Context, a Actor) error {
	now := s.Now()
	switch {
	case a.Pending != nil:
		if a.Pending.Stage != StageEnroll {
			return errs.Errorf(errs.EFORBIDDEN, "Complete two-step verification first.")
		}
		// The stage was fixed at the password step. If a factor has been
		// confirmed since (through another pending login), this login must
		// present that factor: adding one would let whoever started a
		// sign-in before the owner enrolled skip the owner's second factor.
		factors, err := s.store.FindFactors(ctx, a.User.ID, "", true)
		if err != nil {
			return err
		}
		if len(factors) > 0 {
			return errs.Errorf(errs.EFORBIDDEN, "Two-step verification is already set up for this account. Sign in again.")
		}
	case a.Session != nil:
		if now.Sub(a.Session.MFAAt) > s.cfg.StepUpMaxAge {
			return errs.Errorf(errs.ESTEPUP, "Confirm it's you: verify a second factor first.")
		}
	default:
		return errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	return nil
}

// BeginTOTPEnrollment creates a new unconfirmed TOTP secret for the actor's
// user, or (when reuse is set and one is still fresh) returns the one in
// progress, so reloading the enrollment page keeps the scanned code valid.
func (s *Service) BeginTOTPEnrollment(ctx context.Context, a Actor, reuse bool, c Client) (*Enrollment, error) {
	if err := s.checkEnrollActor(ctx, a); err != nil {
		return nil, err
	}
	now := s.Now()
	var secret []byte
	created := false
	if reuse {
		f, err := s.lastUnconfirmed(ctx, a.User.ID, KindTOTP)
		if err == nil && now.Sub(f.CreatedAt) < s.cfg.PendingTTL {
			if secret, err = s.openSecret(ctx, f); err != nil {
				return nil, err
			}
		} else if err != nil && errs.Code(err) != errs.ENOTFOUND {
			return nil, err
		}
	}
	if secret == nil {
		var err error
		if secret, err = mfa.NewTOTPSecret(); err != nil {
			return nil, err
		}
		f := &Factor{UserID: a.User.ID, Kind: KindTOTP, Name: "Authenticator app", Counter: -1, CreatedAt: now}
		if err := s.keys.PrepareKey(ctx, platformOrg); err != nil {
			return nil, err
		}
		if err := s.store.SaveFactor(ctx, f, true, s.sealFor(ctx, secret)); err != nil {
			return nil, err
		}
		created = true
		s.audit(ctx, a.User.ID, a.User.Email, "mfa.totp.enroll_start", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
	}
	uri := mfa.TOTPURI("Coffer", a.User.Email, secret)
	png, err := mfa.QRPNG(uri, 256)
	if err != nil {
		return nil, err
	}
	return &Enrollment{Secret: mfa.EncodeSecret(secret), URI: uri, QRPNG: png, Account: a.User.Email, CreatedNew: created}, nil
}

// Confirmed is the outcome of confirming a TOTP enrollment.
type Confirmed struct {
	// RecoveryCodes are shown once; empty when the user already had codes.
	RecoveryCodes []string
	// Issued is the new session when enrollment completed a sign-in.
	Issued *Issued
}

// ConfirmTOTPEnrollment checks a first code from the new app, confirms the
// factor and, at the user's first factor, generates recovery codes. From a
// pending login it completes the sign-in. With replaceID (a signed-in user
// switching apps) the old factor is removed in the same transaction.
func (s *Service) ConfirmTOTPEnrollment(ctx context.Context, a Actor, code string, replaceID int64, c Client) (*Confirmed, error) {
	if err := s.checkEnrollActor(ctx, a); err != nil {
		return nil, err
	}
	now := s.Now()
	u := a.User
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.clientLimit(ctx, "mfa-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "mfa_client_rate_limited")
		return nil, err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		return nil, err
	}
	if replaceID != 0 {
		if a.Session == nil {
			return nil, errs.Errorf(errs.EFORBIDDEN, "Sign in to switch authenticator apps.")
		}
		old, err := s.store.FindFactor(ctx, u.ID, replaceID)
		if err != nil {
			return nil, err
		}
		if !old.Confirmed || (old.Kind != KindTOTP) {
			return nil, errs.Errorf(errs.EINVALID, "Only an authenticator app can be switched for another one.")
		}
	}
	f, err := s.lastUnconfirmed(ctx, u.ID, KindTOTP)
	if err != nil {
		return nil, err
	}
	secret, err := s.openSecret(ctx, f)
	if err != nil {
		return nil, err
	}
	step, verr := mfa.VerifyTOTP(secret, code, now, -1)
	if verr != nil {
		err := s.codeError(ctx, u, "mfa.totp.enroll_confirm", verr, c)
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return nil, err
	}
	existing, err := s.store.FindUnusedRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := &Confirmed{}
	var stored []*RecoveryCode
	if len(existing) == 0 {
		if out.RecoveryCodes, stored, err = newRecoveryCodes(); err != nil {
			return nil, err
		}
	}
	// From a pending login the check is repeated inside the confirming
	// transaction, so two racing enrollments cannot both become first.
	if err := s.store.ConfirmFactor(ctx, u.ID, f.ID, step, stored, a.Pending != nil, replaceID); err != nil {
		return nil, err
	}
	if replaceID != 0 {
		s.audit(ctx, u.ID, u.Email, "mfa.totp.switch", audit.Success, c, fmt.Sprintf("factor=%d replaced=%d", f.ID, replaceID))
		s.notifyUser(ctx, u, "factor.switched", "You switched authenticator apps",
			"The authenticator app on your Coffer account was replaced by a new one. Codes from the old app no longer work.")
	} else {
		s.audit(ctx, u.ID, u.Email, "mfa.totp.enroll_confirm", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
		if a.Session != nil {
			s.notifyUser(ctx, u, "factor.added", "An authenticator app was added to your account",
				"A new authenticator app was added as a second factor on your Coffer account.")
		}
	}
	if stored != nil {
		s.audit(ctx, u.ID, u.Email, "mfa.recovery_codes.generate", audit.Success, c, fmt.Sprintf("count=%d", len(stored)))
	}
	if a.Pending != nil {
		if out.Issued, err = s.issue(ctx, a.Pending.ID, u, c, now, KindTOTP); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func newRecoveryCodes() ([]string, []*RecoveryCode, error) {
	codes, err := mfa.NewRecoveryCodes(mfa.RecoveryCodeCount)
	if err != nil {
		return nil, nil, err
	}
	stored := make([]*RecoveryCode, len(codes))
	for i, code := range codes {
		h, err := mfa.HashRecoveryCode(code)
		if err != nil {
			return nil, nil, err
		}
		stored[i] = &RecoveryCode{Salt: h.Salt, Hash: h.Hash}
	}
	return codes, stored, nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes. It needs a
// second factor other than a recovery code, verified now, whatever the
// session's age.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, ss *session.Session, u *User, p Proof, c Client) ([]string, error) {
	if p.Method == MethodRecoveryCode {
		return nil, errs.Errorf(errs.EINVALID, "Confirm with a second factor other than a recovery code.")
	}
	method, err := s.checkSecondFactor(ctx, u, Attempt{SessionID: ss.ID}, p, c)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.store.SetSessionMFA(ctx, ss.ID, now, method); err != nil {
		return nil, err
	}
	codes, stored, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, stored); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.recovery_codes.generate", audit.Success, c, fmt.Sprintf("count=%d replaced=true", len(stored)))
	return codes, nil
}

// UserByID returns a user.
func (s *Service) UserByID(ctx context.Context, id int64) (*User, error) {
	return s.store.FindUserByID(ctx, id)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	codes, err := s.store.FindUnusedRecoveryCodes(ctx, userID)
	return len(codes), err
}

// Authenticate resolves a session token, enforcing idle and absolute expiry
// and recording activity.
func (s *Service) Authenticate(ctx context.Context, token string) (*session.Session, *User, error) {
	if !strings.HasPrefix(token, session.SessionPrefix) {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	ss, err := s.store.FindSessionByTokenHash(ctx, session.HashToken(token))
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	if s.cfg.Session.Expired(ss, now) {
		if err := s.store.DeleteSession(ctx, ss.ID); err != nil {
			return nil, nil, err
		}
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	u, err := s.store.FindUserByID(ctx, ss.UserID)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if err != nil {
		return nil, nil, err
	}
	ss.Idle = now.Sub(ss.LastSeenAt)
	if now.Unix() > ss.LastSeenAt.Unix() {
		if err := s.store.TouchSession(ctx, ss.ID, now); err != nil {
			return nil, nil, err
		}
		ss.LastSeenAt = now
	}
	return ss, u, nil
}

// StepUp verifies a second factor now, in a signed-in session, so that
// sensitive actions are allowed for the next few minutes.
func (s *Service) StepUp(ctx context.Context, ss *session.Session, u *User, p Proof, c Client) error {
	method, err := s.checkSecondFactor(ctx, u, Attempt{SessionID: ss.ID}, p, c)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := s.store.SetSessionMFA(ctx, ss.ID, now, method); err != nil {
		return err
	}
	ss.MFAAt, ss.MFAMethod = now, method
	s.audit(ctx, u.ID, u.Email, "session.step_up", audit.Success, c, fmt.Sprintf("session=%d method=%s", ss.ID, method))
	return nil
}

// Fresh reports whether the session's second factor is recent enough for
// a sensitive action.
func (s *Service) Fresh(ss *session.Session) bool {
	return s.Now().Sub(ss.MFAAt) <= s.cfg.StepUpMaxAge
}

// Logout ends one session.
func (s *Service) Logout(ctx context.Context, ss *session.Session, u *User, c Client) error {
	if err := s.store.DeleteSession(ctx, ss.ID); err != nil {
		return err
	}
	s.audit(ctx, u.ID, u.Email, "logout", audit.Success, c, fmt.Sprintf("session=%d", ss.ID))
	return nil
}

// LogoutEverywhere ends all of the user's sessions.
func (s *Service) LogoutEverywhere(ctx context.Context, u *User, c Client) (int, error) {
	n, err := s.store.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return 0, err
	}
	s.audit(ctx, u.ID, u.Email, "logout.all", audit.Success, c, fmt.Sprintf("sessions=%d", n))
	return n, nil
}

// Sweep deletes expired pending logins, sessions and rate-limit windows.
func (s *Service) Sweep(ctx context.Context) error {
	if err := s.CompleteDueResets(ctx); err != nil {
		return err
	}
	return s.store.DeleteExpired(ctx, s.Now(), s.cfg.Session.IdleTimeout)
}

// Device cookies (OWASP "device cookies"): a browser or client that has
// completed a sign-in for an account gets a MAC-signed token naming that
// account; its later password attempts for that account take the priority
// hashing lane, so a flood of guesses from elsewhere cannot starve it.

const devicePurpose = "device-cookie"

// DeviceCookieFor returns a device cookie value for the user.
func (s *Service) DeviceCookieFor(ctx context.Context, userID int64) (string, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil {
		return "", err
	}
	norm := u.Email
	buf := make([]byte, 8+16)
	binary.BigEndian.PutUint64(buf, uint64(s.Now().Unix()))
	if _, err := rand.Read(buf[8:]); err != nil {
		return "", fmt.Errorf("device cookie: %w", err)
	}
	mac := s.keys.MAC(devicePurpose, append(append([]byte{}, buf...), norm...))
	return base64.RawURLEncoding.EncodeToString(append(buf, mac...)), nil
}

func (s *Service) trustedDevice(cookie, email string, now time.Time) bool {
	if cookie == "" || email == "" || len(cookie) > 200 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(raw) != 8+16+32 {
		return false
	}
	body, mac := raw[:24], raw[24:]
	want := s.keys.MAC(devicePurpose, append(append([]byte{}, body...), email...))
	if !hmac.Equal(mac, want) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(body[:8])), 0)
	return now.Sub(issued) < s.cfg.DeviceCookieTTL
}
