package ledger_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// gbp is the exponent of the organisation currency in these tests.
const gbp = 2

// ofxSGML is an OFX 1.x statement as UK banks send it: header lines, CRLF,
// unclosed leaf elements, a bare '&', an entity, and Windows-1252 text
// (the 0xA3 byte is "£").
var ofxSGML = strings.ReplaceAll(`OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<DTSERVER>20260301120000
<LANGUAGE>ENG
</SONRS>
</SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>1
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<STMTRS>
<CURDEF>GBP
<BANKACCTFROM>
<BANKID>401234
<ACCTID>12345678
<ACCTTYPE>CHECKING
</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20260201
<DTEND>20260228
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20260203120000.000[0:GMT]
<TRNAMT>-12.50
<FITID>20260203-001
<NAME>M&S SIMPLY FOOD
<MEMO>Card purchase &amp; cashback
</STMTTRN>
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20260205
<TRNAMT>1500.00
<FITID>20260205-002
<NAME>ACME LTD
<MEMO>INV-0001
<REFNUM>BGC123
</STMTTRN>
<STMTTRN>
<TRNTYPE>CHECK
<DTPOSTED>20260210
<TRNAMT>-250
<FITID>20260210-003
<CHECKNUM>100234
<NAME>Landlord `+"\xa3"+`rent
<MEMO>
<XUNKNOWN>ignored
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>1237.50
<DTASOF>20260228
</LEDGERBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
`, "\n", "\r\n")

// ofxXML is an OFX 2.x statement: XML with every element closed.
const ofxXML = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<!-- exported by a bank -->
<OFX>
  <SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
    <DTSERVER>20260301</DTSERVER><LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1>
  <CREDITCARDMSGSRSV1>
    <CCSTMTTRNRS>
      <TRNUID>0</TRNUID>
      <STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
      <CCSTMTRS>
        <CURDEF>GBP</CURDEF>
        <CCACCTFROM><ACCTID>4111111111111111</ACCTID></CCACCTFROM>
        <BANKTRANLIST>
          <DTSTART>20260101</DTSTART><DTEND>20260131</DTEND>
          <STMTTRN>
            <TRNTYPE>DEBIT</TRNTYPE>
            <DTPOSTED>20260115093000[-5:EST]</DTPOSTED>
            <TRNAMT>-45,99</TRNAMT>
            <FITID>CC-9001</FITID>
            <PAYEE><NAME>Caf&#233; &lt;Central&gt;</NAME><CITY>London</CITY></PAYEE>
            <MEMO></MEMO>
          </STMTTRN>
          <STMTTRN>
            <TRNTYPE>CREDIT</TRNTYPE>
            <DTPOSTED>20260120</DTPOSTED>
            <TRNAMT>+100.00</TRNAMT>
            <FITID>CC-9002</FITID>
            <NAME>Refund</NAME>
            <MEMO>Refund</MEMO>
            <CURRENCY><CURRATE>1.0</CURRATE><CURSYM>GBP</CURSYM></CURRENCY>
          </STMTTRN>
          <STMTTRN/>
        </BANKTRANLIST>
      </CCSTMTRS>
    </CCSTMTTRNRS>
  </CREDITCARDMSGSRSV1>
</OFX>
`

func TestParseOFX(t *testing.T) {
	t.Run("OFX 1.x SGML", func(t *testing.T) {
		st, err := ledger.ParseOFX([]byte(ofxSGML), gbp)
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.StatementLine{
			{Date: "2026-02-03", Amount: -1250, Description: "M&S SIMPLY FOOD — Card purchase & cashback", FitID: "ofx:20260203-001"},
			{Date: "2026-02-05", Amount: 150000, Description: "ACME LTD — INV-0001", Reference: "BGC123", FitID: "ofx:20260205-002"},
			{Date: "2026-02-10", Amount: -25000, Description: "Landlord £rent", Reference: "100234", FitID: "ofx:20260210-003"},
		}
		checkLines(t, st, want)
		if st.Currency != "GBP" || st.Format != ledger.FormatOFX {
			t.Errorf("currency %q format %q", st.Currency, st.Format)
		}
	})
	t.Run("OFX 2.x XML credit card", func(t *testing.T) {
		st, err := ledger.ParseOFX([]byte(ofxXML), gbp)
		if err != nil {
			t.Fatal(err)
		}
		// The self-closed <STMTTRN/> has nothing in it and is not a
		// transaction; it must not be taken for one.
		checkLines(t, st, []ledger.StatementLine{
			{Date: "2026-01-15", Amount: -4599, Description: "Café <Central>", FitID: "ofx:CC-9001"},
			{Date: "2026-01-20", Amount: 10000, Description: "Refund", FitID: "ofx:CC-9002"},
		})
	})
	t.Run("empty transaction list", func(t *testing.T) {
		st, err := ledger.ParseOFX([]byte("<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKTRANLIST></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"), gbp)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Lines) != 0 || st.Currency != "EUR" {
			t.Errorf("got %+v", st)
		}
	})
	t.Run("identical FITID twice is kept for the store to count as a duplicate", func(t *testing.T) {
		txn := "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20260101<TRNAMT>-1.00<FITID>A</STMTTRN>"
		st, err := ledger.ParseOFX([]byte(ofxWrap(txn+txn)), gbp)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Lines) != 2 || st.Lines[0].FitID != st.Lines[1].FitID {
			t.Errorf("got %+v", st.Lines)
		}
	})
	t.Run("ISO-8859-1 declared in the XML header", func(t *testing.T) {
		doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" + ofxWrap(stmttrn("20260101", "-1.00", "X", "Caf\xe9"))
		st, err := ledger.ParseOFX([]byte(doc), gbp)
		if err != nil {
			t.Fatal(err)
		}
		checkLines(t, st, []ledger.StatementLine{{Date: "2026-01-01", Amount: -100, Description: "Café", FitID: "ofx:X"}})
	})
}

// ofxWrap puts STMTTRN elements into a minimal SGML bank statement.
func ofxWrap(txns string) string {
	return "OFXHEADER:100\nDATA:OFXSGML\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>GBP<BANKTRANLIST>\n" + txns + "\n</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
}

func stmttrn(date, amount, fitID, name string) string {
	return fmt.Sprintf("<STMTTRN>\n<TRNTYPE>OTHER\n<DTPOSTED>%s\n<TRNAMT>%s\n<FITID>%s\n<NAME>%s\n</STMTTRN>\n", date, amount, fitID, name)
}

func TestParseOFXRefusals(t *testing.T) {
	good := stmttrn("20260101", "-1.00", "A", "ok")
	truncatedTxn := ofxSGML[:strings.Index(ofxSGML, "<FITID>20260205-002")]
	tests := []struct {
		name string
		data string
		want string // a phrase the message must contain
	}{
		{"empty", "", "no <OFX> element"},
		{"not OFX", "<HTML><BODY>hi</BODY></HTML>", "not an OFX file"},
		{"CSV given as OFX", "Date,Amount\n2026-01-01,1.00\n", "no <OFX> element"},
		{"truncated mid-transaction", truncatedTxn, "truncated: <STMTTRN>"},
		{"truncated at the end", strings.TrimSuffix(strings.TrimSpace(ofxSGML), "</OFX>"), "truncated: <OFX>"},
		{"tag cut off", ofxSGML[:strings.Index(ofxSGML, "<TRNAMT>-12.50")+4], "never closed with '>'"},
		{"missing </STMTTRN>", ofxWrap(strings.Replace(good, "</STMTTRN>", "", 1) + good), "transaction starts inside transaction 1"},
		{"missing </STMTTRN> before the list ends", ofxWrap(strings.Replace(good, "</STMTTRN>", "", 1)), "</BANKTRANLIST> found where </STMTTRN>"},
		{"stray closing tag", ofxWrap(good + "</STMTRS>"), "</STMTRS> found where </BANKTRANLIST>"},
		{"closing a tag never opened", ofxWrap(good + "</NOPE>"), "</NOPE> found where </BANKTRANLIST>"},
		{"no FITID", ofxWrap(strings.Replace(good, "<FITID>A\n", "", 1)), "has no FITID"},
		{"empty FITID", ofxWrap(strings.Replace(good, "<FITID>A\n", "<FITID></FITID>", 1)), "has no FITID"},
		{"no amount", ofxWrap(strings.Replace(good, "<TRNAMT>-1.00\n", "", 1)), "has no TRNAMT"},
		{"bad amount", ofxWrap(good + stmttrn("20260101", "12.5O", "B", "x")), "transaction 2 (line"},
		{"amount with too many decimals", ofxWrap(stmttrn("20260101", "1.005", "B", "x")), "more than 2 decimal places"},
		{"zero amount", ofxWrap(stmttrn("20260101", "0.00", "B", "x")), "amount is zero"},
		{"huge amount", ofxWrap(stmttrn("20260101", "99999999999999999999", "B", "x")), "too large"},
		{"bad date", ofxWrap(stmttrn("2026-01-01", "1.00", "B", "x")), "not an OFX date"},
		{"impossible date", ofxWrap(stmttrn("20260230", "1.00", "B", "x")), "not an OFX date"},
		{"date before 1900", ofxWrap(stmttrn("18991231", "1.00", "B", "x")), "not an OFX date"},
		{"bad time zone", ofxWrap(stmttrn("20260101120000[0:GMT", "1.00", "B", "x")), "not an OFX date"},
		{"two amounts", ofxWrap(strings.Replace(good, "<TRNAMT>-1.00", "<TRNAMT>-1.00\n<TRNAMT>-2.00", 1)), "two <TRNAMT>"},
		{"same FITID, other amount", ofxWrap(good + stmttrn("20260101", "-2.00", "A", "ok")), "same FITID"},
		{"two statements", "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS></STMTRS></STMTTRNRS><STMTTRNRS><STMTRS></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>", "more than one statement"},
		{"content after </OFX>", ofxWrap(good) + "<OFX>", "after </OFX>"},
		{"bad tag name", ofxWrap("<ST$RN>"), "not a valid tag name"},
		{"tag interrupted", ofxWrap("<STMTTRN <FITID>"), "not closed before the next '<'"},
		{"UTF-16", "\xff\xfe<\x00O\x00F\x00X\x00", "UTF-16"},
		{"undeclared non-UTF-8", "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><BANKTRANLIST>" + stmttrn("20260101", "1.00", "A", "\xa3") + "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>", "not UTF-8"},
		{"deep nesting", "<OFX>" + strings.Repeat("<A>", 100), "nested more than"},
		{"unterminated comment", "<OFX><!-- never", "comment is never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ledger.ParseOFX([]byte(tt.data), gbp)
			if err == nil {
				t.Fatalf("accepted: %+v", st)
			}
			if errs.Code(err) != errs.EINVALID {
				t.Errorf("code %q, want %q: %v", errs.Code(err), errs.EINVALID, err)
			}
			if !strings.Contains(errs.Message(err), tt.want) {
				t.Errorf("message %q does not say %q", errs.Message(err), tt.want)
			}
		})
	}
}

func TestParseOFXLimits(t *testing.T) {
	t.Run("too many transactions", func(t *testing.T) {
		var b strings.Builder
		for i := range ledger.StatementMaxRows + 1 {
			fmt.Fprintf(&b, "<STMTTRN><DTPOSTED>20260101<TRNAMT>1<FITID>%d</STMTTRN>", i)
		}
		_, err := ledger.ParseOFX([]byte(ofxWrap(b.String())), gbp)
		if err == nil || !strings.Contains(errs.Message(err), "more than 100000 transactions") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, err := ledger.ParseOFX(make([]byte, ledger.StatementMaxBytes+1), gbp)
		if errs.Code(err) != errs.ETOOLARGE {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("value too long", func(t *testing.T) {
		_, err := ledger.ParseOFX([]byte(ofxWrap(stmttrn("20260101", "1.00", "A", strings.Repeat("x", ledger.StatementMaxLine+1)))), gbp)
		if err == nil || !strings.Contains(errs.Message(err), "longer than 64 KiB") {
			t.Fatalf("err = %v", err)
		}
	})
}

func checkLines(t *testing.T, st *ledger.Statement, want []ledger.StatementLine) {
	t.Helper()
	if len(st.Lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(st.Lines), len(want), st.Lines)
	}
	for i, w := range want {
		g := st.Lines[i]
		if w.FitID == "" {
			w.FitID = g.FitID
		}
		if g != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, g, w)
		}
		if err := g.Validate(); err != nil {
			t.Errorf("line %d does not validate: %v", i+1, err)
		}
	}
}

var hexFitID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name string
		data string
		opt  ledger.CSVOptions
		want []ledger.StatementLine
	}{
		{
			name: "signed amount, ISO dates",
			data: "Date,Description,Amount,Reference\n2026-03-01,Coffee,-3.20,\n2026-03-02,\"ACME, LTD\",\"1,234.50\",INV-1\n",
			want: []ledger.StatementLine{
				{Date: "2026-03-01", Amount: -320, Description: "Coffee"},
				{Date: "2026-03-02", Amount: 123450, Description: "ACME, LTD", Reference: "INV-1"},
			},
		},
		{
			name: "paid out / paid in, DD/MM/YYYY, BOM, CRLF, header case and notes",
			data: "\ufeffDATE,  Details ,Paid out (GBP),Paid in (GBP),Balance\r\n31/01/2026,Rent,500.00,,1000.00\r\n1/2/2026,Interest,,+0.42,1000.42\r\n02/02/2026,Card,-7.5,,992.92\r\n",
			opt:  ledger.CSVOptions{DateFormat: ledger.DateDMY},
			want: []ledger.StatementLine{
				{Date: "2026-01-31", Amount: -50000, Description: "Rent"},
				{Date: "2026-02-01", Amount: 42, Description: "Interest"},
				{Date: "2026-02-02", Amount: -750, Description: "Card"},
			},
		},
		{
			name: "payee column, blank rows skipped, trailing zeros, tidy text",
			data: "Posted Date,Payee,Amount\n2026-01-05,\"  Shop \t\n  Ltd \",12.500\n,,\n2026-01-06,,1\n",
			want: []ledger.StatementLine{
				{Date: "2026-01-05", Amount: 1250, Description: "Shop Ltd"},
				{Date: "2026-01-06", Amount: 100},
			},
		},
		{
			name: "trailing comma on every line",
			data: "Date,Description,Amount,\n2026-01-01,x,\"1,234.50\",\n",
			want: []ledger.StatementLine{{Date: "2026-01-01", Amount: 123450, Description: "x"}},
		},
		{
			name: "header only",
			data: "Date,Amount\n",
		},
		{
			name: "zero-decimal currency",
			data: "Date,Amount\n2026-01-01,-1500\n",
			opt:  ledger.CSVOptions{Exponent: 0},
			want: []ledger.StatementLine{{Date: "2026-01-01", Amount: -1500}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opt.Exponent == 0 && !strings.Contains(tt.name, "zero-decimal") {
				tt.opt.Exponent = gbp
			}
			st, err := ledger.ParseCSV([]byte(tt.data), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkLines(t, st, tt.want)
			for _, l := range st.Lines {
				if !hexFitID.MatchString(l.FitID) {
					t.Errorf("fit id %q is not a hex SHA-256", l.FitID)
				}
			}
		})
	}
}

func TestParseCSVFitIDs(t *testing.T) {
	file := "Date,Description,Amount\n2026-01-01,Coffee,-3.00\n2026-01-01,Coffee,-3.00\n2026-01-01,Tea,-3.00\n"
	a, err := ledger.ParseCSV([]byte(file), ledger.CSVOptions{Exponent: gbp})
	if err != nil {
		t.Fatal(err)
	}
	// Two identical payments in one file are two transactions.
	ids := map[string]bool{}
	for _, l := range a.Lines {
		ids[l.FitID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("want 3 distinct ids, got %d: %+v", len(ids), a.Lines)
	}
	// The same file again, even formatted differently, gives the same ids.
	again := "date,amount,description\r\n2026-01-01,\"-3\",Coffee\r\n2026-01-01,-3.00,  Coffee\r\n2026-01-01,-3.0,Tea\r\n"
	b, err := ledger.ParseCSV([]byte(again), ledger.CSVOptions{Exponent: gbp})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Lines {
		if a.Lines[i].FitID != b.Lines[i].FitID {
			t.Errorf("line %d: id %s then %s", i+1, a.Lines[i].FitID, b.Lines[i].FitID)
		}
	}
}

func TestParseCSVRefusals(t *testing.T) {
	tests := []struct {
		name string
		data string
		dmy  bool
		code string
		want string
	}{
		{"empty", "", false, errs.EINVALID, "empty"},
		{"no header", "2026-01-01,1.00\n", false, errs.EINVALID, "lacks a Date column"},
		{"semicolons", "Date;Amount\n2026-01-01;1.00\n", false, errs.EINVALID, "';'"},
		{"debit without credit", "Date,Debit\n2026-01-01,1.00\n", false, errs.EINVALID, "Credit (Paid in) column"},
		{"amount and debit", "Date,Amount,Debit,Credit\n", false, errs.EINVALID, "both an Amount column and Debit/Credit"},
		{"duplicate column", "Date,Amount,amount\n", false, errs.EINVALID, "appears twice"},
		{"bad date last row", "Date,Amount\n2026-01-01,1.00\n2026-13-01,1.00\n", false, errs.EINVALID, "CSV line 3: date \"2026-13-01\""},
		{"DD/MM date in ISO mode", "Date,Amount\n31/01/2026,1.00\n", false, errs.EINVALID, "choose DD/MM/YYYY"},
		{"ISO date in DMY mode", "Date,Amount\n2026-01-31,1.00\n", true, errs.EINVALID, "DD/MM/YYYY"},
		{"31 February", "Date,Amount\n31/02/2026,1.00\n", true, errs.EINVALID, "CSV line 2"},
		{"empty date", "Date,Amount\n,1.00\n", false, errs.EINVALID, "date is empty"},
		{"bad amount", "Date,Amount\n2026-01-01,£1.00\n", false, errs.EINVALID, "CSV line 2: amount \"£1.00\" is not a decimal number"},
		{"empty amount", "Date,Amount\n2026-01-01,\n", false, errs.EINVALID, "amount is empty"},
		{"zero amount", "Date,Amount\n2026-01-01,0.00\n", false, errs.EINVALID, "amount is zero"},
		{"too many decimals", "Date,Amount\n2026-01-01,1.001\n", false, errs.EINVALID, "more than 2 decimal places"},
		{"double sign", "Date,Amount\n2026-01-01,+-1.00\n", false, errs.EINVALID, "not a decimal number"},
		{"parenthesised negative", "Date,Amount\n2026-01-01,(1.00)\n", false, errs.EINVALID, "not a decimal number"},
		{"bad grouping", "Date,Amount\n2026-01-01,\"12,34.50\"\n", false, errs.EINVALID, "thousands separators"},
		{"unquoted grouping", "Date,Description,Amount\n2026-01-01,x,1,234.50\n", false, errs.EINVALID, "CSV line 2 has a different number of fields"},
		{"unquoted grouping under a trailing comma", "Date,Description,Amount,\n2026-01-01,x,1,234.50\n", false, errs.EINVALID, "CSV line 2: column 4 has no name in the header but holds \"234.50\""},
		{"too large", "Date,Amount\n2026-01-01,10000000000000000.00\n", false, errs.EINVALID, "too large"},
		{"debit and credit", "Date,Debit,Credit\n2026-01-01,1.00,2.00\n", false, errs.EINVALID, "both a debit and a credit"},
		{"neither debit nor credit", "Date,Debit,Credit\n2026-01-01,,\n", false, errs.EINVALID, "neither a debit nor a credit"},
		{"negative credit", "Date,Debit,Credit\n2026-01-01,,-2.00\n", false, errs.EINVALID, "is negative"},
		{"bare quote", "Date,Amount,Description\n2026-01-01,1.00,say \"hi\"\n", false, errs.EINVALID, "CSV line 2, column"},
		{"unterminated quote", "Date,Amount,Description\n2026-01-01,1.00,\"open\n", false, errs.EINVALID, "CSV line 2"},
		{"Latin-1", "Date,Amount,Description\n2026-01-01,1.00,Caf\xe9\n", false, errs.EINVALID, "not UTF-8 text (line 2"},
		{"UTF-16", "\xff\xfeD\x00a\x00", false, errs.EINVALID, "UTF-16"},
		{"long line", "Date,Amount,Description\n2026-01-01,1.00," + strings.Repeat("x", ledger.StatementMaxLine) + "\n", false, errs.EINVALID, "line 2 is longer than 64 KiB"},
		{"too large file", "Date,Amount\n" + strings.Repeat("\n", ledger.StatementMaxBytes), false, errs.ETOOLARGE, "larger than 10 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := ledger.CSVOptions{Exponent: gbp}
			if tt.dmy {
				opt.DateFormat = ledger.DateDMY
			}
			st, err := ledger.ParseCSV([]byte(tt.data), opt)
			if err == nil {
				t.Fatalf("accepted: %+v", st)
			}
			if errs.Code(err) != tt.code {
				t.Errorf("code %q, want %q: %v", errs.Code(err), tt.code, err)
			}
			if !strings.Contains(errs.Message(err), tt.want) {
				t.Errorf("message %q does not say %q", errs.Message(err), tt.want)
			}
		})
	}
	t.Run("too many rows", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString("Date,Amount\n")
		for range ledger.StatementMaxRows + 1 {
			b.WriteString("2026-01-01,1\n")
		}
		_, err := ledger.ParseCSV(b.Bytes(), ledger.CSVOptions{Exponent: gbp})
		if err == nil || !strings.Contains(errs.Message(err), "more than 100000 transactions") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown date format", func(t *testing.T) {
		_, err := ledger.ParseCSV([]byte("Date,Amount\n"), ledger.CSVOptions{DateFormat: "mdy"})
		if err == nil || !strings.Contains(errs.Message(err), "iso (YYYY-MM-DD) or dmy") {
			t.Fatalf("err = %v", err)
		}
	})
}

// FuzzParseCSV: whatever the bytes, the parser returns an error or lines
// that are all valid, and never panics.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("Date,Description,Amount,Reference\n2026-03-01,Coffee,-3.20,\n2026-03-02,\"ACME, LTD\",\"1,234.50\",INV-1\n"), false)
	f.Add([]byte("\ufeffDate,Details,Paid out,Paid in\r\n31/01/2026,Rent,500.00,\r\n1/2/2026,Interest,,+0.42\r\n"), true)
	f.Add([]byte("Date,Amount\n2026-01-01,\"1,2\"\n"), false)
	f.Add([]byte("Date,Amount\n,,\n\"\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, dmy bool) {
		opt := ledger.CSVOptions{Exponent: gbp}
		if dmy {
			opt.DateFormat = ledger.DateDMY
		}
		st, err := ledger.ParseCSV(data, opt)
		if err != nil {
			if st != nil {
				t.Fatal("a statement and an error")
			}
			if c := errs.Code(err); c != errs.EINVALID && c != errs.ETOOLARGE {
				t.Fatalf("error code %q: %v", c, err)
			}
			return
		}
		if len(st.Lines) > ledger.StatementMaxRows {
			t.Fatalf("%d lines", len(st.Lines))
		}
		seen := map[string]bool{}
		for i, l := range st.Lines {
			if err := l.Validate(); err != nil {
				t.Fatalf("line %d %+v: %v", i, l, err)
			}
			if !hexFitID.MatchString(l.FitID) || seen[l.FitID] {
				t.Fatalf("line %d: fit id %q not a fresh hex SHA-256", i, l.FitID)
			}
			seen[l.FitID] = true
		}
	})
}

// FuzzParseOFX: whatever the bytes, the parser returns an error or lines
// that are all valid, and never panics.
func FuzzParseOFX(f *testing.F) {
	f.Add([]byte(ofxSGML))
	f.Add([]byte(ofxXML))
	f.Add([]byte(ofxWrap(stmttrn("20260101", "-1,5", "A&amp;B", "x &#x41; &#0; &bogus;"))))
	f.Add([]byte("<OFX><!-- c --><?pi?><!DOCTYPE x><A/><B>v</B></OFX>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ledger.ParseOFX(data, gbp)
		if err != nil {
			if st != nil {
				t.Fatal("a statement and an error")
			}
			if c := errs.Code(err); c != errs.EINVALID && c != errs.ETOOLARGE {
				t.Fatalf("error code %q: %v", c, err)
			}
			return
		}
		if len(st.Lines) > ledger.StatementMaxRows {
			t.Fatalf("%d lines", len(st.Lines))
		}
		for i, l := range st.Lines {
			if err := l.Validate(); err != nil {
				t.Fatalf("line %d %+v: %v", i, l, err)
			}
			if !strings.HasPrefix(l.FitID, "ofx:") {
				t.Fatalf("line %d: fit id %q", i, l.FitID)
			}
		}
	})
}
