package ledger_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// validByOracle is an independent statement of what Journal.Validate must
// accept: a valid date and narration, 2 to 10000 lines, each on an account,
// with exactly one strictly positive side within MaxAbs, totals within
// MaxAbs, and debits equal to credits.
func validByOracle(j *ledger.Journal) bool {
	if _, err := ledger.ParseDate(j.Date); err != nil {
		return false
	}
	if j.Narration == "" || len([]rune(j.Narration)) > 500 {
		return false
	}
	if len(j.Lines) < 2 || len(j.Lines) > 10000 {
		return false
	}
	var debits, credits int64
	for _, l := range j.Lines {
		if l.AccountID <= 0 || l.Debit < 0 || l.Credit < 0 || l.ContactID < 0 {
			return false
		}
		if (l.Debit > 0) == (l.Credit > 0) {
			return false
		}
		if l.Debit > money.MaxAbs || l.Credit > money.MaxAbs || len([]rune(l.Description)) > ledger.MaxLineDescription {
			return false
		}
		// Lines are few and each is at most MaxAbs+1 here, so these sums
		// cannot overflow int64.
		debits += l.Debit
		credits += l.Credit
	}
	return debits <= money.MaxAbs && credits <= money.MaxAbs && debits == credits
}

// amountFrom picks an amount, mostly ordinary, sometimes at or past the
// edges Validate must police.
func amountFrom(r *rand.Rand) int64 {
	switch r.IntN(40) {
	case 0:
		return 0
	case 1:
		return -1 - r.Int64N(1000)
	case 2:
		return money.MaxAbs
	case 3:
		return money.MaxAbs + 1
	case 4:
		return money.MaxAbs / 2
	default:
		return 1 + r.Int64N(100000)
	}
}

// randomJournal builds a journal that is valid often enough to test both
// answers: about half the time its last line is set to balance it.
func randomJournal(r *rand.Rand) *ledger.Journal {
	dates := []string{"2026-03-01", "2025-12-31", "1900-01-01", "2026-02-30", "", "26-03-01", "1899-12-31"}
	narrations := []string{"Accrual", "  ", "", strings.Repeat("n", 500), strings.Repeat("n", 501)}
	j := &ledger.Journal{OrgID: 1, Date: dates[r.IntN(len(dates))], Narration: narrations[r.IntN(len(narrations))]}
	if r.IntN(3) > 0 {
		j.Date, j.Narration = "2026-03-01", "Accrual"
	}
	n := r.IntN(7)
	if r.IntN(4) > 0 {
		n = 2 + r.IntN(5)
	}
	for range n {
		l := ledger.JournalLine{AccountID: int64(r.IntN(6)) - 1}
		if r.IntN(10) > 0 {
			l.AccountID = 1 + int64(r.IntN(5))
		}
		switch r.IntN(20) {
		case 0:
			l.Debit, l.Credit = amountFrom(r), amountFrom(r)
		case 1, 2, 3, 4, 5, 6, 7, 8, 9:
			l.Debit = amountFrom(r)
		default:
			l.Credit = amountFrom(r)
		}
		if r.IntN(60) == 0 {
			l.ContactID = -1
		}
		if r.IntN(60) == 0 {
			l.Description = strings.Repeat("d", ledger.MaxLineDescription+r.IntN(2))
		}
		j.Lines = append(j.Lines, l)
	}
	if n >= 2 && r.IntN(2) == 0 {
		var debits, credits int64
		for _, l := range j.Lines[:n-1] {
			debits += l.Debit
			credits += l.Credit
		}
		last := &j.Lines[n-1]
		last.Debit, last.Credit = 0, 0
		if d := debits - credits; d > 0 {
			last.Credit = d
		} else {
			last.Debit = -d
		}
	}
	return j
}

// TestJournalValidateProperty checks Validate against the oracle on many
// random journals, and that a refusal is EINVALID with a message.
func TestJournalValidateProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var accepted, refused int
	for i := range 20000 {
		j := randomJournal(r)
		err := j.Validate()
		want := validByOracle(j)
		if (err == nil) != want {
			t.Fatalf("journal %d: Validate() = %v, oracle says valid=%t: %+v", i, err, want, j)
		}
		if err != nil {
			refused++
			if errs.Code(err) != errs.EINVALID || errs.Message(err) == "" {
				t.Fatalf("journal %d: refusal %v is not EINVALID with a message", i, err)
			}
		} else {
			accepted++
		}
	}
	// Both answers must be well represented or the property says little.
	t.Logf("accepted %d, refused %d", accepted, refused)
	if accepted < 1000 || refused < 1000 {
		t.Fatalf("accepted %d, refused %d: the generator is lopsided", accepted, refused)
	}
}

// FuzzJournalValidate drives Validate with lines decoded from fuzz input
// and checks it against the oracle.
func FuzzJournalValidate(f *testing.F) {
	f.Add([]byte{}, "2026-03-01")
	f.Add(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 100), 100), "2026-03-01")
	f.Add(make([]byte, 64), "2026-13-01")
	f.Fuzz(func(t *testing.T, data []byte, date string) {
		j := &ledger.Journal{OrgID: 1, Date: date, Narration: "Fuzz"}
		// Each 17 bytes make a line: account, side and amount.
		for len(data) >= 17 && len(j.Lines) < 50 {
			l := ledger.JournalLine{AccountID: int64(int8(data[0]))}
			amt := int64(binary.BigEndian.Uint64(data[1:9]))
			other := int64(binary.BigEndian.Uint64(data[9:17]))
			// Keep amounts near the interesting range without overflowing
			// the oracle's sums.
			amt %= 2 * money.MaxAbs
			other %= 3
			if other == 0 {
				l.Debit = amt
			} else if other == 1 || other == -1 {
				l.Credit = amt
			} else {
				l.Debit, l.Credit = amt, amt
			}
			j.Lines = append(j.Lines, l)
			data = data[17:]
		}
		err := j.Validate()
		if want := validByOracle(j); (err == nil) != want {
			t.Fatalf("Validate() = %v, oracle says valid=%t: %+v", err, want, j)
		}
	})
}

func TestJournalValidateMessages(t *testing.T) {
	line := func(acct, dr, cr int64) ledger.JournalLine {
		return ledger.JournalLine{AccountID: acct, Debit: dr, Credit: cr}
	}
	tests := []struct {
		name  string
		lines []ledger.JournalLine
		want  string
	}{
		{"Unbalanced", []ledger.JournalLine{line(1, 100, 0), line(2, 0, 90)}, "does not balance"},
		{"OneSided", []ledger.JournalLine{line(1, 100, 0), line(2, 100, 0)}, "does not balance"},
		{"OneLine", []ledger.JournalLine{line(1, 100, 0)}, "at least two lines"},
		{"Negative", []ledger.JournalLine{line(1, -100, 0), line(2, 0, -100)}, "Line 1 has a negative amount"},
		{"BothSides", []ledger.JournalLine{line(1, 100, 100), line(2, 0, 0)}, "Line 1 must have either a debit or a credit"},
		{"NoAccount", []ledger.JournalLine{line(0, 100, 0), line(2, 0, 100)}, "Line 1 has no account"},
		{"TooLarge", []ledger.JournalLine{line(1, money.MaxAbs+1, 0), line(2, 0, money.MaxAbs+1)}, "too large"},
		{"TotalTooLarge", []ledger.JournalLine{line(1, money.MaxAbs, 0), line(2, money.MaxAbs, 0), line(3, 0, 1)}, "total is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &ledger.Journal{Date: "2026-03-01", Narration: "Test", Lines: tt.lines}
			err := j.Validate()
			if errs.Code(err) != errs.EINVALID || !strings.Contains(errs.Message(err), tt.want) {
				t.Fatalf("Validate() = %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func TestJournalValidateIn(t *testing.T) {
	j := &ledger.Journal{Date: "2026-03-01", Narration: "Test", Lines: []ledger.JournalLine{{AccountID: 1, Debit: 100000}, {AccountID: 2, Credit: 99999}}}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{j.Validate(), "debits 100000 and credits 99999 (minor units) differ by 1."},
		{j.ValidateIn(2), "debits 1000.00 and credits 999.99 differ by 0.01."},
		{j.ValidateIn(0), "debits 100000 and credits 99999 differ by 1."},
	} {
		if errs.Code(tt.err) != errs.EINVALID || !strings.Contains(errs.Message(tt.err), tt.want) {
			t.Errorf("got %v, want a message containing %q", tt.err, tt.want)
		}
	}
	j.Lines[1].Credit = 100000
	if err := j.ValidateIn(2); err != nil {
		t.Fatal(err)
	}
}

func TestReversal(t *testing.T) {
	j := &ledger.Journal{ID: 7, OrgID: 3, Date: "2026-03-01", Narration: "Accrual", SourceType: ledger.SourceManual,
		Lines: []ledger.JournalLine{{AccountID: 1, Debit: 150}, {AccountID: 2, Credit: 100, ContactID: 9}, {AccountID: 3, Credit: 50, Description: "x"}}}
	rev := j.Reversal("2026-03-02", "Undo", 5)
	if rev.ReversesID != 7 || rev.OrgID != 3 || rev.SourceType != ledger.SourceReversal || rev.CreatedBy != 5 || rev.Date != "2026-03-02" {
		t.Fatalf("reversal header = %+v", rev)
	}
	for i, l := range rev.Lines {
		o := j.Lines[i]
		if l.AccountID != o.AccountID || l.Debit != o.Credit || l.Credit != o.Debit || l.ContactID != o.ContactID || l.Description != o.Description {
			t.Fatalf("line %d = %+v, original %+v", i, l, o)
		}
	}
	if err := rev.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckLockDate(t *testing.T) {
	tests := []struct {
		date, lock string
		ok         bool
	}{
		{"2026-01-31", "", true},
		{"2026-01-30", "2026-01-31", false},
		{"2026-01-31", "2026-01-31", false},
		{"2026-02-01", "2026-01-31", true},
		{"2025-12-31", "2026-01-31", false},
	}
	for _, tt := range tests {
		t.Run(tt.date+"/"+tt.lock, func(t *testing.T) {
			err := ledger.CheckLockDate(tt.date, tt.lock)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckLockDate(%q, %q) = %v, want ok=%t", tt.date, tt.lock, err, tt.ok)
			}
			if err != nil && errs.Code(err) != errs.ECONFLICT {
				t.Fatalf("code = %s, want conflict", errs.Code(err))
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"2026-03-01", "2026-03-01", true},
		{"1900-01-01", "1900-01-01", true},
		{"1899-12-31", "", false},
		{"2026-02-29", "", false},
		{"2024-02-29", "2024-02-29", true},
		{"2026-3-1", "", false},
		{"", "", false},
		{"2026-03-01T00:00:00Z", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ledger.ParseDate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseDate(%q) = %q, %v; want %q ok=%t", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseTaxRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"20", 2000, true},
		{"20.00", 2000, true},
		{"17.5", 1750, true},
		{"0", 0, true},
		{"100", 10000, true},
		{"100.01", 0, false},
		{"-5", 0, false},
		{"5.125", 0, false},
		{"twenty", 0, false},
		{"", 0, false},
		{"20%", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ledger.ParseTaxRate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseTaxRate(%q) = %d, %v; want %d ok=%t", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && errs.Code(err) != errs.EINVALID {
				t.Fatalf("code = %s", errs.Code(err))
			}
			if err == nil && ledger.FormatTaxRate(got) != money.Format(tt.want, 2) {
				t.Fatalf("FormatTaxRate(%d) = %q", got, ledger.FormatTaxRate(got))
			}
		})
	}
}

func TestAccountUpdateApply(t *testing.T) {
	str := func(s string) *string { return &s }
	typ := func(t ledger.AccountType) *ledger.AccountType { return &t }
	yes := true
	plain := ledger.Account{ID: 1, Code: "6000", Name: "Advertising", Type: ledger.Expense}
	system := ledger.Account{ID: 2, Code: "1100", Name: "Accounts Receivable", Type: ledger.Asset, System: ledger.SystemReceivable}
	tests := []struct {
		name     string
		acct     ledger.Account
		posted   bool
		u        ledger.AccountUpdate
		wantCode string // "" for success
		check    func(a ledger.Account) bool
	}{
		{"RenameWithPostings", plain, true, ledger.AccountUpdate{Name: str("Marketing")}, "", func(a ledger.Account) bool { return a.Name == "Marketing" }},
		{"SameCodeWithPostings", plain, true, ledger.AccountUpdate{Code: str("6000"), Type: typ(ledger.Expense)}, "", nil},
		{"CodeWithoutPostings", plain, false, ledger.AccountUpdate{Code: str("6010")}, "", func(a ledger.Account) bool { return a.Code == "6010" }},
		{"CodeWithPostings", plain, true, ledger.AccountUpdate{Code: str("6010")}, errs.ECONFLICT, nil},
		{"TypeWithoutPostings", plain, false, ledger.AccountUpdate{Type: typ(ledger.Asset)}, "", func(a ledger.Account) bool { return a.Type == ledger.Asset }},
		{"TypeWithPostings", plain, true, ledger.AccountUpdate{Type: typ(ledger.Asset)}, errs.ECONFLICT, nil},
		{"UnknownType", plain, false, ledger.AccountUpdate{Type: typ("income")}, errs.EINVALID, nil},
		{"SystemType", system, false, ledger.AccountUpdate{Type: typ(ledger.Liability)}, errs.ECONFLICT, nil},
		{"ArchiveSystem", system, false, ledger.AccountUpdate{Archived: &yes}, errs.ECONFLICT, nil},
		{"ArchivePlain", plain, true, ledger.AccountUpdate{Archived: &yes}, "", func(a ledger.Account) bool { return a.Archived }},
		{"EmptyName", plain, false, ledger.AccountUpdate{Name: str("  ")}, errs.EINVALID, nil},
		{"BadCode", plain, false, ledger.AccountUpdate{Code: str("60 00")}, errs.EINVALID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.acct
			err := tt.u.Apply(&a, tt.posted)
			if errs.Code(err) != tt.wantCode {
				t.Fatalf("Apply() = %v, want code %q", err, tt.wantCode)
			}
			if tt.check != nil && !tt.check(a) {
				t.Fatalf("account after Apply = %+v", a)
			}
		})
	}
}

func TestJournalFilterValidate(t *testing.T) {
	tests := []struct {
		name string
		f    ledger.JournalFilter
		ok   bool
	}{
		{"Default", ledger.JournalFilter{}, true},
		{"Period", ledger.JournalFilter{From: "2026-01-01", To: "2026-01-31", Limit: 10, Offset: 20}, true},
		{"Backwards", ledger.JournalFilter{From: "2026-02-01", To: "2026-01-31"}, false},
		{"BadDate", ledger.JournalFilter{From: "2026-02-30"}, false},
		{"LimitTooLarge", ledger.JournalFilter{Limit: ledger.MaxJournalLimit + 1}, false},
		{"NegativeOffset", ledger.JournalFilter{Offset: -1}, false},
		{"NegativeAccount", ledger.JournalFilter{AccountID: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			err := f.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			if err == nil && f.Limit == 0 {
				t.Fatal("default limit not filled in")
			}
		})
	}
}
