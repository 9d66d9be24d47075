package ledger_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlite"
	"coffer/internal/store/sqlstore"
)

// TestMain removes the shared benchmark database after all tests and
// benchmarks ran (it is built only when a 1M benchmark asks for it, so a
// plain go test never pays for it). Add any other setup of package
// ledger_test here: a test binary has one TestMain.
func TestMain(m *testing.M) {
	code := m.Run()
	million.close()
	os.Exit(code)
}

// BenchmarkPostJournal posts one two-line manual journal per operation
// through the service: validation, the store's checks inside the
// transaction, a durable (synchronous=FULL) commit, and the audit event.
func BenchmarkPostJournal(b *testing.B) {
	bk := newBooks(b)
	ctx := b.Context()
	bank, sales := bk.acct["1000"].ID, bk.acct["4000"].ID
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := &ledger.Journal{OrgID: bk.org.ID, Date: "2026-03-01", Narration: "bench",
			Lines: []ledger.JournalLine{{AccountID: bank, Debit: int64(100 + i%1000)}, {AccountID: sales, Credit: int64(100 + i%1000)}}}
		if err := bk.svc.PostManualJournal(ctx, bk.actor, j); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "journals/s")
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// benchBatch is the number of journals per transaction in the batched
// benchmark.
const benchBatch = 100

// BenchmarkPostJournalBatched posts benchBatch two-line journals per
// operation in one transaction (Store.PostJournals), each still checked
// by postJournal: what batching saves is mostly the durable commit.
func BenchmarkPostJournalBatched(b *testing.B) {
	bk := newBooks(b)
	ctx := b.Context()
	bank, sales := bk.acct["1000"].ID, bk.acct["4000"].ID
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		js := make([]*ledger.Journal, benchBatch)
		for k := range js {
			v := int64(100 + (i*benchBatch+k)%1000)
			js[k] = &ledger.Journal{OrgID: bk.org.ID, Date: "2026-03-01", Narration: "bench", SourceType: ledger.SourceManual, CreatedBy: bk.actor.UserID, CreatedAt: testNow,
				Lines: []ledger.JournalLine{{AccountID: bank, Debit: v}, {AccountID: sales, Credit: v}}}
		}
		if err := bk.store.PostJournals(ctx, js); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "journals/s")
	b.ReportMetric(float64(2*b.N*benchBatch)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkTrialBalance1M produces the trial balance over 1,000,000
// journal lines.
func BenchmarkTrialBalance1M(b *testing.B) {
	mb := million.get(b)
	b.ResetTimer()
	for b.Loop() {
		tb, err := mb.svc.TrialBalance(b.Context(), mb.orgID, millionAsOf)
		if err != nil {
			b.Fatal(err)
		}
		if tb.TotalDebit != tb.TotalCredit || tb.TotalDebit != mb.total || len(tb.Rows) < millionAccounts {
			b.Fatalf("trial balance: %d rows, debits %d, credits %d; the seeded balances make %d", len(tb.Rows), tb.TotalDebit, tb.TotalCredit, mb.total)
		}
	}
}

// BenchmarkBalanceSheet1M produces the balance sheet (with current year
// and retained earnings split) over 1,000,000 journal lines.
func BenchmarkBalanceSheet1M(b *testing.B) {
	mb := million.get(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := mb.svc.BalanceSheet(b.Context(), mb.orgID, millionAsOf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProfitAndLoss1M produces one year's P&L over the same lines.
func BenchmarkProfitAndLoss1M(b *testing.B) {
	mb := million.get(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := mb.svc.ProfitAndLoss(b.Context(), mb.orgID, "2025-01-01", millionAsOf); err != nil {
			b.Fatal(err)
		}
	}
}

// The 1M-line books: two-line journals over millionAccounts accounts,
// dated across 2023–2025, in one organisation (a second organisation has
// a slice of the same volume, so every query has rows to filter out).
const (
	millionLines    = 1_000_000
	millionAccounts = 67 // the default chart and 40 more
	millionAsOf     = "2025-12-31"
)

type millionBooks struct {
	once  sync.Once
	dir   string
	store *sqlstore.Store
	svc   *ledger.Service
	orgID int64
	total int64 // the trial balance's total debits, from the seeded nets
	err   error
}

var million millionBooks

// get builds the books the first time a benchmark asks, once per process.
func (m *millionBooks) get(b *testing.B) *millionBooks {
	b.Helper()
	m.once.Do(func() {
		start := time.Now()
		m.err = m.build(context.Background())
		if m.err == nil {
			b.Logf("seeded %d journal lines in %s (%s)", millionLines, time.Since(start).Round(time.Millisecond), m.dir)
		}
	})
	if m.err != nil {
		b.Fatalf("seed 1M lines: %v", m.err)
	}
	return m
}

func (m *millionBooks) close() {
	if m.store != nil {
		m.store.Close()
	}
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}

func (m *millionBooks) build(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "coffer-bench-1m-")
	if err != nil {
		return err
	}
	m.dir = dir
	if m.store, err = sqlite.Open(ctx, filepath.Join(dir, "coffer.db")); err != nil {
		return err
	}
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := keyring.OpenLocal(ctx, master, m.store)
	if err != nil {
		return err
	}
	m.svc = ledger.NewService(m.store, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
	chart := ledger.DefaultChart()
	types := []ledger.AccountType{ledger.Asset, ledger.Liability, ledger.Revenue, ledger.Expense}
	for i := range millionAccounts - len(chart) {
		chart = append(chart, ledger.Account{Code: strconv.Itoa(7000 + i), Name: fmt.Sprintf("Bench account %d", i), Type: types[i%len(types)]})
	}
	var orgs []int64
	for _, name := range []string{"Million Lines Ltd", "Neighbour Ltd"} {
		u := &auth.User{Email: strings.ToLower(strings.Fields(name)[0]) + "@example.com", Name: name, PasswordHash: "x", CreatedAt: testNow}
		if err := m.store.CreateUser(ctx, u); err != nil {
			return err
		}
		org := &access.Org{Name: name, Currency: "GBP", CreatedAt: testNow, Settings: access.DefaultSettings()}
		if err := m.store.CreateOrg(ctx, org, u.ID, ledger.DefaultTaxRates(), chart); err != nil {
			return err
		}
		orgs = append(orgs, org.ID)
	}
	m.orgID = orgs[0]
	rng := mrand.New(mrand.NewPCG(1, 2))
	nets, err := seedLines(ctx, m.store, m.orgID, millionLines, rng)
	if err != nil {
		return err
	}
	for _, v := range nets {
		m.total += max(v, 0)
	}
	_, err = seedLines(ctx, m.store, orgs[1], millionLines/10, rng)
	return err
}

// seedLines writes n lines as n/2 balanced two-line journals with random
// accounts, amounts and dates, in one transaction of multi-row INSERTs
// (values are generated integers and dates only), and returns each
// account's debit − credit. This bypasses postJournal on purpose: it is
// test data at a million rows, checked afterwards against the trial
// balance.
func seedLines(ctx context.Context, st *sqlstore.Store, orgID int64, n int, rng *mrand.Rand) (map[int64]int64, error) {
	db := st.DB()
	var accounts []int64
	rows, err := db.QueryContext(ctx, `SELECT id FROM accounts WHERE org_id = ? ORDER BY id`, orgID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		accounts = append(accounts, id)
	}
	rows.Close()
	var firstID int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM journals`).Scan(&firstID); err != nil {
		return nil, err
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	const perStatement = 1000 // journals per INSERT
	nets := map[int64]int64{}
	var js, ls strings.Builder
	journals := n / 2
	for done := 0; done < journals; done += perStatement {
		js.Reset()
		ls.Reset()
		js.WriteString("INSERT INTO journals (id, org_id, date, narration, source_type, created_at) VALUES ")
		ls.WriteString("INSERT INTO journal_lines (journal_id, org_id, account_id, debit, credit) VALUES ")
		for k := 0; k < perStatement && done+k < journals; k++ {
			id := firstID + int64(done+k)
			date := start.AddDate(0, 0, rng.IntN(3*365)).Format(ledger.DateLayout)
			amount := 1 + rng.Int64N(1_000_000)
			dr := accounts[rng.IntN(len(accounts))]
			cr := accounts[rng.IntN(len(accounts))]
			nets[dr] += amount
			nets[cr] -= amount
			if k > 0 {
				js.WriteByte(',')
				ls.WriteByte(',')
			}
			fmt.Fprintf(&js, "(%d,%d,'%s','seed','manual',0)", id, orgID, date)
			fmt.Fprintf(&ls, "(%d,%d,%d,%d,0),(%d,%d,%d,0,%d)", id, orgID, dr, amount, id, orgID, cr, amount)
		}
		if _, err := tx.ExecContext(ctx, js.String()); err != nil {
			return nil, fmt.Errorf("insert journals: %w", err)
		}
		if _, err := tx.ExecContext(ctx, ls.String()); err != nil {
			return nil, fmt.Errorf("insert lines: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	// Fresh statistics, as a long-running database would have.
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, err
	}
	return nets, nil
}
