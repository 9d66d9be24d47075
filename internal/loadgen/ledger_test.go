package loadgen

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/mfa"
	"coffer/internal/testserver"
)

// signIn adds a member of org with role to the real server (an owner
// creates org) and signs in from localIP with the password and a TOTP
// enrolled on the way.
func signIn(t *testing.T, srv *testserver.Server, localIP, email, org, role string) Session {
	t.Helper()
	ctx := context.Background()
	const password = "correct horse battery staple 42"
	srv.AddMember(t, email, "Load "+email, password, org, role)
	c := client.New(srv.URL, srv.HTTPClient(localIP))
	lr, err := c.Login(ctx, email, password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	en, err := c.EnrollTOTP(ctx, lr.LoginToken)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	secret, err := mfa.DecodeSecret(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code, err := mfa.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conf, err := c.ConfirmTOTP(ctx, lr.LoginToken, code)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	var orgs struct {
		Orgs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"orgs"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/orgs", conf.SessionToken, nil, &orgs); err != nil || len(orgs.Orgs) != 1 || orgs.Orgs[0].Name != org {
		t.Fatalf("orgs: %+v, %v", orgs, err)
	}
	return Session{C: c, Token: conf.SessionToken, OrgID: orgs.Orgs[0].ID}
}

// books finds the bank (1000) and an expense account (6000) of the
// default chart and posts one journal for the reads.
func books(t *testing.T, s Session) Books {
	t.Helper()
	b, err := SeedBooks(context.Background(), s, time.Now().UTC().Format(time.DateOnly), 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLedgerWorkloads runs both workloads briefly against a real server
// and checks what they count against what the books hold.
func TestLedgerWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real server: skipped with -short")
	}
	srv := testserver.Start(t)
	ctx := context.Background()
	s1 := signIn(t, srv, "127.0.9.1", "one@load.example", "Load Books Ltd", "owner")
	b := books(t, s1)
	// A second session on the same books from another address (an
	// adviser may post journals), and an outsider whose organisation is
	// another.
	s2 := signIn(t, srv, "127.0.9.2", "two@load.example", "Load Books Ltd", "adviser")
	outsider := signIn(t, srv, "127.0.9.3", "out@load.example", "Other Books Ltd", "owner")
	opts := Options{Workers: 3, Duration: 700 * time.Millisecond}

	t.Run("OK reads", func(t *testing.T) {
		op, err := Reads([]Session{s1, s2}, b)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, opts, op)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK < uint64(len(b.ReadPaths())) || res.ErrorCount() != 0 {
			t.Fatalf("reads: %d ok, errors %s (first: %v)", res.OK, res.ErrorSummary(), res.FirstError)
		}
	})
	t.Run("OK writes match the books", func(t *testing.T) {
		before, err := ReadState(ctx, s1, b)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWriter([]Session{s1, s2}, b)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, opts, w.Op)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := w.Acknowledged()
		if res.ErrorCount() != 0 || n == 0 || n != res.OK {
			t.Fatalf("writes: %d ok, %d acknowledged, errors %s (first: %v)", res.OK, n, res.ErrorSummary(), res.FirstError)
		}
		after, err := ReadState(ctx, s2, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Check(before, after); err != nil {
			t.Fatal(err)
		}
		// The check is not vacuous: one journal more or less than
		// acknowledged, or unbalanced books, are each reported.
		for _, tt := range []struct {
			name string
			edit func(s *State)
			want string
		}{
			{"lost", func(s *State) {
				s.Journals--
				s.Debit -= 100
				s.Credit -= 100
				s.TotalDebit -= 100
				s.TotalCredit -= 100
			}, "journals were added"},
			{"twice", func(s *State) { s.Journals++; s.Debit += 100; s.Credit += 100 }, "the debit account grew"},
			{"unbalanced", func(s *State) { s.TotalCredit++ }, "does not balance"},
		} {
			bad := *after
			tt.edit(&bad)
			if err := w.Check(before, &bad); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: Check = %v, want %q", tt.name, err, tt.want)
			}
		}
	})
	t.Run("ErrRefused writes are not acknowledged", func(t *testing.T) {
		before, err := ReadState(ctx, s1, b)
		if err != nil {
			t.Fatal(err)
		}
		// The outsider posts to its own organisation with this one's
		// accounts: every journal is refused, none is counted.
		w, err := NewWriter([]Session{outsider}, b)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, Options{Workers: 1, Duration: 200 * time.Millisecond}, w.Op)
		if err != nil {
			t.Fatal(err)
		}
		var ae *client.Error
		if n, _ := w.Acknowledged(); n != 0 || res.OK != 0 || res.Errors[400] == 0 || res.ErrorCount() != res.Errors[400] ||
			!errors.As(res.FirstError, &ae) || ae.Code != "invalid" {
			t.Fatalf("outsider's writes: %d ok, %d acknowledged, errors %s, first %v", res.OK, n, res.ErrorSummary(), res.FirstError)
		}
		after, err := ReadState(ctx, s1, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Check(before, after); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrBooks", func(t *testing.T) {
		for _, bad := range []Books{{}, {DebitAccountID: 1, CreditAccountID: 1, JournalID: 1, Date: "2026-01-01"}} {
			if _, err := Reads([]Session{s1}, bad); err == nil {
				t.Errorf("Reads accepted %+v", bad)
			}
			if _, err := NewWriter([]Session{s1}, bad); err == nil {
				t.Errorf("NewWriter accepted %+v", bad)
			}
		}
		if _, err := Reads(nil, b); err == nil {
			t.Error("Reads accepted no session")
		}
		if _, err := NewWriter(nil, b); err == nil {
			t.Error("NewWriter accepted no session")
		}
	})
}

func TestAmount(t *testing.T) {
	seen := map[int64]bool{}
	for w := range 4 {
		for seq := range uint64(200) {
			a := Amount(w, seq)
			if a < 1 || a > 97 {
				t.Fatalf("Amount(%d, %d) = %d, outside 1–97", w, seq, a)
			}
			seen[a] = true
		}
	}
	if len(seen) != 97 {
		t.Fatalf("%d distinct amounts, want 97", len(seen))
	}
}
