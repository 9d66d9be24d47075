package ledger_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// counts is how many journals and journal lines the whole database holds,
// to show that a refused posting wrote nothing, in any organisation.
type counts struct{ journals, lines int }

func (b *books) counts(tb testing.TB) counts {
	tb.Helper()
	var c counts
	db := b.store.DB()
	if err := db.QueryRowContext(tb.Context(), `SELECT COUNT(*) FROM journals`).Scan(&c.journals); err != nil {
		tb.Fatal(err)
	}
	if err := db.QueryRowContext(tb.Context(), `SELECT COUNT(*) FROM journal_lines`).Scan(&c.lines); err != nil {
		tb.Fatal(err)
	}
	return c
}

// journal is a balanced two-line manual journal: debit dr, credit cr.
func (b *books) journal(date string, dr, cr string, amount int64) *ledger.Journal {
	return &ledger.Journal{OrgID: b.org.ID, Date: date, Narration: "Test journal " + date, Lines: []ledger.JournalLine{
		{AccountID: b.acct[dr].ID, Debit: amount, Description: "debit side"},
		{AccountID: b.acct[cr].ID, Credit: amount},
	}}
}

// mustPost posts a manual journal or fails the test.
func (b *books) mustPost(tb testing.TB, j *ledger.Journal) *ledger.Journal {
	tb.Helper()
	if err := b.svc.PostManualJournal(tb.Context(), b.actor, j); err != nil {
		tb.Fatalf("post journal: %v", err)
	}
	return j
}

func (b *books) mustLock(tb testing.TB, date string) {
	tb.Helper()
	if err := b.svc.SetLockDate(tb.Context(), b.actor, b.org.ID, date); err != nil {
		tb.Fatalf("set lock date %q: %v", date, err)
	}
}

func TestPostManualJournal(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b := newBooks(t)
		j := &ledger.Journal{OrgID: b.org.ID, Date: "2026-03-01", Narration: "Accrue rent", Lines: []ledger.JournalLine{
			{AccountID: b.acct["6200"].ID, Debit: 120000, Description: "March rent"},
			{AccountID: b.acct["6300"].ID, Debit: 2550},
			{AccountID: b.acct["2300"].ID, Credit: 122550, Description: "accrued"},
		},
			// Posting ignores what the caller says about these.
			SourceType: ledger.SourceInvoice, SourceID: 4, ReversesID: 99, CreatedBy: 12345}
		b.mustPost(t, j)
		if j.ID == 0 || j.SourceType != ledger.SourceManual || j.SourceID != 0 || j.ReversesID != 0 || j.CreatedBy != b.actor.UserID || !j.CreatedAt.Equal(testNow) {
			t.Fatalf("posted journal header = %+v", j)
		}
		got, err := b.svc.FindJournal(t.Context(), b.org.ID, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Date != j.Date || got.Narration != j.Narration || got.SourceType != ledger.SourceManual || got.OrgID != b.org.ID ||
			got.CreatedBy != b.actor.UserID || !got.CreatedAt.Equal(testNow) || got.ReversesID != 0 || got.ReversedByID != 0 {
			t.Fatalf("stored header = %+v, posted %+v", got, j)
		}
		if len(got.Lines) != len(j.Lines) {
			t.Fatalf("stored %d lines, posted %d", len(got.Lines), len(j.Lines))
		}
		for i, l := range got.Lines {
			if l != j.Lines[i] {
				t.Fatalf("line %d stored as %+v, posted %+v", i, l, j.Lines[i])
			}
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("stored journal does not validate: %v", err)
		}
		bal, err := b.svc.AccountBalances(t.Context(), b.org.ID, "2026-03-01")
		if err != nil {
			t.Fatal(err)
		}
		if bal[b.acct["6200"].ID] != 120000 || bal[b.acct["2300"].ID] != -122550 {
			t.Fatalf("balances = %v", bal)
		}
		if bal, _ := b.svc.AccountBalances(t.Context(), b.org.ID, "2026-02-28"); len(bal) != 0 {
			t.Fatalf("balances before the journal's date = %v", bal)
		}
	})

	// Every refusal leaves the database exactly as it was.
	refusals := []struct {
		name  string
		edit  func(b *books, j *ledger.Journal)
		code  string
		words string
	}{
		{"Unbalanced", func(b *books, j *ledger.Journal) { j.Lines[1].Credit = 99 }, errs.EINVALID, "does not balance"},
		{"OneSided", func(b *books, j *ledger.Journal) { j.Lines[1].Debit, j.Lines[1].Credit = 100, 0 }, errs.EINVALID, "does not balance"},
		{"Negative", func(b *books, j *ledger.Journal) { j.Lines[0].Debit, j.Lines[1].Credit = -100, -100 }, errs.EINVALID, "negative"},
		{"UnknownAccount", func(b *books, j *ledger.Journal) { j.Lines[1].AccountID = 999999 }, errs.EINVALID, "account 999999 does not exist"},
		{"BadDate", func(b *books, j *ledger.Journal) { j.Date = "2026-02-30" }, errs.EINVALID, "not a valid date"},
		{"NoNarration", func(b *books, j *ledger.Journal) { j.Narration = "" }, errs.EINVALID, "Narration"},
		{"UnknownContact", func(b *books, j *ledger.Journal) { j.Lines[0].ContactID = 424242 }, errs.EINVALID, "contact 424242 does not exist"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			b := newBooks(t)
			before := b.counts(t)
			j := b.journal("2026-03-01", "6000", "1000", 100)
			tt.edit(b, j)
			err := b.svc.PostManualJournal(t.Context(), b.actor, j)
			if errs.Code(err) != tt.code || !strings.Contains(errs.Message(err), tt.words) {
				t.Fatalf("PostManualJournal() = %v, want %s containing %q", err, tt.code, tt.words)
			}
			if after := b.counts(t); after != before {
				t.Fatalf("refused journal changed the books: %+v → %+v", before, after)
			}
		})
	}
}

func TestPostManualJournalCrossOrg(t *testing.T) {
	b := newBooks(t)
	other := b.otherBooks(t)
	// A journal of this organisation naming the other's accounts, entirely
	// or on one line only.
	for _, foreign := range [][]int{{0, 1}, {1}} {
		before := b.counts(t)
		j := b.journal("2026-03-01", "6000", "1000", 500)
		for _, i := range foreign {
			code := map[int]string{0: "6000", 1: "1000"}[i]
			j.Lines[i].AccountID = other.acct[code].ID
		}
		err := b.svc.PostManualJournal(t.Context(), b.actor, j)
		if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), "does not exist in this organisation") {
			t.Fatalf("lines %v foreign: PostManualJournal() = %v", foreign, err)
		}
		if after := b.counts(t); after != before {
			t.Fatalf("refused cross-organisation journal changed the books: %+v → %+v", before, after)
		}
	}
	// The other organisation's journal is not found from here, cannot be
	// reversed from here, and is not listed here.
	oj := other.mustPost(t, other.journal("2026-03-01", "6000", "1000", 700))
	if _, err := b.svc.FindJournal(t.Context(), b.org.ID, oj.ID); errs.Code(err) != errs.ENOTFOUND {
		t.Fatalf("FindJournal(other org's) = %v, want not found", err)
	}
	before := b.counts(t)
	if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, oj.ID, "2026-03-02"); errs.Code(err) != errs.ENOTFOUND {
		t.Fatalf("ReverseJournal(other org's) = %v, want not found", err)
	}
	if after := b.counts(t); after != before {
		t.Fatalf("refused reversal changed the books: %+v → %+v", before, after)
	}
	js, total, err := b.svc.FindJournals(t.Context(), b.org.ID, ledger.JournalFilter{})
	if err != nil || total != 0 || len(js) != 0 {
		t.Fatalf("FindJournals = %d journals (total %d), %v; want none", len(js), total, err)
	}
	// Nor does filtering by the other organisation's account reveal it.
	js, total, err = b.svc.FindJournals(t.Context(), b.org.ID, ledger.JournalFilter{AccountID: other.acct["6000"].ID})
	if err != nil || total != 0 || len(js) != 0 {
		t.Fatalf("FindJournals(other's account) = %d journals (total %d), %v; want none", len(js), total, err)
	}
	if bal, _ := b.svc.AccountBalances(t.Context(), b.org.ID, "2026-12-31"); len(bal) != 0 {
		t.Fatalf("balances show another organisation's postings: %v", bal)
	}
}

func TestPostManualJournalArchivedAccount(t *testing.T) {
	b := newBooks(t)
	yes := true
	if _, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, b.acct["6000"].ID, ledger.AccountUpdate{Archived: &yes}); err != nil {
		t.Fatal(err)
	}
	before := b.counts(t)
	err := b.svc.PostManualJournal(t.Context(), b.actor, b.journal("2026-03-01", "6000", "1000", 100))
	if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), "archived") {
		t.Fatalf("posting to an archived account = %v", err)
	}
	if after := b.counts(t); after != before {
		t.Fatalf("refused journal changed the books: %+v → %+v", before, after)
	}
	// Unarchived, it takes postings again.
	no := false
	if _, err := b.svc.UpdateAccount(t.Context(), b.actor, b.org.ID, b.acct["6000"].ID, ledger.AccountUpdate{Archived: &no}); err != nil {
		t.Fatal(err)
	}
	b.mustPost(t, b.journal("2026-03-01", "6000", "1000", 100))
}

func TestLockDate(t *testing.T) {
	t.Run("ManualJournals", func(t *testing.T) {
		b := newBooks(t)
		b.mustLock(t, "2026-01-31")
		if d, _ := b.svc.LockDate(t.Context(), b.org.ID); d != "2026-01-31" {
			t.Fatalf("LockDate = %q", d)
		}
		for _, tt := range []struct {
			date string
			ok   bool
		}{{"2025-06-30", false}, {"2026-01-30", false}, {"2026-01-31", false}, {"2026-02-01", true}} {
			before := b.counts(t)
			err := b.svc.PostManualJournal(t.Context(), b.actor, b.journal(tt.date, "6000", "1000", 100))
			if tt.ok && err != nil {
				t.Fatalf("%s after the lock date: %v", tt.date, err)
			}
			if !tt.ok {
				if errs.Code(err) != errs.ECONFLICT || !strings.Contains(errs.Message(err), "locked") {
					t.Fatalf("%s on/before the lock date: %v, want conflict", tt.date, err)
				}
				if after := b.counts(t); after != before {
					t.Fatalf("refused journal changed the books: %+v → %+v", before, after)
				}
			}
		}
		// Removing the lock opens the period again.
		b.mustLock(t, "")
		b.mustPost(t, b.journal("2026-01-15", "6000", "1000", 100))
	})

	t.Run("Reversals", func(t *testing.T) {
		b := newBooks(t)
		j := b.mustPost(t, b.journal("2026-02-10", "6000", "1000", 100))
		b.mustLock(t, "2026-02-15")
		for _, date := range []string{"2026-02-12", "2026-02-15"} {
			before := b.counts(t)
			_, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, date)
			if errs.Code(err) != errs.ECONFLICT || !strings.Contains(errs.Message(err), "locked") {
				t.Fatalf("reversal dated %s with lock 2026-02-15: %v", date, err)
			}
			if after := b.counts(t); after != before {
				t.Fatalf("refused reversal changed the books: %+v → %+v", before, after)
			}
		}
		rev, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-02-16")
		if err != nil {
			t.Fatalf("reversal after the lock date: %v", err)
		}
		if rev.ReversesID != j.ID || rev.Date != "2026-02-16" || rev.SourceType != ledger.SourceReversal {
			t.Fatalf("reversal = %+v", rev)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		b := newBooks(t)
		b.mustLock(t, "2026-01-31")
		for _, d := range []string{"31/01/2026", "2026-02-30", "yesterday"} {
			if err := b.svc.SetLockDate(t.Context(), b.actor, b.org.ID, d); errs.Code(err) != errs.EINVALID {
				t.Fatalf("SetLockDate(%q) = %v, want invalid", d, err)
			}
		}
		if d, _ := b.svc.LockDate(t.Context(), b.org.ID); d != "2026-01-31" {
			t.Fatalf("a refused lock date changed it to %q", d)
		}
	})

	t.Run("Audited", func(t *testing.T) {
		b := newBooks(t)
		b.mustLock(t, "2026-01-31")
		evs, err := b.store.FindAuditEvents(t.Context(), b.actor.UserID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].Action != "ledger.lock_date.set" || !strings.Contains(evs[0].Detail, `to="2026-01-31"`) {
			t.Fatalf("audit events = %+v", evs)
		}
	})
}

func TestReverseJournal(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b := newBooks(t)
		j := b.mustPost(t, &ledger.Journal{OrgID: b.org.ID, Date: "2026-03-01", Narration: "Prepay", Lines: []ledger.JournalLine{
			{AccountID: b.acct["1300"].ID, Debit: 3000},
			{AccountID: b.acct["1000"].ID, Credit: 1000},
			{AccountID: b.acct["2500"].ID, Credit: 2000, Description: "loan"},
		}})
		rev, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-03-01")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := b.svc.FindJournal(t.Context(), b.org.ID, rev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ReversesID != j.ID || stored.SourceType != ledger.SourceReversal || !strings.Contains(stored.Narration, "Prepay") {
			t.Fatalf("stored reversal = %+v", stored)
		}
		for i, l := range stored.Lines {
			o := j.Lines[i]
			if l.AccountID != o.AccountID || l.Debit != o.Credit || l.Credit != o.Debit || l.Description != o.Description {
				t.Fatalf("reversal line %d = %+v, original %+v", i, l, o)
			}
		}
		orig, err := b.svc.FindJournal(t.Context(), b.org.ID, j.ID)
		if err != nil || orig.ReversedByID != rev.ID {
			t.Fatalf("original after reversal: reversed by %d, %v; want %d", orig.ReversedByID, err, rev.ID)
		}
		// Journal and reversal cancel out: every balance is back to zero.
		bal, err := b.svc.AccountBalances(t.Context(), b.org.ID, "2026-03-01")
		if err != nil {
			t.Fatal(err)
		}
		for id, v := range bal {
			if v != 0 {
				t.Fatalf("account %d balance %d after reversal", id, v)
			}
		}
	})

	t.Run("Twice", func(t *testing.T) {
		b := newBooks(t)
		j := b.mustPost(t, b.journal("2026-03-01", "6000", "1000", 100))
		if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-03-02"); err != nil {
			t.Fatal(err)
		}
		before := b.counts(t)
		_, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-03-03")
		if errs.Code(err) != errs.ECONFLICT || !strings.Contains(errs.Message(err), "already been reversed") {
			t.Fatalf("second reversal = %v, want conflict", err)
		}
		if after := b.counts(t); after != before {
			t.Fatalf("refused reversal changed the books: %+v → %+v", before, after)
		}
	})

	// Many members press "reverse" at once: exactly one reversal is posted.
	t.Run("Concurrent", func(t *testing.T) {
		b := newBooks(t)
		j := b.mustPost(t, b.journal("2026-03-01", "6000", "1000", 100))
		before := b.counts(t)
		const n = 8
		var wg sync.WaitGroup
		results := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, results[i] = b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-03-02")
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range results {
			switch {
			case err == nil:
				ok++
			case errs.Code(err) != errs.ECONFLICT:
				t.Errorf("goroutine %d: %v, want success or conflict", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d reversals succeeded, want exactly 1", ok)
		}
		if after := b.counts(t); after.journals != before.journals+1 || after.lines != before.lines+2 {
			t.Fatalf("books went from %+v to %+v; want one more journal of two lines", before, after)
		}
	})

	t.Run("BeforeOriginal", func(t *testing.T) {
		b := newBooks(t)
		j := b.mustPost(t, b.journal("2026-03-01", "6000", "1000", 100))
		_, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-02-28")
		if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), "before the journal it reverses") {
			t.Fatalf("reversal before the original = %v", err)
		}
	})

	t.Run("OnlyManual", func(t *testing.T) {
		b := newBooks(t)
		// A journal an invoice posted is undone through the invoice.
		inv := b.journal("2026-03-01", "1100", "4000", 1200)
		inv.SourceType, inv.SourceID, inv.CreatedAt = ledger.SourceInvoice, 77, testNow
		if err := b.store.PostJournal(t.Context(), inv); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, inv.ID, "2026-03-02"); errs.Code(err) != errs.ECONFLICT {
			t.Fatalf("reversing an invoice's journal = %v, want conflict", err)
		}
		// A reversal is not itself reversed.
		j := b.mustPost(t, b.journal("2026-03-01", "6000", "1000", 100))
		rev, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, j.ID, "2026-03-02")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, rev.ID, "2026-03-03"); errs.Code(err) != errs.ECONFLICT {
			t.Fatalf("reversing a reversal = %v, want conflict", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		b := newBooks(t)
		if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, 424242, "2026-03-02"); errs.Code(err) != errs.ENOTFOUND {
			t.Fatalf("reversing a missing journal = %v", err)
		}
		if _, err := b.svc.ReverseJournal(t.Context(), b.actor, b.org.ID, 1, "02/03/2026"); errs.Code(err) != errs.EINVALID {
			t.Fatalf("reversal with a bad date = %v", err)
		}
	})
}

func TestFindJournals(t *testing.T) {
	b := newBooks(t)
	var posted []*ledger.Journal
	for i, date := range []string{"2026-01-05", "2026-01-20", "2026-02-03", "2026-02-03", "2026-03-10"} {
		cr := "1000"
		if i%2 == 1 {
			cr = "2500"
		}
		posted = append(posted, b.mustPost(t, b.journal(date, "6000", cr, int64(100*(i+1)))))
	}
	ids := func(js []*ledger.Journal) []int64 {
		var out []int64
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	p := func(i int) int64 { return posted[i].ID }
	tests := []struct {
		name  string
		f     ledger.JournalFilter
		want  []int64
		total int
	}{
		{"All", ledger.JournalFilter{}, []int64{p(4), p(3), p(2), p(1), p(0)}, 5},
		{"Page", ledger.JournalFilter{Limit: 2, Offset: 1}, []int64{p(3), p(2)}, 5},
		{"PastEnd", ledger.JournalFilter{Offset: 10}, nil, 5},
		{"Period", ledger.JournalFilter{From: "2026-01-20", To: "2026-02-03"}, []int64{p(3), p(2), p(1)}, 3},
		{"From", ledger.JournalFilter{From: "2026-02-04"}, []int64{p(4)}, 1},
		{"Account", ledger.JournalFilter{AccountID: b.acct["2500"].ID}, []int64{p(3), p(1)}, 2},
		{"AccountAndPeriod", ledger.JournalFilter{AccountID: b.acct["2500"].ID, To: "2026-01-31"}, []int64{p(1)}, 1},
		{"NoPostings", ledger.JournalFilter{AccountID: b.acct["6900"].ID}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, total, err := b.svc.FindJournals(t.Context(), b.org.ID, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(js); total != tt.total || len(got) != len(tt.want) || (len(got) > 0 && !slices.Equal(got, tt.want)) {
				t.Fatalf("FindJournals = %v (total %d), want %v (total %d)", got, total, tt.want, tt.total)
			}
			for _, j := range js {
				if len(j.Lines) != 2 || j.Validate() != nil {
					t.Fatalf("journal %d listed with lines %+v", j.ID, j.Lines)
				}
			}
		})
	}
	if _, _, err := b.svc.FindJournals(t.Context(), b.org.ID, ledger.JournalFilter{From: "2026-03-01", To: "2026-01-01"}); errs.Code(err) != errs.EINVALID {
		t.Fatalf("backwards period = %v", err)
	}
}
