package ledger_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
)

// bankBooks is an organisation's books with its default bank account.
type bankBooks struct {
	*books
	bank *ledger.BankAccount
}

func newBankBooks(tb testing.TB) *bankBooks {
	tb.Helper()
	return bankBooksFor(tb, newBooks(tb))
}

func bankBooksFor(tb testing.TB, b *books) *bankBooks {
	tb.Helper()
	accts, err := b.svc.BankAccounts(tb.Context(), b.org.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if len(accts) != 1 || accts[0].AccountCode != "1000" {
		tb.Fatalf("a new organisation should have the chart's bank account, got %+v", accts)
	}
	return &bankBooks{books: b, bank: accts[0]}
}

func (b *bankBooks) mustImport(tb testing.TB, format, data string) *ledger.BankImport {
	tb.Helper()
	imp, err := b.svc.ImportStatement(tb.Context(), b.actor, b.org.ID, b.bank.ID, ledger.StatementUpload{Format: format, Data: []byte(data), Filename: "statement." + format})
	if err != nil {
		tb.Fatal(err)
	}
	return imp
}

// lines returns the bank account's transactions, oldest first.
func (b *bankBooks) lines(tb testing.TB) []*ledger.BankTransaction {
	tb.Helper()
	txs, total, err := b.svc.BankTransactions(tb.Context(), b.org.ID, ledger.BankTransactionFilter{BankAccountID: b.bank.ID, Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	if total != len(txs) {
		tb.Fatalf("total %d, listed %d", total, len(txs))
	}
	return txs
}

// count counts rows of a table for the organisation.
func (b *bankBooks) count(tb testing.TB, table string) int {
	tb.Helper()
	var n int
	if err := b.store.DB().QueryRowContext(tb.Context(), `SELECT COUNT(*) FROM `+table+` WHERE org_id = ?`, b.org.ID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// bankState fingerprints what the bank area writes and the ledger, so a
// refused action can be shown to change nothing.
func (b *bankBooks) bankState(tb testing.TB) string {
	tb.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT id, status, COALESCE(payment_id, 0), COALESCE(journal_id, 0), fit_id FROM bank_transactions ORDER BY id`,
		`SELECT id, imported, duplicates FROM bank_imports ORDER BY id`,
		`SELECT id, code, system FROM accounts ORDER BY id`,
		`SELECT id, account_id, name, number_last4, COALESCE(length(account_number_enc), 0) FROM bank_accounts ORDER BY id`,
		`SELECT id, source_type, source_id FROM journals ORDER BY id`,
		`SELECT id, account_id, debit, credit FROM journal_lines ORDER BY id`,
		`SELECT id, amount FROM payments ORDER BY id`,
	} {
		rows, err := b.store.DB().QueryContext(tb.Context(), q)
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
			fmt.Fprintln(&out, vals...)
		}
		rows.Close()
		out.WriteString("--\n")
	}
	return out.String()
}

func TestCreateBankAccount(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b := newBankBooks(t)
		// A service with the keys this test holds, to open the sealed number.
		keys := b.keys
		svc := ledger.NewService(b.store, keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
		svc.Now = func() time.Time { return testNow }
		ba, err := svc.CreateBankAccount(t.Context(), b.actor, b.org.ID, ledger.BankAccountInput{Name: "Savings", Code: "1010", AccountNumber: "GB29 NWBK 6016 1331 9268 19"})
		if err != nil {
			t.Fatal(err)
		}
		if ba.NumberLast4 != "6819" || ba.AccountCode != "1010" || ba.Name != "Savings" || ba.Balance != 0 || ba.Currency != "GBP" {
			t.Errorf("got %+v", ba)
		}
		acct, err := b.store.FindAccountByID(t.Context(), b.org.ID, ba.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if acct.Type != ledger.Asset || acct.System != ledger.SystemBank || acct.Code != "1010" {
			t.Errorf("ledger account %+v", acct)
		}
		var enc []byte
		if err := b.store.DB().QueryRow(`SELECT account_number_enc FROM bank_accounts WHERE id = ?`, ba.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(enc, []byte("13319268")) {
			t.Fatal("the account number is stored in the clear")
		}
		plain, err := keys.Open(t.Context(), b.org.ID, enc, keyring.OrgAAD(b.org.ID, "bank_accounts", "account_number", ba.ID))
		if err != nil || string(plain) != "GB29NWBK60161331926819" {
			t.Fatalf("open sealed number: %q, %v", plain, err)
		}
		// Bound to its row: under another row's identity it does not open.
		if _, err := keys.Open(t.Context(), b.org.ID, enc, keyring.OrgAAD(b.org.ID, "bank_accounts", "account_number", b.bank.ID)); err == nil {
			t.Error("the sealed number opens as another row's")
		}
		events, err := b.store.FindAuditEvents(t.Context(), 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			if strings.Contains(e.Detail, "9268") || strings.Contains(e.Detail, "NWBK") {
				t.Errorf("audit event %q carries the account number", e.Detail)
			}
			found = found || e.Action == "bank.account.create"
		}
		if !found {
			t.Error("no audit event")
		}
		all, err := svc.BankAccounts(t.Context(), b.org.ID)
		if err != nil || len(all) != 2 {
			t.Fatalf("list: %v %+v", err, all)
		}
	})
	t.Run("no account number", func(t *testing.T) {
		b := newBankBooks(t)
		ba, err := b.svc.CreateBankAccount(t.Context(), b.actor, b.org.ID, ledger.BankAccountInput{Name: "Petty cash", Code: "1020"})
		if err != nil {
			t.Fatal(err)
		}
		if ba.NumberLast4 != "" {
			t.Errorf("last4 %q", ba.NumberLast4)
		}
	})
	t.Run("refused", func(t *testing.T) {
		b := newBankBooks(t)
		before := b.bankState(t)
		for _, tt := range []struct {
			name string
			in   ledger.BankAccountInput
			code string
			want string
		}{
			{"code in use", ledger.BankAccountInput{Name: "Dup", Code: "4000"}, errs.ECONFLICT, "already has an account with code 4000"},
			{"no name", ledger.BankAccountInput{Name: " ", Code: "1030"}, errs.EINVALID, "Account name"},
			{"bad code", ledger.BankAccountInput{Name: "X", Code: "10 30"}, errs.EINVALID, "Account code"},
			{"bad number", ledger.BankAccountInput{Name: "X", Code: "1030", AccountNumber: "12#4567"}, errs.EINVALID, "Account number must be"},
			{"short number", ledger.BankAccountInput{Name: "X", Code: "1030", AccountNumber: "123"}, errs.EINVALID, "Account number must be"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := b.svc.CreateBankAccount(t.Context(), b.actor, b.org.ID, tt.in)
				msg := wantCode(t, err, tt.code)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not say %q", msg, tt.want)
				}
				if strings.Contains(msg, "4567") {
					t.Errorf("message %q repeats the account number", msg)
				}
			})
		}
		if after := b.bankState(t); after != before {
			t.Errorf("a refused bank account changed the books:\n%s\n%s", before, after)
		}
	})
}

// statementOFX is a small OFX 1.x statement with money in and out.
func statementOFX(lines ...string) string {
	return ofxWrap(strings.Join(lines, ""))
}

func TestImportStatement(t *testing.T) {
	ofx := statementOFX(
		stmttrn("20260301", "-12.50", "F1", "Coffee"),
		stmttrn("20260302", "1500.00", "F2", "Acme"),
		stmttrn("20260303", "-3.00", "F3", "Bank fee"),
	)
	t.Run("the same OFX twice adds nothing the second time", func(t *testing.T) {
		b := newBankBooks(t)
		first := b.mustImport(t, ledger.FormatOFX, ofx)
		if first.Imported != 3 || first.Duplicates != 0 || first.ID == 0 {
			t.Fatalf("first import %+v", first)
		}
		second := b.mustImport(t, ledger.FormatOFX, ofx)
		if second.Imported != 0 || second.Duplicates != 3 {
			t.Fatalf("second import %+v", second)
		}
		txs := b.lines(t)
		if len(txs) != 3 {
			t.Fatalf("%d transactions", len(txs))
		}
		want := []struct {
			date   string
			amount int64
		}{{"2026-03-01", -1250}, {"2026-03-02", 150000}, {"2026-03-03", -300}}
		for i, w := range want {
			if txs[i].Date != w.date || txs[i].Amount != w.amount || txs[i].Status != ledger.BankUnreconciled || txs[i].ImportID != first.ID {
				t.Errorf("transaction %d: %+v", i, txs[i])
			}
		}
		// A statement with one new line and two known ones.
		third := b.mustImport(t, ledger.FormatOFX, statementOFX(stmttrn("20260303", "-3.00", "F3", "Bank fee"), stmttrn("20260304", "-1.00", "F4", "New")))
		if third.Imported != 1 || third.Duplicates != 1 {
			t.Errorf("overlapping import %+v", third)
		}
		if n := b.count(t, "bank_imports"); n != 3 {
			t.Errorf("%d imports recorded", n)
		}
		// Importing moves no money in the ledger: reconciling does.
		ba, err := b.svc.FindBankAccount(t.Context(), b.org.ID, b.bank.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ba.Balance != 0 || ba.Unreconciled != 4 {
			t.Errorf("bank account after imports: %+v", ba)
		}
	})
	t.Run("CSV duplicates across overlapping files", func(t *testing.T) {
		b := newBankBooks(t)
		jan := "Date,Description,Amount\n2026-01-30,Coffee,-3.00\n2026-01-31,Coffee,-3.00\n2026-01-31,Coffee,-3.00\n"
		if imp := b.mustImport(t, ledger.FormatCSV, jan); imp.Imported != 3 {
			t.Fatalf("%+v", imp)
		}
		overlap := "Date,Description,Amount\n2026-01-31,Coffee,-3.00\n2026-01-31,Coffee,-3.00\n2026-02-01,Coffee,-3.00\n"
		if imp := b.mustImport(t, ledger.FormatCSV, overlap); imp.Imported != 1 || imp.Duplicates != 2 {
			t.Fatalf("%+v", imp)
		}
	})
	t.Run("a bad last row imports nothing", func(t *testing.T) {
		b := newBankBooks(t)
		b.mustImport(t, ledger.FormatCSV, "Date,Description,Amount\n2026-01-01,Opening,10.00\n")
		before := b.bankState(t)
		var csv strings.Builder
		csv.WriteString("Date,Description,Amount\n")
		for i := range 500 {
			fmt.Fprintf(&csv, "2026-02-%02d,Line %d,-%d.00\n", i%28+1, i, i+1)
		}
		csv.WriteString("2026-02-30,Bad,1.00\n")
		_, err := b.svc.ImportStatement(t.Context(), b.actor, b.org.ID, b.bank.ID, ledger.StatementUpload{Format: ledger.FormatCSV, Data: []byte(csv.String())})
		if msg := wantCode(t, err, errs.EINVALID); !strings.Contains(msg, "CSV line 502") {
			t.Errorf("message %q does not name line 502", msg)
		}
		if after := b.bankState(t); after != before {
			t.Error("a refused file changed the books")
		}
		if n := b.count(t, "bank_transactions"); n != 1 {
			t.Errorf("%d transactions after a refused import", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		b := newBankBooks(t)
		other := bankBooksFor(t, b.otherBooks(t))
		before := b.bankState(t)
		for _, tt := range []struct {
			name   string
			bankID int64
			up     ledger.StatementUpload
			code   string
			want   string
		}{
			{"another organisation's bank account", other.bank.ID, ledger.StatementUpload{Format: "ofx", Data: []byte(ofx)}, errs.ENOTFOUND, "Bank account not found"},
			{"no such bank account", 999999, ledger.StatementUpload{Format: "ofx", Data: []byte(ofx)}, errs.ENOTFOUND, "Bank account not found"},
			{"other currency", b.bank.ID, ledger.StatementUpload{Format: "ofx", Data: []byte(strings.Replace(ofx, "<CURDEF>GBP", "<CURDEF>USD", 1))}, errs.EINVALID, "in USD but"},
			{"unknown format", b.bank.ID, ledger.StatementUpload{Format: "qif", Data: []byte(ofx)}, errs.EINVALID, "not one of csv or ofx"},
			{"unknown date format", b.bank.ID, ledger.StatementUpload{Format: "csv", DateFormat: "us", Data: []byte("Date,Amount\n")}, errs.EINVALID, "Date format"},
			{"truncated OFX", b.bank.ID, ledger.StatementUpload{Format: "ofx", Data: []byte(ofx[:len(ofx)/2])}, errs.EINVALID, "truncated"},
			{"OFX given as CSV", b.bank.ID, ledger.StatementUpload{Format: "csv", Data: []byte(ofx)}, errs.EINVALID, "CSV line 1"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := b.svc.ImportStatement(t.Context(), b.actor, b.org.ID, tt.bankID, tt.up)
				if msg := wantCode(t, err, tt.code); !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not say %q", msg, tt.want)
				}
			})
		}
		if after := b.bankState(t); after != before {
			t.Error("a refused import changed the books")
		}
	})
}

func TestBankTransactionsScope(t *testing.T) {
	b := newBankBooks(t)
	other := bankBooksFor(t, b.otherBooks(t))
	b.mustImport(t, ledger.FormatOFX, statementOFX(stmttrn("20260301", "-12.50", "F1", "Coffee")))
	theirs := other.mustImport(t, ledger.FormatOFX, statementOFX(stmttrn("20260301", "-12.50", "F1", "Coffee"), stmttrn("20260302", "-1.00", "F2", "Tea")))
	if theirs.Imported != 2 {
		t.Fatalf("the same FITID in another organisation is not a duplicate: %+v", theirs)
	}
	mine := b.lines(t)
	if len(mine) != 1 {
		t.Fatalf("listed %d transactions, want only this organisation's 1", len(mine))
	}
	all, total, err := b.svc.BankTransactions(t.Context(), b.org.ID, ledger.BankTransactionFilter{})
	if err != nil || len(all) != 1 || total != 1 {
		t.Fatalf("unfiltered list: %v %d %d", err, len(all), total)
	}
	_, _, err = b.svc.BankTransactions(t.Context(), b.org.ID, ledger.BankTransactionFilter{BankAccountID: other.bank.ID})
	wantCode(t, err, errs.ENOTFOUND)
	_, err = b.svc.FindBankAccount(t.Context(), b.org.ID, other.bank.ID)
	wantCode(t, err, errs.ENOTFOUND)
	theirLines := other.lines(t)
	_, err = b.svc.FindBankTransaction(t.Context(), b.org.ID, theirLines[0].ID)
	wantCode(t, err, errs.ENOTFOUND)
	_, err = b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, theirLines[0].ID, b.acct["6100"].ID, "")
	wantCode(t, err, errs.ENOTFOUND)
	// Their account for my transaction: not found either.
	_, err = b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, mine[0].ID, other.acct["6100"].ID, "")
	wantCode(t, err, errs.ENOTFOUND)
	if got := other.lines(t); got[0].Status != ledger.BankUnreconciled {
		t.Error("another organisation's transaction was reconciled")
	}
	for _, f := range []ledger.BankTransactionFilter{{Status: "done"}, {Limit: -1}, {Limit: 1001}, {Offset: -1}, {BankAccountID: -1}} {
		_, _, err := b.svc.BankTransactions(t.Context(), b.org.ID, f)
		wantCode(t, err, errs.EINVALID)
	}
	page, total, err := b.svc.BankTransactions(t.Context(), other.org.ID, ledger.BankTransactionFilter{Status: ledger.BankUnreconciled, Limit: 1, Offset: 1})
	if err != nil || len(page) != 1 || total != 2 || page[0].Description != "Tea" {
		t.Fatalf("paging: %v %d %+v", err, total, page)
	}
}

func TestCategoriseBankTransaction(t *testing.T) {
	setup := func(t *testing.T) (*bankBooks, []*ledger.BankTransaction) {
		b := newBankBooks(t)
		b.mustImport(t, ledger.FormatOFX, statementOFX(
			stmttrn("20260301", "-3.00", "F1", "Monthly fee"),
			stmttrn("20260302", "0.42", "F2", "Interest"),
		))
		return b, b.lines(t)
	}
	t.Run("money out: Dr the account, Cr the bank", func(t *testing.T) {
		b, txs := setup(t)
		got, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["6100"].ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ledger.BankReconciled || got.JournalID == 0 {
			t.Fatalf("transaction %+v", got)
		}
		j, err := b.store.FindJournal(t.Context(), b.org.ID, got.JournalID)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("journal does not balance: %v", err)
		}
		if j.Date != "2026-03-01" || j.SourceType != ledger.SourceBank || j.SourceID != got.ID || j.Narration != "Bank: Monthly fee" {
			t.Errorf("journal %+v", j)
		}
		if l := j.Lines; len(l) != 2 || l[0].AccountID != b.acct["6100"].ID || l[0].Debit != 300 || l[1].AccountID != b.bank.AccountID || l[1].Credit != 300 {
			t.Errorf("lines %+v", j.Lines)
		}
		ba, _ := b.svc.FindBankAccount(t.Context(), b.org.ID, b.bank.ID)
		if ba.Balance != -300 || ba.Unreconciled != 1 {
			t.Errorf("bank account %+v", ba)
		}
		again, err := b.svc.FindBankTransaction(t.Context(), b.org.ID, txs[0].ID)
		if err != nil || again.Status != ledger.BankReconciled || again.JournalID != got.JournalID {
			t.Errorf("stored transaction %+v, %v", again, err)
		}
	})
	t.Run("money in: Dr the bank, Cr the account, own description", func(t *testing.T) {
		b, txs := setup(t)
		got, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[1].ID, b.acct["4200"].ID, "  March\tinterest ")
		if err != nil {
			t.Fatal(err)
		}
		j, err := b.store.FindJournal(t.Context(), b.org.ID, got.JournalID)
		if err != nil {
			t.Fatal(err)
		}
		if l := j.Lines; l[0].AccountID != b.bank.AccountID || l[0].Debit != 42 || l[1].AccountID != b.acct["4200"].ID || l[1].Credit != 42 || j.Narration != "Bank: March interest" {
			t.Errorf("journal %+v", j)
		}
	})
	t.Run("refuses twice", func(t *testing.T) {
		b, txs := setup(t)
		if _, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["6100"].ID, ""); err != nil {
			t.Fatal(err)
		}
		before := b.bankState(t)
		_, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["6300"].ID, "")
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "already reconciled") {
			t.Errorf("message %q", msg)
		}
		if b.bankState(t) != before {
			t.Error("a refused second categorisation changed the books")
		}
	})
	t.Run("refuses twice when concurrent", func(t *testing.T) {
		b, txs := setup(t)
		journals := b.count(t, "journals")
		const n = 8
		var wg sync.WaitGroup
		results := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["6100"].ID, "")
				results <- err
			})
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			switch errs.Code(err) {
			case "":
				ok++
			case errs.ECONFLICT:
			default:
				t.Errorf("unexpected error %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent categorisations succeeded, want 1", ok, n)
		}
		if got := b.count(t, "journals"); got != journals+1 {
			t.Errorf("%d journals posted, want 1", got-journals)
		}
	})
	t.Run("refused", func(t *testing.T) {
		b, txs := setup(t)
		archived, err := b.svc.CreateBankAccount(t.Context(), b.actor, b.org.ID, ledger.BankAccountInput{Name: "Old", Code: "1090"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.DB().Exec(`UPDATE accounts SET archived = 1 WHERE id = ?`, archived.AccountID); err != nil {
			t.Fatal(err)
		}
		before := b.bankState(t)
		for _, tt := range []struct {
			name      string
			txID      int64
			accountID int64
			code      string
			want      string
		}{
			{"receivable", txs[1].ID, b.acct["1100"].ID, errs.EINVALID, "match the transaction to an invoice or bill"},
			{"payable", txs[0].ID, b.acct["2100"].ID, errs.EINVALID, "payable control account"},
			{"its own bank account", txs[0].ID, b.bank.AccountID, errs.EINVALID, "own account"},
			{"archived account", txs[0].ID, archived.AccountID, errs.EINVALID, "archived"},
			{"no account", txs[0].ID, 0, errs.EINVALID, "account_id"},
			{"missing account", txs[0].ID, 999999, errs.ENOTFOUND, "account 999999 not found"},
			{"missing transaction", 999999, b.acct["6100"].ID, errs.ENOTFOUND, "not found"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, tt.txID, tt.accountID, "")
				if msg := wantCode(t, err, tt.code); !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not say %q", msg, tt.want)
				}
			})
		}
		if b.bankState(t) != before {
			t.Error("a refused categorisation changed the books")
		}
	})
	t.Run("lock date", func(t *testing.T) {
		b, txs := setup(t)
		if err := b.svc.SetLockDate(t.Context(), b.actor, b.org.ID, "2026-03-01"); err != nil {
			t.Fatal(err)
		}
		before := b.bankState(t)
		_, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["6100"].ID, "")
		if msg := wantCode(t, err, errs.ECONFLICT); !strings.Contains(msg, "locked") {
			t.Errorf("message %q", msg)
		}
		if b.bankState(t) != before {
			t.Error("a posting into the locked period changed the books")
		}
		// The day after the lock date is open.
		if _, err := b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[1].ID, b.acct["4200"].ID, ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReconcileToInvoice(t *testing.T) {
	setup := func(t *testing.T) (*bankBooks, *salesBooks, *ledger.Invoice) {
		b := newBankBooks(t)
		s := salesBooksFor(t, b.books)
		inv := s.sale(t) // 120.00 due
		return b, s, inv
	}
	t.Run("money in pays the sales invoice", func(t *testing.T) {
		b, s, inv := setup(t)
		b.mustImport(t, ledger.FormatCSV, "Date,Description,Amount,Reference\n2026-03-10,ACME TRADING,120.00,"+inv.Number+"\n2026-03-11,Other,99.00,\n")
		txs := b.lines(t)
		sugg, err := b.svc.MatchSuggestions(t.Context(), b.org.ID, txs)
		if err != nil {
			t.Fatal(err)
		}
		if len(sugg[txs[0].ID]) != 1 || sugg[txs[0].ID][0].ID != inv.ID || len(sugg[txs[1].ID]) != 0 {
			t.Fatalf("suggestions %+v", sugg)
		}
		got, err := b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, txs[0].ID, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ledger.BankReconciled || got.PaymentID == 0 {
			t.Fatalf("transaction %+v", got)
		}
		p, err := b.svc.FindPayment(t.Context(), b.org.ID, got.PaymentID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Amount != 12000 || p.Date != "2026-03-10" || p.BankAccountID != b.bank.ID || p.BankTransactionID != got.ID || p.Reference != inv.Number {
			t.Errorf("payment %+v", p)
		}
		paid, err := b.svc.FindInvoice(t.Context(), b.org.ID, inv.ID)
		if err != nil || paid.Status != ledger.InvoicePaid {
			t.Errorf("invoice %+v %v", paid, err)
		}
		if bal := s.balances(t); bal["1000"] != 12000 || bal["1100"] != 0 {
			t.Errorf("balances %v", bal)
		}
		before := b.bankState(t)
		_, err = b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, txs[0].ID, inv.ID)
		wantCode(t, err, errs.ECONFLICT)
		_, err = b.svc.CategoriseBankTransaction(t.Context(), b.actor, b.org.ID, txs[0].ID, b.acct["4100"].ID, "")
		wantCode(t, err, errs.ECONFLICT)
		if b.bankState(t) != before {
			t.Error("a refused second reconciliation changed the books")
		}
	})
	t.Run("money out pays the bill", func(t *testing.T) {
		b, s, _ := setup(t)
		bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 5000, "No tax"))))
		b.mustImport(t, ledger.FormatOFX, statementOFX(stmttrn("20260312", "-50.00", "B1", "Paper Supplies")))
		txs := b.lines(t)
		sugg, err := b.svc.MatchSuggestions(t.Context(), b.org.ID, txs)
		if err != nil || len(sugg[txs[0].ID]) != 1 || sugg[txs[0].ID][0].ID != bill.ID {
			t.Fatalf("suggestions %+v %v", sugg, err)
		}
		got, err := b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, txs[0].ID, bill.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ledger.BankReconciled || got.PaymentID == 0 {
			t.Fatalf("transaction %+v", got)
		}
		if bal := s.balances(t); bal["1000"] != -5000 || bal["2100"] != 0 {
			t.Errorf("balances %v", bal)
		}
	})
	t.Run("refused", func(t *testing.T) {
		b, s, inv := setup(t)
		bill := s.mustApprove(t, s.mustCreate(t, s.input(ledger.KindBill, s.line("6300", 10000, 12000, "No tax"))))
		b.mustImport(t, ledger.FormatCSV, "Date,Description,Amount\n2026-03-10,In,120.00\n2026-03-10,Out,-120.00\n2026-03-10,Part,100.00\n2026-02-01,Early,120.00\n")
		txs := b.lines(t)
		in, out, part, early := txs[1], txs[2], txs[3], txs[0]
		if err := b.svc.SetLockDate(t.Context(), b.actor, b.org.ID, "2026-02-28"); err != nil {
			t.Fatal(err)
		}
		before := b.bankState(t)
		for _, tt := range []struct {
			name      string
			txID, inv int64
			code      string
		}{
			{"money in to a bill", in.ID, bill.ID, errs.EINVALID},
			{"money out to a sales invoice", out.ID, inv.ID, errs.EINVALID},
			{"dated before the invoice (and locked)", early.ID, inv.ID, errs.EINVALID},
			{"missing invoice", in.ID, 999999, errs.ENOTFOUND},
			{"no invoice", in.ID, 0, errs.EINVALID},
			{"missing transaction", 999999, inv.ID, errs.ENOTFOUND},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, tt.txID, tt.inv)
				wantCode(t, err, tt.code)
			})
		}
		if b.bankState(t) != before {
			t.Error("a refused reconciliation changed the books")
		}
		// A line for part of what is due is a part payment.
		got, err := b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, part.ID, inv.ID)
		if err != nil || got.Status != ledger.BankReconciled {
			t.Fatalf("part payment: %+v %v", got, err)
		}
		// Then a line for more than is still due is refused.
		_, err = b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, in.ID, inv.ID)
		wantCode(t, err, errs.ECONFLICT)
	})
	t.Run("another organisation's invoice", func(t *testing.T) {
		b, _, _ := setup(t)
		other := b.otherBooks(t)
		theirs := salesBooksFor(t, other).sale(t)
		b.mustImport(t, ledger.FormatCSV, "Date,Description,Amount\n2026-03-10,In,120.00\n")
		_, err := b.svc.ReconcileToInvoice(t.Context(), b.actor, b.org.ID, b.lines(t)[0].ID, theirs.ID)
		wantCode(t, err, errs.ENOTFOUND)
	})
}

// BenchmarkImportStatement measures the largest statement accepted,
// 100,000 CSV lines: parsing alone, importing it into a fresh bank account
// (one transaction), and importing it again (every line a duplicate).
func BenchmarkImportStatement(b *testing.B) {
	var csv strings.Builder
	csv.WriteString("Date,Description,Reference,Amount\n")
	for i := range ledger.StatementMaxRows {
		fmt.Fprintf(&csv, "2026-%02d-%02d,Card purchase %d at a shop,REF%06d,-%d.%02d\n", i%12+1, i%28+1, i, i, i%5000+1, i%100)
	}
	data := []byte(csv.String())
	up := ledger.StatementUpload{Format: ledger.FormatCSV, Data: data}
	importOnce := func(b *testing.B, bb *bankBooks, want int) {
		imp, err := bb.svc.ImportStatement(b.Context(), bb.actor, bb.org.ID, bb.bank.ID, up)
		if err != nil {
			b.Fatal(err)
		}
		if imp.Imported != want {
			b.Fatalf("imported %d, want %d", imp.Imported, want)
		}
	}
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ledger.ParseCSV(data, ledger.CSVOptions{Exponent: gbp}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bb := newBankBooks(b)
			b.StartTimer()
			importOnce(b, bb, ledger.StatementMaxRows)
		}
	})
	b.Run("duplicates", func(b *testing.B) {
		bb := newBankBooks(b)
		importOnce(b, bb, ledger.StatementMaxRows)
		for b.Loop() {
			importOnce(b, bb, 0)
		}
	})
}
