package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"coffer/internal/errs"
	"coffer/internal/notify"
	"coffer/internal/store/sqlstore"
)

// mustQueue stores a pending outbox row due at due, sealed as "sealed ID".
func mustQueue(tb testing.TB, s *sqlstore.Store, mid string, due time.Time) *notify.OutboxMail {
	tb.Helper()
	m := &notify.OutboxMail{MessageID: mid, Kind: "test", CreatedAt: due, NextAttemptAt: due}
	if err := s.CreateOutboxMail(tb.Context(), m, func(id int64) ([]byte, error) { return fmt.Appendf(nil, "sealed %d", id), nil }); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestOutboxMail(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		ctx := t.Context()
		lease := time.Minute

		t.Run("OK", func(t *testing.T) {
			s := mustStore(t)
			m := mustQueue(t, s, "m1", t0)
			if m.ID == 0 || string(m.Sealed) != fmt.Sprintf("sealed %d", m.ID) {
				t.Fatalf("created %+v", m)
			}
			if got, _ := s.ClaimOutboxMail(ctx, t0.Add(-time.Second), lease, 10, "early"); len(got) != 0 {
				t.Fatalf("claimed %d rows before they were due", len(got))
			}
			got, err := s.ClaimOutboxMail(ctx, t0, lease, 10, "a")
			if err != nil || len(got) != 1 {
				t.Fatalf("claim: %v, %d rows", err, len(got))
			}
			if c := got[0]; c.Attempts != 1 || c.LeaseToken != "a" || !c.LeaseUntil.Equal(t0.Add(lease)) || string(c.Sealed) != string(m.Sealed) {
				t.Fatalf("claimed %+v", c)
			}
			if err := s.MarkOutboxMailSent(ctx, m.ID, t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			rows, _ := s.FindOutboxMail(ctx)
			if r := rows[0]; r.Status != notify.StatusSent || r.Sealed != nil || r.LeaseUntil != (time.Time{}) {
				t.Fatalf("after sent: %+v", r)
			}
			wantCode(t, s.MarkOutboxMailSent(ctx, m.ID, t0), errs.ENOTFOUND)
			if got, _ := s.ClaimOutboxMail(ctx, t0.Add(time.Hour), lease, 10, "b"); len(got) != 0 {
				t.Fatal("a sent row was claimed again")
			}
		})

		t.Run("LeaseHoldsUntilItRunsOut", func(t *testing.T) {
			s := mustStore(t)
			mustQueue(t, s, "m1", t0)
			if got, _ := s.ClaimOutboxMail(ctx, t0, lease, 10, "a"); len(got) != 1 {
				t.Fatal("first claim failed")
			}
			if got, _ := s.ClaimOutboxMail(ctx, t0.Add(lease-time.Millisecond), lease, 10, "b"); len(got) != 0 {
				t.Fatal("claimed while another worker's lease holds")
			}
			got, _ := s.ClaimOutboxMail(ctx, t0.Add(lease), lease, 10, "b")
			if len(got) != 1 || got[0].Attempts != 2 || got[0].LeaseToken != "b" {
				t.Fatalf("after the lease ran out: %+v", got)
			}
			// The first worker lost its lease: it may not reschedule or fail
			// the row under the second one.
			wantCode(t, s.RetryOutboxMail(ctx, got[0].ID, "a", t0.Add(time.Hour), "late"), errs.ECONFLICT)
			wantCode(t, s.FailOutboxMail(ctx, got[0].ID, "a", t0, "late"), errs.ECONFLICT)
		})

		t.Run("Retry", func(t *testing.T) {
			s := mustStore(t)
			m := mustQueue(t, s, "m1", t0)
			s.ClaimOutboxMail(ctx, t0, lease, 10, "a")
			if err := s.RetryOutboxMail(ctx, m.ID, "a", t0.Add(30*time.Second), "connection refused"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.ClaimOutboxMail(ctx, t0.Add(29*time.Second), lease, 10, "b"); len(got) != 0 {
				t.Fatal("claimed before the retry was due")
			}
			got, _ := s.ClaimOutboxMail(ctx, t0.Add(30*time.Second), lease, 10, "b")
			if len(got) != 1 || got[0].LastError != "connection refused" || got[0].Attempts != 2 {
				t.Fatalf("retry: %+v", got)
			}
		})

		t.Run("Fail", func(t *testing.T) {
			s := mustStore(t)
			m := mustQueue(t, s, "m1", t0)
			s.ClaimOutboxMail(ctx, t0, lease, 10, "a")
			if err := s.FailOutboxMail(ctx, m.ID, "a", t0, "550 no such user"); err != nil {
				t.Fatal(err)
			}
			rows, _ := s.FindOutboxMail(ctx)
			if r := rows[0]; r.Status != notify.StatusFailed || r.Sealed != nil || r.LastError != "550 no such user" {
				t.Fatalf("failed row: %+v", r)
			}
			if got, _ := s.ClaimOutboxMail(ctx, t0.Add(time.Hour), lease, 10, "b"); len(got) != 0 {
				t.Fatal("a failed row was claimed")
			}
		})

		t.Run("Prune", func(t *testing.T) {
			s := mustStore(t)
			old, fresh, pending := mustQueue(t, s, "old", t0), mustQueue(t, s, "fresh", t0), mustQueue(t, s, "pending", t0)
			s.ClaimOutboxMail(ctx, t0, lease, 2, "a")
			s.MarkOutboxMailSent(ctx, old.ID, t0)
			s.MarkOutboxMailSent(ctx, fresh.ID, t0.Add(48*time.Hour))
			n, err := s.PruneOutboxMail(ctx, t0.Add(24*time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("pruned %d, %v; want 1", n, err)
			}
			rows, _ := s.FindOutboxMail(ctx)
			if len(rows) != 2 || rows[0].ID != fresh.ID || rows[1].ID != pending.ID {
				t.Fatalf("left %+v", rows)
			}
		})
	})
}

// TestClaimOutboxMail_Race: six workers claiming at once, through two
// handles on one database file as two nodes would, deliver every row
// exactly once between them.
func TestClaimOutboxMail_Race(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		path := t.TempDir() + "/coffer.db"
		nodes := []*sqlstore.Store{mustOpen(t, path), mustOpen(t, path)}
		const n = 200
		for i := range n {
			mustQueue(t, nodes[0], fmt.Sprintf("m%d", i), t0)
		}
		var mu sync.Mutex
		sent := map[int64]int{}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				s := nodes[w%2]
				for {
					rows, err := s.ClaimOutboxMail(t.Context(), t0, time.Minute, 7, fmt.Sprintf("worker%d", w))
					if err != nil {
						t.Error(err)
						return
					}
					if len(rows) == 0 {
						return
					}
					for _, r := range rows {
						mu.Lock()
						sent[r.ID]++
						mu.Unlock()
						if err := s.MarkOutboxMailSent(t.Context(), r.ID, t0); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		wg.Wait()
		if len(sent) != n {
			t.Fatalf("%d of %d rows delivered", len(sent), n)
		}
		for id, c := range sent {
			if c != 1 {
				t.Errorf("row %d delivered %d times", id, c)
			}
		}
		if c := count(t, nodes[1], `SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'`); c != n {
			t.Fatalf("%d rows marked sent, want %d", c, n)
		}
	})
}
