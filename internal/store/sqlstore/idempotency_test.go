package sqlstore_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/idem"
)

// TestIdempotencyClaims is the contract that makes an Idempotency-Key safe
// when a node dies mid-request: a stale claim is taken over only when
// nothing was applied under it, the old request can then no longer commit,
// and a key whose request was applied but never answered says so.
func TestIdempotencyClaims(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		hash := []byte("request-hash")
		begin := func(key string, at time.Time) (*idem.Answer, *idem.Claim) {
			t.Helper()
			a, c, err := s.Begin(ctx, 1, 2, key, hash, at)
			if err != nil {
				t.Fatal(err)
			}
			if (a == nil) == (c == nil) {
				t.Fatalf("Begin = %+v, %+v: want exactly one of answer and claim", a, c)
			}
			return a, c
		}
		write := func(c *idem.Claim, email string) error {
			return s.CreateUser(idem.WithClaim(ctx, c), &auth.User{Email: email, Name: "x", PasswordHash: "x", CreatedAt: t0})
		}
		stale := idem.ClaimTTL + time.Second

		first, c1 := begin("k", t0)
		if first != nil {
			t.Fatalf("new key answered %+v", first)
		}
		if a, _ := begin("k", t0.Add(time.Second)); a.Status != 0 || a.Applied || a.Lost {
			t.Fatalf("in flight = %+v", a)
		}

		// Stale, nothing applied: a retry takes over, and the first request,
		// still running somewhere, can no longer write.
		_, c2 := begin("k", t0.Add(stale))
		if c2 == nil || bytes.Equal(c2.Token, c1.Token) {
			t.Fatalf("takeover claim = %+v", c2)
		}
		if err := write(c1, "old@example.com"); errs.Code(err) != errs.ECONFLICT {
			t.Fatalf("write under the lost claim: %v, want a conflict", err)
		}
		if _, err := s.FindUserByEmail(ctx, "old@example.com"); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("the lost claim's write landed: %v", err)
		}
		if err := write(c2, "new@example.com"); err != nil {
			t.Fatal(err)
		}
		// Applied, then the node "dies": Abort keeps the key, and once
		// stale the key answers "lost" instead of running it again.
		if err := s.Abort(ctx, c2); err != nil {
			t.Fatal(err)
		}
		if a, _ := begin("k", t0.Add(stale+time.Second)); !a.Applied || a.Lost {
			t.Fatalf("applied, fresh = %+v", a)
		}
		if a, _ := begin("k", t0.Add(2*stale+time.Second)); !a.Applied || !a.Lost {
			t.Fatalf("applied, stale = %+v", a)
		}
		// The old claim cannot store an answer either.
		if err := s.Finish(ctx, c1, &idem.Answer{Status: 201, Body: []byte("old")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, c2, &idem.Answer{Status: 201, ContentType: "application/json", Body: []byte("new")}); err != nil {
			t.Fatal(err)
		}
		if a, _ := begin("k", t0.Add(3*stale)); a.Status != 201 || string(a.Body) != "new" || a.Lost {
			t.Fatalf("finished = %+v", a)
		}

		// Aborted before anything was applied: free for a retry at once.
		_, c3 := begin("k2", t0)
		if err := s.Abort(ctx, c3); err != nil {
			t.Fatal(err)
		}
		if _, c := begin("k2", t0.Add(time.Second)); c == nil {
			t.Fatal("aborted key not free")
		}

		// Racing retries of one stale key: one takes it over.
		begin("k3", t0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		claims := 0
		for range 8 {
			wg.Go(func() {
				_, c, err := s.Begin(ctx, 1, 2, "k3", hash, t0.Add(stale))
				if err != nil {
					t.Error(err)
					return
				}
				if c != nil {
					mu.Lock()
					claims++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if claims != 1 {
			t.Fatalf("%d racers took over the stale key, want 1", claims)
		}
	})
}
