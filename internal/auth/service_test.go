package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/mfa"
	"coffer/internal/session"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

// These tests drive auth.Service against the real SQLite store and keyring,
// with an injected clock: nothing here sleeps to make time pass.

const (
	testPassword = "tidal quartz magnet 9147"
	aliceEmail   = "alice@example.com"
	bobEmail     = "bob@example.com"

	// The pool every fixture uses: 2 workers, 8 waiting in each lane.
	poolWorkers     = 2
	poolNormalQueue = 8
)

// t0 starts on a minute boundary, so the one-minute rate-limit windows and
// the 30 s TOTP steps line up with the offsets the tests use.
var t0 = time.Date(2030, time.March, 4, 9, 0, 0, 0, time.UTC)

// guard turns a hang into a failure; no passing test waits anywhere near it.
const guard = 10 * time.Second

// clock is a fake clock safe to read from other goroutines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	tb     testing.TB
	ctx    context.Context
	store  *sqlstore.Store
	pool   *auth.HashPool
	svc    *auth.Service
	clock  *clock
	client auth.Client
	master []byte
}

// newFixture returns a Service on a fresh database with a random master key,
// cheap argon2 parameters and the clock at t0.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := tb.Context()
	st, err := testdb.Open(tb, filepath.Join(tb.TempDir(), "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	keys, err := keyring.OpenLocal(ctx, master, st)
	if err != nil {
		tb.Fatal(err)
	}
	pool := auth.NewHashPool(poolWorkers, poolNormalQueue, 8)
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	svc, err := auth.NewService(st, keys, keyring.AAD, pool, cfg, slog.New(slog.NewTextHandler(tb.Output(), nil)))
	if err != nil {
		tb.Fatal(err)
	}
	clk := &clock{now: t0}
	svc.Now = clk.Now
	return &fixture{tb: tb, ctx: ctx, store: st, pool: pool, svc: svc, clock: clk,
		client: auth.Client{IP: "192.0.2.10", UserAgent: "service_test"}, master: master}
}

func (f *fixture) now() time.Time          { return f.clock.Now() }
func (f *fixture) advance(d time.Duration) { f.clock.Advance(d) }

// nameFor derives a display name that the password does not contain.
func nameFor(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return strings.ToUpper(local[:1]) + local[1:] + " Example"
}

func (f *fixture) mustUser(email string) *auth.User {
	f.tb.Helper()
	u, err := f.svc.CreateUser(f.ctx, email, nameFor(email), testPassword, f.client)
	if err != nil {
		f.tb.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func (f *fixture) login(email, password string) (*auth.LoginResult, error) {
	return f.svc.Login(f.ctx, email, password, f.client)
}

func (f *fixture) mustLogin(email string) *auth.LoginResult {
	f.tb.Helper()
	res, err := f.login(email, testPassword)
	if err != nil {
		f.tb.Fatalf("login %s: %v", email, err)
	}
	return res
}

func (f *fixture) mustPending(token string) auth.Actor {
	f.tb.Helper()
	p, u, err := f.svc.Pending(f.ctx, token)
	if err != nil {
		f.tb.Fatalf("pending: %v", err)
	}
	return auth.Actor{Pending: p, User: u}
}

// enrolled is a user who has completed first sign-in with an authenticator.
type enrolled struct {
	user     *auth.User
	secret   []byte
	codes    []string
	issued   *auth.Issued
	factorID int64
}

// mustEnroll creates the user and completes the forced first enrollment.
func (f *fixture) mustEnroll(email string) *enrolled {
	f.tb.Helper()
	u := f.mustUser(email)
	res := f.mustLogin(email)
	a := f.mustPending(res.LoginToken)
	enr, err := f.svc.BeginTOTPEnrollment(f.ctx, a, false, f.client)
	if err != nil {
		f.tb.Fatalf("begin enrollment: %v", err)
	}
	secret := mustDecodeSecret(f.tb, enr.Secret)
	conf, err := f.svc.ConfirmTOTPEnrollment(f.ctx, a, f.code(secret, f.now()), 0, f.client)
	if err != nil {
		f.tb.Fatalf("confirm enrollment: %v", err)
	}
	var factorID int64
	if err := f.store.DB().QueryRowContext(f.ctx, `SELECT id FROM mfa_factors WHERE user_id = ? AND confirmed = 1`, u.ID).Scan(&factorID); err != nil {
		f.tb.Fatal(err)
	}
	return &enrolled{user: u, secret: secret, codes: conf.RecoveryCodes, issued: conf.Issued, factorID: factorID}
}

// mustSignIn moves the clock one TOTP step on (so the code is not a replay
// of the last one) and signs in with password and TOTP.
func (f *fixture) mustSignIn(e *enrolled) *auth.Issued {
	f.tb.Helper()
	f.advance(mfa.TOTPPeriod * time.Second)
	res := f.mustLogin(e.user.Email)
	iss, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(e.secret, f.now())}, f.client)
	if err != nil {
		f.tb.Fatalf("second factor: %v", err)
	}
	return iss
}

func (f *fixture) code(secret []byte, at time.Time) string {
	f.tb.Helper()
	c, err := mfa.TOTPCode(secret, at)
	if err != nil {
		f.tb.Fatal(err)
	}
	return c
}

// stepCodes returns the codes of every step within ±n steps of now.
func (f *fixture) stepCodes(secret []byte, n int) []string {
	var out []string
	for d := -n; d <= n; d++ {
		out = append(out, f.code(secret, f.now().Add(time.Duration(d)*mfa.TOTPPeriod*time.Second)))
	}
	return out
}

// wrongCode returns six digits that match no step near now, so the service
// sees a plain mismatch rather than a clock-skew diagnostic.
func (f *fixture) wrongCode(secret []byte) string {
	near := f.stepCodes(secret, mfa.ClockSkewDiagnosticSteps+2)
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i)
		if !slices.Contains(near, c) {
			return c
		}
	}
}

func (f *fixture) events(action string) []*audit.Event {
	f.tb.Helper()
	all, err := f.store.FindAuditEvents(f.ctx, 0, 10000)
	if err != nil {
		f.tb.Fatal(err)
	}
	var out []*audit.Event
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (f *fixture) sessionCount(userID int64) int {
	f.tb.Helper()
	var n int
	if err := f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`, userID).Scan(&n); err != nil {
		f.tb.Fatal(err)
	}
	return n
}

func mustDecodeSecret(tb testing.TB, b32 string) []byte {
	tb.Helper()
	s, err := mfa.DecodeSecret(b32)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// wantErr fails unless err carries code, and returns its *errs.Error (nil
// for an internal error, which has none).
func wantErr(tb testing.TB, err error, code string) *errs.Error {
	tb.Helper()
	if got := errs.Code(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	return errs.As(err)
}

// saturate fills every worker of the pool and its whole normal lane with
// blocked functions, so that any further normal-lane hash is refused with
// ErrBusy at once, while a priority-lane hash waits. release undoes it.
func saturate(tb testing.TB, pool *auth.HashPool) (release func()) {
	tb.Helper()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range poolWorkers + poolNormalQueue {
		wg.Go(func() {
			if err := pool.Do(context.Background(), false, func() { <-gate }); err != nil {
				tb.Errorf("holder: %v", err)
			}
		})
	}
	waitFor(tb, "pool to fill", func() bool {
		s := pool.Stats()
		return s.Running == poolWorkers && s.QueuedNormal == poolNormalQueue
	})
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			wg.Wait()
		})
	}
	tb.Cleanup(release)
	return release
}

// waitFor polls cond; it is for goroutines reaching a state, not for time
// passing.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogin_UnknownEmailAndWrongPasswordLookTheSame(t *testing.T) {
	f := newFixture(t)
	alice := f.mustUser(aliceEmail)

	tests := []struct {
		name, email, password string
		wantUserID            int64
		wantDetail            string
	}{
		{"unknown email", "nobody@example.com", testPassword, 0, "reason=unknown_email"},
		{"wrong password", aliceEmail, "not the right password", alice.ID, "reason=wrong_password"},
		{"wrong password, email in other case", "ALICE@Example.com", "not the right password", alice.ID, "reason=wrong_password"},
		{"not an email address", "alice", testPassword, 0, "reason=unknown_email"},
		{"overlong password", aliceEmail, strings.Repeat("x", 5000), alice.ID, "reason=wrong_password"},
	}
	var first *errs.Error
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.login(tt.email, tt.password)
			if res != nil {
				t.Fatalf("login succeeded: %+v", res)
			}
			e := wantErr(t, err, errs.EUNAUTHORIZED)
			if first == nil {
				first = e
			} else if *e != *first {
				t.Errorf("error = %+v, want exactly %+v", *e, *first)
			}
			ev := f.events("login.password")
			if len(ev) == 0 {
				t.Fatal("no login.password audit event")
			}
			last := ev[0]
			if last.Outcome != audit.Failure || last.Detail != tt.wantDetail || last.UserID != tt.wantUserID {
				t.Errorf("audit = %+v, want failure %q for user %d", *last, tt.wantDetail, tt.wantUserID)
			}
			if last.IP != f.client.IP {
				t.Errorf("audit IP = %q, want %q", last.IP, f.client.IP)
			}
		})
	}
	for _, e := range f.events("login.password") {
		if strings.Contains(e.Detail, testPassword) || strings.Contains(e.Detail, "not the right password") {
			t.Errorf("audit detail holds a password: %q", e.Detail)
		}
	}
}

func TestLogin_FirstLoginRequiresEnrollment(t *testing.T) {
	f := newFixture(t)
	f.mustUser(aliceEmail)
	res := f.mustLogin(aliceEmail)
	if res.Status != "mfa_enrollment_required" || !slices.Equal(res.Methods, []string{"totp"}) {
		t.Fatalf("result = %+v, want mfa_enrollment_required with totp only", res)
	}
	if !strings.HasPrefix(res.LoginToken, session.LoginPrefix) {
		t.Fatalf("login token %q lacks prefix %q", res.LoginToken, session.LoginPrefix)
	}
	a := f.mustPending(res.LoginToken)
	if a.Pending.Stage != auth.StageEnroll {
		t.Fatalf("stage = %q, want %q", a.Pending.Stage, auth.StageEnroll)
	}

	t.Run("login token is not a session", func(t *testing.T) {
		for _, tok := range []string{
			res.LoginToken,
			session.SessionPrefix + strings.TrimPrefix(res.LoginToken, session.LoginPrefix),
		} {
			ss, u, err := f.svc.Authenticate(f.ctx, tok)
			wantErr(t, err, errs.EUNAUTHORIZED)
			if ss != nil || u != nil {
				t.Fatalf("Authenticate(%q) returned a session", tok)
			}
		}
	})
	t.Run("second factor refused at enroll stage", func(t *testing.T) {
		for _, method := range []string{"totp", "recovery_code"} {
			_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: method, Code: "123456"}, f.client)
			wantErr(t, err, errs.EFORBIDDEN)
		}
		if n := f.sessionCount(a.User.ID); n != 0 {
			t.Fatalf("%d sessions, want 0", n)
		}
	})
	t.Run("unconfirmed enrollment is not a factor", func(t *testing.T) {
		if _, err := f.svc.BeginTOTPEnrollment(f.ctx, a, false, f.client); err != nil {
			t.Fatal(err)
		}
		if res := f.mustLogin(aliceEmail); res.Status != "mfa_enrollment_required" {
			t.Fatalf("status = %q after an unconfirmed enrollment", res.Status)
		}
	})
}

func TestEnrollment(t *testing.T) {
	f := newFixture(t)
	alice := f.mustUser(aliceEmail)
	a := f.mustPending(f.mustLogin(aliceEmail).LoginToken)

	begin := func(reuse bool) *auth.Enrollment {
		t.Helper()
		e, err := f.svc.BeginTOTPEnrollment(f.ctx, a, reuse, f.client)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1 := begin(true)
	e2 := begin(true)
	if !e1.CreatedNew || e2.CreatedNew || e1.Secret != e2.Secret {
		t.Fatalf("reuse: first %v/%s, second %v/%s; want one new secret, reused", e1.CreatedNew, e1.Secret, e2.CreatedNew, e2.Secret)
	}
	e3 := begin(false)
	if !e3.CreatedNew || e3.Secret == e1.Secret {
		t.Fatalf("reuse=false returned the old secret")
	}
	if e4 := begin(true); e4.Secret != e3.Secret {
		t.Fatalf("reuse after a new secret returned %s, want the newest %s", e4.Secret, e3.Secret)
	}
	if e3.Account != aliceEmail || !strings.HasPrefix(e3.URI, "otpauth://totp/") || len(e3.QRPNG) == 0 {
		t.Fatalf("enrollment = account %q, uri %q, %d PNG bytes", e3.Account, e3.URI, len(e3.QRPNG))
	}
	secret := mustDecodeSecret(t, e3.Secret)

	t.Run("secret is sealed at rest", func(t *testing.T) {
		rows, err := f.store.DB().QueryContext(f.ctx, `SELECT secret_enc FROM mfa_factors WHERE user_id = ?`, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var enc []byte
			if err := rows.Scan(&enc); err != nil {
				t.Fatal(err)
			}
			n++
			if bytes.Contains(enc, secret) || bytes.Contains(enc, []byte(e3.Secret)) {
				t.Errorf("secret_enc holds the secret in clear")
			}
			if len(enc) <= len(secret) {
				t.Errorf("secret_enc is %d bytes, too short to be sealed", len(enc))
			}
		}
		if n != 1 {
			t.Errorf("%d totp rows, want only the newest unconfirmed one", n)
		}
	})

	t.Run("wrong code", func(t *testing.T) {
		_, err := f.svc.ConfirmTOTPEnrollment(f.ctx, a, f.wrongCode(secret), 0, f.client)
		e := wantErr(t, err, errs.EUNAUTHORIZED)
		if e.Message != "The code is incorrect." {
			t.Errorf("message = %q", e.Message)
		}
		// A code for the superseded secret is wrong too.
		_, err = f.svc.ConfirmTOTPEnrollment(f.ctx, a, f.code(mustDecodeSecret(t, e1.Secret), f.now()), 0, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})

	t.Run("right code", func(t *testing.T) {
		conf, err := f.svc.ConfirmTOTPEnrollment(f.ctx, a, f.code(secret, f.now()), 0, f.client)
		if err != nil {
			t.Fatal(err)
		}
		if len(conf.RecoveryCodes) != mfa.RecoveryCodeCount {
			t.Fatalf("%d recovery codes, want %d", len(conf.RecoveryCodes), mfa.RecoveryCodeCount)
		}
		if conf.Issued == nil || !strings.HasPrefix(conf.Issued.Token, session.SessionPrefix) {
			t.Fatalf("no session issued: %+v", conf.Issued)
		}
		ss, u, err := f.svc.Authenticate(f.ctx, conf.Issued.Token)
		if err != nil || u.ID != alice.ID || ss.ID != conf.Issued.Session.ID {
			t.Fatalf("Authenticate = %v, %v, %v", ss, u, err)
		}
		if n, _ := f.svc.RecoveryCodesLeft(f.ctx, alice.ID); n != mfa.RecoveryCodeCount {
			t.Fatalf("%d recovery codes stored, want %d", n, mfa.RecoveryCodeCount)
		}
	})

	t.Run("next login asks for the factor", func(t *testing.T) {
		f.advance(time.Minute)
		res := f.mustLogin(aliceEmail)
		if res.Status != "mfa_required" || !slices.Equal(res.Methods, []string{"totp", "recovery_code"}) {
			t.Fatalf("result = %+v", res)
		}
		if _, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(secret, f.now())}, f.client); err != nil {
			t.Fatal(err)
		}
	})
}

// A pending login made at the enroll stage must not add a factor once the
// account has one: otherwise anyone who knew the password and started a
// sign-in before the owner enrolled could attach their own authenticator
// afterwards and skip the owner's second factor.
func TestEnrollment_StalePendingLoginCannotAddFactor(t *testing.T) {
	f := newFixture(t)
	f.mustUser(aliceEmail)
	stale := f.mustPending(f.mustLogin(aliceEmail).LoginToken)

	// The owner enrolls through a login of their own.
	res := f.mustLogin(aliceEmail)
	owner := f.mustPending(res.LoginToken)
	enr, err := f.svc.BeginTOTPEnrollment(f.ctx, owner, false, f.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmTOTPEnrollment(f.ctx, owner, f.code(mustDecodeSecret(t, enr.Secret), f.now()), 0, f.client); err != nil {
		t.Fatal(err)
	}

	f.advance(time.Minute)
	_, err = f.svc.BeginTOTPEnrollment(f.ctx, stale, false, f.client)
	wantErr(t, err, errs.EFORBIDDEN)
	_, err = f.svc.ConfirmTOTPEnrollment(f.ctx, stale, "123456", 0, f.client)
	wantErr(t, err, errs.EFORBIDDEN)
	if n := f.sessionCount(stale.User.ID); n != 1 {
		t.Fatalf("%d sessions, want only the owner's", n)
	}
}

func TestEnrollment_SealedSecretIsBoundToItsRow(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	bob := f.mustEnroll(bobEmail)

	// Someone with write access to the database copies Alice's sealed
	// secret onto Bob's factor, hoping to make Alice's codes open Bob's
	// account.
	if _, err := f.store.DB().ExecContext(f.ctx, `UPDATE mfa_factors SET secret_enc = (SELECT secret_enc FROM mfa_factors WHERE id = ?) WHERE id = ?`,
		alice.factorID, bob.factorID); err != nil {
		t.Fatal(err)
	}
	before := f.sessionCount(bob.user.ID)
	f.advance(time.Minute)
	for _, tt := range []struct {
		name   string
		secret []byte
	}{
		{"alice's code", alice.secret},
		{"bob's code", bob.secret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := f.mustLogin(bobEmail)
			iss, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(tt.secret, f.now())}, f.client)
			if iss != nil {
				t.Fatal("a session was issued")
			}
			wantErr(t, err, errs.EINTERNAL)
			if msg := errs.Message(err); strings.Contains(msg, "decrypt") || strings.Contains(msg, "factor") {
				t.Errorf("user-facing message leaks detail: %q", msg)
			}
		})
	}
	if n := f.sessionCount(bob.user.ID); n != before {
		t.Fatalf("sessions %d -> %d", before, n)
	}
	// Alice's own factor still works.
	f.mustSignIn(alice)
}

func TestTOTPWindow(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	f.advance(time.Hour) // well past the step used at enrollment
	now := f.now()
	near := f.stepCodes(alice.secret, mfa.ClockSkewDiagnosticSteps+2)

	tests := []struct {
		name     string
		at       time.Duration // code of now+at
		wantOK   bool
		wantMsgs []string // substrings of the refusal
	}{
		// Refusals first: an accepted step makes every earlier step a replay.
		{"5 minutes behind", -5 * time.Minute, false, []string{"clock", "behind"}},
		{"60 s ahead", 60 * time.Second, false, []string{"clock", "ahead"}},
		{"6 minutes ahead", 6 * time.Minute, false, []string{"The code is incorrect."}},
		{"30 s behind", -30 * time.Second, true, nil},
		{"now", 0, true, nil},
		{"30 s ahead", 30 * time.Second, true, nil},
		{"replay of 30 s ahead", 30 * time.Second, false, []string{"already been used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := f.code(alice.secret, now.Add(tt.at))
			if n := countOf(near, code); n > 1 {
				t.Skipf("code %s occurs at %d nearby steps (chance collision)", code, n)
			}
			res := f.mustLogin(aliceEmail)
			iss, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: code}, f.client)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if iss == nil || iss.Session.UserID != alice.user.ID {
					t.Fatalf("issued %+v", iss)
				}
				return
			}
			if iss != nil {
				t.Fatal("accepted")
			}
			e := wantErr(t, err, errs.EUNAUTHORIZED)
			for _, m := range tt.wantMsgs {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q does not mention %q", e.Message, m)
				}
			}
		})
	}
	var reasons []string
	for _, e := range f.events("login.mfa.totp") {
		if e.Outcome == audit.Failure {
			reasons = append(reasons, strings.Fields(e.Detail)[0])
		}
		if strings.Contains(e.Detail, f.code(alice.secret, now)) {
			t.Errorf("audit detail holds a code: %q", e.Detail)
		}
	}
	slices.Reverse(reasons)
	want := []string{"reason=clock_skew", "reason=clock_skew", "reason=wrong_code", "reason=replayed"}
	if !slices.Equal(reasons, want) {
		t.Errorf("audited failures %q, want %q", reasons, want)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// lockedFor checks that err is the lockout refusal and that RetryAfter is d
// (give or take the rounding to whole seconds).
func lockedFor(tb testing.TB, err error, d time.Duration) {
	tb.Helper()
	e := wantErr(tb, err, errs.ERATELIMIT)
	if !strings.Contains(e.Message, "locked") {
		tb.Fatalf("message %q is not the lockout message", e.Message)
	}
	secs := int(d / time.Second)
	if e.RetryAfter < secs-2 || e.RetryAfter > secs+2 {
		tb.Fatalf("RetryAfter = %d, want about %d", e.RetryAfter, secs)
	}
}

func TestLockout(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	fail := func(n int) {
		t.Helper()
		for i := range n {
			_, err := f.login(aliceEmail, "not the right password")
			if errs.Code(err) != errs.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
	}
	okLogin := func() {
		t.Helper()
		if _, err := f.login(aliceEmail, testPassword); err != nil {
			t.Fatalf("right password refused: %v", err)
		}
	}

	// 9 failures, then a complete sign-in clears the count: 9 more do not lock.
	f.advance(time.Minute)
	fail(9)
	f.mustSignIn(alice)
	f.advance(time.Minute)
	fail(9)
	okLogin() // a right password alone does not clear the count...
	f.advance(time.Minute)
	fail(1) // ...so this is the 10th consecutive failure
	_, err := f.login(aliceEmail, testPassword)
	lockedFor(t, err, 30*time.Minute)
	if ev := f.events("account.lockout"); len(ev) != 1 || ev[0].UserID != alice.user.ID {
		t.Fatalf("lockout audit events = %d, want 1 for alice", len(ev))
	}

	// The lock holds for 30 minutes, then lifts.
	f.advance(29 * time.Minute)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, time.Minute)
	f.advance(2 * time.Minute)
	okLogin()

	// The second lockout lasts twice as long.
	fail(10)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, time.Hour)
	f.advance(59 * time.Minute)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, time.Minute)
	f.advance(2 * time.Minute)
	okLogin()

	// A third would last two hours, but an administrator lifts it, and with
	// it the back-off.
	fail(10)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, 2*time.Hour)
	if err := f.svc.UnlockAccount(f.ctx, " Alice@Example.com ", auth.Client{IP: "local"}); err != nil {
		t.Fatal(err)
	}
	okLogin()
	if ev := f.events("account.unlock"); len(ev) != 1 || ev[0].UserID != alice.user.ID {
		t.Fatalf("unlock audit events = %v", ev)
	}
	f.advance(time.Minute)
	fail(10)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, 30*time.Minute)
	wantErr(t, f.svc.UnlockAccount(f.ctx, "not an email", f.client), errs.EINVALID)
}

// An unknown email locks exactly like a known one, so a lockout says nothing
// about which accounts exist.
func TestLockout_UnknownEmailLooksTheSame(t *testing.T) {
	f := newFixture(t)
	f.mustUser(aliceEmail)
	var got []*errs.Error
	for _, email := range []string{aliceEmail, "nobody@example.com"} {
		for range 10 {
			f.login(email, "not the right password")
		}
		_, err := f.login(email, testPassword)
		got = append(got, wantErr(t, err, errs.ERATELIMIT))
	}
	if *got[0] != *got[1] {
		t.Fatalf("known %+v, unknown %+v", *got[0], *got[1])
	}
}

// Second-factor failures count towards the same lockout as passwords, and a
// right password in between does not forgive them: otherwise knowing the
// password would buy unlimited guesses at the code.
func TestLockout_SecondFactorFailuresCount(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	f.advance(time.Minute)
	wrong := f.wrongCode(alice.secret)
	failCodes := func(token string, n int) {
		t.Helper()
		for i := range n {
			_, err := f.svc.VerifySecondFactor(f.ctx, token, auth.Proof{Method: "totp", Code: wrong}, f.client)
			if errs.Code(err) != errs.EUNAUTHORIZED {
				t.Fatalf("code failure %d: %v", i+1, err)
			}
		}
	}

	for range 3 {
		f.login(aliceEmail, "not the right password")
	}
	failCodes(f.mustLogin(aliceEmail).LoginToken, 3)
	failCodes(f.mustLogin(aliceEmail).LoginToken, 3) // 9 failures so far
	res := f.mustLogin(aliceEmail)                   // still open: 9 < 10
	failCodes(res.LoginToken, 1)                     // the 10th locks

	_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client)
	lockedFor(t, err, 30*time.Minute)
	_, err = f.login(aliceEmail, testPassword)
	lockedFor(t, err, 30*time.Minute)
	// A recovery code does not get round the lock either.
	_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "recovery_code", Code: alice.codes[0]}, f.client)
	lockedFor(t, err, 30*time.Minute)
	if n, _ := f.svc.RecoveryCodesLeft(f.ctx, alice.user.ID); n != mfa.RecoveryCodeCount {
		t.Fatalf("a recovery code was spent while locked: %d left", n)
	}
}

func TestLogin_ClientRateLimit(t *testing.T) {
	f := newFixture(t)
	f.client.IP = "198.51.100.7"
	for i := range 30 {
		_, err := f.login(fmt.Sprintf("user%d@example.com", i), testPassword)
		if errs.Code(err) != errs.EUNAUTHORIZED {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}

	// With every hashing slot and queue place taken, an attempt that got
	// as far as hashing is refused as busy and counted by the pool...
	release := saturate(t, f.pool)
	other := f.client
	other.IP = "198.51.100.8"
	_, err := f.svc.Login(f.ctx, "control@example.com", testPassword, other)
	wantErr(t, err, errs.EUNAVAILABLE)
	rejected := f.pool.Stats().Rejected
	if rejected != 1 {
		t.Fatalf("pool rejected %d, want 1 (the control attempt)", rejected)
	}

	// ...so the 31st attempt from the same client, refused without touching
	// the pool, was refused before any hashing.
	_, err = f.login("user30@example.com", testPassword)
	e := wantErr(t, err, errs.ERATELIMIT)
	if e.RetryAfter < 1 || e.RetryAfter > 60 {
		t.Errorf("RetryAfter = %d", e.RetryAfter)
	}
	if got := f.pool.Stats().Rejected; got != rejected {
		t.Fatalf("pool rejected %d, want %d: the limited attempt reached the pool", got, rejected)
	}
	// Such refusals are summed per client and written when flushed.
	f.svc.FlushRefusals(f.ctx)
	summaries := map[string]string{}
	for _, e := range f.events("login.password") {
		if e.Subject == "(summary)" {
			summaries[e.IP] = e.Detail
		}
	}
	if summaries[f.client.IP] != "reason=client_rate_limited count=1" || summaries[other.IP] != "reason=hash_pool_busy count=1" {
		t.Fatalf("summaries = %v", summaries)
	}
	release()

	// Still limited for the rest of the minute, allowed in the next.
	f.advance(59 * time.Second)
	_, err = f.login("user31@example.com", testPassword)
	wantErr(t, err, errs.ERATELIMIT)
	f.advance(time.Second)
	_, err = f.login("user31@example.com", testPassword)
	wantErr(t, err, errs.EUNAUTHORIZED)
}

func TestLogin_AccountRateLimit(t *testing.T) {
	f := newFixture(t)
	f.mustUser(aliceEmail)
	for i := range 20 {
		c := f.client
		c.IP = fmt.Sprintf("203.0.113.%d", i)
		_, err := f.svc.Login(f.ctx, aliceEmail, "not the right password", c)
		// After 10 failures the account is locked; either way it is refused.
		if code := errs.Code(err); code != errs.EUNAUTHORIZED && code != errs.ERATELIMIT {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	c := f.client
	c.IP = "203.0.113.200"
	_, err := f.svc.Login(f.ctx, aliceEmail, testPassword, c)
	e := wantErr(t, err, errs.ERATELIMIT)
	if strings.Contains(e.Message, "locked") {
		t.Fatalf("got the lockout, want the rate limit: %q", e.Message)
	}
	if ev := f.events("login.password"); ev[0].Detail != "reason=account_rate_limited" {
		t.Fatalf("last audit = %+v", *ev[0])
	}
}

func TestSessions(t *testing.T) {
	check := func(f *fixture, token string) error {
		_, _, err := f.svc.Authenticate(f.ctx, token)
		return err
	}

	t.Run("idle timeout", func(t *testing.T) {
		f := newFixture(t)
		iss := f.mustSignIn(f.mustEnroll(aliceEmail))
		f.advance(15*time.Minute - time.Second)
		if err := check(f, iss.Token); err != nil {
			t.Fatalf("refused just before the idle timeout: %v", err)
		}
		f.advance(15 * time.Minute)
		e := wantErr(t, check(f, iss.Token), errs.EUNAUTHORIZED)
		if e.Message != "Your session has ended. Sign in again." {
			t.Errorf("message = %q", e.Message)
		}
		// Refused once, gone for good: going back in time does not revive it.
		f.advance(-15 * time.Minute)
		wantErr(t, check(f, iss.Token), errs.EUNAUTHORIZED)
	})

	t.Run("activity keeps it alive", func(t *testing.T) {
		f := newFixture(t)
		iss := f.mustSignIn(f.mustEnroll(aliceEmail))
		for range 3 {
			f.advance(14 * time.Minute)
			if err := check(f, iss.Token); err != nil {
				t.Fatalf("refused after 14 idle minutes: %v", err)
			}
		}
	})

	t.Run("absolute timeout", func(t *testing.T) {
		f := newFixture(t)
		iss := f.mustSignIn(f.mustEnroll(aliceEmail))
		start := f.now()
		for f.now().Sub(start) < 12*time.Hour-14*time.Minute {
			f.advance(14 * time.Minute)
			if err := check(f, iss.Token); err != nil {
				t.Fatalf("refused at %s despite activity: %v", f.now().Sub(start), err)
			}
		}
		f.advance(start.Add(12 * time.Hour).Sub(f.now()))
		wantErr(t, check(f, iss.Token), errs.EUNAUTHORIZED)
		if !iss.Session.ExpiresAt.Equal(start.Add(12 * time.Hour)) {
			t.Errorf("ExpiresAt = %s, want %s", iss.Session.ExpiresAt, start.Add(12*time.Hour))
		}
	})

	t.Run("logout", func(t *testing.T) {
		f := newFixture(t)
		alice := f.mustEnroll(aliceEmail)
		iss := f.mustSignIn(alice)
		other := f.mustSignIn(alice)
		if iss.Token == other.Token {
			t.Fatal("two sign-ins got the same token")
		}
		ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Logout(f.ctx, ss, u, f.client); err != nil {
			t.Fatal(err)
		}
		wantErr(t, check(f, iss.Token), errs.EUNAUTHORIZED)
		if err := check(f, other.Token); err != nil {
			t.Fatalf("logout ended another session: %v", err)
		}
	})

	t.Run("logout everywhere", func(t *testing.T) {
		f := newFixture(t)
		alice := f.mustEnroll(aliceEmail)
		bob := f.mustEnroll(bobEmail)
		tokens := []string{alice.issued.Token, f.mustSignIn(alice).Token, f.mustSignIn(alice).Token}
		bobs := f.mustSignIn(bob)
		n, err := f.svc.LogoutEverywhere(f.ctx, alice.user, f.client)
		if err != nil || n != 3 {
			t.Fatalf("LogoutEverywhere = %d, %v; want 3", n, err)
		}
		for _, tok := range tokens {
			wantErr(t, check(f, tok), errs.EUNAUTHORIZED)
		}
		if err := check(f, bobs.Token); err != nil {
			t.Fatalf("another user's session ended: %v", err)
		}
	})

	t.Run("pending login expires after 10 minutes", func(t *testing.T) {
		f := newFixture(t)
		alice := f.mustEnroll(aliceEmail)
		f.advance(time.Minute)
		res := f.mustLogin(aliceEmail)
		f.advance(10*time.Minute - time.Second)
		if _, _, err := f.svc.Pending(f.ctx, res.LoginToken); err != nil {
			t.Fatalf("refused before 10 minutes: %v", err)
		}
		f.advance(time.Second)
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client)
		e := wantErr(t, err, errs.EUNAUTHORIZED)
		if !strings.Contains(e.Message, "expired") {
			t.Errorf("message = %q", e.Message)
		}
	})

	t.Run("a pending login yields one session", func(t *testing.T) {
		f := newFixture(t)
		alice := f.mustEnroll(aliceEmail)
		f.advance(time.Minute)
		res := f.mustLogin(aliceEmail)
		if _, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client); err != nil {
			t.Fatal(err)
		}
		before := f.sessionCount(alice.user.ID)
		f.advance(mfa.TOTPPeriod * time.Second)
		_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "recovery_code", Code: alice.codes[0]}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		if n := f.sessionCount(alice.user.ID); n != before {
			t.Fatalf("sessions %d -> %d", before, n)
		}
		if n, _ := f.svc.RecoveryCodesLeft(f.ctx, alice.user.ID); n != mfa.RecoveryCodeCount {
			t.Fatalf("a recovery code was spent on a used login: %d left", n)
		}
	})

	t.Run("concurrent second factors on one pending login", func(t *testing.T) {
		f := newFixture(t)
		alice := f.mustEnroll(aliceEmail)
		f.advance(time.Minute)
		res := f.mustLogin(aliceEmail)
		var wg sync.WaitGroup
		issued := make(chan *auth.Issued, len(alice.codes))
		for _, code := range alice.codes {
			wg.Go(func() {
				if iss, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "recovery_code", Code: code}, f.client); err == nil {
					issued <- iss
				}
			})
		}
		wg.Wait()
		close(issued)
		if n := len(issued); n != 1 {
			t.Fatalf("%d sessions from one pending login, want 1", n)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	useCode := func(code string) (*auth.Issued, error) {
		t.Helper()
		f.advance(time.Minute)
		res := f.mustLogin(aliceEmail)
		return f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: "recovery_code", Code: code}, f.client)
	}

	t.Run("single use", func(t *testing.T) {
		if _, err := useCode(alice.codes[0]); err != nil {
			t.Fatal(err)
		}
		_, err := useCode(alice.codes[0])
		e := wantErr(t, err, errs.EUNAUTHORIZED)
		if !strings.Contains(e.Message, "already been used") {
			t.Errorf("message = %q", e.Message)
		}
		if n, _ := f.svc.RecoveryCodesLeft(f.ctx, alice.user.ID); n != mfa.RecoveryCodeCount-1 {
			t.Fatalf("%d left, want %d", n, mfa.RecoveryCodeCount-1)
		}
	})

	t.Run("typed as people type", func(t *testing.T) {
		typed := strings.ToUpper(strings.ReplaceAll(alice.codes[1], "-", " "))
		if _, err := useCode("  " + typed + " "); err != nil {
			t.Fatalf("%q refused: %v", typed, err)
		}
	})

	t.Run("not a recovery code", func(t *testing.T) {
		_, err := useCode("hello")
		e := wantErr(t, err, errs.EUNAUTHORIZED)
		if !strings.Contains(e.Message, "not a recovery code") {
			t.Errorf("message = %q", e.Message)
		}
	})

	t.Run("another user's code", func(t *testing.T) {
		bob := f.mustEnroll(bobEmail)
		_, err := useCode(bob.codes[0])
		wantErr(t, err, errs.EUNAUTHORIZED)
	})

	t.Run("regenerate", func(t *testing.T) {
		iss := f.mustSignIn(alice)
		ss, u, err := f.svc.Authenticate(f.ctx, iss.Token)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.RegenerateRecoveryCodes(f.ctx, ss, u, auth.Proof{Method: "totp", Code: f.wrongCode(alice.secret)}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		// The code that just signed in is spent.
		_, err = f.svc.RegenerateRecoveryCodes(f.ctx, ss, u, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client)
		e := wantErr(t, err, errs.EUNAUTHORIZED)
		if !strings.Contains(e.Message, "already been used") {
			t.Errorf("message = %q", e.Message)
		}
		// A recovery code is not a TOTP code.
		_, err = f.svc.RegenerateRecoveryCodes(f.ctx, ss, u, auth.Proof{Method: "totp", Code: alice.codes[2]}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)

		f.advance(mfa.TOTPPeriod * time.Second)
		fresh, err := f.svc.RegenerateRecoveryCodes(f.ctx, ss, u, auth.Proof{Method: "totp", Code: f.code(alice.secret, f.now())}, f.client)
		if err != nil {
			t.Fatal(err)
		}
		if len(fresh) != mfa.RecoveryCodeCount {
			t.Fatalf("%d new codes", len(fresh))
		}
		for _, old := range alice.codes {
			if slices.Contains(fresh, old) {
				t.Fatalf("old code %s reissued", old)
			}
		}
		_, err = useCode(alice.codes[2])
		wantErr(t, err, errs.EUNAUTHORIZED)
		if _, err := useCode(fresh[0]); err != nil {
			t.Fatalf("new code refused: %v", err)
		}
		if n, _ := f.svc.RecoveryCodesLeft(f.ctx, alice.user.ID); n != mfa.RecoveryCodeCount-1 {
			t.Fatalf("%d left, want %d", n, mfa.RecoveryCodeCount-1)
		}
	})
}

// Device cookies are observed through the hashing pool: a trusted device's
// attempt waits in the priority lane, anything else lands in the normal lane,
// which saturate leaves full, and is refused as busy at once.
func TestDeviceCookie(t *testing.T) {
	f := newFixture(t)
	alice := f.mustEnroll(aliceEmail)
	bob := f.mustEnroll(bobEmail)
	cookie, err := f.svc.DeviceCookieFor(f.ctx, alice.user.ID)
	if err != nil || cookie == "" {
		t.Fatalf("DeviceCookieFor = %q, %v", cookie, err)
	}
	bobCookie, err := f.svc.DeviceCookieFor(f.ctx, bob.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeviceCookieFor(f.ctx, 9999); errs.Code(err) != errs.ENOTFOUND {
		t.Fatalf("cookie for a missing user: %v", err)
	}
	tamper := func(i int) string {
		raw, err := base64.RawURLEncoding.DecodeString(cookie)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(raw)
	}

	loginWith := func(cookie string) (*auth.LoginResult, error) {
		c := f.client
		c.DeviceCookie = cookie
		return f.svc.Login(f.ctx, aliceEmail, testPassword, c)
	}

	t.Run("trusted", func(t *testing.T) {
		release := saturate(t, f.pool)
		type result struct {
			res *auth.LoginResult
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := loginWith(cookie)
			done <- result{res, err}
		}()
		waitFor(t, "login to queue in the priority lane", func() bool { return f.pool.Stats().QueuedPriority == 1 })
		release()
		select {
		case r := <-done:
			if r.err != nil || r.res.Status != "mfa_required" {
				t.Fatalf("login = %+v, %v", r.res, r.err)
			}
		case <-time.After(guard):
			t.Fatal("login did not finish")
		}
	})

	untrusted := []struct{ name, cookie string }{
		{"none", ""},
		{"tampered timestamp", tamper(0)},
		{"tampered random part", tamper(10)},
		{"tampered MAC", tamper(30)},
		{"another user's", bobCookie},
		{"garbage", "not-a-cookie"},
		{"overlong", strings.Repeat("A", 300)},
	}
	for _, tt := range untrusted {
		t.Run(tt.name, func(t *testing.T) {
			release := saturate(t, f.pool)
			defer release()
			_, err := loginWith(tt.cookie)
			wantErr(t, err, errs.EUNAVAILABLE)
		})
	}

	t.Run("expired", func(t *testing.T) {
		f.advance(f.svc.Config().DeviceCookieTTL)
		release := saturate(t, f.pool)
		defer release()
		_, err := loginWith(cookie)
		wantErr(t, err, errs.EUNAVAILABLE)
	})
}

func TestCreateUser(t *testing.T) {
	f := newFixture(t)

	invalid := []struct {
		name, email, userName, password string
		wantMsgs                        []string
	}{
		{"short password", aliceEmail, "Alice Example", "password", []string{"at least 12 characters"}},
		{"common password", aliceEmail, "Alice Example", "password1234", []string{"commonly used or breached"}},
		{"password holds the name", aliceEmail, "Alice Example", "alice in wonderland 77", []string{"must not contain your email address or name"}},
		{"overlong password", aliceEmail, "Alice Example", strings.Repeat("ab", 65), []string{"at most 128 characters"}},
		{"bad email", "alice at example", "Alice Example", testPassword, []string{"valid email address"}},
		{"display-name email", "Alice <alice@example.com>", "Alice Example", testPassword, []string{"valid email address"}},
		{"no name", aliceEmail, "   ", testPassword, []string{"name of 1 to 200"}},
		{"every problem at once", "nope", "", "short", []string{"valid email address", "name of 1 to 200", "at least 12 characters"}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.CreateUser(f.ctx, tt.email, tt.userName, tt.password, f.client)
			if u != nil {
				t.Fatalf("created %+v", u)
			}
			e := wantErr(t, err, errs.EINVALID)
			for _, m := range tt.wantMsgs {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q lacks %q", e.Message, m)
				}
			}
		})
	}
	if n, _ := f.store.CountUsers(f.ctx); n != 0 {
		t.Fatalf("%d users after invalid input", n)
	}

	first, err := f.svc.CreateUser(f.ctx, "  Alice@Example.COM ", " Alice Example ", testPassword, f.client)
	if err != nil {
		t.Fatal(err)
	}
	if first.Email != aliceEmail || first.Name != "Alice Example" || !first.IsAdmin || !first.CreatedAt.Equal(t0) {
		t.Fatalf("first user = %+v", first)
	}
	if strings.Contains(first.PasswordHash, testPassword) || !strings.HasPrefix(first.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q", first.PasswordHash)
	}
	second := f.mustUser(bobEmail)
	if second.IsAdmin {
		t.Fatal("second user is an administrator")
	}
	_, err = f.svc.CreateUser(f.ctx, "ALICE@example.com", "Another Alice", testPassword, f.client)
	wantErr(t, err, errs.ECONFLICT)

	stored, err := f.store.FindUserByEmail(f.ctx, aliceEmail)
	if err != nil || stored.ID != first.ID || !stored.IsAdmin {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	ev := f.events("user.create")
	if len(ev) != 2 || ev[1].Detail != "admin=true" || ev[0].Detail != "admin=false" {
		t.Fatalf("user.create events = %d", len(ev))
	}
	if res := f.mustLogin("ALICE@EXAMPLE.COM"); res.UserID != first.ID {
		t.Fatalf("login with upper-case email = user %d", res.UserID)
	}
}

// A flood of wrong passwords that locks an account does not lock out the
// devices the account was really used on: a client with a valid device
// cookie counts its failures separately, and locks after its own ten.
func TestLockout_TrustedDeviceHasItsOwnCounter(t *testing.T) {
	f := newFixture(t)
	f.mustEnroll(aliceEmail)
	cookie, err := f.svc.DeviceCookieFor(f.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	attacker := auth.Client{IP: "198.51.100.66", UserAgent: "attacker"}
	for i := range 10 {
		a := attacker
		a.IP = fmt.Sprintf("198.51.100.%d", 100+i)
		if _, err := f.svc.Login(f.ctx, aliceEmail, "not the right password", a); errs.Code(err) != errs.EUNAUTHORIZED {
			t.Fatalf("attack %d: %v", i+1, err)
		}
	}
	_, err = f.svc.Login(f.ctx, aliceEmail, testPassword, attacker)
	lockedFor(t, err, 30*time.Minute)

	device := f.client
	device.DeviceCookie = cookie
	if _, err := f.svc.Login(f.ctx, aliceEmail, testPassword, device); err != nil {
		t.Fatalf("trusted device refused while the account is locked for others: %v", err)
	}

	// The device's own failures still lock it.
	for i := range 10 {
		if _, err := f.svc.Login(f.ctx, aliceEmail, "not the right password", device); errs.Code(err) != errs.EUNAUTHORIZED {
			t.Fatalf("device failure %d: %v", i+1, err)
		}
		f.advance(4 * time.Second) // stay under the per-account rate limit
	}
	_, err = f.svc.Login(f.ctx, aliceEmail, testPassword, device)
	if errs.Code(err) != errs.ERATELIMIT || !strings.Contains(errs.Message(err), "locked") {
		t.Fatalf("device after its own 10 failures: %v", err)
	}

	// An administrator's unlock lifts the account's device locks too.
	if err := f.svc.UnlockAccount(f.ctx, aliceEmail, f.client); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	if _, err := f.svc.Login(f.ctx, aliceEmail, testPassword, device); err != nil {
		t.Fatalf("device after unlock: %v", err)
	}
	if _, err := f.svc.Login(f.ctx, aliceEmail, testPassword, attacker); err != nil {
		t.Fatalf("account after unlock: %v", err)
	}
}
