package ledger_test

import (
	"strings"
	"sync"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

func (s *salesBooks) pay(tb testing.TB, inv *ledger.Invoice, date string, amount int64) (*ledger.Payment, error) {
	tb.Helper()
	return s.svc.RecordPayment(tb.Context(), s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: date, Amount: amount, Reference: "BACS"})
}

func (s *salesBooks) reload(tb testing.TB, inv *ledger.Invoice) *ledger.Invoice {
	tb.Helper()
	got, err := s.svc.FindInvoice(tb.Context(), s.org.ID, inv.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// bankLine inserts an unreconciled statement line, as an import would.
func (s *salesBooks) bankLine(tb testing.TB, amount int64, fitID string) int64 {
	tb.Helper()
	id, err := s.store.DB().InsertID(tb.Context(), `INSERT INTO bank_transactions (org_id, bank_account_id, date, amount, description, fit_id, created_at) VALUES (?, ?, '2026-03-05', ?, 'statement line', ?, 0)`,
		s.org.ID, s.bankID, amount, fitID)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func TestPartThenFullPayment(t *testing.T) {
	s := newSalesBooks(t)
	inv := s.sale(t) // 120.00
	p, err := s.pay(t, inv, "2026-03-05", 5000)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 || p.JournalID == 0 || p.InvoiceNumber != inv.Number {
		t.Fatalf("payment %+v", p)
	}
	got := s.reload(t, inv)
	if got.Status != ledger.InvoiceAwaitingPayment || got.AmountPaid != 5000 || got.AmountDue() != 7000 {
		t.Fatalf("after part payment: %s paid %d due %d", got.Status, got.AmountPaid, got.AmountDue())
	}
	j, err := s.store.FindJournal(t.Context(), s.org.ID, p.JournalID)
	if err != nil {
		t.Fatal(err)
	}
	if j.SourceType != ledger.SourcePayment || j.SourceID != p.ID || j.Date != "2026-03-05" || j.Lines[0].AccountID != s.acct["1000"].ID || j.Lines[0].Debit != 5000 || j.Lines[1].AccountID != s.acct["1100"].ID || j.Lines[1].Credit != 5000 {
		t.Fatalf("payment journal %+v", j)
	}
	if _, err := s.pay(t, inv, "2026-03-20", 7000); err != nil {
		t.Fatal(err)
	}
	got = s.reload(t, inv)
	if got.Status != ledger.InvoicePaid || got.AmountDue() != 0 {
		t.Fatalf("after full payment: %s due %d", got.Status, got.AmountDue())
	}
	if b := s.balances(t); b["1100"] != 0 || b["1000"] != 12000 || b["4000"] != -10000 || b["2200"] != -2000 {
		t.Fatalf("balances %v", b)
	}
	list, err := s.svc.FindPayments(t.Context(), s.org.ID, ledger.PaymentFilter{InvoiceID: inv.ID})
	if err != nil || len(list) != 2 || list[0].Amount != 7000 || list[0].BankAccountName != "Business Bank Account" {
		t.Fatalf("payments %v, %v", list, err)
	}
	_, err = s.pay(t, inv, "2026-03-21", 1)
	if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "already paid in full") {
		t.Fatalf("message %q", msg)
	}
}

func TestBillPayment(t *testing.T) {
	s := newSalesBooks(t)
	bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 5000, "Standard rate 20%")))) // 60.00
	if _, err := s.pay(t, bill, "2026-03-05", 6000); err != nil {
		t.Fatal(err)
	}
	if got := s.reload(t, bill); got.Status != ledger.InvoicePaid {
		t.Fatalf("bill %s", got.Status)
	}
	if b := s.balances(t); b["2100"] != 0 || b["1000"] != -6000 || b["6300"] != 5000 || b["2200"] != 1000 {
		t.Fatalf("balances %v", b)
	}
}

func TestPaymentRefusals(t *testing.T) {
	s := newSalesBooks(t)
	inv := s.sale(t)
	draft := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
	voided := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
	if _, err := s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, voided.ID, ledger.KindSales); err != nil {
		t.Fatal(err)
	}
	cn := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindSalesCredit, s.line("4000", 10000, 1000, "No tax"))))
	for _, tt := range []struct {
		name    string
		invoice int64
		in      ledger.PaymentInput
		code    string
		problem string
	}{
		{"overpayment", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 12001}, errs.ECONFLICT, "A payment of 120.01 GBP is more than the 120.00 GBP due"},
		{"draft", draft.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 100}, errs.ECONFLICT, "is a draft; approve it"},
		{"voided", voided.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 100}, errs.ECONFLICT, "is voided"},
		{"credit note", cn.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 100}, errs.EINVALID, "settled by allocating"},
		{"zero", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05"}, errs.EINVALID, "amount"},
		{"negative", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: -5}, errs.EINVALID, "amount"},
		{"bad date", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "5 March", Amount: 5}, errs.EINVALID, "date:"},
		{"no bank account", inv.ID, ledger.PaymentInput{Date: "2026-03-05", Amount: 5}, errs.EINVALID, "bank_account_id"},
		{"unknown bank account", inv.ID, ledger.PaymentInput{BankAccountID: 999999, Date: "2026-03-05", Amount: 5}, errs.ENOTFOUND, "bank account 999999 not found"},
		{"unknown invoice", 999999, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 5}, errs.ENOTFOUND, "Invoice 999999 not found"},
		{"dated before the invoice", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-02-28", Amount: 5}, errs.EINVALID, "before"},
		{"long reference", inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 5, Reference: strings.Repeat("r", 201)}, errs.EINVALID, "reference"},
	} {
		t.Run("Err "+tt.name, func(t *testing.T) {
			before := s.state(t)
			_, err := s.svc.RecordPayment(t.Context(), s.actor, s.org.ID, tt.invoice, tt.in)
			if msg := wantCode(t, err, tt.code); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not say %q", msg, tt.problem)
			}
			if s.state(t) != before {
				t.Fatal("a refused payment changed the books")
			}
		})
	}
}

// TestConcurrentOverpayment sends payments that together overpay at the
// same time: exactly as many succeed as fit, and the rest are refused.
func TestConcurrentOverpayment(t *testing.T) {
	s := newSalesBooks(t)
	inv := s.sale(t) // 120.00
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := s.svc.RecordPayment(t.Context(), s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 7000})
			results <- err
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var ok, conflicts int
	for err := range results {
		switch errs.Code(err) {
		case "":
			ok++
		case errs.ECONFLICT:
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d payments succeeded and %d were refused; want 1 and %d", ok, conflicts, n-1)
	}
	got := s.reload(t, inv)
	if got.AmountPaid != 7000 || got.Status != ledger.InvoiceAwaitingPayment {
		t.Fatalf("invoice paid %d, %s", got.AmountPaid, got.Status)
	}
	if b := s.balances(t); b["1000"] != 7000 || b["1100"] != 5000 {
		t.Fatalf("balances %v: a refused payment posted", b)
	}
}

// TestRecordPaymentBankTransaction is the contract the bank reconciliation
// relies on: a statement line is matched once, only by a payment of its
// account and signed amount, in the payment's own transaction.
func TestRecordPaymentBankTransaction(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	inv := s.sale(t)                                                                                           // 120.00
	bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 5000, "No tax")))) // 50.00
	in := s.bankLine(t, 4000, "fit-in")
	out := s.bankLine(t, -5000, "fit-out")

	t.Run("OK sales invoice, money in", func(t *testing.T) {
		p, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 4000, BankTransactionID: in})
		if err != nil {
			t.Fatal(err)
		}
		var status string
		var paymentID int64
		if err := s.store.DB().QueryRowContext(ctx, `SELECT status, payment_id FROM bank_transactions WHERE id = ?`, in).Scan(&status, &paymentID); err != nil {
			t.Fatal(err)
		}
		if status != "reconciled" || paymentID != p.ID || p.BankTransactionID != in {
			t.Fatalf("bank line %s payment %d; payment %+v", status, paymentID, p)
		}
	})
	t.Run("ErrConflict matched twice", func(t *testing.T) {
		before := s.state(t)
		_, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 4000, BankTransactionID: in})
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "already reconciled") {
			t.Fatalf("message %q", msg)
		}
		if s.state(t) != before {
			t.Fatal("a refused match changed the books")
		}
	})
	t.Run("ErrConflict wrong sign or amount", func(t *testing.T) {
		// A bill payment is money out: the +40.00 line is not it, and the
		// −50.00 line is not a 49.99 payment.
		for _, p := range []ledger.PaymentInput{
			{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 4000, BankTransactionID: s.bankLine(t, 4000, "fit-in-2")},
			{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 4999, BankTransactionID: out},
			{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 5000, BankTransactionID: 999999},
		} {
			before := s.state(t)
			_, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, bill.ID, p)
			wantCode(t, err, errs.ECONFLICT)
			if s.state(t) != before {
				t.Fatal("a refused match changed the books")
			}
		}
	})
	t.Run("OK bill, money out", func(t *testing.T) {
		if _, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, bill.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 5000, BankTransactionID: out}); err != nil {
			t.Fatal(err)
		}
		if got := s.reload(t, bill); got.Status != ledger.InvoicePaid {
			t.Fatalf("bill %s", got.Status)
		}
	})
	t.Run("ErrConflict another organisation's line", func(t *testing.T) {
		o := salesBooksFor(t, s.otherBooks(t))
		theirs := o.bankLine(t, 1000, "fit-theirs")
		before := s.state(t)
		_, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-05", Amount: 1000, BankTransactionID: theirs})
		wantCode(t, err, errs.ECONFLICT)
		if s.state(t) != before {
			t.Fatal("a refused match changed the books")
		}
	})
}

func TestPaymentBankAccounts(t *testing.T) {
	s := newSalesBooks(t)
	list, err := s.svc.PaymentBankAccounts(t.Context(), s.org.ID)
	if err != nil || len(list) != 1 || list[0].ID != s.bankID || list[0].AccountCode != "1000" {
		t.Fatalf("bank accounts %v, %v", list, err)
	}
	o := salesBooksFor(t, s.otherBooks(t))
	theirs, _ := o.svc.PaymentBankAccounts(t.Context(), o.org.ID)
	if len(theirs) != 1 || theirs[0].ID == s.bankID {
		t.Fatalf("other organisation's bank accounts %v", theirs)
	}
}
