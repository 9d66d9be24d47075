package ledger_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/testdb"
)

// secondNode is a ledger service on a second handle to the same database
// with the same master key, as another Coffer node is.
func (b *books) secondNode(tb testing.TB) *ledger.Service {
	tb.Helper()
	st, err := testdb.Reopen(tb, b.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	keys, err := keyring.OpenLocal(tb.Context(), b.master, st)
	if err != nil {
		tb.Fatal(err)
	}
	svc := ledger.NewService(st, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.Now = func() time.Time { return testNow }
	return svc
}

// Two nodes posting into one organisation at once: every invoice paid by
// two racing payments (one per node) is paid exactly once, journals posted
// on both nodes all land and keep the books balanced, and a lock date set
// on one node holds on the other at once.
func TestTwoNodesPostConcurrently(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	nodes := []*ledger.Service{s.svc, s.secondNode(t)}
	const invoices, journals = 6, 30
	invs := make([]*ledger.Invoice, invoices)
	for i := range invs {
		invs[i] = s.sale(t) // 120.00 each
	}
	var mu sync.Mutex
	var paid, refused int
	var posted int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, inv := range invs {
		for _, node := range nodes {
			wg.Go(func() {
				<-start
				_, err := node.RecordPayment(ctx, s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 12000})
				mu.Lock()
				defer mu.Unlock()
				switch errs.Code(err) {
				case "":
					paid++
				case errs.ECONFLICT:
					refused++
				default:
					t.Errorf("payment of %s: %v", inv.Number, err)
				}
			})
		}
	}
	for i := range journals {
		node := nodes[i%2]
		amount := int64(100 + i)
		wg.Go(func() {
			<-start
			if err := node.PostManualJournal(ctx, s.actor, s.journal("2026-03-10", "6200", "2300", amount)); err != nil {
				t.Errorf("journal of %d: %v", amount, err)
				return
			}
			mu.Lock()
			posted += amount
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if paid != invoices || refused != invoices {
		t.Fatalf("%d payments applied and %d refused; want %d and %d (one per invoice)", paid, refused, invoices, invoices)
	}
	for _, inv := range invs {
		if got := s.reload(t, inv); got.AmountPaid != 12000 || got.Status != ledger.InvoicePaid {
			t.Errorf("%s paid %d, %s", got.Number, got.AmountPaid, got.Status)
		}
	}
	var payments int
	if err := s.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM payments WHERE org_id = ?`, s.org.ID).Scan(&payments); err != nil || payments != invoices {
		t.Fatalf("%d payment rows, %v; want %d", payments, err, invoices)
	}
	if d, c := s.trialBalance(t); d != c {
		t.Fatalf("trial balance: debits %d, credits %d", d, c)
	}
	if got := s.balances(t)["6200"]; got != posted {
		t.Fatalf("6200 balance %d, want the %d acknowledged", got, posted)
	}

	// The lock date set through one node binds the other at its next posting.
	if err := nodes[0].SetLockDate(ctx, s.actor, s.org.ID, "2026-03-31"); err != nil {
		t.Fatal(err)
	}
	err := nodes[1].PostManualJournal(ctx, s.actor, s.journal("2026-03-20", "6200", "2300", 500))
	if errs.Code(err) != errs.ECONFLICT {
		t.Fatalf("posting into the locked period on the other node: %v, want a conflict", err)
	}
}
