package e2e

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/auth"
	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// benchPassword is every benchmark user's password.
const benchPassword = "correct horse battery staple, timed"

// benchFirstIP and benchMaxClients: the benchmarks' clients connect from
// 127.0.0.10 onwards, at most benchMaxClients of them, so that the per-IP
// sign-in limit (30 a minute) is not what they measure.
const (
	benchFirstIP    = 10
	benchMaxClients = 200
)

// BenchmarkArgon2idHash is the cost of one password hash with the default
// argon2id parameters, the floor under every sign-in. bound_logins/s is how
// many sign-ins a second this machine could verify if every core did
// nothing but hash.
func BenchmarkArgon2idHash(b *testing.B) {
	p := auth.DefaultArgon2Params()
	for b.Loop() {
		if _, err := auth.HashPassword(p, benchPassword); err != nil {
			b.Fatal(err)
		}
	}
	perHash := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(1/perHash, "hashes/s")
	b.ReportMetric(float64(runtime.NumCPU())/perHash, "bound_logins/s")
}

// BenchmarkFullLogin is complete sign-ins, password then TOTP code, through
// the real HTTPS API of one server, several at once (twice as many as there
// are cores, so the hash pool is always busy but never refuses).
//
// TOTP codes are single use: a factor accepts each 30 s step once, and only
// steps later than the last it accepted, so one user supports about one
// sign-in per step (not three: after the code for now+1 is used, now-1 and
// now are older and refused). The benchmark therefore enrolls one user per
// iteration before the timer starts, and each signs in once, with the code
// for the current step (or the next one, if the user enrolled in this
// step). Recovery codes would avoid the enrollments but measure a different
// second factor. The codes come from mfa.TOTPCode in-process: running
// oathtool per sign-in would time a fork and exec; the e2e tests and
// TestTOTPCode_Oathtool check the codes against oathtool.
//
// Each user signs in from the client that enrolled it; the clients rotate
// over source addresses so that neither the per-account limit (20 a minute)
// nor the per-IP one (30) is reached: this measures sign-in, not the
// limiter. Such a client holds the device cookie for its user, as a
// returning browser would; without contention the pool's lanes cost the
// same.
//
// logins/s is the throughput; ratio_vs_argon2_bound divides it by what
// argon2id alone allows on this machine (cores ÷ hash time, measured here
// too): 1 would mean hashing is the only cost. The load generator shares
// the machine with the server, so the ratio is a lower bound for the server.
func BenchmarkFullLogin(b *testing.B) {
	requireTool(b, "oathtool")
	requireTool(b, "zbarimg")
	hashTime := argon2HashTime(b)
	srv := testserver.Start(b)
	clients := benchClients(srv, b.N)
	type user struct {
		email  string
		secret []byte
		c      *client.Client
	}
	users := make([]user, b.N)
	for i := range users {
		c := clients[i%len(clients)]
		en := enrollUser(b, srv, c, fmt.Sprintf("bench%05d@example.com", i), "Bench User", benchPassword)
		secret, err := mfa.DecodeSecret(en.Secret)
		if err != nil {
			b.Fatalf("decode secret: %v", err)
		}
		users[i] = user{email: en.Email, secret: secret, c: c}
	}
	// Every enrollment used a code for this step or an earlier one.
	enrolledStep := mfa.TOTPStep(time.Now())

	var next atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			u := users[next.Add(1)-1]
			// The current step if unused, else the next, which the
			// server accepts as clock skew of one step.
			step := max(enrolledStep+1, mfa.TOTPStep(time.Now()))
			code, err := mfa.TOTPCode(u.secret, time.Unix(step*mfa.TOTPPeriod, 0))
			if err != nil {
				b.Error(err)
				return
			}
			if err := fullLogin(ctx, u.c, u.email, benchPassword, code); err != nil {
				b.Errorf("%s: %v", u.email, err)
				return
			}
		}
	})
	b.StopTimer()
	logins := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(logins, "logins/s")
	b.ReportMetric(logins/(float64(runtime.NumCPU())/hashTime.Seconds()), "ratio_vs_argon2_bound")
	b.ReportMetric(ms(hashTime), "hash_ms")
}

// fullLogin signs in with password and TOTP code and checks a session came
// back.
func fullLogin(ctx context.Context, c *client.Client, email, password, code string) error {
	lr, err := c.Login(ctx, email, password)
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	if lr.Status != "mfa_required" {
		return fmt.Errorf("password: status %q, want mfa_required", lr.Status)
	}
	sr, err := c.LoginMFA(ctx, lr.LoginToken, "totp", code)
	if err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	if sr.SessionToken == "" {
		return errors.New("totp: no session token")
	}
	return nil
}

// BenchmarkAuthenticatedRequest is GET /api/v1/me with a session token, from
// many goroutines at once over one client: the cost of an ordinary API call
// (TLS, session lookup, JSON), for comparison with a sign-in.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	requireTool(b, "oathtool")
	requireTool(b, "zbarimg")
	srv := testserver.Start(b)
	c := client.New(srv.URL, srv.HTTPClient(fmt.Sprintf("127.0.0.%d", benchFirstIP)))
	u := enrollUser(b, srv, c, "reader@example.com", "Reader", benchPassword)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := c.Me(ctx, u.Session); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// benchClients returns up to benchMaxClients clients for n users, each from
// its own source address.
func benchClients(srv *testserver.Server, n int) []*client.Client {
	cs := make([]*client.Client, min(max(n, 1), benchMaxClients))
	for i := range cs {
		cs[i] = client.New(srv.URL, srv.HTTPClient(fmt.Sprintf("127.0.0.%d", benchFirstIP+i)))
	}
	return cs
}
