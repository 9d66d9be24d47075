package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"coffer/client"
	"coffer/internal/money"
)

// Session is a signed-in API session in one organisation, reached through
// one client: a node's (or a proxy's) URL and a source address.
type Session struct {
	C     *client.Client
	Token string
	OrgID int64
}

func (s Session) orgPath(rest string) string {
	return fmt.Sprintf("/api/v1/orgs/%d/%s", s.OrgID, rest)
}

// Books says what the ledger workloads read and post to.
type Books struct {
	// DebitAccountID and CreditAccountID are the accounts every written
	// journal debits and credits (the same amount: it balances).
	DebitAccountID, CreditAccountID int64
	// JournalID is a journal the read workload reads back.
	JournalID int64
	// Date (YYYY-MM-DD) is the written journals' date and the trial
	// balance's.
	Date string
}

// Validate reports every missing field at once.
func (b Books) Validate() error {
	var missing []string
	if b.DebitAccountID == 0 || b.CreditAccountID == 0 || b.DebitAccountID == b.CreditAccountID {
		missing = append(missing, "two different accounts to post to")
	}
	if b.JournalID == 0 {
		missing = append(missing, "a journal to read")
	}
	if b.Date == "" {
		missing = append(missing, "a date")
	}
	if len(missing) > 0 {
		return fmt.Errorf("loadgen: the books need %v", missing)
	}
	return nil
}

// ReadPaths are what the read workload cycles over, relative to the
// organisation: the chart of accounts with balances, the trial balance
// (which sums every posted line), and one journal with its lines.
func (b Books) ReadPaths() []string {
	return []string{
		"accounts",
		"reports/trial-balance?date=" + b.Date,
		"journals/" + strconv.FormatInt(b.JournalID, 10),
	}
}

// Reads is the authenticated-read workload: worker w reads as
// sessions[w%len(sessions)], cycling over b.ReadPaths from an offset of its
// own so the workers do not read in lockstep.
func Reads(sessions []Session, b Books) (Op, error) {
	if len(sessions) == 0 {
		return nil, errors.New("loadgen: reads need at least one session")
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	paths := b.ReadPaths()
	return func(ctx context.Context, worker int, seq uint64) (int, error) {
		s := sessions[worker%len(sessions)]
		p := paths[(uint64(worker)+seq)%uint64(len(paths))]
		// No decoding: the client's own JSON work is not the server's.
		err := s.C.Do(ctx, http.MethodGet, s.orgPath(p), s.Token, nil, nil)
		return statusOf(err), err
	}, nil
}

// Writer is the ledger-write workload: each request posts one balanced
// manual journal with an Idempotency-Key of its own, and the writer counts
// what the server acknowledged, so that the books can be checked against
// it afterwards.
type Writer struct {
	sessions []Session
	books    Books
	journals atomic.Uint64
	units    atomic.Int64
}

// NewWriter returns a writer whose worker w posts as
// sessions[w%len(sessions)].
func NewWriter(sessions []Session, b Books) (*Writer, error) {
	if len(sessions) == 0 {
		return nil, errors.New("loadgen: writes need at least one session")
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &Writer{sessions: sessions, books: b}, nil
}

// Amount is the amount, in whole currency units, of request seq of worker:
// 1 to 97, varying so that a journal applied twice or lost shows in the
// totals as well as in the count.
func Amount(worker int, seq uint64) int64 {
	return int64((uint64(worker)*31+seq)%97) + 1
}

type journalLine struct {
	AccountID int64  `json:"account_id"`
	Debit     string `json:"debit,omitempty"`
	Credit    string `json:"credit,omitempty"`
}

type journalRequest struct {
	Date      string        `json:"date"`
	Narration string        `json:"narration"`
	Lines     []journalLine `json:"lines"`
}

// SeedBooks finds the bank (1000) and office expenses (6000) accounts of
// the default chart and posts n seed journals between them dated date (of
// 1.00 to 50.00, so the reads have something to read), the last of which
// the read workload reads back.
func SeedBooks(ctx context.Context, s Session, date string, n int) (Books, error) {
	var accts struct {
		Accounts []struct {
			ID   int64  `json:"id"`
			Code string `json:"code"`
		} `json:"accounts"`
	}
	if err := s.C.Do(ctx, http.MethodGet, s.orgPath("accounts"), s.Token, nil, &accts); err != nil {
		return Books{}, fmt.Errorf("list accounts: %w", err)
	}
	b := Books{Date: date}
	for _, a := range accts.Accounts {
		switch a.Code {
		case "1000":
			b.CreditAccountID = a.ID
		case "6000":
			b.DebitAccountID = a.ID
		}
	}
	for i := range n {
		var out struct {
			Journal struct {
				ID int64 `json:"id"`
			} `json:"journal"`
		}
		amount := strconv.Itoa(i%50 + 1)
		body := journalRequest{Date: date, Narration: fmt.Sprintf("seed %d", i), Lines: []journalLine{
			{AccountID: b.DebitAccountID, Debit: amount}, {AccountID: b.CreditAccountID, Credit: amount}}}
		if err := s.C.Do(ctx, http.MethodPost, s.orgPath("journals"), s.Token, body, &out); err != nil {
			return Books{}, fmt.Errorf("seed journal %d: %w", i, err)
		}
		b.JournalID = out.Journal.ID
	}
	if err := b.Validate(); err != nil {
		return Books{}, fmt.Errorf("books %+v: %w", b, err)
	}
	return b, nil
}

// Op posts one journal. Only a 201 that is not a replay counts as
// acknowledged.
func (w *Writer) Op(ctx context.Context, worker int, seq uint64) (int, error) {
	s := w.sessions[worker%len(w.sessions)]
	amount := Amount(worker, seq)
	a := strconv.FormatInt(amount, 10)
	body, err := json.Marshal(journalRequest{
		Date:      w.books.Date,
		Narration: fmt.Sprintf("load %d/%d", worker, seq),
		Lines: []journalLine{
			{AccountID: w.books.DebitAccountID, Debit: a},
			{AccountID: w.books.CreditAccountID, Credit: a},
		},
	})
	if err != nil {
		return 0, fmt.Errorf("encode journal: %w", err)
	}
	key, err := idempotencyKey()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.C.BaseURL+s.orgPath("journals"), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := s.C.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	switch {
	case resp.StatusCode != http.StatusCreated:
		e := &client.Error{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
		var env struct {
			Error *client.Error `json:"error"`
		}
		env.Error = e
		_ = json.Unmarshal(data, &env) // a body that is not the API's still has its status
		e.Status = resp.StatusCode
		return resp.StatusCode, e
	case resp.Header.Get("Idempotent-Replayed") != "":
		// A fresh key cannot have an answer stored: the server mixed keys.
		return resp.StatusCode, errors.New("a journal with a fresh Idempotency-Key was answered as a replay")
	}
	w.journals.Add(1)
	w.units.Add(amount)
	return resp.StatusCode, nil
}

// Acknowledged is how many journals the server acknowledged (201) and
// their total amount in whole currency units.
func (w *Writer) Acknowledged() (journals uint64, units int64) {
	return w.journals.Load(), w.units.Load()
}

// idempotencyKey is a fresh random Idempotency-Key.
func idempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("idempotency key: %w", err)
	}
	return "loadgen-" + hex.EncodeToString(b[:]), nil
}

// statusOf is the HTTP status of an answer from client.Do: 200 for
// success, the error's status, or 0 when no answer came.
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// State is what an organisation's books hold, read through the API.
type State struct {
	// Journals is how many journals the organisation has.
	Journals int
	// Exp is the currency's decimal places: amounts are in its minor units.
	Exp int
	// TotalDebit and TotalCredit are the trial balance's totals.
	TotalDebit, TotalCredit int64
	// Debit is the debit balance of Books.DebitAccountID, Credit the credit
	// balance of Books.CreditAccountID.
	Debit, Credit int64
}

// ReadState reads the journal count and the trial balance on b.Date.
func ReadState(ctx context.Context, s Session, b Books) (*State, error) {
	var list struct {
		TotalCount int `json:"total_count"`
	}
	if err := s.C.Do(ctx, http.MethodGet, s.orgPath("journals?limit=1"), s.Token, nil, &list); err != nil {
		return nil, fmt.Errorf("count journals: %w", err)
	}
	var tb struct {
		Currency string `json:"currency"`
		Accounts []struct {
			AccountID int64  `json:"account_id"`
			Debit     string `json:"debit"`
			Credit    string `json:"credit"`
		} `json:"accounts"`
		TotalDebit  string `json:"total_debit"`
		TotalCredit string `json:"total_credit"`
	}
	if err := s.C.Do(ctx, http.MethodGet, s.orgPath("reports/trial-balance?date="+b.Date), s.Token, nil, &tb); err != nil {
		return nil, fmt.Errorf("trial balance: %w", err)
	}
	exp, err := money.Exponent(tb.Currency)
	if err != nil {
		return nil, fmt.Errorf("trial balance: %w", err)
	}
	st := &State{Journals: list.TotalCount, Exp: exp}
	type field struct {
		text string
		dst  *int64
	}
	fields := []field{{tb.TotalDebit, &st.TotalDebit}, {tb.TotalCredit, &st.TotalCredit}}
	for _, a := range tb.Accounts {
		switch a.AccountID {
		case b.DebitAccountID:
			fields = append(fields, field{a.Debit, &st.Debit})
		case b.CreditAccountID:
			fields = append(fields, field{a.Credit, &st.Credit})
		}
	}
	for _, f := range fields {
		if *f.dst, err = money.Parse(f.text, exp); err != nil {
			return nil, fmt.Errorf("trial balance: %w", err)
		}
	}
	return st, nil
}

// Check compares the books after a run with the books before and what
// the writer saw acknowledged: the trial balance balances, and exactly the
// acknowledged journals and amounts were added — none lost, none applied
// twice. It reports every difference at once.
func (w *Writer) Check(before, after *State) error {
	journals, units := w.Acknowledged()
	minor := units
	for range after.Exp {
		minor *= 10
	}
	var problems []string
	if after.TotalDebit != after.TotalCredit {
		problems = append(problems, fmt.Sprintf("the trial balance does not balance: debits %d, credits %d (minor units)", after.TotalDebit, after.TotalCredit))
	}
	if got := after.Journals - before.Journals; got < 0 || uint64(got) != journals {
		problems = append(problems, fmt.Sprintf("%d journals were added, %d were acknowledged", got, journals))
	}
	if got := after.Debit - before.Debit; got != minor {
		problems = append(problems, fmt.Sprintf("the debit account grew by %d, the acknowledged journals total %d (minor units)", got, minor))
	}
	if got := after.Credit - before.Credit; got != minor {
		problems = append(problems, fmt.Sprintf("the credit account grew by %d, the acknowledged journals total %d (minor units)", got, minor))
	}
	if len(problems) > 0 {
		return fmt.Errorf("loadgen: the books do not match the writes: %s", strings.Join(problems, "; "))
	}
	return nil
}
