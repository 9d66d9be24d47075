package sqlstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/session"
	"coffer/internal/store/postgres"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testpg"
)

// t0 is on a minute boundary so fixed windows line up with the offsets used.
var t0 = time.Date(2030, time.March, 4, 9, 0, 0, 0, time.UTC)

// eachEngine runs a contract test on SQLite and on PostgreSQL: the
// subtest's name says which engine mustOpen opens.
func eachEngine(t *testing.T, fn func(t *testing.T)) {
	t.Run("sqlite", fn)
	t.Run("postgres", fn)
}

func onPostgres(tb testing.TB) bool { return strings.Contains(tb.Name(), "/postgres") }

// pgDatabases maps the path a test opens to its PostgreSQL database, so a
// test that reopens "the same file" reopens the same database.
var pgDatabases sync.Map

func mustOpen(tb testing.TB, path string) *sqlstore.Store {
	tb.Helper()
	var s *sqlstore.Store
	var err error
	if onPostgres(tb) {
		dsn, ok := pgDatabases.Load(path)
		if !ok {
			dsn, _ = pgDatabases.LoadOrStore(path, testpg.DSN(tb))
		}
		s, err = postgres.Open(tb.Context(), dsn.(string))
	} else {
		s, err = sqlite.Open(tb.Context(), path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustStore(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), "coffer.db"))
}

func mustUser(tb testing.TB, s *sqlstore.Store, email string) *auth.User {
	tb.Helper()
	u := &auth.User{Email: email, Name: email, PasswordHash: "x", CreatedAt: t0}
	if err := s.CreateUser(tb.Context(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

// mustFactor stores a confirmed TOTP factor whose last used step is step.
func mustFactor(tb testing.TB, s *sqlstore.Store, userID, step int64) *auth.Factor {
	tb.Helper()
	ctx := tb.Context()
	f := &auth.Factor{UserID: userID, Kind: auth.KindTOTP, Name: "App", Counter: -1, CreatedAt: t0}
	if err := s.SaveFactor(ctx, f, true, func(id int64) ([]byte, error) { return fmt.Appendf(nil, "sealed %d", id), nil }); err != nil {
		tb.Fatal(err)
	}
	if err := s.ConfirmFactor(ctx, userID, f.ID, step, nil, false, 0); err != nil {
		tb.Fatal(err)
	}
	return f
}

func mustSession(tb testing.TB, s *sqlstore.Store, userID, pendingID int64, token string, created, lastSeen, expires time.Time) *session.Session {
	tb.Helper()
	ss := newSession(userID, token, created, lastSeen, expires)
	if err := s.CreateSession(tb.Context(), pendingID, ss); err != nil {
		tb.Fatal(err)
	}
	return ss
}

func newSession(userID int64, token string, created, lastSeen, expires time.Time) *session.Session {
	return &session.Session{UserID: userID, TokenHash: session.HashToken(token), CreatedAt: created, LastSeenAt: lastSeen,
		ExpiresAt: expires, MFAAt: created, IP: "192.0.2.1", UserAgent: "test"}
}

func mustPending(tb testing.TB, s *sqlstore.Store, userID int64, token string, expires time.Time) *auth.Pending {
	tb.Helper()
	p := &auth.Pending{UserID: userID, TokenHash: session.HashToken(token), Stage: auth.StageMFA, CreatedAt: t0, ExpiresAt: expires, IP: "192.0.2.1", UserAgent: "test"}
	if err := s.CreatePending(tb.Context(), p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := errs.Code(err); got != code {
		tb.Fatalf("error = %v (code %q), want %q", err, got, code)
	}
}

// count runs a COUNT(*) query.
func count(tb testing.TB, s *sqlstore.Store, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.DB().QueryRowContext(tb.Context(), query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// race runs fn on n goroutines released at once and returns how many
// reported true.
func race(tb testing.TB, n int, fn func() (bool, error)) int {
	tb.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			ok, err := fn()
			if err != nil {
				tb.Errorf("racer: %v", err)
				return
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func TestOpen_MigrationsAreIdempotent(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "coffer.db")
		s := mustOpen(t, path)
		u := mustUser(t, s, "alice@example.com")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob("migrations/" + s.Dialect().String() + "/*.up.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("list migrations: %v %v", files, err)
		}
		// Migrations may skip numbers (one is reserved per area of work): the
		// version is the highest, and each file is applied once.
		want := 0
		for _, f := range files {
			v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
			if err != nil {
				t.Fatalf("migration %s: %v", f, err)
			}
			want = max(want, v)
		}
		for i := range 2 {
			s := mustOpen(t, path)
			v, err := s.SchemaVersion(t.Context())
			if err != nil || v != want {
				t.Fatalf("open %d: schema version %d, %v; want %d", i+2, v, err, want)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM schema_migrations`); n != len(files) {
				t.Fatalf("open %d: %d migration rows, want %d", i+2, n, len(files))
			}
			got, err := s.FindUserByEmail(t.Context(), "alice@example.com")
			if err != nil || got.ID != u.ID {
				t.Fatalf("open %d: user = %+v, %v", i+2, got, err)
			}
			s.Close()
		}
	})
}

// The pragmas are set per connection by the DSN; every pooled connection
// must have them, not just the first.
func TestOpen_Pragmas(t *testing.T) {
	s := mustStore(t)
	ctx := t.Context()
	const n = 4
	held := make([]func() error, 0, n)
	defer func() {
		for _, c := range held {
			c()
		}
	}()
	for i := range n {
		c, err := s.DB().SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c.Close)
		var mode string
		var synchronous, fk, busy int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || synchronous != 2 || fk != 1 || busy != 10000 {
			t.Errorf("connection %d: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal, 2 (FULL), 1, 10000",
				i, mode, synchronous, fk, busy)
		}
	}
}

func TestUsers(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		t.Run("duplicate email", func(t *testing.T) {
			err := s.CreateUser(ctx, &auth.User{Email: "alice@example.com", Name: "A", PasswordHash: "x", CreatedAt: t0})
			wantCode(t, err, errs.ECONFLICT)
		})
		t.Run("not found", func(t *testing.T) {
			_, err := s.FindUserByEmail(ctx, "nobody@example.com")
			wantCode(t, err, errs.ENOTFOUND)
			_, err = s.FindUserByID(ctx, u.ID+100)
			wantCode(t, err, errs.ENOTFOUND)
		})
		t.Run("deleting a user deletes their rows", func(t *testing.T) {
			b := mustUser(t, s, "bob@example.com")
			mustFactor(t, s, b.ID, 1)
			mustSession(t, s, b.ID, 0, "cfs_bob", t0, t0, t0.Add(time.Hour))
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM users WHERE id = ?`, b.ID); err != nil {
				t.Fatal(err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`, b.ID) + count(t, s, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ?`, b.ID); n != 0 {
				t.Fatalf("%d rows left: foreign keys are off", n)
			}
		})
	})
}

func TestHitRateLimit(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		hit := func(key string, window time.Duration, at time.Time) int {
			t.Helper()
			n, err := s.HitRateLimit(ctx, key, window, at)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		steps := []struct {
			name   string
			key    string
			window time.Duration
			at     time.Duration // after t0
			want   int
		}{
			{"first", "a", time.Minute, 0, 1},
			{"second", "a", time.Minute, time.Second, 2},
			{"end of window", "a", time.Minute, 59 * time.Second, 3},
			{"other key", "b", time.Minute, 59 * time.Second, 1},
			{"next window", "a", time.Minute, time.Minute, 1},
			{"same window again", "a", time.Minute, 90 * time.Second, 2},
			{"window skipped", "a", time.Minute, 5 * time.Minute, 1},
			{"short window", "c", 10 * time.Second, 5 * time.Second, 1},
			{"short window, same", "c", 10 * time.Second, 9 * time.Second, 2},
			{"short window, next", "c", 10 * time.Second, 10 * time.Second, 1},
			{"sub-second window counts per second", "d", time.Millisecond, 0, 1},
			{"sub-second window, same second", "d", time.Millisecond, 0, 2},
		}
		for _, tt := range steps {
			if got := hit(tt.key, tt.window, t0.Add(tt.at)); got != tt.want {
				t.Fatalf("%s: count %d, want %d", tt.name, got, tt.want)
			}
		}

		t.Run("concurrent hits all count", func(t *testing.T) {
			const n = 20
			var wg sync.WaitGroup
			seen := make([]bool, n+1)
			var mu sync.Mutex
			for range n {
				wg.Go(func() {
					c, err := s.HitRateLimit(ctx, "concurrent", time.Minute, t0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if c < 1 || c > n || seen[c] {
						t.Errorf("count %d returned twice or out of range", c)
						return
					}
					seen[c] = true
				})
			}
			wg.Wait()
		})
	})
}

func TestRecordFailure(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		const (
			maxFailures = 3
			base        = 30 * time.Minute
			maxLock     = 2 * time.Hour
		)
		now := t0
		fail := func(key string) time.Time {
			t.Helper()
			until, err := s.RecordFailure(ctx, key, maxFailures, base, maxLock, now)
			if err != nil {
				t.Fatal(err)
			}
			return until
		}
		lockedUntil := func(key string, at time.Time) time.Time {
			t.Helper()
			until, err := s.LockedUntil(ctx, key, at)
			if err != nil {
				t.Fatal(err)
			}
			return until
		}
		// lockAfter records maxFailures failures and returns the lock.
		lockAfter := func(key string) time.Time {
			t.Helper()
			for i := 1; i < maxFailures; i++ {
				if u := fail(key); !u.IsZero() {
					t.Fatalf("failure %d locked until %s", i, u)
				}
			}
			u := fail(key)
			if u.IsZero() {
				t.Fatalf("failure %d did not lock", maxFailures)
			}
			return u
		}

		if u := lockedUntil("k", now); !u.IsZero() {
			t.Fatalf("unknown key locked until %s", u)
		}
		// Lock, back-off doubling, cap.
		for i, want := range []time.Duration{base, 2 * base, maxLock, maxLock, maxLock} {
			now = now.Add(500 * time.Millisecond) // not on a second: the lock end is truncated
			until := lockAfter("k")
			if wantUntil := now.Add(want).Truncate(time.Second); !until.Equal(wantUntil) {
				t.Fatalf("lockout %d: until %s, want %s", i+1, until, wantUntil)
			}
			if got := lockedUntil("k", now); !got.Equal(until) {
				t.Fatalf("lockout %d: LockedUntil = %s, want %s", i+1, got, until)
			}
			if got := lockedUntil("k", until.Add(-time.Second)); got.IsZero() {
				t.Fatalf("lockout %d: unlocked a second early", i+1)
			}
			if got := lockedUntil("k", until); !got.IsZero() {
				t.Fatalf("lockout %d: still locked at its end", i+1)
			}
			now = until
		}
		if got := lockedUntil("other", now); !got.IsZero() {
			t.Fatal("another key is locked")
		}

		t.Run("clear resets the count but not the back-off", func(t *testing.T) {
			fail("c")
			fail("c")
			if err := s.ClearFailures(ctx, "c", false); err != nil {
				t.Fatal(err)
			}
			if u := lockAfter("c"); !u.Equal(now.Add(base)) {
				t.Fatalf("first lock until %s", u)
			}
			if err := s.ClearFailures(ctx, "c", false); err != nil {
				t.Fatal(err)
			}
			if u := lockedUntil("c", now); u.IsZero() {
				t.Fatal("ClearFailures without unlock lifted the lock")
			}
			if u := lockAfter("c"); !u.Equal(now.Add(2 * base)) {
				t.Fatalf("second lock until %s, want the doubled one", u)
			}
		})

		t.Run("unlock lifts the lock and forgets the back-off", func(t *testing.T) {
			if err := s.ClearFailures(ctx, "k", true); err != nil {
				t.Fatal(err)
			}
			fail("k")
			if err := s.ClearFailures(ctx, "k", true); err != nil {
				t.Fatal(err)
			}
			if u := lockAfter("k"); !u.Equal(now.Add(base)) {
				t.Fatalf("lock after unlock until %s, want base", u)
			}
			if err := s.ClearFailures(ctx, "k", true); err != nil {
				t.Fatal(err)
			}
			if u := lockedUntil("k", now); !u.IsZero() {
				t.Fatalf("still locked until %s after unlock", u)
			}
		})

		t.Run("concurrent failures lock once", func(t *testing.T) {
			var mu sync.Mutex
			var locks int
			var wg sync.WaitGroup
			for range maxFailures {
				wg.Go(func() {
					u, err := s.RecordFailure(ctx, "concurrent", maxFailures, base, maxLock, now)
					if err != nil {
						t.Error(err)
						return
					}
					if !u.IsZero() {
						mu.Lock()
						locks++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if locks != 1 {
				t.Fatalf("%d of %d concurrent failures locked, want exactly 1", locks, maxFailures)
			}
		})
	})
}

func TestAdvanceCounter(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		f := mustFactor(t, s, u.ID, 100)

		if wins := race(t, 20, func() (bool, error) { return s.AdvanceCounter(ctx, f.ID, 101, t0) }); wins != 1 {
			t.Fatalf("%d of 20 concurrent uses of one step succeeded, want exactly 1", wins)
		}
		for _, tt := range []struct {
			step int64
			want bool
		}{
			{101, false}, // replay
			{100, false}, // older
			{-1, false},
			{103, true},
			{102, false}, // older than the last accepted, though never used
		} {
			got, err := s.AdvanceCounter(ctx, f.ID, tt.step, t0)
			if err != nil || got != tt.want {
				t.Fatalf("AdvanceCounter(%d) = %v, %v; want %v", tt.step, got, err, tt.want)
			}
		}
		fs, err := s.FindFactors(ctx, u.ID, auth.KindTOTP, true)
		if err != nil || len(fs) != 1 || fs[0].Counter != 103 {
			t.Fatalf("factors = %v, %v", fs, err)
		}
		if ok, err := s.AdvanceCounter(ctx, f.ID+1000, 1, t0); ok || err != nil {
			t.Fatalf("missing factor: %v, %v", ok, err)
		}
	})
}

func TestTOTPFactors(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")

		if fs, err := s.FindFactors(ctx, u.ID, auth.KindTOTP, false); err != nil || len(fs) != 0 {
			t.Fatalf("unconfirmed before any = %v, %v", fs, err)
		}

		t.Run("seal failure stores nothing", func(t *testing.T) {
			boom := errors.New("boom")
			err := s.SaveFactor(ctx, &auth.Factor{UserID: u.ID, Kind: auth.KindTOTP, Counter: -1, CreatedAt: t0}, true, func(int64) ([]byte, error) { return nil, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("error = %v", err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM mfa_factors`); n != 0 {
				t.Fatalf("%d rows after a failed seal", n)
			}
		})

		t.Run("seal gets the row id", func(t *testing.T) {
			var sealedFor int64
			f := &auth.Factor{UserID: u.ID, Kind: auth.KindTOTP, Counter: -1, CreatedAt: t0}
			if err := s.SaveFactor(ctx, f, true, func(id int64) ([]byte, error) { sealedFor = id; return []byte("sealed"), nil }); err != nil {
				t.Fatal(err)
			}
			if sealedFor != f.ID {
				t.Fatalf("sealed for %d, row %d", sealedFor, f.ID)
			}
			got, err := s.FindFactor(ctx, u.ID, f.ID)
			if err != nil || got.ID != f.ID || got.Counter != -1 || string(got.SecretEnc) != "sealed" || got.Confirmed {
				t.Fatalf("unconfirmed = %+v, %v", got, err)
			}
		})

		t.Run("a new enrollment replaces the unconfirmed one only", func(t *testing.T) {
			confirmed := mustFactor(t, s, u.ID, 5)
			f := &auth.Factor{UserID: u.ID, Kind: auth.KindTOTP, Counter: -1, CreatedAt: t0}
			if err := s.SaveFactor(ctx, f, true, func(int64) ([]byte, error) { return []byte("new"), nil }); err != nil {
				t.Fatal(err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ? AND confirmed = 0`, u.ID); n != 1 {
				t.Fatalf("%d unconfirmed factors", n)
			}
			fs, err := s.FindFactors(ctx, u.ID, auth.KindTOTP, true)
			if err != nil || len(fs) != 1 || fs[0].ID != confirmed.ID {
				t.Fatalf("confirmed = %v, %v", fs, err)
			}
			// Confirming twice, or another user's factor, finds nothing.
			if err := s.ConfirmFactor(ctx, u.ID, confirmed.ID, 9, nil, false, 0); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("confirm twice: %v", err)
			}
			other := mustUser(t, s, "bob@example.com")
			if err := s.ConfirmFactor(ctx, other.ID, f.ID, 9, nil, false, 0); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("confirm another user's factor: %v", err)
			}
			// A pending login's enrollment is refused once a factor exists, and
			// the refusal leaves the unconfirmed factor unconfirmed.
			if err := s.ConfirmFactor(ctx, u.ID, f.ID, 9, nil, true, 0); errs.Code(err) != errs.EFORBIDDEN {
				t.Fatalf("first-only confirm with a factor present: %v", err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM mfa_factors WHERE user_id = ? AND confirmed = 0`, u.ID); n != 1 {
				t.Fatalf("%d unconfirmed factors after a refused confirm", n)
			}
		})
	})
}

func TestRecoveryCodes(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		codes := []*auth.RecoveryCode{{Salt: []byte("s1"), Hash: []byte("h1")}, {Salt: []byte("s2"), Hash: []byte("h2")}}
		if err := s.ReplaceRecoveryCodes(ctx, u.ID, codes); err != nil {
			t.Fatal(err)
		}
		id := codes[0].ID

		if wins := race(t, 20, func() (bool, error) { return s.UseRecoveryCode(ctx, id, t0) }); wins != 1 {
			t.Fatalf("%d of 20 concurrent uses of one code succeeded, want exactly 1", wins)
		}
		if ok, err := s.UseRecoveryCode(ctx, id, t0); ok || err != nil {
			t.Fatalf("reuse = %v, %v", ok, err)
		}
		left, err := s.FindUnusedRecoveryCodes(ctx, u.ID)
		if err != nil || len(left) != 1 || left[0].ID != codes[1].ID {
			t.Fatalf("unused = %v, %v", left, err)
		}
		// Replacing drops every old code, used or not.
		fresh := []*auth.RecoveryCode{{Salt: []byte("s3"), Hash: []byte("h3")}}
		if err := s.ReplaceRecoveryCodes(ctx, u.ID, fresh); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?`, u.ID); n != 1 {
			t.Fatalf("%d codes after replace, want 1", n)
		}
		if ok, _ := s.UseRecoveryCode(ctx, codes[1].ID, t0); ok {
			t.Fatal("a replaced code was usable")
		}
	})
}

func TestCreateSession_ConsumesPendingOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")

		t.Run("sequential", func(t *testing.T) {
			p := mustPending(t, s, u.ID, "cfl_one", t0.Add(10*time.Minute))
			first := mustSession(t, s, u.ID, p.ID, "cfs_first", t0, t0, t0.Add(time.Hour))
			second := newSession(u.ID, "cfs_second", t0, t0, t0.Add(time.Hour))
			wantCode(t, s.CreateSession(ctx, p.ID, second), errs.ENOTFOUND)
			// The failed call stored nothing.
			_, err := s.FindSessionByTokenHash(ctx, session.HashToken("cfs_second"))
			wantCode(t, err, errs.ENOTFOUND)
			got, err := s.FindSessionByTokenHash(ctx, session.HashToken("cfs_first"))
			if err != nil || got.ID != first.ID || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.UserID != u.ID {
				t.Fatalf("first session = %+v, %v", got, err)
			}
			_, err = s.FindPendingByTokenHash(ctx, session.HashToken("cfl_one"))
			wantCode(t, err, errs.ENOTFOUND)
		})

		t.Run("concurrent", func(t *testing.T) {
			p := mustPending(t, s, u.ID, "cfl_two", t0.Add(10*time.Minute))
			var i atomic.Int32
			wins := race(t, 20, func() (bool, error) {
				ss := newSession(u.ID, fmt.Sprintf("cfs_race_%d", i.Add(1)), t0, t0, t0.Add(time.Hour))
				err := s.CreateSession(ctx, p.ID, ss)
				if errs.Code(err) == errs.ENOTFOUND {
					return false, nil
				}
				return err == nil, err
			})
			if wins != 1 {
				t.Fatalf("%d sessions from one pending login, want 1", wins)
			}
		})

		t.Run("without a pending login", func(t *testing.T) {
			mustSession(t, s, u.ID, 0, "cfs_direct", t0, t0, t0.Add(time.Hour))
		})
	})
}

func TestSessionUpdates(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		ss := mustSession(t, s, u.ID, 0, "cfs_a", t0, t0, t0.Add(time.Hour))
		find := func() *session.Session {
			t.Helper()
			got, err := s.FindSessionByTokenHash(ctx, session.HashToken("cfs_a"))
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if err := s.TouchSession(ctx, ss.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A late, older touch does not move last_seen_at back.
		if err := s.TouchSession(ctx, ss.ID, t0.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := find().LastSeenAt; !got.Equal(t0.Add(time.Minute)) {
			t.Fatalf("last seen %s", got)
		}
		if err := s.SetSessionMFA(ctx, ss.ID, t0.Add(2*time.Minute), "webauthn"); err != nil {
			t.Fatal(err)
		}
		if got := find().MFAAt; !got.Equal(t0.Add(2 * time.Minute)) {
			t.Fatalf("mfa at %s", got)
		}
		mustSession(t, s, u.ID, 0, "cfs_b", t0, t0, t0.Add(time.Hour))
		if n, err := s.DeleteUserSessions(ctx, u.ID); err != nil || n != 2 {
			t.Fatalf("DeleteUserSessions = %d, %v", n, err)
		}
		_, err := s.FindSessionByTokenHash(ctx, session.HashToken("cfs_a"))
		wantCode(t, err, errs.ENOTFOUND)
	})
}

func TestDeleteExpired(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		now := t0.Add(time.Hour)
		const idle = 15 * time.Minute

		mustPending(t, s, u.ID, "cfl_expired", now)
		mustPending(t, s, u.ID, "cfl_live", now.Add(time.Second))
		mustSession(t, s, u.ID, 0, "cfs_absolute", t0, now, now)                       // absolute end reached
		mustSession(t, s, u.ID, 0, "cfs_idle", t0, now.Add(-idle), now.Add(time.Hour)) // idle timeout reached
		mustSession(t, s, u.ID, 0, "cfs_live", t0, now.Add(-idle+time.Second), now.Add(time.Hour))
		for _, rl := range []struct {
			key    string
			at     time.Time
			window time.Duration
		}{
			{"closed", now.Add(-time.Minute), time.Minute},
			{"open", now, time.Minute},
		} {
			if _, err := s.HitRateLimit(ctx, rl.key, rl.window, rl.at); err != nil {
				t.Fatal(err)
			}
		}

		if err := s.DeleteExpired(ctx, now, idle); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{"cfl_expired"} {
			_, err := s.FindPendingByTokenHash(ctx, session.HashToken(tok))
			wantCode(t, err, errs.ENOTFOUND)
		}
		if _, err := s.FindPendingByTokenHash(ctx, session.HashToken("cfl_live")); err != nil {
			t.Fatalf("live pending login deleted: %v", err)
		}
		for _, tok := range []string{"cfs_absolute", "cfs_idle"} {
			_, err := s.FindSessionByTokenHash(ctx, session.HashToken(tok))
			wantCode(t, err, errs.ENOTFOUND)
		}
		if _, err := s.FindSessionByTokenHash(ctx, session.HashToken("cfs_live")); err != nil {
			t.Fatalf("live session deleted: %v", err)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM rate_limits WHERE key = 'closed'`); n != 0 {
			t.Fatal("closed rate-limit window kept")
		}
		if n := count(t, s, `SELECT COUNT(*) FROM rate_limits WHERE key = 'open'`); n != 1 {
			t.Fatal("open rate-limit window deleted")
		}
		// Lockouts are not expiry data: the back-off must survive a sweep.
		if _, err := s.RecordFailure(ctx, "acct", 1, 30*time.Minute, time.Hour, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteExpired(ctx, now, idle); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM lockouts WHERE key = 'acct'`); n != 1 {
			t.Fatal("sweep deleted a lockout record")
		}
	})
}

func TestAuditEvents(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		u := mustUser(t, s, "alice@example.com")
		for i, uid := range []int64{u.ID, 0, u.ID} {
			e := &audit.Event{At: t0, UserID: uid, Subject: "alice@example.com", Action: fmt.Sprintf("action.%d", i), Outcome: audit.Success, IP: "192.0.2.1"}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		mine, err := s.FindAuditEvents(ctx, u.ID, 10)
		if err != nil || len(mine) != 2 || mine[0].Action != "action.2" || mine[1].Action != "action.0" {
			t.Fatalf("user's events = %v, %v", mine, err)
		}
		all, err := s.FindAuditEvents(ctx, 0, 2)
		if err != nil || len(all) != 2 || all[0].Action != "action.2" {
			t.Fatalf("all events = %v, %v", all, err)
		}
		if !all[0].At.Equal(t0) || all[0].At.Location() != time.UTC {
			t.Fatalf("event time %s", all[0].At)
		}
	})
}

// The path is a file name, not URI syntax: characters that mean something
// in a URI must not move the database elsewhere or drop its pragmas.
func TestOpen_PathWithURICharacters(t *testing.T) {
	for _, name := range []string{"with space", "question?mark", "hash#mark", "percent%20sign", "semi;colon=x&y"} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "coffer.db")
			s := mustOpen(t, path)
			var mode string
			if err := s.DB().QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" {
				t.Errorf("journal_mode = %s, want wal", mode)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database not at %s: %v", path, err)
			}
			ents, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Fatalf("files outside the data directory: %q", names)
			}
		})
	}
}

func TestOpen_RelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("coffer-data", 0o700); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, filepath.Join("coffer-data", "coffer.db"))
	if _, err := os.Stat(filepath.Join("coffer-data", "coffer.db")); err != nil {
		t.Fatal(err)
	}
}
