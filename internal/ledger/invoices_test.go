package ledger_test

import (
	"fmt"
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// line is an invoice line on the account with code, quantity in
// ten-thousandths, unit price in minor units and an explicit tax rate.
func (s *salesBooks) line(code string, qty, price int64, rate string) ledger.InvoiceLineInput {
	return ledger.InvoiceLineInput{Description: "Item on " + code, Quantity: qty, UnitPrice: price, AccountID: s.acct[code].ID, TaxRateID: s.rate[rate]}
}

func (s *salesBooks) input(kind string, lines ...ledger.InvoiceLineInput) ledger.InvoiceInput {
	c := s.customer
	if ledger.IsPurchaseKind(kind) {
		c = s.supplier
	}
	return ledger.InvoiceInput{Kind: kind, ContactID: c.ID, Date: "2026-03-01", DueDate: "2026-03-31", Lines: lines}
}

func (s *salesBooks) mustCreate(tb testing.TB, in ledger.InvoiceInput) *ledger.Invoice {
	tb.Helper()
	inv, err := s.svc.CreateInvoice(tb.Context(), s.actor, s.org.ID, in)
	if err != nil {
		tb.Fatal(err)
	}
	return inv
}

func (s *salesBooks) mustApprove(tb testing.TB, inv *ledger.Invoice) *ledger.Invoice {
	tb.Helper()
	got, err := s.svc.ApproveInvoice(tb.Context(), s.actor, s.org.ID, inv.ID, inv.Kind)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// sale is an approved sales invoice: 100.00 on Sales at 20% → 120.00.
func (s *salesBooks) sale(tb testing.TB) *ledger.Invoice {
	tb.Helper()
	return s.mustApprove(tb, s.mustCreate(tb, s.input(ledger.KindSales, s.line("4000", 10000, 10000, "Standard rate 20%"))))
}

// balances sums the organisation's posted journal lines per account code,
// debit minus credit, straight from the database (independently of the
// reports package).
func (s *salesBooks) balances(tb testing.TB) map[string]int64 {
	tb.Helper()
	rows, err := s.store.DB().QueryContext(tb.Context(), `SELECT a.code, SUM(l.debit) - SUM(l.credit) FROM journal_lines l JOIN accounts a ON a.id = l.account_id
		WHERE l.org_id = ? GROUP BY a.code`, s.org.ID)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var code string
		var bal int64
		if err := rows.Scan(&code, &bal); err != nil {
			tb.Fatal(err)
		}
		if bal != 0 {
			out[code] = bal
		}
	}
	return out
}

// trialBalance returns the organisation's total debits and credits.
func (s *salesBooks) trialBalance(tb testing.TB) (debits, credits int64) {
	tb.Helper()
	if err := s.store.DB().QueryRowContext(tb.Context(), `SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) FROM journal_lines WHERE org_id = ?`, s.org.ID).Scan(&debits, &credits); err != nil {
		tb.Fatal(err)
	}
	return debits, credits
}

// state fingerprints every row the sales area writes, so a refused action
// can be shown to leave the books exactly as they were.
func (s *salesBooks) state(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, status, number, total, amount_paid, amount_credited, COALESCE(journal_id, 0), COALESCE(void_journal_id, 0), updated_at FROM invoices ORDER BY id`,
		`SELECT id, position, description, quantity, unit_price, account_id, line_amount, tax_amount FROM invoice_lines ORDER BY id`,
		`SELECT id, date, source_type, source_id FROM journals ORDER BY id`,
		`SELECT id, journal_id, account_id, debit, credit FROM journal_lines ORDER BY id`,
		`SELECT id, invoice_id, amount, journal_id FROM payments ORDER BY id`,
		`SELECT id, credit_note_id, invoice_id, amount FROM credit_allocations ORDER BY id`,
		`SELECT id, status, COALESCE(payment_id, 0) FROM bank_transactions ORDER BY id`,
	} {
		rows, err := s.store.DB().QueryContext(tb.Context(), q)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

func TestComputeLine(t *testing.T) {
	for _, tt := range []struct {
		name              string
		qty, price, bp    int64
		wantLine, wantTax int64
		wantErr           bool
	}{
		{"whole", 10000, 10000, 2000, 10000, 2000, false},
		{"fractional quantity", 15000, 333, 2000, 500, 100, false},   // 1.5 × 3.33 = 4.995 → 5.00; 20% = 1.00
		{"half rounds away from zero", 5000, 1, 0, 1, 0, false},      // 0.5 × 0.01 = 0.005 → 0.01
		{"just under half rounds down", 4999, 1, 0, 0, 0, false},     // 0.4999 × 0.01 → 0.00
		{"tax half rounds up", 10000, 10, 500, 10, 1, false},         // 5% of 0.10 = 0.005 → 0.01
		{"tax under half rounds down", 10000, 9, 500, 9, 0, false},   // 5% of 0.09 = 0.0045 → 0.00
		{"tax on 10.05 at 20%", 10000, 1005, 2000, 1005, 201, false}, // 2.01
		{"tax on 0.25 at 5%", 10000, 25, 500, 25, 1, false},          // 0.0125 → 0.01
		{"tiny quantity", 1, 99999, 2000, 10, 2, false},              // 0.0001 × 999.99 = 0.099999 → 0.10
		{"big but exact", 1_000_000_0000, 1_000_000_00, 2000, 100_000_000_000_000, 20_000_000_000_000, false},
		{"too large", 1_000_000_000_0000, 1_000_000_000_00, 0, 0, 0, true},
		{"zero rate", 30000, 3333, 0, 9999, 0, false},
		{"full rate", 10000, 4321, 10000, 4321, 4321, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			line, tax, err := ledger.ComputeLine(tt.qty, tt.price, tt.bp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if line != tt.wantLine || tax != tt.wantTax {
				t.Fatalf("ComputeLine(%d, %d, %d) = %d, %d; want %d, %d", tt.qty, tt.price, tt.bp, line, tax, tt.wantLine, tt.wantTax)
			}
		})
	}
}

func TestComputeTotals(t *testing.T) {
	t.Run("OK sums rounded lines exactly", func(t *testing.T) {
		// Three lines of 0.10 at 5%: each tax rounds 0.005 up to 0.01, so the
		// tax is 0.03, the sum of the lines (not 5% of 0.30 = 0.015).
		inv := &ledger.Invoice{Lines: []ledger.InvoiceLine{
			{Quantity: 10000, UnitPrice: 10, TaxRateBP: 500},
			{Quantity: 10000, UnitPrice: 10, TaxRateBP: 500},
			{Quantity: 10000, UnitPrice: 10, TaxRateBP: 500},
		}}
		if err := inv.ComputeTotals(); err != nil {
			t.Fatal(err)
		}
		if inv.Subtotal != 30 || inv.TaxTotal != 3 || inv.Total != 33 {
			t.Fatalf("totals = %d + %d = %d", inv.Subtotal, inv.TaxTotal, inv.Total)
		}
		for _, l := range inv.Lines {
			if l.LineAmount != 10 || l.TaxAmount != 1 {
				t.Fatalf("line %+v", l)
			}
		}
	})
	t.Run("ErrZero line", func(t *testing.T) {
		inv := &ledger.Invoice{Lines: []ledger.InvoiceLine{{Quantity: 10000, UnitPrice: 100}, {Quantity: 1, UnitPrice: 1}}}
		if msg := wantCode(t, inv.ComputeTotals(), errs.EINVALID); !strings.Contains(msg, "Line 2") {
			t.Fatalf("message %q does not name line 2", msg)
		}
	})
	t.Run("ErrOverflow total", func(t *testing.T) {
		inv := &ledger.Invoice{Lines: []ledger.InvoiceLine{{Quantity: 10000, UnitPrice: money.MaxAbs}, {Quantity: 10000, UnitPrice: money.MaxAbs}}}
		wantCode(t, inv.ComputeTotals(), errs.EINVALID)
	})
}

func TestParseLineAmounts(t *testing.T) {
	for _, tt := range []struct {
		qty, price   string
		wantQ, wantP int64
		problem      string
	}{
		{"1", "10.00", 10000, 1000, ""},
		{"1.5", "0.01", 15000, 1, ""},
		{" 2.0001 ", "1234.5", 20001, 123450, ""},
		{"0", "10", 0, 0, "Line 3: quantity \"0\" must be greater than zero"},
		{"-1", "10", 0, 0, "Line 3: quantity"},
		{"1.00001", "10", 0, 0, "more than 4 decimal places"},
		{"1", "10.001", 0, 0, "Line 3: unit price"},
		{"1", "-5", 0, 0, "Line 3: unit price"},
		{"1", "abc", 0, 0, "not a decimal number"},
		{"1e3", "1", 0, 0, "Line 3: quantity"},
		{"", "", 0, 0, "Line 3: quantity is empty"},
	} {
		t.Run(tt.qty+"×"+tt.price, func(t *testing.T) {
			q, p, err := ledger.ParseLineAmounts(3, tt.qty, tt.price, 2)
			if tt.problem == "" {
				if err != nil || q != tt.wantQ || p != tt.wantP {
					t.Fatalf("= %d, %d, %v; want %d, %d", q, p, err, tt.wantQ, tt.wantP)
				}
				return
			}
			if msg := wantCode(t, err, errs.EINVALID); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not say %q", msg, tt.problem)
			}
		})
	}
}

func TestCreateInvoice(t *testing.T) {
	s := newSalesBooks(t)
	o := salesBooksFor(t, s.otherBooks(t))
	std := "Standard rate 20%"
	t.Run("OK", func(t *testing.T) {
		in := s.input(ledger.KindSales, s.line("4000", 20000, 1250, std), s.line("4100", 15000, 333, "Reduced rate 5%"))
		in.Reference = "PO 77"
		inv := s.mustCreate(t, in)
		if inv.Status != ledger.InvoiceDraft || inv.Number != "INV-0001" || inv.ContactName != "Acme Trading" || inv.Currency != "GBP" || inv.Reference != "PO 77" {
			t.Fatalf("created %+v", inv)
		}
		// 2 × 12.50 = 25.00, tax 5.00; 1.5 × 3.33 = 5.00 (4.995), tax 0.25.
		if inv.Subtotal != 3000 || inv.TaxTotal != 525 || inv.Total != 3525 || inv.AmountDue() != 3525 || len(inv.Lines) != 2 {
			t.Fatalf("totals %d %d %d, %d lines", inv.Subtotal, inv.TaxTotal, inv.Total, len(inv.Lines))
		}
		if l := inv.Lines[1]; l.LineAmount != 500 || l.TaxAmount != 25 || l.TaxRateBP != 500 {
			t.Fatalf("line 2 = %+v", l)
		}
	})
	t.Run("OK default tax rate of the account", func(t *testing.T) {
		l := s.line("4000", 10000, 1000, "")
		l.TaxRateID = 0
		inv := s.mustCreate(t, s.input(ledger.KindSales, l))
		if inv.Lines[0].TaxRateBP != 2000 || inv.TaxTotal != 200 {
			t.Fatalf("default rate not applied: %+v", inv.Lines[0])
		}
	})
	t.Run("OK bill on expense and asset accounts", func(t *testing.T) {
		inv := s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 5000, std), s.line("1500", 10000, 90000, std)))
		if inv.Number != "BILL-0001" || inv.Total != 114000 {
			t.Fatalf("bill %s total %d", inv.Number, inv.Total)
		}
	})

	for _, tt := range []struct {
		name    string
		edit    func(in *ledger.InvoiceInput)
		code    string
		problem string
	}{
		{"no lines", func(in *ledger.InvoiceInput) { in.Lines = nil }, errs.EINVALID, "at least one line"},
		{"bad date", func(in *ledger.InvoiceInput) { in.Date = "2026-02-30" }, errs.EINVALID, "date: Date \"2026-02-30\""},
		{"due before date", func(in *ledger.InvoiceInput) { in.DueDate = "2026-02-28" }, errs.EINVALID, "due_date: the due date 2026-02-28 is before the date 2026-03-01"},
		{"no due date", func(in *ledger.InvoiceInput) { in.DueDate = "" }, errs.EINVALID, "due_date"},
		{"bad kind", func(in *ledger.InvoiceInput) { in.Kind = "quote" }, errs.EINVALID, "Kind \"quote\""},
		{"empty description", func(in *ledger.InvoiceInput) { in.Lines[0].Description = " " }, errs.EINVALID, "Line 1: description"},
		{"zero quantity", func(in *ledger.InvoiceInput) { in.Lines[0].Quantity = 0 }, errs.EINVALID, "Line 1: quantity"},
		{"negative price", func(in *ledger.InvoiceInput) { in.Lines[0].UnitPrice = -5 }, errs.EINVALID, "Line 1: unit price"},
		{"expense account on a sale", func(in *ledger.InvoiceInput) { in.Lines[0].AccountID = s.acct["6300"].ID }, errs.EINVALID, "Line 1: account 6300 Office Expenses is an expense account; a sales invoice line needs a revenue account"},
		{"system account", func(in *ledger.InvoiceInput) { in.Lines[0].AccountID = s.acct["1100"].ID }, errs.EINVALID, "Line 1: account 1100"},
		{"unknown account", func(in *ledger.InvoiceInput) { in.Lines[0].AccountID = 999999 }, errs.ENOTFOUND, "Line 1: account 999999 not found"},
		{"other organisation's account", func(in *ledger.InvoiceInput) { in.Lines[0].AccountID = o.acct["4000"].ID }, errs.ENOTFOUND, "Line 1: account"},
		{"other organisation's tax rate", func(in *ledger.InvoiceInput) { in.Lines[0].TaxRateID = o.rate[std] }, errs.ENOTFOUND, "Line 1: tax rate"},
		{"other organisation's contact", func(in *ledger.InvoiceInput) { in.ContactID = o.customer.ID }, errs.ENOTFOUND, "contact_id: contact"},
		{"supplier on a sale", func(in *ledger.InvoiceInput) { in.ContactID = s.supplier.ID }, errs.EINVALID, "not marked as a customer"},
		{"long number", func(in *ledger.InvoiceInput) { in.Number = strings.Repeat("9", 51) }, errs.EINVALID, "Number must be"},
		{"rounds to zero", func(in *ledger.InvoiceInput) { in.Lines[0].Quantity, in.Lines[0].UnitPrice = 1, 1 }, errs.EINVALID, "rounds to zero"},
	} {
		t.Run("Err "+tt.name, func(t *testing.T) {
			before := s.state(t)
			in := s.input(ledger.KindSales, s.line("4000", 10000, 1000, std))
			tt.edit(&in)
			_, err := s.svc.CreateInvoice(t.Context(), s.actor, s.org.ID, in)
			if msg := wantCode(t, err, tt.code); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not say %q", msg, tt.problem)
			}
			if s.state(t) != before {
				t.Fatal("a refused invoice changed the books")
			}
		})
	}
	t.Run("Err revenue account on a bill", func(t *testing.T) {
		_, err := s.svc.CreateInvoice(t.Context(), s.actor, s.org.ID, s.input(ledger.KindBill, s.line("4000", 10000, 1000, std)))
		if msg := wantCode(t, err, errs.EINVALID); !strings.Contains(msg, "needs an expense or asset account") {
			t.Fatalf("message %q", msg)
		}
	})
}

func TestInvoiceNumbers(t *testing.T) {
	s := newSalesBooks(t)
	std := "Standard rate 20%"
	create := func(kind, number string) (*ledger.Invoice, error) {
		in := s.input(kind, s.line("4000", 10000, 1000, std))
		if ledger.IsPurchaseKind(kind) {
			in = s.input(kind, s.line("6300", 10000, 1000, std))
		}
		in.Number = number
		return s.svc.CreateInvoice(t.Context(), s.actor, s.org.ID, in)
	}
	for _, tt := range []struct {
		kind, number, want string
	}{
		{ledger.KindSales, "", "INV-0001"},
		{ledger.KindSales, "", "INV-0002"},
		{ledger.KindSales, "INV-0010", "INV-0010"},
		{ledger.KindSales, "", "INV-0011"},
		{ledger.KindSales, "Special 1", "Special 1"},
		{ledger.KindSales, "", "INV-0012"},
		{ledger.KindBill, "", "BILL-0001"},
		{ledger.KindBill, "INV-0001", "INV-0001"}, // numbers are unique per kind: a supplier's own number
		{ledger.KindSalesCredit, "", "CN-0001"},
		{ledger.KindBillCredit, "", "CN-0001"},
		{ledger.KindSalesCredit, "", "CN-0002"},
	} {
		inv, err := create(tt.kind, tt.number)
		if err != nil || inv.Number != tt.want {
			t.Fatalf("%s %q: got %v, %v; want %s", tt.kind, tt.number, inv, err, tt.want)
		}
	}
	t.Run("ErrConflict duplicate", func(t *testing.T) {
		before := s.state(t)
		_, err := create(ledger.KindSales, "INV-0010")
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, `"INV-0010"`) {
			t.Fatalf("message %q does not name the number", msg)
		}
		if s.state(t) != before {
			t.Fatal("a refused invoice changed the books")
		}
	})
	t.Run("ErrConflict duplicate on update", func(t *testing.T) {
		inv, err := create(ledger.KindSales, "")
		if err != nil {
			t.Fatal(err)
		}
		in := s.input(ledger.KindSales, s.line("4000", 10000, 1000, std))
		in.Number = "INV-0001"
		_, err = s.svc.UpdateInvoice(t.Context(), s.actor, s.org.ID, inv.ID, in)
		wantCode(t, err, errs.ECONFLICT)
	})
}

func TestUpdateInvoice(t *testing.T) {
	s := newSalesBooks(t)
	std := "Standard rate 20%"
	inv := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, std), s.line("4100", 10000, 2000, std)))
	t.Run("OK replaces lines, keeps number", func(t *testing.T) {
		in := s.input(ledger.KindSales, s.line("4100", 30000, 500, "Zero rated"))
		in.DueDate = "2026-04-15"
		got, err := s.svc.UpdateInvoice(t.Context(), s.actor, s.org.ID, inv.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Number != inv.Number || len(got.Lines) != 1 || got.Total != 1500 || got.DueDate != "2026-04-15" {
			t.Fatalf("updated %+v", got)
		}
	})
	t.Run("ErrNotFound other kind", func(t *testing.T) {
		_, err := s.svc.UpdateInvoice(t.Context(), s.actor, s.org.ID, inv.ID, s.input(ledger.KindBill, s.line("6300", 10000, 1000, std)))
		wantCode(t, err, errs.ENOTFOUND)
	})
	t.Run("ErrConflict approved", func(t *testing.T) {
		s.mustApprove(t, inv)
		before := s.state(t)
		_, err := s.svc.UpdateInvoice(t.Context(), s.actor, s.org.ID, inv.ID, s.input(ledger.KindSales, s.line("4000", 10000, 1, std)))
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "only drafts can be edited") {
			t.Fatalf("message %q", msg)
		}
		if s.state(t) != before {
			t.Fatal("refused edit changed the books")
		}
	})
}

func TestApproveSalesInvoice(t *testing.T) {
	s := newSalesBooks(t)
	inv := s.mustCreate(t, s.input(ledger.KindSales,
		s.line("4000", 20000, 1250, "Standard rate 20%"), // 25.00 + 5.00
		s.line("4100", 15000, 333, "Reduced rate 5%"),    // 5.00 + 0.25
		s.line("4200", 10000, 700, "No tax"),             // 7.00
	))
	got := s.mustApprove(t, inv)
	if got.Status != ledger.InvoiceAwaitingPayment || got.JournalID == 0 {
		t.Fatalf("approved %+v", got)
	}
	j, err := s.store.FindJournal(t.Context(), s.org.ID, got.JournalID)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err != nil {
		t.Fatalf("posted journal does not balance: %v", err)
	}
	if j.Date != inv.Date || j.SourceType != ledger.SourceInvoice || j.SourceID != inv.ID {
		t.Fatalf("journal %+v", j)
	}
	for _, l := range j.Lines {
		if l.ContactID != s.customer.ID {
			t.Fatalf("journal line without the contact: %+v", l)
		}
	}
	want := map[string]int64{"1100": 4225, "4000": -2500, "4100": -500, "4200": -700, "2200": -525}
	if b := s.balances(t); fmt.Sprint(b) != fmt.Sprint(want) {
		t.Fatalf("balances %v, want %v", b, want)
	}
	if got.Total != 4225 || got.Subtotal != 3700 || got.TaxTotal != 525 {
		t.Fatalf("totals %d %d %d", got.Subtotal, got.TaxTotal, got.Total)
	}
	t.Run("ErrConflict approve twice", func(t *testing.T) {
		before := s.state(t)
		_, err := s.svc.ApproveInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		wantCode(t, err, errs.ECONFLICT)
		if s.state(t) != before {
			t.Fatal("second approval changed the books")
		}
	})
	t.Run("ErrNotFound through the bills route", func(t *testing.T) {
		_, err := s.svc.ApproveInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindBill)
		wantCode(t, err, errs.ENOTFOUND)
	})
}

func TestApproveBill(t *testing.T) {
	s := newSalesBooks(t)
	bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill,
		s.line("6300", 10000, 4999, "Standard rate 20%"), // 49.99 + 10.00 (9.998)
		s.line("1500", 10000, 120000, "No tax"),          // 1200.00
	)))
	want := map[string]int64{"2100": -125999, "6300": 4999, "1500": 120000, "2200": 1000}
	if b := s.balances(t); fmt.Sprint(b) != fmt.Sprint(want) {
		t.Fatalf("balances %v, want %v", b, want)
	}
	if bill.Total != 125999 {
		t.Fatalf("total %d", bill.Total)
	}
}

func TestCreditNotes(t *testing.T) {
	s := newSalesBooks(t)
	inv := s.sale(t)                                                                                                           // 120.00
	cn := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindSalesCredit, s.line("4000", 10000, 2500, "Standard rate 20%")))) // 30.00
	want := map[string]int64{"1100": 9000, "4000": -7500, "2200": -1500}
	if b := s.balances(t); fmt.Sprint(b) != fmt.Sprint(want) {
		t.Fatalf("after the credit note: balances %v, want %v", b, want)
	}
	j, _ := s.store.FindJournal(t.Context(), s.org.ID, cn.JournalID)
	if j.SourceType != ledger.SourceCreditNote {
		t.Fatalf("credit note journal source %q", j.SourceType)
	}

	bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 1000, "No tax"))))
	other := s.mustContact(t, "Other Customer", true, false)
	otherIn := s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax"))
	otherIn.ContactID = other.ID
	otherInv := s.mustApprove(t, s.mustCreate(t, otherIn))
	draft := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))

	for _, tt := range []struct {
		name    string
		invoice int64
		amount  int64
		date    string
		code    string
		problem string
	}{
		{"more than the credit note has", inv.ID, 3001, "2026-03-02", errs.ECONFLICT, "more than the 30.00 GBP left on credit note"},
		{"a bill", bill.ID, 100, "2026-03-02", errs.EINVALID, "can only be allocated to a sales invoice"},
		{"another contact's invoice", otherInv.ID, 100, "2026-03-02", errs.EINVALID, "is for Other Customer"},
		{"a draft", draft.ID, 100, "2026-03-02", errs.ECONFLICT, "is a draft"},
		{"before the documents", inv.ID, 100, "2026-02-27", errs.EINVALID, "before the credit note"},
		{"zero", inv.ID, 0, "2026-03-02", errs.EINVALID, "amount"},
		{"unknown invoice", 999999, 100, "2026-03-02", errs.ENOTFOUND, "invoice_id"},
	} {
		t.Run("Err "+tt.name, func(t *testing.T) {
			before := s.state(t)
			_, err := s.svc.AllocateCredit(t.Context(), s.actor, s.org.ID, cn.ID, ledger.AllocationInput{InvoiceID: tt.invoice, Amount: tt.amount, Date: tt.date})
			if msg := wantCode(t, err, tt.code); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not say %q", msg, tt.problem)
			}
			if s.state(t) != before {
				t.Fatal("a refused allocation changed the books")
			}
		})
	}

	t.Run("OK allocate, pay the rest, paid", func(t *testing.T) {
		before := s.balances(t)
		al, err := s.svc.AllocateCredit(t.Context(), s.actor, s.org.ID, cn.ID, ledger.AllocationInput{InvoiceID: inv.ID, Amount: 3000, Date: "2026-03-05"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.balances(t)) != fmt.Sprint(before) {
			t.Fatal("an allocation posted to the ledger")
		}
		gotCN, _ := s.svc.FindInvoice(t.Context(), s.org.ID, cn.ID)
		gotInv, _ := s.svc.FindInvoice(t.Context(), s.org.ID, inv.ID)
		if gotCN.Status != ledger.InvoicePaid || gotCN.AmountDue() != 0 || gotInv.AmountCredited != 3000 || gotInv.AmountDue() != 9000 || gotInv.Status != ledger.InvoiceAwaitingPayment {
			t.Fatalf("after allocation: credit note %s due %d; invoice %s due %d", gotCN.Status, gotCN.AmountDue(), gotInv.Status, gotInv.AmountDue())
		}
		list, err := s.svc.FindCreditAllocations(t.Context(), s.org.ID, inv.ID)
		if err != nil || len(list) != 1 || list[0].ID != al.ID || list[0].CreditNoteNumber != cn.Number {
			t.Fatalf("allocations %v, %v", list, err)
		}
		// The fully allocated credit note takes no more, and cannot be voided.
		_, err = s.svc.AllocateCredit(t.Context(), s.actor, s.org.ID, cn.ID, ledger.AllocationInput{InvoiceID: inv.ID, Amount: 1, Date: "2026-03-05"})
		wantCode(t, err, errs.ECONFLICT)
		_, err = s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		wantCode(t, err, errs.ECONFLICT)
		// An overpayment counts the credit: 90.01 is more than is due.
		_, err = s.svc.RecordPayment(t.Context(), s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-06", Amount: 9001})
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "90.00 GBP due") {
			t.Fatalf("message %q", msg)
		}
		if _, err := s.svc.RecordPayment(t.Context(), s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-06", Amount: 9000}); err != nil {
			t.Fatal(err)
		}
		gotInv, _ = s.svc.FindInvoice(t.Context(), s.org.ID, inv.ID)
		if gotInv.Status != ledger.InvoicePaid || gotInv.AmountDue() != 0 {
			t.Fatalf("invoice %s due %d", gotInv.Status, gotInv.AmountDue())
		}
		// Only the other customer's invoice is still receivable.
		if b := s.balances(t); b["1100"] != otherInv.Total {
			t.Fatalf("receivable %d, want %d", b["1100"], otherInv.Total)
		}
	})

	t.Run("ErrNotFound not a credit note", func(t *testing.T) {
		_, err := s.svc.AllocateCredit(t.Context(), s.actor, s.org.ID, otherInv.ID, ledger.AllocationInput{InvoiceID: otherInv.ID, Amount: 1, Date: "2026-03-05"})
		wantCode(t, err, errs.ENOTFOUND)
	})
}

func TestVoidInvoice(t *testing.T) {
	t.Run("OK draft", func(t *testing.T) {
		s := newSalesBooks(t)
		inv := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
		got, err := s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		if err != nil || got.Status != ledger.InvoiceVoided || got.VoidJournalID != 0 {
			t.Fatalf("void draft: %+v, %v", got, err)
		}
		if d, c := s.trialBalance(t); d != 0 || c != 0 {
			t.Fatalf("a draft's void posted %d/%d", d, c)
		}
		_, err = s.svc.ApproveInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		wantCode(t, err, errs.ECONFLICT)
		_, err = s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		wantCode(t, err, errs.ECONFLICT)
	})
	t.Run("OK approved is reversed", func(t *testing.T) {
		s := newSalesBooks(t)
		inv := s.sale(t)
		bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 4999, "Standard rate 20%"))))
		for _, d := range []*ledger.Invoice{inv, bill} {
			got, err := s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, d.ID, d.Kind)
			if err != nil {
				t.Fatal(err)
			}
			rev, err := s.store.FindJournal(t.Context(), s.org.ID, got.VoidJournalID)
			if err != nil || rev.ReversesID != d.JournalID || rev.Date != d.Date {
				t.Fatalf("reversal %+v, %v", rev, err)
			}
		}
		// Every account is back to zero, and the ledger still balances.
		if b := s.balances(t); len(b) != 0 {
			t.Fatalf("after voiding, balances %v", b)
		}
		if d, c := s.trialBalance(t); d != c || d == 0 {
			t.Fatalf("trial balance %d/%d", d, c)
		}
	})
	t.Run("ErrConflict with payments", func(t *testing.T) {
		s := newSalesBooks(t)
		inv := s.sale(t)
		if _, err := s.svc.RecordPayment(t.Context(), s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-02", Amount: 100}); err != nil {
			t.Fatal(err)
		}
		before := s.state(t)
		_, err := s.svc.VoidInvoice(t.Context(), s.actor, s.org.ID, inv.ID, ledger.KindSales)
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "has payments") || !strings.Contains(msg, "not supported") {
			t.Fatalf("message %q", msg)
		}
		if s.state(t) != before {
			t.Fatal("a refused void changed the books")
		}
	})
}

// TestSalesLockDate shows approve, pay and void refused in a locked period,
// each leaving the document and the ledger exactly as they were.
func TestSalesLockDate(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	draft := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
	approved := s.sale(t)
	if err := s.svc.SetLockDate(ctx, s.actor, s.org.ID, "2026-03-10"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		do      func() error
		problem string
	}{
		{"approve", func() error {
			_, err := s.svc.ApproveInvoice(ctx, s.actor, s.org.ID, draft.ID, ledger.KindSales)
			return err
		}, "locked up to and including 2026-03-10"},
		{"pay", func() error {
			_, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, approved.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-09", Amount: 100})
			return err
		}, "locked up to and including 2026-03-10"},
		{"void", func() error {
			_, err := s.svc.VoidInvoice(ctx, s.actor, s.org.ID, approved.ID, ledger.KindSales)
			return err
		}, "would post a reversal into the locked period"},
	} {
		t.Run("ErrConflict "+tt.name, func(t *testing.T) {
			before := s.state(t)
			if msg := wantCode(t, tt.do(), errs.ECONFLICT); !strings.Contains(msg, tt.problem) {
				t.Fatalf("message %q does not say %q", msg, tt.problem)
			}
			if s.state(t) != before {
				t.Fatal("a refused action changed the books")
			}
		})
	}
	t.Run("OK pay after the lock date", func(t *testing.T) {
		if _, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, approved.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-11", Amount: 100}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvoiceOtherOrganisation(t *testing.T) {
	s := newSalesBooks(t)
	o := salesBooksFor(t, s.otherBooks(t))
	inv := s.sale(t)
	draft := s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
	before := s.state(t)
	ctx := t.Context()
	for name, do := range map[string]func() error{
		"find": func() error { _, err := o.svc.FindInvoice(ctx, o.org.ID, inv.ID); return err },
		"update": func() error {
			_, err := o.svc.UpdateInvoice(ctx, o.actor, o.org.ID, draft.ID, o.input(ledger.KindSales, o.line("4000", 10000, 1, "No tax")))
			return err
		},
		"approve": func() error {
			_, err := o.svc.ApproveInvoice(ctx, o.actor, o.org.ID, draft.ID, ledger.KindSales)
			return err
		},
		"void": func() error {
			_, err := o.svc.VoidInvoice(ctx, o.actor, o.org.ID, inv.ID, ledger.KindSales)
			return err
		},
		"pay": func() error {
			_, err := o.svc.RecordPayment(ctx, o.actor, o.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: o.bankID, Date: "2026-03-02", Amount: 1})
			return err
		},
		"pay through their bank account": func() error {
			_, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, inv.ID, ledger.PaymentInput{BankAccountID: o.bankID, Date: "2026-03-02", Amount: 1})
			return err
		},
		"allocate": func() error {
			_, err := o.svc.AllocateCredit(ctx, o.actor, o.org.ID, inv.ID, ledger.AllocationInput{InvoiceID: inv.ID, Amount: 1, Date: "2026-03-02"})
			return err
		},
	} {
		t.Run("ErrNotFound "+name, func(t *testing.T) {
			wantCode(t, do(), errs.ENOTFOUND)
		})
	}
	if s.state(t) != before {
		t.Fatal("another organisation changed the books")
	}
	list, err := o.svc.ListInvoices(ctx, o.org.ID, ledger.InvoiceFilter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("other organisation lists %d invoices, %v", len(list), err)
	}
}

func TestListInvoices(t *testing.T) {
	s := newSalesBooks(t)
	ctx := t.Context()
	paid := s.sale(t)
	if _, err := s.svc.RecordPayment(ctx, s.actor, s.org.ID, paid.ID, ledger.PaymentInput{BankAccountID: s.bankID, Date: "2026-03-02", Amount: paid.Total}); err != nil {
		t.Fatal(err)
	}
	s.sale(t)
	s.mustCreate(t, s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax")))
	s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 1000, "No tax")))
	other := s.mustContact(t, "Other Customer", true, false)
	in := s.input(ledger.KindSales, s.line("4000", 10000, 1000, "No tax"))
	in.ContactID, in.Date = other.ID, "2026-03-09"
	latest := s.mustCreate(t, in)
	for _, tt := range []struct {
		name string
		f    ledger.InvoiceFilter
		want int
	}{
		{"all", ledger.InvoiceFilter{}, 5},
		{"sales", ledger.InvoiceFilter{Kind: ledger.KindSales}, 4},
		{"bills", ledger.InvoiceFilter{Kind: ledger.KindBill}, 1},
		{"drafts", ledger.InvoiceFilter{Kind: ledger.KindSales, Status: ledger.InvoiceDraft}, 2},
		{"paid", ledger.InvoiceFilter{Status: ledger.InvoicePaid}, 1},
		{"contact", ledger.InvoiceFilter{ContactID: other.ID}, 1},
		{"page", ledger.InvoiceFilter{Kind: ledger.KindSales, Limit: 3}, 3},
		{"next page", ledger.InvoiceFilter{Kind: ledger.KindSales, Limit: 3, Offset: 3}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.svc.ListInvoices(ctx, s.org.ID, tt.f)
			if err != nil || len(got) != tt.want {
				t.Fatalf("%d invoices, %v; want %d", len(got), err, tt.want)
			}
		})
	}
	got, _ := s.svc.ListInvoices(ctx, s.org.ID, ledger.InvoiceFilter{Limit: 1})
	if got[0].ID != latest.ID {
		t.Fatalf("newest first: got %s", got[0].Number)
	}
	for _, f := range []ledger.InvoiceFilter{{Status: "open"}, {Kind: "quote"}, {Limit: 1001}, {Offset: -1}, {ContactID: -3}} {
		_, err := s.svc.ListInvoices(ctx, s.org.ID, f)
		wantCode(t, err, errs.EINVALID)
	}
}
