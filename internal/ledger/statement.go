package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"coffer/internal/errs"
	"coffer/internal/money"
)

// Limits on a statement file. They bound the memory and time one upload
// can take, whatever its content.
const (
	// StatementMaxBytes is the largest statement file accepted (the web
	// layer enforces it on the request body too).
	StatementMaxBytes = 10 << 20
	// StatementMaxRows is the most transactions one file may hold.
	StatementMaxRows = 100_000
	// StatementMaxLine is the longest CSV line, and the longest OFX value.
	StatementMaxLine = 64 << 10
)

// Lengths statement text is cut to; bank narratives can be long and
// nothing is lost that the bank does not still hold.
const (
	maxStatementDescription = 500
	maxStatementReference   = 100
	maxFitID                = 255
)

// Statement formats.
const (
	FormatCSV = "csv"
	FormatOFX = "ofx"
)

// Date formats a CSV statement may use.
const (
	DateISO = "iso" // 2026-03-31
	DateDMY = "dmy" // 31/03/2026
)

// StatementLine is one transaction read from a bank statement.
type StatementLine struct {
	Date        string // YYYY-MM-DD
	Amount      int64  // signed minor units: money in > 0, out < 0; never 0
	Description string
	Reference   string
	// FitID identifies the line across imports: "ofx:"+FITID for OFX, the
	// hex SHA-256 of its content and occurrence for CSV.
	FitID string
}

// Validate checks what every parsed line must be; the parsers never
// return a line that fails it.
func (l *StatementLine) Validate() error {
	if d, err := ParseDate(l.Date); err != nil || d != l.Date {
		return errs.Errorf(errs.EINVALID, "Statement line date %q is not a valid YYYY-MM-DD date.", truncate(l.Date, 40))
	}
	if l.Amount == 0 || l.Amount > money.MaxAbs || l.Amount < -money.MaxAbs {
		return errs.Errorf(errs.EINVALID, "Statement line amount %d is zero or out of range.", l.Amount)
	}
	if l.FitID == "" || len(l.FitID) > maxFitID+4 || !cleanText(l.FitID) {
		return errs.Errorf(errs.EINVALID, "Statement line has an invalid transaction id.")
	}
	if utf8.RuneCountInString(l.Description) > maxStatementDescription || !cleanText(l.Description) {
		return errs.Errorf(errs.EINVALID, "Statement line description is too long or holds control characters.")
	}
	if utf8.RuneCountInString(l.Reference) > maxStatementReference || !cleanText(l.Reference) {
		return errs.Errorf(errs.EINVALID, "Statement line reference is too long or holds control characters.")
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Statement is what a statement file holds.
type Statement struct {
	Format string
	// Currency is the currency the file declares (OFX CURDEF), "" if none.
	Currency string
	Lines    []StatementLine
}

// CSVOptions say how to read a CSV statement.
type CSVOptions struct {
	// Exponent is the organisation currency's number of decimal places.
	Exponent int
	// DateFormat is DateISO (the default when empty) or DateDMY.
	DateFormat string
}

// ParseDateFormat validates a date format name ("" means DateISO).
func ParseDateFormat(s string) (string, error) {
	switch s {
	case "", DateISO:
		return DateISO, nil
	case DateDMY:
		return DateDMY, nil
	}
	return "", errs.Errorf(errs.EINVALID, "Date format %q is not one of iso (YYYY-MM-DD) or dmy (DD/MM/YYYY).", truncate(s, 20))
}

// ParseStatementFormat validates a statement format name.
func ParseStatementFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case FormatCSV:
		return FormatCSV, nil
	case FormatOFX, "qfx":
		return FormatOFX, nil
	}
	return "", errs.Errorf(errs.EINVALID, "Statement format %q is not one of csv or ofx.", truncate(s, 20))
}

// ParseStatement reads data in the given format.
func ParseStatement(data []byte, format string, opt CSVOptions) (*Statement, error) {
	switch format {
	case FormatCSV:
		return ParseCSV(data, opt)
	case FormatOFX:
		return ParseOFX(data, opt.Exponent)
	}
	_, err := ParseStatementFormat(format)
	return nil, err
}

func statementError(format string, args ...any) error {
	return errs.Errorf(errs.EINVALID, format, args...)
}

// checkSize refuses a file over StatementMaxBytes.
func checkSize(data []byte) error {
	if len(data) > StatementMaxBytes {
		return errs.Errorf(errs.ETOOLARGE, "The statement file is larger than %d MiB; split it into smaller files.", StatementMaxBytes>>20)
	}
	return nil
}

// utf8BOM is stripped; the UTF-16 marks are refused with a clear message
// rather than read as garbage.
var (
	utf8BOM    = []byte{0xEF, 0xBB, 0xBF}
	utf16LEBOM = []byte{0xFF, 0xFE}
	utf16BEBOM = []byte{0xFE, 0xFF}
)

// lineOf returns the 1-based line number of byte offset off.
func lineOf(data []byte, off int) int {
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// cleanField turns a statement's free text into one tidy line: control
// characters become spaces, runs of space collapse, and it is cut to max
// runes.
func cleanField(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:max]))
	}
	return s
}

// parseStatementAmount reads a bank's decimal amount: an optional sign
// (a leading '+' is allowed), digits, and a '.' decimal point. With
// grouping, "1,234.50" is read (commas only as thousands separators).
// Trailing zeros beyond the currency's decimals are dropped ("12.500").
func parseStatementAmount(s string, exp int, grouping bool) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		s = s[1:]
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			return 0, fmt.Errorf("amount %q is not a decimal number like 1234.50", truncate(orig, 40))
		}
	}
	if grouping && strings.Contains(s, ",") {
		if !validGrouping(s) {
			return 0, fmt.Errorf("amount %q has misplaced thousands separators", truncate(orig, 40))
		}
		s = strings.ReplaceAll(s, ",", "")
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		for len(s)-i-1 > exp && strings.HasSuffix(s, "0") {
			s = s[:len(s)-1]
		}
		if len(s)-i-1 > exp && isDigits(s[i+1:]) {
			return 0, fmt.Errorf("amount %q has more than %d decimal places", truncate(orig, 40), exp)
		}
		s = strings.TrimSuffix(s, ".")
	}
	if len(s) > 40 {
		return 0, fmt.Errorf("amount %q is too long", truncate(orig, 40))
	}
	v, err := money.Parse(s, exp)
	if err != nil {
		if errors.Is(err, money.ErrRange) {
			return 0, fmt.Errorf("amount %q is too large", truncate(orig, 40))
		}
		return 0, fmt.Errorf("amount %q is not a decimal number like 1234.50", truncate(orig, 40))
	}
	return v, nil
}

// validGrouping checks "-1,234,567.89": groups of three digits after the
// first group of one to three.
func validGrouping(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, _, _ := strings.Cut(s, ".")
	groups := strings.Split(intPart, ",")
	for i, g := range groups {
		if g == "" || len(g) > 3 || (i > 0 && len(g) != 3) || !isDigits(g) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ---- CSV ----

// csvColumn names the columns a CSV statement may have, each with the
// header names that mean it, the preferred first.
var csvColumns = []struct {
	key   string
	names []string
}{
	{"date", []string{"date", "transaction date", "posting date", "posted date", "booking date", "value date"}},
	{"amount", []string{"amount", "transaction amount"}},
	{"debit", []string{"debit", "debit amount", "paid out", "money out", "withdrawal", "withdrawals", "debits"}},
	{"credit", []string{"credit", "credit amount", "paid in", "money in", "deposit", "deposits", "credits"}},
	{"description", []string{"description", "transaction description", "details", "narrative", "payee", "name", "memo"}},
	{"reference", []string{"reference", "ref", "cheque number", "check number"}},
}

// normalizeHeader lowercases a header name, collapses spaces and drops a
// trailing "(GBP)"-style note.
func normalizeHeader(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	if i := strings.LastIndexByte(s, '('); i > 0 && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// csvHeader maps each known column to its index in the file, and lists
// the columns without a name.
type csvHeader struct {
	idx     map[string]int
	unnamed []int
}

func parseCSVHeader(rec []string) (*csvHeader, error) {
	h := &csvHeader{idx: map[string]int{}}
	seen := map[string]int{}
	for i, name := range rec {
		n := normalizeHeader(name)
		if n == "" {
			h.unnamed = append(h.unnamed, i)
			continue
		}
		if j, dup := seen[n]; dup {
			return nil, statementError("CSV line 1: the column %q appears twice (columns %d and %d).", truncate(name, 40), j+1, i+1)
		}
		seen[n] = i
	}
	for _, c := range csvColumns {
		for _, n := range c.names {
			if i, ok := seen[n]; ok {
				h.idx[c.key] = i
				break
			}
		}
	}
	_, hasAmount := h.idx["amount"]
	_, hasDebit := h.idx["debit"]
	_, hasCredit := h.idx["credit"]
	var missing []string
	if _, ok := h.idx["date"]; !ok {
		missing = append(missing, "a Date column")
	}
	switch {
	case hasAmount && (hasDebit || hasCredit):
		return nil, statementError("CSV line 1: the header has both an Amount column and Debit/Credit columns; keep only one way of giving amounts.")
	case !hasAmount && hasDebit != hasCredit:
		if hasDebit {
			missing = append(missing, "a Credit (Paid in) column to go with Debit (Paid out)")
		} else {
			missing = append(missing, "a Debit (Paid out) column to go with Credit (Paid in)")
		}
	case !hasAmount && !hasDebit:
		missing = append(missing, "an Amount column (or Debit and Credit columns)")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("CSV line 1 must be a header naming the columns; it lacks %s.", strings.Join(missing, " and "))
		if len(rec) == 1 && strings.ContainsAny(rec[0], ";\t") {
			msg += " The file seems to separate columns with ';' or tabs; export it with commas."
		}
		return nil, statementError("%s", msg)
	}
	return h, nil
}

func (h *csvHeader) field(rec []string, key string) (string, bool) {
	i, ok := h.idx[key]
	if !ok || i >= len(rec) {
		return "", ok && i < len(rec)
	}
	return strings.TrimSpace(rec[i]), true
}

// parseCSVDate reads a date in the chosen format.
func parseCSVDate(s, format string) (string, error) {
	if format == DateDMY {
		t, err := time.Parse("2/1/2006", s)
		if err != nil {
			return "", fmt.Errorf("date %q is not a date in the form DD/MM/YYYY", truncate(s, 40))
		}
		d, err := ParseDate(t.Format(DateLayout))
		if err != nil {
			return "", fmt.Errorf("date %q is out of range", truncate(s, 40))
		}
		return d, nil
	}
	d, err := ParseDate(s)
	if err != nil {
		return "", fmt.Errorf("date %q is not a date in the form YYYY-MM-DD (choose DD/MM/YYYY if the file uses it)", truncate(s, 40))
	}
	return d, nil
}

// checkText refuses data that is not UTF-8, naming the line, and strips a
// UTF-8 byte order mark.
func checkText(data []byte, what string) ([]byte, error) {
	if bytes.HasPrefix(data, utf16LEBOM) || bytes.HasPrefix(data, utf16BEBOM) {
		return nil, statementError("The %s file is UTF-16 text; save it as UTF-8 (\"CSV UTF-8\") and import it again.", what)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, statementError("The %s file is not UTF-8 text (line %d has a byte that is not UTF-8, as Windows-1252 or Latin-1 files do); save it as UTF-8 and import it again.", what, lineOf(data, off))
	}
	return data, nil
}

// checkLineLengths refuses a line longer than StatementMaxLine.
func checkLineLengths(data []byte) error {
	line := 1
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		n := i
		if i < 0 {
			n = len(data)
		}
		if n > StatementMaxLine {
			return statementError("CSV line %d is longer than %d KiB; this is not a bank statement export.", line, StatementMaxLine>>10)
		}
		if i < 0 {
			break
		}
		data = data[i+1:]
		line++
	}
	return nil
}

// ParseCSV reads a CSV (RFC 4180) bank statement: a header row naming the
// columns (Date; Amount, or Debit and Credit; Description; Reference),
// then one transaction per row. A file with any bad row is refused as a
// whole, with the line and the problem named.
func ParseCSV(data []byte, opt CSVOptions) (*Statement, error) {
	if err := checkSize(data); err != nil {
		return nil, err
	}
	dateFormat, err := ParseDateFormat(opt.DateFormat)
	if err != nil {
		return nil, err
	}
	if data, err = checkText(data, "CSV"); err != nil {
		return nil, err
	}
	if err := checkLineLengths(data); err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(data))
	// Every row has as many fields as the header: an unquoted "1,234.50"
	// would otherwise shift the columns and import the wrong amount.
	r.FieldsPerRecord = 0
	r.ReuseRecord = true
	first, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, statementError("The CSV file is empty; it needs a header row and one row per transaction.")
	}
	if err != nil {
		return nil, csvError(err)
	}
	h, err := parseCSVHeader(first)
	if err != nil {
		return nil, err
	}
	st := &Statement{Format: FormatCSV}
	occurrences := map[[32]byte]int{}
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		if rows++; rows > StatementMaxRows {
			return nil, statementError("The CSV file has more than %d transactions; split it into smaller files.", StatementMaxRows)
		}
		l, err := parseCSVRecord(h, rec, opt.Exponent, dateFormat)
		if err != nil {
			return nil, statementError("CSV line %d: %s.", line, err)
		}
		l.FitID = csvFitID(l, occurrences)
		st.Lines = append(st.Lines, *l)
	}
	return st, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
		return statementError("CSV line %d has a different number of fields from the header row (an amount with a thousands separator, like 1,234.50, must be in quotes).", pe.Line)
	}
	if errors.As(err, &pe) {
		return statementError("CSV line %d, column %d: %v (quote fields that hold commas or quotes, and double any quote inside them).", pe.Line, pe.Column, pe.Err)
	}
	return statementError("The CSV file could not be read.")
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func parseCSVRecord(h *csvHeader, rec []string, exp int, dateFormat string) (*StatementLine, error) {
	// A value under no header is most likely the tail of an unquoted
	// "1,234.50" that shifted the columns (the row then still has as many
	// fields as a header ending in a comma); a blank one is harmless.
	for _, i := range h.unnamed {
		if i < len(rec) && strings.TrimSpace(rec[i]) != "" {
			return nil, fmt.Errorf("column %d has no name in the header but holds %q (an amount with a thousands separator, like 1,234.50, must be in quotes)", i+1, truncate(rec[i], 40))
		}
	}
	raw, ok := h.field(rec, "date")
	if !ok {
		return nil, fmt.Errorf("the row has %d fields, too few to reach the Date column", len(rec))
	}
	if raw == "" {
		return nil, errors.New("the date is empty")
	}
	date, err := parseCSVDate(raw, dateFormat)
	if err != nil {
		return nil, err
	}
	var amount int64
	if _, signed := h.idx["amount"]; signed {
		raw, ok := h.field(rec, "amount")
		if !ok {
			return nil, fmt.Errorf("the row has %d fields, too few to reach the Amount column", len(rec))
		}
		if raw == "" {
			return nil, errors.New("the amount is empty")
		}
		if amount, err = parseStatementAmount(raw, exp, true); err != nil {
			return nil, err
		}
	} else {
		debitRaw, okD := h.field(rec, "debit")
		creditRaw, okC := h.field(rec, "credit")
		if !okD || !okC {
			return nil, fmt.Errorf("the row has %d fields, too few to reach the Debit and Credit columns", len(rec))
		}
		var debit, credit int64
		if debitRaw != "" {
			if debit, err = parseStatementAmount(debitRaw, exp, true); err != nil {
				return nil, fmt.Errorf("debit %w", err)
			}
			// Some banks show money paid out as a negative number in its
			// own column; it is money out either way.
			if debit < 0 {
				debit = -debit
			}
		}
		if creditRaw != "" {
			if credit, err = parseStatementAmount(creditRaw, exp, true); err != nil {
				return nil, fmt.Errorf("credit %w", err)
			}
			if credit < 0 {
				return nil, fmt.Errorf("credit %q is negative; money out belongs in the Debit (Paid out) column", truncate(creditRaw, 40))
			}
		}
		switch {
		case debit != 0 && credit != 0:
			return nil, errors.New("the row has both a debit and a credit; a transaction is one or the other")
		case debit == 0 && credit == 0:
			return nil, errors.New("the row has neither a debit nor a credit amount")
		}
		amount = credit - debit
	}
	if amount == 0 {
		return nil, errors.New("the amount is zero")
	}
	desc, _ := h.field(rec, "description")
	ref, _ := h.field(rec, "reference")
	l := &StatementLine{Date: date, Amount: amount, Description: cleanField(desc, maxStatementDescription), Reference: cleanField(ref, maxStatementReference)}
	return l, nil
}

// csvFitID identifies a CSV line by its content and by how many identical
// lines came before it in the file: importing the same file again matches
// every line, while two genuinely identical payments in one file both count.
func csvFitID(l *StatementLine, occurrences map[[32]byte]int) string {
	key := sha256.Sum256([]byte(l.Date + "\x00" + strconv.FormatInt(l.Amount, 10) + "\x00" + l.Description + "\x00" + l.Reference))
	n := occurrences[key]
	occurrences[key] = n + 1
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%s\x00%d", l.Date, l.Amount, l.Description, l.Reference, n))
	return hex.EncodeToString(sum[:])
}

// ---- OFX ----

// OFX 1.x is SGML whose leaf elements are usually not closed
// (<TRNAMT>-12.50), OFX 2.x is XML. One tokenizer reads both: a start tag
// followed by text is a leaf whatever follows; a start tag followed by
// another tag opens an aggregate. Without the DTD an empty unclosed leaf
// looks like an aggregate, so elements Coffer does not know are "soft":
// a closing tag further up closes them implicitly. Known aggregates are
// never closed implicitly, which is how a truncated file (a missing
// </STMTTRN> or </OFX>) is caught.

// ofxAggregates are the OFX aggregates of bank and card statements.
var ofxAggregates = setOf(
	"OFX", "SIGNONMSGSRSV1", "SONRS", "STATUS", "FI",
	"BANKMSGSRSV1", "STMTTRNRS", "STMTRS", "BANKACCTFROM", "BANKACCTTO", "BANKTRANLIST", "STMTTRN",
	"LEDGERBAL", "AVAILBAL", "BALLIST", "BAL", "PAYEE", "CURRENCY", "ORIGCURRENCY",
	"CREDITCARDMSGSRSV1", "CCSTMTTRNRS", "CCSTMTRS", "CCACCTFROM", "CCACCTTO",
)

// ofxLeaves are OFX elements that only ever hold a value, so an empty one
// (<MEMO> followed by the next tag) is not mistaken for an aggregate.
var ofxLeaves = setOf(
	"TRNTYPE", "DTPOSTED", "DTUSER", "DTAVAIL", "TRNAMT", "FITID", "CORRECTFITID", "CORRECTACTION",
	"SRVRTID", "CHECKNUM", "REFNUM", "SIC", "PAYEEID", "NAME", "EXTDNAME", "MEMO", "INV401KSOURCE",
	"CURDEF", "CURRATE", "CURSYM", "BANKID", "BRANCHID", "ACCTID", "ACCTTYPE", "ACCTKEY",
	"DTSTART", "DTEND", "BALAMT", "DTASOF", "CODE", "SEVERITY", "MESSAGE", "DTSERVER", "LANGUAGE",
	"DTPROFUP", "DTACCTUP", "ORG", "FID", "TRNUID", "CLTCOOKIE", "SESSCOOKIE", "MKTGINFO",
	"ADDR1", "ADDR2", "ADDR3", "CITY", "STATE", "POSTALCODE", "COUNTRY", "PHONE",
	"INTU.BID", "INTU.USERID",
)

// ofxTxnFields are the STMTTRN values Coffer reads.
var ofxTxnFields = setOf("TRNTYPE", "DTPOSTED", "TRNAMT", "FITID", "NAME", "MEMO", "CHECKNUM", "REFNUM")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

const (
	ofxStart = iota + 1
	ofxEnd
	ofxText
)

// ofxMaxDepth bounds nesting; real statements are about eight deep.
const ofxMaxDepth = 64

type ofxToken struct {
	kind int
	name string // upper case
	text string // raw, entities not yet decoded
	self bool   // <X/>
	line int
}

type ofxLexer struct {
	data   []byte
	pos    int
	line   int
	peeked *ofxToken
}

func (lx *ofxLexer) push(t ofxToken) { lx.peeked = &t }

// next returns the next tag or text, skipping comments, processing
// instructions and declarations; io.EOF at the end.
func (lx *ofxLexer) next() (ofxToken, error) {
	if t := lx.peeked; t != nil {
		lx.peeked = nil
		return *t, nil
	}
	for {
		if lx.pos >= len(lx.data) {
			return ofxToken{}, io.EOF
		}
		rest := lx.data[lx.pos:]
		line := lx.line
		if rest[0] != '<' {
			n := bytes.IndexByte(rest, '<')
			if n < 0 {
				n = len(rest)
			}
			lx.advance(n)
			return ofxToken{kind: ofxText, text: string(rest[:n]), line: line}, nil
		}
		var skip int
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			skip = bytes.Index(rest[4:], []byte("-->"))
			if skip < 0 {
				return ofxToken{}, statementError("OFX line %d: a comment is never closed; the file is truncated.", line)
			}
			skip += 7
		case bytes.HasPrefix(rest, []byte("<?")):
			skip = bytes.Index(rest, []byte("?>"))
			if skip < 0 {
				return ofxToken{}, statementError("OFX line %d: a processing instruction is never closed; the file is truncated.", line)
			}
			skip += 2
		case bytes.HasPrefix(rest, []byte("<!")):
			skip = bytes.IndexByte(rest, '>')
			if skip < 0 {
				return ofxToken{}, statementError("OFX line %d: a declaration is never closed; the file is truncated.", line)
			}
			skip++
		}
		if skip > 0 {
			lx.advance(skip)
			continue
		}
		end := bytes.IndexByte(rest, '>')
		if end < 0 {
			return ofxToken{}, statementError("OFX line %d: a tag is never closed with '>'; the file is truncated.", line)
		}
		content := rest[1:end]
		if bytes.IndexByte(content, '<') >= 0 {
			return ofxToken{}, statementError("OFX line %d: a tag is not closed before the next '<'.", line)
		}
		lx.advance(end + 1)
		t := ofxToken{kind: ofxStart, line: line}
		if len(content) > 0 && content[0] == '/' {
			t.kind = ofxEnd
			content = content[1:]
		} else if len(content) > 0 && content[len(content)-1] == '/' {
			t.self = true
			content = content[:len(content)-1]
		}
		name := bytes.TrimSpace(content)
		if i := bytes.IndexFunc(name, unicode.IsSpace); i >= 0 {
			if t.kind == ofxEnd {
				return ofxToken{}, statementError("OFX line %d: the closing tag </%s> is malformed.", line, truncate(string(name), 40))
			}
			name = name[:i] // XML attributes: OFX does not use them
		}
		if !validOFXName(name) {
			return ofxToken{}, statementError("OFX line %d: %q is not a valid tag name.", line, truncate(string(name), 40))
		}
		t.name = strings.ToUpper(string(name))
		return t, nil
	}
}

func (lx *ofxLexer) advance(n int) {
	lx.line += bytes.Count(lx.data[lx.pos:lx.pos+n], []byte{'\n'})
	lx.pos += n
}

func validOFXName(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

// decodeEntities replaces the XML/SGML character references; an '&' that
// starts none (SGML files often hold a bare "M&S") stays as it is.
func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		semi := strings.IndexByte(s, ';')
		if semi < 2 || semi > 10 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		ref := s[1:semi]
		var r rune = -1
		switch ref {
		case "amp":
			r = '&'
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "quot":
			r = '"'
		case "apos":
			r = '\''
		case "nbsp":
			r = ' '
		default:
			if ref[0] == '#' {
				var n uint64
				var err error
				if len(ref) > 1 && (ref[1] == 'x' || ref[1] == 'X') {
					n, err = strconv.ParseUint(ref[2:], 16, 32)
				} else {
					n, err = strconv.ParseUint(ref[1:], 10, 32)
				}
				if err == nil && n != 0 && n <= unicode.MaxRune && utf8.ValidRune(rune(n)) {
					r = rune(n)
				}
			}
		}
		if r < 0 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		b.WriteRune(r)
		s = s[semi+1:]
	}
}

// ofxCharset returns the character set the file declares: CHARSET in an
// OFX 1.x header, the encoding of an OFX 2.x XML declaration.
func ofxCharset(data []byte) string {
	head := data
	if i := bytes.IndexByte(head, '<'); i >= 0 {
		head = head[:i]
	}
	for _, line := range strings.Split(string(head), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CHARSET") {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if bytes.HasPrefix(trimmed, []byte("<?xml")) {
		decl := trimmed
		if i := bytes.Index(decl, []byte("?>")); i >= 0 {
			decl = decl[:i]
		}
		if i := bytes.Index(decl, []byte("encoding=")); i >= 0 {
			v := decl[i+len("encoding="):]
			if len(v) > 1 && (v[0] == '"' || v[0] == '\'') {
				if j := bytes.IndexByte(v[1:], v[0]); j >= 0 {
					return strings.ToLower(string(v[1 : j+1]))
				}
			}
		}
	}
	return ""
}

// cp1252 maps Windows-1252 bytes 0x80–0x9F; the rest of the byte range
// is Latin-1. Unassigned bytes become U+FFFD.
var cp1252 = [32]rune{
	'€', '\uFFFD', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\uFFFD', 'Ž', '\uFFFD',
	'\uFFFD', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\uFFFD', 'ž', 'Ÿ',
}

// ofxUTF8 returns the file as UTF-8. Many banks still send OFX 1.x in
// Windows-1252 and say so in the header; that declared charset (or
// ISO-8859-1) is converted, anything else that is not UTF-8 is refused.
func ofxUTF8(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, utf16LEBOM) || bytes.HasPrefix(data, utf16BEBOM) {
		return nil, statementError("The OFX file is UTF-16 text; Coffer reads OFX in UTF-8, Windows-1252 or ISO-8859-1.")
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if utf8.Valid(data) {
		return data, nil
	}
	var table func(b byte) rune
	switch ofxCharset(data) {
	case "1252", "windows-1252", "cp1252":
		table = func(b byte) rune {
			if b >= 0x80 && b < 0xA0 {
				return cp1252[b-0x80]
			}
			return rune(b)
		}
	case "iso-8859-1", "8859-1", "iso8859-1", "latin1", "latin-1", "iso_8859-1":
		table = func(b byte) rune { return rune(b) }
	default:
		_, err := checkText(data, "OFX")
		return nil, statementError("%s It does not declare a character set Coffer converts (CHARSET:1252 or ISO-8859-1).", errs.Message(err))
	}
	out := make([]byte, 0, len(data)+len(data)/8)
	for _, b := range data {
		out = utf8.AppendRune(out, table(b))
	}
	return out, nil
}

type ofxElem struct {
	name string
	soft bool
	line int
}

type ofxTxn struct {
	n, line   int
	fields    map[string]string
	payeeName string
}

type ofxParser struct {
	exp        int
	stack      []ofxElem
	started    bool
	closed     bool
	statements int
	currency   string
	txns       int
	txn        *ofxTxn
	lines      []StatementLine
	fitIDs     map[string]int // FITID → index in lines
}

// parent returns the innermost element that is not soft (skip=0), or the
// one above it (skip=1), and whether there is one.
func (p *ofxParser) parent(skip int) (ofxElem, bool) {
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i].soft {
			continue
		}
		if skip == 0 {
			return p.stack[i], true
		}
		skip--
	}
	return ofxElem{}, false
}

func (p *ofxParser) open(name string, line int) error {
	if len(p.stack) >= ofxMaxDepth {
		return statementError("OFX line %d: elements are nested more than %d deep; this is not a bank statement.", line, ofxMaxDepth)
	}
	switch name {
	case "STMTRS", "CCSTMTRS":
		if p.statements++; p.statements > 1 {
			return statementError("OFX line %d: the file holds more than one statement (account); export one account per file.", line)
		}
	case "STMTTRN":
		if p.txn != nil {
			return statementError("OFX line %d: a transaction starts inside transaction %d (line %d), which has no </STMTTRN>; the file is damaged.", line, p.txn.n, p.txn.line)
		}
		if par, ok := p.parent(0); ok && par.name == "BANKTRANLIST" {
			if p.txns++; p.txns > StatementMaxRows {
				return statementError("The OFX file has more than %d transactions; split it into smaller files.", StatementMaxRows)
			}
			p.txn = &ofxTxn{n: p.txns, line: line, fields: map[string]string{}}
		}
	}
	p.stack = append(p.stack, ofxElem{name: name, soft: !ofxAggregates[name], line: line})
	return nil
}

func (p *ofxParser) leaf(name, value string, line int) error {
	par, ok := p.parent(0)
	if !ok {
		return nil
	}
	if name == "CURDEF" && (par.name == "STMTRS" || par.name == "CCSTMTRS") {
		p.currency = strings.ToUpper(value)
	}
	if p.txn == nil {
		return nil
	}
	switch {
	case par.name == "STMTTRN" && ofxTxnFields[name]:
		if _, dup := p.txn.fields[name]; dup {
			return statementError("OFX transaction %d (line %d) has two <%s> values (line %d).", p.txn.n, p.txn.line, name, line)
		}
		p.txn.fields[name] = value
	case par.name == "PAYEE" && name == "NAME":
		if gp, ok := p.parent(1); ok && gp.name == "STMTTRN" {
			p.txn.payeeName = value
		}
	}
	return nil
}

func (p *ofxParser) close(name string, line int) error {
	i := len(p.stack) - 1
	for ; i >= 0 && p.stack[i].name != name; i-- {
		if !p.stack[i].soft {
			top := p.stack[i]
			return statementError("OFX line %d: </%s> found where </%s> (opened at line %d) was expected; the file is damaged or truncated.", line, truncate(name, 40), top.name, top.line)
		}
	}
	if i < 0 {
		return statementError("OFX line %d: </%s> closes an element that was never opened.", line, truncate(name, 40))
	}
	p.stack = p.stack[:i]
	if name == "STMTTRN" && p.txn != nil {
		if err := p.finish(); err != nil {
			return err
		}
	}
	if name == "OFX" && i == 0 {
		p.closed = true
	}
	return nil
}

// finish turns the transaction just closed into a statement line.
func (p *ofxParser) finish() error {
	t := p.txn
	p.txn = nil
	where := fmt.Sprintf("OFX transaction %d (line %d)", t.n, t.line)
	fitID := t.fields["FITID"]
	if fitID == "" {
		return statementError("%s has no FITID; Coffer needs it to recognise transactions already imported.", where)
	}
	if len(fitID) > maxFitID || !cleanText(fitID) {
		return statementError("%s: the FITID is longer than %d characters or holds control characters.", where, maxFitID)
	}
	raw, ok := t.fields["TRNAMT"]
	if !ok || raw == "" {
		return statementError("%s has no TRNAMT (amount).", where)
	}
	amount, err := parseOFXAmount(raw, p.exp)
	if err != nil {
		return statementError("%s: %v.", where, err)
	}
	if amount == 0 {
		return statementError("%s: the amount is zero.", where)
	}
	rawDate, ok := t.fields["DTPOSTED"]
	if !ok || rawDate == "" {
		return statementError("%s has no DTPOSTED (date).", where)
	}
	date, err := parseOFXDate(rawDate)
	if err != nil {
		return statementError("%s: %v.", where, err)
	}
	name := t.fields["NAME"]
	if name == "" {
		name = t.payeeName
	}
	desc, memo := cleanField(name, maxStatementDescription), cleanField(t.fields["MEMO"], maxStatementDescription)
	switch {
	case desc == "":
		desc = memo
	case memo != "" && memo != desc:
		desc = cleanField(desc+" — "+memo, maxStatementDescription)
	}
	ref := t.fields["CHECKNUM"]
	if ref == "" {
		ref = t.fields["REFNUM"]
	}
	l := StatementLine{Date: date, Amount: amount, Description: desc, Reference: cleanField(ref, maxStatementReference), FitID: "ofx:" + fitID}
	if j, seen := p.fitIDs[fitID]; seen {
		if prev := p.lines[j]; prev.Date != l.Date || prev.Amount != l.Amount {
			return statementError("%s has the same FITID as an earlier transaction but a different date or amount; the bank's file is inconsistent.", where)
		}
	} else {
		p.fitIDs[fitID] = len(p.lines)
	}
	p.lines = append(p.lines, l)
	return nil
}

// parseOFXAmount reads TRNAMT: OFX allows a comma as the decimal point and
// has no thousands separators.
func parseOFXAmount(s string, exp int) (int64, error) {
	if !strings.Contains(s, ".") && strings.Count(s, ",") == 1 {
		s = strings.Replace(s, ",", ".", 1)
	}
	return parseStatementAmount(s, exp, false)
}

// parseOFXDate reads YYYYMMDD[HHMMSS[.XXX]][[offset:TZ]] and keeps the
// date as the bank wrote it: the bank's local date is the booking date.
func parseOFXDate(s string) (string, error) {
	bad := fmt.Errorf("date %q is not an OFX date like 20260131 or 20260131120000.000[0:GMT]", truncate(s, 40))
	if len(s) < 8 || len(s) > 40 || !isDigits(s[:8]) {
		return "", bad
	}
	rest := s[8:]
	if tz := strings.IndexByte(rest, '['); tz >= 0 {
		zone := rest[tz:]
		if !strings.HasSuffix(zone, "]") || strings.ContainsFunc(zone[1:len(zone)-1], func(r rune) bool {
			return !(r == '+' || r == '-' || r == '.' || r == ':' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)))
		}) {
			return "", bad
		}
		rest = rest[:tz]
	}
	clock, frac, hasFrac := strings.Cut(rest, ".")
	if (clock != "" && (len(clock) != 4 && len(clock) != 6 || !isDigits(clock))) || (hasFrac && (clock == "" || !isDigits(frac))) {
		return "", bad
	}
	t, err := time.Parse("20060102", s[:8])
	if err != nil {
		return "", bad
	}
	d, err := ParseDate(t.Format(DateLayout))
	if err != nil {
		return "", bad
	}
	return d, nil
}

// ParseOFX reads an OFX bank or credit card statement, OFX 1.x (SGML) or
// 2.x (XML): every <STMTTRN> of its <BANKTRANLIST>. A truncated or damaged
// file, or any bad transaction, is refused as a whole.
func ParseOFX(data []byte, exp int) (*Statement, error) {
	if err := checkSize(data); err != nil {
		return nil, err
	}
	data, err := ofxUTF8(data)
	if err != nil {
		return nil, err
	}
	lx := &ofxLexer{data: data, line: 1}
	p := &ofxParser{exp: exp, fitIDs: map[string]int{}}
	for {
		tok, err := lx.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case ofxText:
			// Header lines before <OFX>, whitespace, and stray text in
			// elements Coffer does not read.
			continue
		case ofxEnd:
			if !p.started || p.closed {
				return nil, statementError("OFX line %d: </%s> is outside the <OFX> element.", tok.line, truncate(tok.name, 40))
			}
			if err := p.close(tok.name, tok.line); err != nil {
				return nil, err
			}
			continue
		}
		if p.closed {
			return nil, statementError("OFX line %d: <%s> comes after </OFX>.", tok.line, truncate(tok.name, 40))
		}
		if !p.started {
			if tok.name != "OFX" {
				return nil, statementError("This is not an OFX file: line %d has <%s> where <OFX> was expected.", tok.line, truncate(tok.name, 40))
			}
			p.started = true
		}
		if tok.self {
			if err := p.leaf(tok.name, "", tok.line); err != nil {
				return nil, err
			}
			continue
		}
		nt, err := lx.next()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		eof := errors.Is(err, io.EOF)
		if !eof && nt.kind == ofxText {
			if raw := strings.TrimSpace(nt.text); raw != "" && !ofxAggregates[tok.name] {
				if len(raw) > StatementMaxLine {
					return nil, statementError("OFX line %d: the value of <%s> is longer than %d KiB.", tok.line, tok.name, StatementMaxLine>>10)
				}
				if err := p.leaf(tok.name, strings.TrimSpace(decodeEntities(raw)), tok.line); err != nil {
					return nil, err
				}
				if err := closeLeaf(lx, tok.name); err != nil {
					return nil, err
				}
				continue
			}
			// Whitespace (or stray text in an aggregate) is dropped.
		} else if !eof {
			lx.push(nt)
		}
		if ofxLeaves[tok.name] {
			if err := p.leaf(tok.name, "", tok.line); err != nil {
				return nil, err
			}
			if err := closeLeaf(lx, tok.name); err != nil {
				return nil, err
			}
			continue
		}
		if err := p.open(tok.name, tok.line); err != nil {
			return nil, err
		}
	}
	switch {
	case !p.started:
		return nil, statementError("This is not an OFX file: it has no <OFX> element.")
	case !p.closed:
		top := p.stack[len(p.stack)-1]
		for i := len(p.stack) - 1; i >= 0; i-- {
			if !p.stack[i].soft {
				top = p.stack[i]
				break
			}
		}
		return nil, statementError("The OFX file is truncated: <%s> (line %d) is never closed with </%s>.", top.name, top.line, top.name)
	}
	return &Statement{Format: FormatOFX, Currency: p.currency, Lines: p.lines}, nil
}

// closeLeaf consumes a leaf's optional closing tag (OFX 2.x and some
// OFX 1.x files close them).
func closeLeaf(lx *ofxLexer, name string) error {
	nt, err := lx.next()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	if nt.kind == ofxText && strings.TrimSpace(nt.text) == "" {
		// Whitespace between a value and its closing tag, or before the
		// next element: look one token further.
		nt2, err := lx.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if nt2.kind == ofxEnd && nt2.name == name {
			return nil
		}
		lx.push(nt2)
		return nil
	}
	if nt.kind == ofxEnd && nt.name == name {
		return nil
	}
	lx.push(nt)
	return nil
}
