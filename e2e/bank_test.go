package e2e

// Bank accounts end to end: statement import (OFX and CSV) through the
// JSON API and the HTML upload form, duplicate detection across imports,
// reconciliation by categorising, and who may do what. Source addresses
// 127.0.0.40–49.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"coffer/client"
	"coffer/internal/testserver"
)

type bankAccountOut struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	AccountID    int64  `json:"account_id"`
	AccountCode  string `json:"account_code"`
	NumberLast4  string `json:"number_last4"`
	Currency     string `json:"currency"`
	Balance      string `json:"balance"`
	Unreconciled int    `json:"unreconciled"`
}

type bankTxOut struct {
	ID            int64  `json:"id"`
	BankAccountID int64  `json:"bank_account_id"`
	Date          string `json:"date"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Description   string `json:"description"`
	FitID         string `json:"fit_id"`
	Status        string `json:"status"`
	JournalID     *int64 `json:"journal_id"`
	PaymentID     *int64 `json:"payment_id"`
}

type bankImportOut struct {
	Imported   int   `json:"imported"`
	Duplicates int   `json:"duplicates"`
	ImportID   int64 `json:"import_id"`
}

// bankStatementOFX is an OFX 1.x statement (SGML, CRLF, unclosed leaves)
// as a UK bank exports it.
var bankStatementOFX = strings.ReplaceAll(`OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>20260401<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>1
<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<STMTRS>
<CURDEF>GBP
<BANKACCTFROM><BANKID>401234<ACCTID>12345678<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20260301<DTEND>20260331
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20260302120000.000[0:GMT]
<TRNAMT>-12.50
<FITID>202603020001
<NAME>M&S SIMPLY FOOD
<MEMO>Card purchase
</STMTTRN>
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20260305
<TRNAMT>1500.00
<FITID>202603050002
<NAME>ACME LTD
<REFNUM>INV-0001
</STMTTRN>
<STMTTRN>
<TRNTYPE>FEE
<DTPOSTED>20260331
<TRNAMT>-3.00
<FITID>202603310003
<NAME>Monthly account fee
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL><BALAMT>1484.50<DTASOF>20260331</LEDGERBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
`, "\n", "\r\n")

// bankUpload sends a statement as the raw body of an import request.
func bankUpload(t *testing.T, m *member, path, contentType string, body []byte, header http.Header, out any) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("POST", m.C.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+m.Session)
	resp, err := m.C.HTTP.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error client.Error `json:"error"`
		}
		e := &client.Error{Status: resp.StatusCode}
		if jsonErr := json.Unmarshal(data, &env); jsonErr == nil {
			e.Code, e.Message = env.Error.Code, env.Error.Message
		}
		return resp, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decode %s: %v: %s", path, err, data)
		}
	}
	return resp, nil
}

// wantStatus fails unless err is an API error with that status, and
// returns its message.
func bankWantStatus(t *testing.T, err error, status int) string {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("error = %v, want status %d", err, status)
	}
	return e.Message
}

func bankTransactions(t *testing.T, m *member, query string) ([]bankTxOut, int) {
	t.Helper()
	var out struct {
		Transactions []bankTxOut `json:"bank_transactions"`
		Total        int         `json:"total"`
	}
	if err := m.C.Do(context.Background(), "GET", m.orgPath("bank-transactions?"+query), m.Session, nil, &out); err != nil {
		t.Fatalf("list bank transactions: %v", err)
	}
	return out.Transactions, out.Total
}

func bankAccounts(t *testing.T, m *member) []bankAccountOut {
	t.Helper()
	var out struct {
		Accounts []bankAccountOut `json:"bank_accounts"`
	}
	if err := m.C.Do(context.Background(), "GET", m.orgPath("bank-accounts"), m.Session, nil, &out); err != nil {
		t.Fatalf("list bank accounts: %v", err)
	}
	return out.Accounts
}

func TestBankAPI(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	owner := signedInMember(t, srv, "127.0.0.40", "owner@bank.example", "Bank Books Ltd", "owner")
	reader := signedInMember(t, srv, "127.0.0.41", "reader@bank.example", "Bank Books Ltd", "read_only")
	outsider := signedInMember(t, srv, "127.0.0.42", "owner@elsewhere.example", "Elsewhere Books Ltd", "owner")

	accts := bankAccounts(t, owner)
	if len(accts) != 1 || accts[0].AccountCode != "1000" || accts[0].Balance != "0.00" || accts[0].Currency != "GBP" {
		t.Fatalf("a new organisation's bank accounts: %+v", accts)
	}
	bank := accts[0]
	importPath := owner.orgPath(fmt.Sprintf("bank-accounts/%d/import", bank.ID))

	t.Run("add a bank account; only the last four digits come back", func(t *testing.T) {
		var got map[string]any
		err := owner.C.Do(ctx, "POST", owner.orgPath("bank-accounts"), owner.Session, map[string]string{"name": "Savings", "code": "1010", "account_number": "20-00-00 55779911"}, &got)
		if err != nil {
			t.Fatal(err)
		}
		if got["number_last4"] != "9911" || got["account_code"] != "1010" {
			t.Errorf("created %v", got)
		}
		if s := fmt.Sprint(got); strings.Contains(s, "55779911") {
			t.Errorf("the answer carries the account number: %s", s)
		}
		err = reader.C.Do(ctx, "POST", reader.orgPath("bank-accounts"), reader.Session, map[string]string{"name": "X", "code": "1011"}, nil)
		bankWantStatus(t, err, 403)
		if strings.Contains(srv.Log.String(), "55779911") {
			t.Error("the server log carries the account number")
		}
	})

	t.Run("the same OFX twice: the second import is all duplicates", func(t *testing.T) {
		var first, second bankImportOut
		resp, err := bankUpload(t, owner, importPath, "application/x-ofx", []byte(bankStatementOFX), nil, &first)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 201 || first.Imported != 3 || first.Duplicates != 0 || first.ImportID == 0 {
			t.Fatalf("first import: %d %+v", resp.StatusCode, first)
		}
		// text/plain with ?format=ofx is the same file.
		if _, err := bankUpload(t, owner, importPath+"?format=ofx", "text/plain", []byte(bankStatementOFX), nil, &second); err != nil {
			t.Fatal(err)
		}
		if second.Imported != 0 || second.Duplicates != 3 {
			t.Fatalf("second import: %+v", second)
		}
		txs, total := bankTransactions(t, owner, fmt.Sprintf("bank_account_id=%d", bank.ID))
		if total != 3 || len(txs) != 3 {
			t.Fatalf("%d transactions after two imports of one file", total)
		}
		want := []struct{ date, amount, fit string }{
			{"2026-03-02", "-12.50", "ofx:202603020001"},
			{"2026-03-05", "1500.00", "ofx:202603050002"},
			{"2026-03-31", "-3.00", "ofx:202603310003"},
		}
		for i, w := range want {
			if g := txs[i]; g.Date != w.date || g.Amount != w.amount || g.FitID != w.fit || g.Status != "unreconciled" || g.Currency != "GBP" {
				t.Errorf("transaction %d: %+v", i, g)
			}
		}
	})

	t.Run("an Idempotency-Key replays the first answer", func(t *testing.T) {
		csv := []byte("Date,Description,Amount\n2026-04-01,Coffee,-2.80\n")
		h := http.Header{"Idempotency-Key": {"bank-import-1"}}
		var a, b bankImportOut
		if _, err := bankUpload(t, owner, importPath, "text/csv", csv, h, &a); err != nil {
			t.Fatal(err)
		}
		resp, err := bankUpload(t, owner, importPath, "text/csv", csv, h, &b)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Idempotent-Replayed") != "true" || a != b || a.Imported != 1 {
			t.Errorf("replay: %v %+v %+v", resp.Header, a, b)
		}
	})

	t.Run("refused imports change nothing", func(t *testing.T) {
		_, before := bankTransactions(t, owner, "")
		truncated := []byte(bankStatementOFX[:strings.Index(bankStatementOFX, "<FITID>202603310003")])
		for _, tt := range []struct {
			name        string
			m           *member
			path        string
			contentType string
			body        []byte
			status      int
			want        string
		}{
			{"read_only member", reader, reader.orgPath(fmt.Sprintf("bank-accounts/%d/import", bank.ID)), "application/x-ofx", []byte(bankStatementOFX), 403, "does not allow"},
			{"a member of another organisation", outsider, importPath, "application/x-ofx", []byte(bankStatementOFX), 404, "not found"},
			{"another organisation's bank account id", outsider, outsider.orgPath(fmt.Sprintf("bank-accounts/%d/import", bank.ID)), "application/x-ofx", []byte(bankStatementOFX), 404, "not found"},
			{"JSON content type", owner, importPath, "application/json", []byte(`{}`), 415, "text/csv or application/x-ofx"},
			{"no content type", owner, importPath, "", []byte(bankStatementOFX), 415, "text/csv"},
			{"text/plain without a format", owner, importPath, "text/plain", []byte(bankStatementOFX), 415, "?format=csv"},
			{"CSV in Windows-1252", owner, importPath, "text/csv; charset=windows-1252", []byte("Date,Amount\n"), 415, "UTF-8"},
			{"truncated OFX", owner, importPath, "application/ofx", truncated, 400, "truncated"},
			{"CSV with a bad last line", owner, importPath, "text/csv", []byte("Date,Description,Amount\n2026-04-02,Tea,-1.00\n2026-04-03,Cake,-2,50\n"), 400, "CSV line 3"},
			{"CSV not in UTF-8", owner, importPath, "text/csv", []byte("Date,Description,Amount\n2026-04-02,Caf\xe9,-1.00\n"), 400, "not UTF-8"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := bankUpload(t, tt.m, tt.path, tt.contentType, tt.body, nil, nil)
				if msg := bankWantStatus(t, err, tt.status); !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not say %q", msg, tt.want)
				}
			})
		}
		if _, after := bankTransactions(t, owner, ""); after != before {
			t.Errorf("%d transactions before, %d after refused imports", before, after)
		}
		// The reader can see them, though.
		if txs, _ := bankTransactions(t, reader, ""); len(txs) != before {
			t.Errorf("the reader sees %d transactions", len(txs))
		}
	})

	t.Run("too large", func(t *testing.T) {
		big := bytes.Repeat([]byte("2026-04-01,x,1.00\n"), (10<<20)/18+1)
		_, err := bankUpload(t, owner, importPath, "text/csv", append([]byte("Date,Description,Amount\n"), big...), nil, nil)
		bankWantStatus(t, err, 413)
	})

	t.Run("reconcile a line by categorising it", func(t *testing.T) {
		var chart struct {
			Accounts []struct {
				ID   int64  `json:"id"`
				Code string `json:"code"`
			} `json:"accounts"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath("accounts"), owner.Session, nil, &chart); err != nil {
			t.Fatal(err)
		}
		ids := map[string]int64{}
		for _, a := range chart.Accounts {
			ids[a.Code] = a.ID
		}
		txs, _ := bankTransactions(t, owner, fmt.Sprintf("bank_account_id=%d&status=unreconciled", bank.ID))
		var fee bankTxOut
		for _, tx := range txs {
			if tx.Amount == "-3.00" {
				fee = tx
			}
		}
		path := owner.orgPath(fmt.Sprintf("bank-transactions/%d/reconcile", fee.ID))
		err := reader.C.Do(ctx, "POST", reader.orgPath(fmt.Sprintf("bank-transactions/%d/reconcile", fee.ID)), reader.Session, map[string]any{"account_id": ids["6100"]}, nil)
		bankWantStatus(t, err, 403)
		err = owner.C.Do(ctx, "POST", path, owner.Session, map[string]any{"account_id": ids["1100"]}, nil)
		if msg := bankWantStatus(t, err, 400); !strings.Contains(msg, "invoice or bill") {
			t.Errorf("receivable: %q", msg)
		}
		err = owner.C.Do(ctx, "POST", path, owner.Session, map[string]any{"account_id": ids["6100"], "invoice_id": 1}, nil)
		bankWantStatus(t, err, 400)
		var got bankTxOut
		if err := owner.C.Do(ctx, "POST", path, owner.Session, map[string]any{"account_id": ids["6100"], "description": "March account fee"}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != "reconciled" || got.JournalID == nil || got.PaymentID != nil {
			t.Fatalf("reconciled: %+v", got)
		}
		var out struct {
			Journal struct {
				Narration  string `json:"narration"`
				SourceType string `json:"source_type"`
				Lines      []struct {
					AccountID int64  `json:"account_id"`
					Debit     string `json:"debit"`
					Credit    string `json:"credit"`
				} `json:"lines"`
			} `json:"journal"`
		}
		if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("journals/%d", *got.JournalID)), owner.Session, nil, &out); err != nil {
			t.Fatal(err)
		}
		j := out.Journal
		if j.SourceType != "bank" || j.Narration != "Bank: March account fee" {
			t.Errorf("journal %+v", j)
		}
		if len(j.Lines) != 2 || j.Lines[0].AccountID != ids["6100"] || j.Lines[0].Debit != "3.00" || j.Lines[1].AccountID != ids["1000"] || j.Lines[1].Credit != "3.00" {
			t.Errorf("journal %+v", j)
		}
		err = owner.C.Do(ctx, "POST", path, owner.Session, map[string]any{"account_id": ids["6300"]}, nil)
		bankWantStatus(t, err, 409)
		for _, a := range bankAccounts(t, owner) {
			if a.ID == bank.ID && (a.Balance != "-3.00" || a.Unreconciled != 3) {
				t.Errorf("bank account after reconciling: %+v", a)
			}
		}
		// Another organisation's member cannot see or touch the line.
		err = outsider.C.Do(ctx, "GET", outsider.orgPath(fmt.Sprintf("bank-transactions/%d", fee.ID)), outsider.Session, nil, nil)
		bankWantStatus(t, err, 404)
	})
}

var bankCSRFRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// bankBrowser uses m's session as a browser would, through its cookie.
func bankBrowser(t *testing.T, srv *testserver.Server, m *member) *http.Client {
	t.Helper()
	hc := m.C.HTTP
	u, err := url.Parse(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	hc.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-coffer_session", Value: m.Session, Path: "/", Secure: true, HttpOnly: true}})
	return hc
}

func bankGet(t *testing.T, hc *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.RequestURI(), string(b)
}

// bankPostFile posts a multipart form with a statement file, as the
// upload form does.
func bankPostFile(t *testing.T, hc *http.Client, u, csrf, name string, file []byte, fields map[string]string) (int, string, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrf != "" {
		mw.WriteField("csrf_token", csrf)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	req, err := http.NewRequest("POST", u, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.RequestURI(), string(b)
}

func TestBankPages(t *testing.T) {
	srv := testserver.Start(t)
	owner := signedInMember(t, srv, "127.0.0.43", "owner@bankpages.example", "Bank Pages Ltd", "owner")
	reader := signedInMember(t, srv, "127.0.0.44", "reader@bankpages.example", "Bank Pages Ltd", "read_only")
	bank := bankAccounts(t, owner)[0]
	hc := bankBrowser(t, srv, owner)
	page := fmt.Sprintf("%s/orgs/%d/bank/%d", srv.URL, owner.OrgID, bank.ID)

	status, _, body := bankGet(t, hc, fmt.Sprintf("%s/orgs/%d/bank", srv.URL, owner.OrgID))
	if status != 200 || !strings.Contains(body, "Business Bank Account") {
		t.Fatalf("bank page: %d", status)
	}
	status, _, body = bankGet(t, hc, page)
	if status != 200 || !strings.Contains(body, `enctype="multipart/form-data"`) {
		t.Fatalf("bank account page: %d", status)
	}
	m := bankCSRFRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the bank account page")
	}
	csrf := html.UnescapeString(m[1])
	statement := []byte("Date,Details,Paid out,Paid in\r\n02/03/2026,Stationery,45.00,\r\n03/03/2026,Refund,,\"1,045.00\"\r\n")
	fields := map[string]string{"format": "auto", "date_format": "dmy"}

	// Without the token in the multipart body the upload is refused.
	status, _, _ = bankPostFile(t, hc, page+"/import", "", "march.csv", statement, fields)
	if status != 403 {
		t.Fatalf("upload without CSRF token: %d, want 403", status)
	}
	status, final, body := bankPostFile(t, hc, page+"/import", csrf, "march.csv", statement, fields)
	if status != 200 || !strings.Contains(final, "imported=2") || !strings.Contains(body, "Imported 2 new transactions.") || !strings.Contains(body, "1045.00") {
		t.Fatalf("upload: %d %s", status, final)
	}
	status, final, body = bankPostFile(t, hc, page+"/import", csrf, "march.csv", statement, fields)
	if status != 200 || !strings.Contains(final, "imported=0&duplicates=2") || !strings.Contains(body, "2 lines already imported before were skipped") {
		t.Fatalf("second upload: %d %s", status, final)
	}
	// A bad file is shown back with its problem, and imports nothing.
	status, _, body = bankPostFile(t, hc, page+"/import", csrf, "bad.csv", []byte("Date,Details,Paid out,Paid in\r\n31/02/2026,X,1.00,\r\n"), fields)
	if status != 400 || !strings.Contains(body, "CSV line 2") {
		t.Fatalf("bad upload: %d", status)
	}
	if _, total := bankTransactions(t, owner, ""); total != 2 {
		t.Errorf("%d transactions, want 2", total)
	}

	// Categorise the money out through its form.
	txs, _ := bankTransactions(t, owner, "status=unreconciled")
	var out bankTxOut
	for _, tx := range txs {
		if tx.Amount == "-45.00" {
			out = tx
		}
	}
	_, _, body = bankGet(t, hc, page)
	opt := regexp.MustCompile(`<option value="(\d+)">6300 `).FindStringSubmatch(body)
	if opt == nil {
		t.Fatal("no account 6300 to categorise to")
	}
	form := url.Values{"csrf_token": {csrf}, "action": {"categorise"}, "account_id": {opt[1]}, "description": {"Paper and pens"}}
	resp, err := hc.PostForm(fmt.Sprintf("%s/transactions/%d/reconcile", page, out.ID), form)
	if err != nil {
		t.Fatal(err)
	}
	body2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.RawQuery, "reconciled=1") || !strings.Contains(string(body2), "The transaction is reconciled.") {
		t.Fatalf("categorise: %d %s", resp.StatusCode, resp.Request.URL)
	}
	if txs, _ := bankTransactions(t, owner, "status=reconciled"); len(txs) != 1 || txs[0].ID != out.ID {
		t.Errorf("reconciled: %+v", txs)
	}

	// A read-only member sees the page without forms and cannot upload.
	rc := bankBrowser(t, srv, reader)
	status, _, body = bankGet(t, rc, page)
	if status != 200 || strings.Contains(body, "bank-import-form") || strings.Contains(body, `name="action"`) {
		t.Errorf("read-only page: %d, forms shown", status)
	}
	rcsrf := html.UnescapeString(bankCSRFRE.FindStringSubmatch(body)[1])
	status, _, _ = bankPostFile(t, rc, page+"/import", rcsrf, "march.csv", statement, fields)
	if status != 403 {
		t.Errorf("read-only upload: %d, want 403", status)
	}
}
