package ledger_test

import (
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// propCheckEvery is how often (in steps) the property tests compare the
// reports with the model; 1 normally, more under the race detector. The
// last step is always checked, and a wrong state persists, so a bug is
// still caught, only later.
var propCheckEvery = 1

// propSeed is the random seed of a property test: COFFER_PROPERTY_SEED
// replays a failure, otherwise the clock picks one. It is logged, so a
// failing run says how to replay it.
func propSeed(tb testing.TB) *rand.Rand {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COFFER_PROPERTY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("COFFER_PROPERTY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	tb.Logf("seed %d (replay with COFFER_PROPERTY_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// propJournal is what the model knows of a posted journal.
type propJournal struct {
	id       int64
	date     string
	manual   bool
	reversed bool
	// net is debit − credit per account id.
	net map[int64]int64
}

// propModel is an independent account of the books: every journal the
// service accepted, kept in Go, from which each report is recomputed the
// slow, obvious way and compared with what the SQL produced.
type propModel struct {
	b        *books
	journals []*propJournal
	typeOf   map[int64]ledger.AccountType
	retained int64 // the retained earnings account's id
}

func newPropModel(b *books) *propModel {
	m := &propModel{b: b, typeOf: map[int64]ledger.AccountType{}}
	for _, a := range b.acct {
		m.typeOf[a.ID] = a.Type
		if a.System == ledger.SystemRetainedEarnings {
			m.retained = a.ID
		}
	}
	return m
}

func (m *propModel) add(j *ledger.Journal, manual bool) *propJournal {
	pj := &propJournal{id: j.ID, date: j.Date, manual: manual, net: map[int64]int64{}}
	for _, l := range j.Lines {
		pj.net[l.AccountID] += l.Debit - l.Credit
	}
	m.journals = append(m.journals, pj)
	return pj
}

// balances sums debit − credit per account over journals dated in
// [from, to] ("" from: since the beginning).
func (m *propModel) balances(from, to string) map[int64]int64 {
	out := map[int64]int64{}
	for _, j := range m.journals {
		if j.date > to || (from != "" && j.date < from) {
			continue
		}
		for a, v := range j.net {
			out[a] += v
		}
	}
	return out
}

// earnings is revenue − expenses over [from, to]: minus the P&L
// accounts' debit − credit.
func (m *propModel) earnings(from, to string) int64 {
	var e int64
	for a, v := range m.balances(from, to) {
		if t := m.typeOf[a]; t == ledger.Revenue || t == ledger.Expense {
			e -= v
		}
	}
	return e
}

// check compares every report on asOf with the model and with the
// identities that hold in any set of books.
func (m *propModel) check(t *testing.T, step int, asOf string) {
	t.Helper()
	ctx := t.Context()
	svc, org := m.b.svc, m.b.org.ID

	tb, err := svc.TrialBalance(ctx, org, asOf)
	if err != nil {
		t.Fatalf("step %d: trial balance on %s: %v", step, asOf, err)
	}
	if tb.TotalDebit != tb.TotalCredit {
		t.Fatalf("step %d: trial balance on %s: debits %d ≠ credits %d", step, asOf, tb.TotalDebit, tb.TotalCredit)
	}
	want := m.balances("", asOf)
	got := map[int64]int64{}
	for _, r := range tb.Rows {
		if r.Debit != 0 && r.Credit != 0 {
			t.Fatalf("step %d: account %s has both a debit and a credit balance", step, r.Code)
		}
		got[r.AccountID] = r.Debit - r.Credit
	}
	for a, v := range want {
		if got[a] != v {
			t.Fatalf("step %d: trial balance on %s: account %d = %d, model says %d", step, asOf, a, got[a], v)
		}
	}
	for a := range got {
		if _, ok := want[a]; !ok {
			t.Fatalf("step %d: trial balance on %s lists account %d, which has no postings in the model", step, asOf, a)
		}
	}

	bs, err := svc.BalanceSheet(ctx, org, asOf)
	if err != nil {
		t.Fatalf("step %d: balance sheet on %s: %v", step, asOf, err)
	}
	if bs.TotalAssets != bs.TotalLiabilities+bs.TotalEquity {
		t.Fatalf("step %d: balance sheet on %s: assets %d ≠ liabilities %d + equity %d", step, asOf, bs.TotalAssets, bs.TotalLiabilities, bs.TotalEquity)
	}
	var assets int64
	for a, v := range want {
		if m.typeOf[a] == ledger.Asset {
			assets += v
		}
	}
	if bs.TotalAssets != assets {
		t.Fatalf("step %d: balance sheet on %s: assets %d, model says %d", step, asOf, bs.TotalAssets, assets)
	}
	eq := rowAmounts(bs.Equity)
	ys := asOf[:4] + "-01-01"
	reOwn := -want[m.retained]
	if cye := m.earnings(ys, asOf); eq[ledger.CurrentYearEarningsName] != cye {
		t.Fatalf("step %d: current year earnings on %s = %d, model says %d", step, asOf, eq[ledger.CurrentYearEarningsName], cye)
	}
	if re := m.earnings("", prevDay(ys)) + reOwn; eq[ledger.RetainedEarningsName] != re {
		t.Fatalf("step %d: retained earnings on %s = %d, model says %d", step, asOf, eq[ledger.RetainedEarningsName], re)
	}

	// The P&L over all time to asOf is exactly what the balance sheet's
	// earnings lines hold besides the retained earnings account's own
	// postings: P&L and balance sheet agree, from separate sums.
	all, err := svc.ProfitAndLoss(ctx, org, "1900-01-01", asOf)
	if err != nil {
		t.Fatalf("step %d: P&L to %s: %v", step, asOf, err)
	}
	if got := eq[ledger.CurrentYearEarningsName] + eq[ledger.RetainedEarningsName] - reOwn; all.NetProfit != got {
		t.Fatalf("step %d: P&L net to %s = %d, but current year + retained earnings less the retained earnings account = %d", step, asOf, all.NetProfit, got)
	}
	if all.NetProfit != all.TotalRevenue-all.TotalExpenses {
		t.Fatalf("step %d: net profit %d ≠ revenue %d − expenses %d", step, all.NetProfit, all.TotalRevenue, all.TotalExpenses)
	}
}

// prevDay is the day before a valid date.
func prevDay(d string) string {
	t, _ := time.Parse(ledger.DateLayout, d)
	return t.AddDate(0, 0, -1).Format(ledger.DateLayout)
}

// propDate is a random day in 2024–2026.
func propDate(rng *rand.Rand) string {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return start.AddDate(0, 0, rng.IntN(3*365+1)).Format(ledger.DateLayout)
}

// propJournalLines builds a balanced journal over random accounts: random
// debits, and their total split into random positive credits. Now and
// then an amount is very large, to exercise the sums' range.
func propJournalLines(rng *rand.Rand, accounts []*ledger.Account) []ledger.JournalLine {
	amount := func() int64 {
		if rng.IntN(20) == 0 {
			return 1 + rng.Int64N(1_000_000_000_000)
		}
		return 1 + rng.Int64N(10_000_000)
	}
	var lines []ledger.JournalLine
	var total int64
	for range 1 + rng.IntN(3) {
		v := amount()
		total += v
		lines = append(lines, ledger.JournalLine{AccountID: accounts[rng.IntN(len(accounts))].ID, Debit: v})
	}
	credits := 1 + rng.IntN(3)
	if int64(credits) > total {
		credits = 1
	}
	left := total
	for i := range credits {
		v := left
		if i < credits-1 {
			v = 1 + rng.Int64N(left-int64(credits-i-1))
		}
		left -= v
		lines = append(lines, ledger.JournalLine{AccountID: accounts[rng.IntN(len(accounts))].ID, Credit: v})
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	return lines
}

// TestReportsProperty runs a random sequence of manual journals,
// reversals, lock date moves and refused postings, and after every step
// checks each report against the model and the accounting identities:
// the trial balance balances, the balance sheet balances, and the P&L to
// date equals the earnings the balance sheet carries in equity. A refused
// operation must leave every report as it was.
func TestReportsProperty(t *testing.T) {
	rng := propSeed(t)
	b := newBooks(t)
	o := b.otherBooks(t)
	ctx := t.Context()
	m := newPropModel(b)
	var accounts []*ledger.Account
	for _, a := range b.acct {
		accounts = append(accounts, a)
	}
	slices.SortFunc(accounts, func(x, y *ledger.Account) int { return int(x.ID - y.ID) })

	steps := 200
	if testing.Short() {
		steps = 60
	}
	counts := map[string]int{}
	for step := range steps {
		lock, err := b.store.LockDate(ctx, b.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch p := rng.IntN(100); {
		case p < 50: // a manual journal
			j := &ledger.Journal{OrgID: b.org.ID, Date: propDate(rng), Narration: "random " + strconv.Itoa(step), Lines: propJournalLines(rng, accounts)}
			err := b.svc.PostManualJournal(ctx, b.actor, j)
			if lock != "" && j.Date <= lock {
				if errs.Code(err) != errs.ECONFLICT {
					t.Fatalf("step %d: journal dated %s with the books locked to %s: err = %v, want ECONFLICT", step, j.Date, lock, err)
				}
				counts["journal refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: post journal: %v", step, err)
			}
			m.add(j, true)
			counts["journal"]++
		case p < 70: // reverse an earlier manual journal
			var open []*propJournal
			for _, j := range m.journals {
				if j.manual && !j.reversed {
					open = append(open, j)
				}
			}
			if len(open) == 0 {
				continue
			}
			orig := open[rng.IntN(len(open))]
			// On or after the original, up to a year later.
			d, _ := time.Parse(ledger.DateLayout, orig.date)
			date := d.AddDate(0, 0, rng.IntN(366)).Format(ledger.DateLayout)
			rev, err := b.svc.ReverseJournal(ctx, b.actor, b.org.ID, orig.id, date)
			if lock != "" && date <= lock {
				if errs.Code(err) != errs.ECONFLICT {
					t.Fatalf("step %d: reversal dated %s with the books locked to %s: err = %v, want ECONFLICT", step, date, lock, err)
				}
				counts["reversal refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: reverse journal %d on %s: %v", step, orig.id, date, err)
			}
			orig.reversed = true
			m.add(rev, false)
			counts["reversal"]++
		case p < 75: // reversing twice is refused
			var done []*propJournal
			for _, j := range m.journals {
				if j.reversed {
					done = append(done, j)
				}
			}
			if len(done) == 0 {
				continue
			}
			orig := done[rng.IntN(len(done))]
			if _, err := b.svc.ReverseJournal(ctx, b.actor, b.org.ID, orig.id, "2026-12-31"); errs.Code(err) != errs.ECONFLICT {
				t.Fatalf("step %d: second reversal of journal %d: err = %v, want ECONFLICT", step, orig.id, err)
			}
			counts["second reversal refused"]++
		case p < 85: // move the lock date, or lift it
			next := ""
			if rng.IntN(4) > 0 {
				next = propDate(rng)
			}
			if err := b.svc.SetLockDate(ctx, b.actor, b.org.ID, next); err != nil {
				// A rule of the lock date (not this test's subject) may
				// refuse the move; it must then stay where it was.
				if c := errs.Code(err); c == errs.EINTERNAL || c == "" {
					t.Fatalf("step %d: set lock date %q: %v", step, next, err)
				}
				if now, _ := b.store.LockDate(ctx, b.org.ID); now != lock {
					t.Fatalf("step %d: refused lock move changed the lock date from %q to %q", step, lock, now)
				}
				counts["lock move refused"]++
				break
			}
			counts["lock move"]++
		case p < 92: // an unbalanced journal is refused whole
			lines := propJournalLines(rng, accounts)
			lines[0].Debit, lines[0].Credit = lines[0].Debit+lines[0].Credit+1, 0
			j := &ledger.Journal{OrgID: b.org.ID, Date: "2026-12-31", Narration: "unbalanced", Lines: lines}
			if err := b.svc.PostManualJournal(ctx, b.actor, j); errs.Code(err) != errs.EINVALID {
				t.Fatalf("step %d: unbalanced journal: err = %v, want EINVALID", step, err)
			}
			counts["unbalanced refused"]++
		default: // a journal naming another organisation's account is refused whole
			lines := propJournalLines(rng, accounts)
			lines[rng.IntN(len(lines))].AccountID = o.acct["1000"].ID
			j := &ledger.Journal{OrgID: b.org.ID, Date: "2026-12-31", Narration: "foreign account", Lines: lines}
			if err := b.svc.PostManualJournal(ctx, b.actor, j); errs.Code(err) != errs.EINVALID {
				t.Fatalf("step %d: journal with a foreign account: err = %v, want EINVALID", step, err)
			}
			counts["foreign account refused"]++
		}
		// Reports on a random date and after everything.
		if step%propCheckEvery == 0 || step == steps-1 {
			m.check(t, step, propDate(rng))
			m.check(t, step, "2027-12-31")
		}
	}
	t.Logf("operations: %v", counts)

	// The other organisation's books stayed empty throughout.
	otb, err := o.svc.TrialBalance(ctx, o.org.ID, "2027-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if len(otb.Rows) != 0 {
		t.Fatalf("the other organisation's trial balance has %d rows", len(otb.Rows))
	}
}

// propDated is an amount on a date: a payment or an allocation.
type propDated struct {
	date   string
	amount int64
}

// propDoc is what the model knows of an invoice, bill or credit note.
type propDoc struct {
	id        int64
	kind      string
	contact   int64
	date, due string
	total     int64
	approved  bool
	voided    bool
	payments  []propDated // payments of this invoice or bill
	allocsIn  []propDated // credit notes allocated to this invoice
	allocsOut []propDated // allocations made from this credit note
}

// left is what is still due on the document after everything so far.
func (d *propDoc) left() int64 {
	v := d.total
	for _, l := range [][]propDated{d.payments, d.allocsIn, d.allocsOut} {
		for _, x := range l {
			v -= x.amount
		}
	}
	return v
}

// agedModel recomputes an aged report from the documents: per contact,
// each approved, unvoided document dated on or before asOf with what is
// left of it on asOf (credit notes negative), in the bucket of its days
// past due.
func agedModel(docs []*propDoc, kind ledger.AgedKind, asOf string) map[int64]ledger.AgedBalance {
	invKind, creditKind := ledger.KindSales, ledger.KindSalesCredit
	if kind == ledger.AgedPayables {
		invKind, creditKind = ledger.KindBill, ledger.KindBillCredit
	}
	at, _ := time.Parse(ledger.DateLayout, asOf)
	out := map[int64]ledger.AgedBalance{}
	for _, d := range docs {
		if (d.kind != invKind && d.kind != creditKind) || !d.approved || d.voided || d.date > asOf {
			continue
		}
		left := d.total
		for _, l := range [][]propDated{d.payments, d.allocsIn, d.allocsOut} {
			for _, x := range l {
				if x.date <= asOf {
					left -= x.amount
				}
			}
		}
		if left == 0 {
			continue
		}
		if d.kind == creditKind {
			left = -left
		}
		due, _ := time.Parse(ledger.DateLayout, d.due)
		days := int(at.Sub(due).Hours() / 24)
		r := out[d.contact]
		r.ContactID = d.contact
		switch {
		case days <= 0:
			r.Current += left
		case days <= 30:
			r.Days1To30 += left
		case days <= 60:
			r.Days31To60 += left
		case days <= 90:
			r.Days61To90 += left
		default:
			r.Over90 += left
		}
		r.Total += left
		out[d.contact] = r
	}
	return out
}

// TestReportsPropertySales drives the sales and purchases service —
// invoices, bills and credit notes created, approved, paid, allocated and
// voided — mixed with manual journals and lock date moves, at random.
// After every step the reports must match the model (journals as the
// service posted them, documents as the test issued them), balance, and
// the aged reports must equal the receivable and payable control accounts.
func TestReportsPropertySales(t *testing.T) {
	rng := propSeed(t)
	b := newBooks(t)
	ctx := t.Context()
	m := newPropModel(b)
	var docs []*propDoc

	type party struct {
		id       int64
		customer bool
	}
	var parties []party
	for i, name := range []string{"Customer A", "Customer B", "=Customer C", "Supplier X", "Supplier Y"} {
		c, err := b.svc.CreateContact(ctx, b.actor, b.org.ID, ledger.ContactInput{Name: name, IsCustomer: i < 3, IsSupplier: i >= 3})
		if err != nil {
			t.Fatal(err)
		}
		parties = append(parties, party{c.ID, i < 3})
	}
	banks, err := b.svc.PaymentBankAccounts(ctx, b.org.ID)
	if err != nil || len(banks) == 0 {
		t.Fatalf("payment bank accounts: %v, %d", err, len(banks))
	}
	bank := banks[0].ID
	revenue := []string{"4000", "4100", "4200"}
	costs := []string{"5000", "6000", "6100", "6200", "6300", "1200", "1500"}
	// Manual journals stay off the control accounts, so that the aged
	// reports and those accounts must agree.
	var manual []*ledger.Account
	for _, a := range b.acct {
		if a.System != ledger.SystemReceivable && a.System != ledger.SystemPayable {
			manual = append(manual, a)
		}
	}
	slices.SortFunc(manual, func(x, y *ledger.Account) int { return int(x.ID - y.ID) })
	addJournal := func(step int, id int64) {
		t.Helper()
		j, err := b.store.FindJournal(ctx, b.org.ID, id)
		if err != nil {
			t.Fatalf("step %d: find journal %d: %v", step, id, err)
		}
		m.add(j, j.SourceType == ledger.SourceManual)
	}
	later := func(date string, days int) string {
		d, _ := time.Parse(ledger.DateLayout, date)
		return d.AddDate(0, 0, rng.IntN(days+1)).Format(ledger.DateLayout)
	}
	locked := func(lock, date string) bool { return lock != "" && date <= lock }
	wantConflict := func(step int, what string, err error) {
		t.Helper()
		if errs.Code(err) != errs.ECONFLICT {
			t.Fatalf("step %d: %s in a locked period: err = %v, want ECONFLICT", step, what, err)
		}
	}

	steps := 200
	if testing.Short() {
		steps = 60
	}
	counts := map[string]int{}
	for step := range steps {
		lock, err := b.store.LockDate(ctx, b.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch p := rng.IntN(100); {
		case p < 35: // a document, approved
			pt := parties[rng.IntN(len(parties))]
			kind, codes := ledger.KindBill, costs
			if pt.customer {
				kind, codes = ledger.KindSales, revenue
			}
			if rng.IntN(4) == 0 {
				kind = ledger.CreditKindFor(kind)
			}
			date := propDate(rng)
			in := ledger.InvoiceInput{Kind: kind, ContactID: pt.id, Date: date, DueDate: later(date, 90)}
			for range 1 + rng.IntN(3) {
				in.Lines = append(in.Lines, ledger.InvoiceLineInput{Description: "item", Quantity: int64(1+rng.IntN(20)) * 2500,
					UnitPrice: 1 + rng.Int64N(200_000), AccountID: b.acct[codes[rng.IntN(len(codes))]].ID})
			}
			inv, err := b.svc.CreateInvoice(ctx, b.actor, b.org.ID, in)
			if err != nil {
				t.Fatalf("step %d: create %s: %v", step, kind, err)
			}
			d := &propDoc{id: inv.ID, kind: kind, contact: pt.id, date: inv.Date, due: inv.DueDate, total: inv.Total}
			docs = append(docs, d)
			inv, err = b.svc.ApproveInvoice(ctx, b.actor, b.org.ID, inv.ID, kind)
			if locked(lock, date) {
				wantConflict(step, "approval", err)
				counts["approval refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: approve %s: %v", step, kind, err)
			}
			d.approved = true
			addJournal(step, inv.JournalID)
			counts["approve "+kind]++
		case p < 55: // a payment of part or all of what is due
			var open []*propDoc
			for _, d := range docs {
				if d.approved && !d.voided && !ledger.IsCreditKind(d.kind) && d.left() > 0 {
					open = append(open, d)
				}
			}
			if len(open) == 0 {
				continue
			}
			d := open[rng.IntN(len(open))]
			amount := d.left()
			if rng.IntN(2) == 0 {
				amount = 1 + rng.Int64N(amount)
			}
			// Never before the invoice: see the note on payments dated
			// before their invoice in the report of this work.
			date := later(d.date, 120)
			pay, err := b.svc.RecordPayment(ctx, b.actor, b.org.ID, d.id, ledger.PaymentInput{BankAccountID: bank, Date: date, Amount: amount})
			if locked(lock, date) {
				wantConflict(step, "payment", err)
				counts["payment refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: pay %d of document %d: %v", step, amount, d.id, err)
			}
			d.payments = append(d.payments, propDated{date, amount})
			addJournal(step, pay.JournalID)
			counts["payment"]++
		case p < 65: // a credit note allocated to an invoice of its contact
			type pair struct{ cn, inv *propDoc }
			var pairs []pair
			for _, cn := range docs {
				if !cn.approved || cn.voided || !ledger.IsCreditKind(cn.kind) || cn.left() <= 0 {
					continue
				}
				for _, inv := range docs {
					if inv.approved && !inv.voided && inv.kind == ledger.InvoiceKindFor(cn.kind) && inv.contact == cn.contact && inv.left() > 0 {
						pairs = append(pairs, pair{cn, inv})
					}
				}
			}
			if len(pairs) == 0 {
				continue
			}
			pr := pairs[rng.IntN(len(pairs))]
			amount := 1 + rng.Int64N(min(pr.cn.left(), pr.inv.left()))
			date := later(max(pr.cn.date, pr.inv.date), 60)
			_, err := b.svc.AllocateCredit(ctx, b.actor, b.org.ID, pr.cn.id, ledger.AllocationInput{InvoiceID: pr.inv.id, Amount: amount, Date: date})
			if locked(lock, date) {
				wantConflict(step, "allocation", err)
				counts["allocation refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: allocate %d of %d to %d: %v", step, amount, pr.cn.id, pr.inv.id, err)
			}
			pr.cn.allocsOut = append(pr.cn.allocsOut, propDated{date, amount})
			pr.inv.allocsIn = append(pr.inv.allocsIn, propDated{date, amount})
			counts["allocation"]++
		case p < 72: // void an approved document nothing was paid or allocated on
			var voidable []*propDoc
			for _, d := range docs {
				if d.approved && !d.voided && len(d.payments)+len(d.allocsIn)+len(d.allocsOut) == 0 {
					voidable = append(voidable, d)
				}
			}
			if len(voidable) == 0 {
				continue
			}
			d := voidable[rng.IntN(len(voidable))]
			inv, err := b.svc.VoidInvoice(ctx, b.actor, b.org.ID, d.id, d.kind)
			if locked(lock, d.date) {
				wantConflict(step, "void", err)
				counts["void refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: void %d: %v", step, d.id, err)
			}
			d.voided = true
			addJournal(step, inv.VoidJournalID)
			counts["void"]++
		case p < 87: // a manual journal
			j := &ledger.Journal{OrgID: b.org.ID, Date: propDate(rng), Narration: "random " + strconv.Itoa(step), Lines: propJournalLines(rng, manual)}
			err := b.svc.PostManualJournal(ctx, b.actor, j)
			if locked(lock, j.Date) {
				wantConflict(step, "journal", err)
				counts["journal refused: locked"]++
				break
			}
			if err != nil {
				t.Fatalf("step %d: post journal: %v", step, err)
			}
			m.add(j, true)
			counts["journal"]++
		default: // move the lock date, mostly earlier than most documents, or lift it
			next := ""
			if rng.IntN(3) > 0 {
				next = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(365)).Format(ledger.DateLayout)
			}
			if err := b.svc.SetLockDate(ctx, b.actor, b.org.ID, next); err != nil {
				if c := errs.Code(err); c == errs.EINTERNAL {
					t.Fatalf("step %d: set lock date %q: %v", step, next, err)
				}
				counts["lock move refused"]++
				break
			}
			counts["lock move"]++
		}
		if step%propCheckEvery != 0 && step != steps-1 {
			continue
		}
		for _, asOf := range []string{propDate(rng), "2027-12-31"} {
			m.check(t, step, asOf)
			tb, err := b.svc.TrialBalance(ctx, b.org.ID, asOf)
			if err != nil {
				t.Fatal(err)
			}
			var ar, ap int64
			for _, r := range tb.Rows {
				switch r.AccountID {
				case b.acct["1100"].ID:
					ar = r.Debit - r.Credit
				case b.acct["2100"].ID:
					ap = r.Credit - r.Debit
				}
			}
			for _, k := range []struct {
				kind    ledger.AgedKind
				run     func() (*ledger.AgedReport, error)
				control int64
			}{
				{ledger.AgedReceivables, func() (*ledger.AgedReport, error) { return b.svc.AgedReceivables(ctx, b.org.ID, asOf) }, ar},
				{ledger.AgedPayables, func() (*ledger.AgedReport, error) { return b.svc.AgedPayables(ctx, b.org.ID, asOf) }, ap},
			} {
				rep, err := k.run()
				if err != nil {
					t.Fatalf("step %d: aged %s on %s: %v", step, k.kind, asOf, err)
				}
				if rep.Totals.Total != k.control {
					t.Fatalf("step %d: aged %s on %s total %d, but the control account holds %d", step, k.kind, asOf, rep.Totals.Total, k.control)
				}
				want := agedModel(docs, k.kind, asOf)
				got := map[int64]ledger.AgedBalance{}
				for _, r := range rep.Rows {
					g := *r
					g.ContactName = ""
					got[r.ContactID] = g
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d: aged %s on %s:\n got %+v\nwant %+v", step, k.kind, asOf, got, want)
				}
			}
		}
	}
	t.Logf("operations: %v", counts)
}
