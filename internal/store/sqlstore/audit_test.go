package sqlstore_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlstore"
)

func mustAuditKey(tb testing.TB, s *sqlstore.Store) *keyring.Keyring {
	tb.Helper()
	k, err := keyring.New(bytes.Repeat([]byte{9}, keyring.MasterKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.SetAuditKey(tb.Context(), k); err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustAppend(tb testing.TB, s *sqlstore.Store, e *audit.Event) *audit.Event {
	tb.Helper()
	if err := s.AppendAudit(tb.Context(), e); err != nil {
		tb.Fatal(err)
	}
	return e
}

func mustVerify(tb testing.TB, s *sqlstore.Store, k audit.MACer) *sqlstore.AuditReport {
	tb.Helper()
	rep, err := s.VerifyAudit(tb.Context(), k)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

func problems(rep *sqlstore.AuditReport) string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

func TestAppendAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := mustStore(t)
			k := mustAuditKey(t, s)
			var last [3]*audit.Event
			for i := range 320 {
				org := int64(i % 3) // chains 0, 1 and 2 interleaved
				e := mustAppend(t, s, &audit.Event{OrgID: org, At: t0.Add(time.Duration(i) * time.Second), Action: "x", Outcome: audit.Success, Detail: fmt.Sprint(i)})
				wantPrev := audit.Genesis
				if last[org] != nil {
					wantPrev = last[org].Hash
				}
				if e.Seq != int64(i/3+1) || !bytes.Equal(e.PrevHash, wantPrev) || !bytes.Equal(e.Hash, audit.ComputeHash(e)) {
					t.Fatalf("event %d: seq %d, prev %x; want seq %d, prev %x", i, e.Seq, e.PrevHash, i/3+1, wantPrev)
				}
				last[org] = e
			}
			rep := mustVerify(t, s, k)
			// 107 events in chains 0 and 1, 106 in chain 2: one checkpoint each.
			if len(rep.Problems) != 0 || rep.Chains != 3 || rep.Events != 320 || rep.Checkpoints != 3 {
				t.Fatalf("report %+v, problems:\n%s", rep, problems(rep))
			}
		})
		t.Run("ConcurrentWritersTakeDistinctSeqs", func(t *testing.T) {
			s := mustStore(t)
			k := mustAuditKey(t, s)
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 8 {
						if err := s.AppendAudit(t.Context(), &audit.Event{OrgID: 5, At: t0, Action: "race", Detail: fmt.Sprint(i, j)}); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			if n := count(t, s, `SELECT COUNT(DISTINCT seq) FROM audit_events WHERE chain_id = 5 AND seq BETWEEN 1 AND 128`); n != 128 {
				t.Fatalf("%d distinct seqs; want 128", n)
			}
			if rep := mustVerify(t, s, k); len(rep.Problems) != 0 {
				t.Fatal(problems(rep))
			}
		})
		t.Run("TamperedHeadIsRecordedNotSignedOver", func(t *testing.T) {
			s := mustStore(t)
			k := mustAuditKey(t, s)
			for range 5 {
				mustAppend(t, s, &audit.Event{OrgID: 1, At: t0, Action: "x"})
			}
			// Cut the last two events and point the head at seq 3.
			if _, err := s.DB().Exec(`DELETE FROM audit_events WHERE chain_id = 1 AND seq > 3`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().Exec(`UPDATE audit_chains SET seq = 3, hash = (SELECT hash FROM audit_events WHERE chain_id = 1 AND seq = 3) WHERE chain_id = 1`); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, &audit.Event{OrgID: 1, At: t0, Action: "after"})
			got := problems(mustVerify(t, s, k))
			if got != "chain org 1: the chain head was found altered when event seq 4 was appended" {
				t.Fatalf("problems:\n%s", got)
			}
		})
		t.Run("WithoutKeyNothingIsSigned", func(t *testing.T) {
			s := mustStore(t)
			mustAppend(t, s, &audit.Event{At: t0, Action: "x"})
			if n := count(t, s, `SELECT COUNT(*) FROM audit_chains WHERE length(mac) = 0 AND seq = 1`); n != 1 {
				t.Fatal("an unkeyed store signed its head")
			}
		})
	})
}

func TestSetAuditKey_Legacy(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		// Events as written before the chain existed: seq 0, no hashes.
		for i := range 4 {
			if _, err := s.DB().Exec(`INSERT INTO audit_events (at, user_id, subject, action, outcome, ip, user_agent, detail) VALUES (?, 1, 's', 'old', 'success', '', '', ?)`, t0.Unix()+int64(i), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		k := mustAuditKey(t, s)
		if n := count(t, s, `SELECT COUNT(*) FROM audit_events WHERE chain_id = 0 AND seq = id`); n != 4 {
			t.Fatalf("%d legacy events chained in id order; want 4", n)
		}
		mustAppend(t, s, &audit.Event{At: t0, Action: "new"})
		if rep := mustVerify(t, s, k); len(rep.Problems) != 0 || rep.Events != 5 {
			t.Fatalf("report %+v:\n%s", rep, problems(rep))
		}
		// A seq 0 row that turns up later is never adopted by a later start.
		if _, err := s.DB().Exec(`INSERT INTO audit_events (at, user_id, subject, action, outcome, ip, user_agent, detail) VALUES (?, 1, 's', 'forged', 'success', '', '', '')`, t0.Unix()); err != nil {
			t.Fatal(err)
		}
		mustAuditKey(t, s)
		if got := problems(mustVerify(t, s, k)); got != "chain org 0: event id 6 has no place in the chain (seq 0): inserted outside Coffer" {
			t.Fatalf("problems:\n%s", got)
		}
	})
}

func TestCheckpointAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		if _, err := s.CheckpointAudit(t.Context(), t0); err == nil {
			t.Fatal("checkpointed without a key")
		}
		k := mustAuditKey(t, s)
		for i := range 7 {
			mustAppend(t, s, &audit.Event{OrgID: int64(i % 2), At: t0, Action: "x"})
		}
		for _, want := range []int{2, 0} { // a second run finds nothing new
			n, err := s.CheckpointAudit(t.Context(), t0)
			if err != nil || n != want {
				t.Fatalf("checkpoints %d, %v; want %d", n, err, want)
			}
		}
		if rep := mustVerify(t, s, k); len(rep.Problems) != 0 || rep.Checkpoints != 2 {
			t.Fatalf("report %+v:\n%s", rep, problems(rep))
		}
	})
}

func TestFindAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		mustAuditKey(t, s)
		add := func(org, user int64, action, outcome string, at time.Time) {
			mustAppend(t, s, &audit.Event{OrgID: org, UserID: user, At: at, Action: action, Outcome: outcome})
		}
		add(1, 7, "login.password", audit.Failure, t0)
		add(1, 7, "member.role", audit.Success, t0.Add(time.Hour))
		add(1, 8, "member.remove", audit.Success, t0.Add(2*time.Hour))
		add(1, 8, "journal.post", audit.Success, t0.Add(3*time.Hour))
		add(2, 7, "member.role", audit.Success, t0.Add(time.Hour)) // another organisation
		add(1, 8, "member%", audit.Success, t0.Add(4*time.Hour))   // a wildcard in a prefix is a character
		tests := []struct {
			name    string
			org     int64
			f       audit.Filter
			actions string
			total   int
		}{
			{"all newest first", 1, audit.Filter{}, "member% journal.post member.remove member.role login.password", 5},
			{"action prefix", 1, audit.Filter{ActionPrefix: "member."}, "member.remove member.role", 2},
			{"prefix is literal", 1, audit.Filter{ActionPrefix: "member%"}, "member%", 1},
			{"user", 1, audit.Filter{UserID: 7}, "member.role login.password", 2},
			{"outcome", 1, audit.Filter{Outcome: audit.Failure}, "login.password", 1},
			{"date range", 1, audit.Filter{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)}, "member.remove member.role", 2},
			{"page", 1, audit.Filter{Limit: 2, Offset: 1}, "journal.post member.remove", 5},
			{"other organisation", 2, audit.Filter{}, "member.role", 1},
			{"no chain", 3, audit.Filter{}, "", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				evs, total, err := s.FindAudit(t.Context(), tt.org, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range evs {
					if e.OrgID != tt.org {
						t.Fatalf("event of org %d in org %d's log", e.OrgID, tt.org)
					}
					got = append(got, e.Action)
				}
				if strings.Join(got, " ") != tt.actions || total != tt.total {
					t.Fatalf("got %q (%d); want %q (%d)", strings.Join(got, " "), total, tt.actions, tt.total)
				}
			})
		}
		t.Run("ErrInvalid", func(t *testing.T) {
			_, _, err := s.FindAudit(t.Context(), 1, audit.Filter{Outcome: "maybe"})
			wantCode(t, err, errs.EINVALID)
		})
	})
}
