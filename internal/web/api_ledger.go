package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// ----- accounts and tax rates -----

type ledgerAccountJSON struct {
	ID          int64  `json:"id"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	System      string `json:"system"`
	TaxRateID   *int64 `json:"tax_rate_id"`
	Description string `json:"description"`
	Archived    bool   `json:"archived"`
	// Balance is in the type's natural sign: an asset's debit balance and
	// a liability's credit balance are both positive.
	Balance string `json:"balance"`
}

func toLedgerAccountJSON(a *ledger.Account, net int64, exp int) ledgerAccountJSON {
	out := ledgerAccountJSON{ID: a.ID, Code: a.Code, Name: a.Name, Type: string(a.Type), System: a.System, Description: a.Description, Archived: a.Archived,
		Balance: money.Format(a.Type.Natural(net), exp)}
	if a.TaxRateID != 0 {
		id := a.TaxRateID
		out.TaxRateID = &id
	}
	return out
}

// ledgerBalanceDate reads ?date= (default today) for account balances.
func (s *Server) ledgerBalanceDate(r *http.Request) (string, error) {
	d := r.URL.Query().Get("date")
	if d == "" {
		return s.ledger.Today(), nil
	}
	return ledger.ParseDate(d)
}

func (s *Server) apiListAccounts(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	date, err := s.ledgerBalanceDate(r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	accts, err := s.ledger.FindAccounts(ctx, o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	bal, err := s.ledger.AccountBalances(ctx, o.Org.ID, date)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]ledgerAccountJSON, 0, len(accts))
	for _, a := range accts {
		out = append(out, toLedgerAccountJSON(a, bal[a.ID], o.Exp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"currency": o.Org.Currency, "balance_date": date, "accounts": out})
}

func (s *Server) apiGetAccount(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	id, err := pathID(r, "id", "Account")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	date, err := s.ledgerBalanceDate(r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	a, err := s.ledger.FindAccountByID(ctx, o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeAccount(w, r, o, a, date)
}

type accountCreateRequest struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	TaxRateID   *int64  `json:"tax_rate_id"`
	Description string  `json:"description"`
	System      *string `json:"system"`
}

func (s *Server) apiCreateAccount(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[accountCreateRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if req.System != nil && *req.System != "" {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "System accounts come with the default chart and cannot be created through the API; leave out \"system\"."))
		return
	}
	a := &ledger.Account{OrgID: o.Org.ID, Code: req.Code, Name: req.Name, Type: ledger.AccountType(req.Type), Description: req.Description}
	if req.TaxRateID != nil {
		a.TaxRateID = *req.TaxRateID
	}
	if err := s.ledger.CreateAccount(r.Context(), o.Actor(), a); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	exp := o.Exp
	w.Header().Set("Location", fmt.Sprintf("/api/v1/orgs/%d/accounts/%d", o.Org.ID, a.ID))
	writeJSON(w, http.StatusCreated, map[string]any{"currency": o.Org.Currency, "account": toLedgerAccountJSON(a, 0, exp)})
}

// accountPatchRequest changes only the fields present. tax_rate_id 0
// removes the account's default tax rate.
type accountPatchRequest struct {
	Code        *string `json:"code"`
	Name        *string `json:"name"`
	Type        *string `json:"type"`
	Description *string `json:"description"`
	TaxRateID   *int64  `json:"tax_rate_id"`
	Archived    *bool   `json:"archived"`
}

func (s *Server) apiUpdateAccount(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	id, err := pathID(r, "id", "Account")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[accountPatchRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	u := ledger.AccountUpdate{Code: req.Code, Name: req.Name, Description: req.Description, TaxRateID: req.TaxRateID, Archived: req.Archived}
	if req.Type != nil {
		t := ledger.AccountType(*req.Type)
		u.Type = &t
	}
	a, err := s.ledger.UpdateAccount(ctx, o.Actor(), o.Org.ID, id, u)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeAccount(w, r, o, a, s.ledger.Today())
}

// writeAccount answers with one account and its balance on date.
func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, o *orgReq, a *ledger.Account, date string) {
	bal, err := s.ledger.AccountBalances(r.Context(), o.Org.ID, date)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"currency": o.Org.Currency, "balance_date": date, "account": toLedgerAccountJSON(a, bal[a.ID], o.Exp)})
}

type taxRateJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Rate     string `json:"rate"`
	Archived bool   `json:"archived"`
}

func toTaxRateJSON(t *ledger.TaxRate) taxRateJSON {
	return taxRateJSON{ID: t.ID, Name: t.Name, Rate: ledger.FormatTaxRate(t.RateBP), Archived: t.Archived}
}

func (s *Server) apiListTaxRates(w http.ResponseWriter, r *http.Request, o *orgReq) {
	rates, err := s.ledger.FindTaxRates(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]taxRateJSON, 0, len(rates))
	for _, t := range rates {
		out = append(out, toTaxRateJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tax_rates": out})
}

type taxRateCreateRequest struct {
	Name string `json:"name"`
	Rate string `json:"rate"`
}

func (s *Server) apiCreateTaxRate(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[taxRateCreateRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	bp, err := ledger.ParseTaxRate(req.Rate)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	t := &ledger.TaxRate{OrgID: o.Org.ID, Name: req.Name, RateBP: bp}
	if err := s.ledger.CreateTaxRate(r.Context(), o.Actor(), t); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"tax_rate": toTaxRateJSON(t)})
}

// ----- journals -----

type journalLineJSON struct {
	AccountID   int64  `json:"account_id"`
	AccountCode string `json:"account_code"`
	Debit       string `json:"debit"`
	Credit      string `json:"credit"`
	Description string `json:"description"`
	ContactID   *int64 `json:"contact_id"`
}

type journalJSON struct {
	ID           int64             `json:"id"`
	Date         string            `json:"date"`
	Narration    string            `json:"narration"`
	SourceType   string            `json:"source_type"`
	SourceID     *int64            `json:"source_id"`
	ReversesID   *int64            `json:"reverses_id"`
	ReversedByID *int64            `json:"reversed_by_id"`
	Total        string            `json:"total"`
	CreatedBy    int64             `json:"created_by"`
	CreatedAt    time.Time         `json:"created_at"`
	Lines        []journalLineJSON `json:"lines"`
}

// toJournalJSON writes j; codes maps account ids to codes.
func toJournalJSON(j *ledger.Journal, codes map[int64]string, exp int) journalJSON {
	out := journalJSON{ID: j.ID, Date: j.Date, Narration: j.Narration, SourceType: j.SourceType, SourceID: optID(j.SourceID),
		ReversesID: optID(j.ReversesID), ReversedByID: optID(j.ReversedByID), CreatedBy: j.CreatedBy, CreatedAt: j.CreatedAt,
		Lines: make([]journalLineJSON, 0, len(j.Lines))}
	var total int64
	for _, l := range j.Lines {
		total += l.Debit
		out.Lines = append(out.Lines, journalLineJSON{AccountID: l.AccountID, AccountCode: codes[l.AccountID], Debit: money.Format(l.Debit, exp),
			Credit: money.Format(l.Credit, exp), Description: l.Description, ContactID: optID(l.ContactID)})
	}
	out.Total = money.Format(total, exp)
	return out
}

// ledgerAccountCodes maps the organisation's account ids to their codes.
func (s *Server) ledgerAccountCodes(r *http.Request, orgID int64) (map[int64]string, error) {
	accts, err := s.ledger.FindAccounts(r.Context(), orgID)
	if err != nil {
		return nil, err
	}
	codes := make(map[int64]string, len(accts))
	for _, a := range accts {
		codes[a.ID] = a.Code
	}
	return codes, nil
}

// journalLineInput is one line as a client sends it: amounts as decimal
// strings, an empty amount meaning zero.
type journalLineInput struct {
	AccountID   int64  `json:"account_id"`
	Debit       string `json:"debit"`
	Credit      string `json:"credit"`
	Description string `json:"description"`
}

// parseJournalLines turns input lines into ledger lines, reporting every
// amount that is not a decimal number of the currency at once. The
// double-entry rules themselves are Journal.Validate's.
func parseJournalLines(in []journalLineInput, exp int) ([]ledger.JournalLine, error) {
	var problems []string
	out := make([]ledger.JournalLine, 0, len(in))
	for i, l := range in {
		line := ledger.JournalLine{AccountID: l.AccountID, Description: l.Description}
		for _, side := range []struct {
			name string
			in   string
			out  *int64
		}{{"debit", l.Debit, &line.Debit}, {"credit", l.Credit, &line.Credit}} {
			v := strings.TrimSpace(side.in)
			if v == "" {
				continue
			}
			n, err := money.Parse(v, exp)
			if err != nil {
				problems = append(problems, fmt.Sprintf("Line %d %s: %v.", i+1, side.name, err))
				continue
			}
			*side.out = n
		}
		out = append(out, line)
	}
	if len(problems) > 0 {
		return nil, errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return out, nil
}

type journalCreateRequest struct {
	Date      string             `json:"date"`
	Narration string             `json:"narration"`
	Lines     []journalLineInput `json:"lines"`
}

func (s *Server) apiCreateJournal(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[journalCreateRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	exp := o.Exp
	lines, err := parseJournalLines(req.Lines, exp)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	j := &ledger.Journal{OrgID: o.Org.ID, Date: req.Date, Narration: strings.TrimSpace(req.Narration), Lines: lines}
	// Checked here first only so that the message shows amounts in the
	// currency; the service validates again.
	if err := j.ValidateIn(exp); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if err := s.ledger.PostManualJournal(r.Context(), o.Actor(), j); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeJournalJSON(w, r, o, http.StatusCreated, j)
}

// writeJournalJSON answers with one journal, re-read so the answer shows what
// the books hold.
func (s *Server) writeJournalJSON(w http.ResponseWriter, r *http.Request, o *orgReq, status int, j *ledger.Journal) {
	exp := o.Exp
	stored, err := s.ledger.FindJournal(r.Context(), o.Org.ID, j.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	codes, err := s.ledgerAccountCodes(r, o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", fmt.Sprintf("/api/v1/orgs/%d/journals/%d", o.Org.ID, j.ID))
	}
	writeJSON(w, status, map[string]any{"currency": o.Org.Currency, "journal": toJournalJSON(stored, codes, exp)})
}

func (s *Server) apiGetJournal(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Journal")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeJournalJSON(w, r, o, http.StatusOK, &ledger.Journal{ID: id})
}

// journalFilter reads the list's query parameters; Validate fills in the
// default page size.
func journalFilter(r *http.Request) (ledger.JournalFilter, error) {
	q := r.URL.Query()
	f := ledger.JournalFilter{From: q.Get("from"), To: q.Get("to")}
	var problems []string
	limit, err := queryInt(r, "limit")
	switch {
	case err != nil:
		problems = append(problems, errs.Message(err))
	case q.Has("limit") && (limit < 1 || limit > ledger.MaxJournalLimit):
		problems = append(problems, fmt.Sprintf("limit must be between 1 and %d.", ledger.MaxJournalLimit))
	default:
		f.Limit = int(limit)
	}
	offset, err := queryInt(r, "offset")
	switch {
	case err != nil:
		problems = append(problems, errs.Message(err))
	case offset < 0 || offset > 1<<31:
		problems = append(problems, "offset must be between 0 and 2147483648.")
	default:
		f.Offset = int(offset)
	}
	account, err := queryInt(r, "account_id")
	switch {
	case err != nil:
		problems = append(problems, errs.Message(err))
	case q.Has("account_id") && account <= 0:
		problems = append(problems, "account_id must be a positive account id.")
	default:
		f.AccountID = account
	}
	if len(problems) > 0 {
		return f, errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	if err := f.Validate(); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) apiListJournals(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f, err := journalFilter(r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	exp := o.Exp
	codes, err := s.ledgerAccountCodes(r, o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if _, ok := codes[f.AccountID]; f.AccountID != 0 && !ok {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "account_id %d is not an account of this organisation.", f.AccountID))
		return
	}
	js, total, err := s.ledger.FindJournals(r.Context(), o.Org.ID, f)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]journalJSON, 0, len(js))
	for _, j := range js {
		out = append(out, toJournalJSON(j, codes, exp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"currency": o.Org.Currency, "total_count": total, "limit": f.Limit, "offset": f.Offset, "journals": out})
}

type reverseRequest struct {
	Date *string `json:"date"`
}

func (s *Server) apiReverseJournal(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Journal")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[reverseRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if req.Date == nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Field \"date\" is required: the date of the reversal, YYYY-MM-DD."))
		return
	}
	rev, err := s.ledger.ReverseJournal(r.Context(), o.Actor(), o.Org.ID, id, *req.Date)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.writeJournalJSON(w, r, o, http.StatusCreated, rev)
}

// ----- lock date -----

func (s *Server) apiGetLockDate(w http.ResponseWriter, r *http.Request, o *orgReq) {
	d, err := s.ledger.LockDate(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"lock_date": d})
}

// lockDateRequest needs lock_date present: an empty body must not remove
// the lock by accident.
type lockDateRequest struct {
	LockDate *string `json:"lock_date"`
}

func (s *Server) apiSetLockDate(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[lockDateRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if req.LockDate == nil {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Field \"lock_date\" is required: a date YYYY-MM-DD, or \"\" to remove the lock date."))
		return
	}
	if err := s.ledger.SetLockDate(r.Context(), o.Actor(), o.Org.ID, *req.LockDate); err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	s.apiGetLockDate(w, r, o)
}
