package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// Manual journal form sizes: the default number of line rows, and the most
// a ?lines= request or a posted form may have.
const (
	journalFormRows    = 8
	journalFormMaxRows = 200
)

// ----- chart of accounts -----

type chartRow struct {
	ID           int64
	Code         string
	Name         string
	TaxRate      string
	Balance      string
	System       string
	Archived     bool
	EditPath     string
	JournalsPath string
}

type chartGroup struct {
	Type     string
	Label    string
	Accounts []chartRow
	Total    string
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	d := s.orgPage(w, r, o, "Chart of accounts")
	d.Data["Section"] = "accounts"
	exp := o.Exp
	date, err := s.ledgerBalanceDate(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	accts, err := s.ledger.FindAccounts(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rates, err := s.ledger.FindTaxRates(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	bal, err := s.ledger.AccountBalances(ctx, o.Org.ID, date)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rateNames := map[int64]string{}
	for _, t := range rates {
		rateNames[t.ID] = t.Name
	}
	var groups []chartGroup
	for _, typ := range ledger.AccountTypes {
		g := chartGroup{Type: string(typ), Label: typ.Label()}
		var total int64
		for _, a := range accts {
			if a.Type != typ {
				continue
			}
			n := typ.Natural(bal[a.ID])
			total += n
			g.Accounts = append(g.Accounts, chartRow{ID: a.ID, Code: a.Code, Name: a.Name, TaxRate: rateNames[a.TaxRateID], Balance: money.Format(n, exp),
				System: a.SystemLabel(), Archived: a.Archived, EditPath: d.Org.Path("accounts", a.ID, "edit"),
				JournalsPath: d.Org.Path("journals") + "?account_id=" + strconv.FormatInt(a.ID, 10)})
		}
		g.Total = money.Format(total, exp)
		groups = append(groups, g)
	}
	d.Data["Groups"] = groups
	d.Data["Date"] = date
	d.Data["Currency"] = o.Org.Currency
	switch {
	case r.URL.Query().Has("created"):
		d.Flash = "The account was added."
	case r.URL.Query().Has("saved"):
		d.Flash = "The account was saved."
	}
	s.render(w, r, http.StatusOK, "accounts", d)
}

// ledgerAccountForm is what the account form shows and sends back.
type ledgerAccountForm struct {
	Code, Name, Type, TaxRateID, Description string
	Archived                                 bool
}

type ledgerOption struct {
	Value, Label string
}

// renderAccountForm shows the new or edit form (acct nil for new), with
// err's message when a submission was refused.
func (s *Server) renderAccountForm(w http.ResponseWriter, r *http.Request, o *orgReq, acct *ledger.Account, f ledgerAccountForm, status int, err error) {
	title := "New account"
	if acct != nil {
		title = "Edit account " + acct.Code
	}
	d := s.orgPage(w, r, o, title)
	d.Data["Section"] = "accounts"
	rates, rerr := s.ledger.FindTaxRates(r.Context(), o.Org.ID)
	if rerr != nil {
		s.renderError(w, r, rerr)
		return
	}
	var rateOpts []ledgerOption
	for _, t := range rates {
		if t.Archived && strconv.FormatInt(t.ID, 10) != f.TaxRateID {
			continue
		}
		rateOpts = append(rateOpts, ledgerOption{Value: strconv.FormatInt(t.ID, 10), Label: t.Name + " (" + ledger.FormatTaxRate(t.RateBP) + "%)"})
	}
	var typeOpts []ledgerOption
	for _, t := range ledger.AccountTypes {
		typeOpts = append(typeOpts, ledgerOption{Value: string(t), Label: t.Label()})
	}
	d.Data["Form"] = f
	d.Data["TaxRates"] = rateOpts
	d.Data["Types"] = typeOpts
	d.Data["Action"] = d.Org.Path("accounts")
	if acct != nil {
		d.Data["Action"] = d.Org.Path("accounts", acct.ID)
		d.Data["Account"] = acct
		d.Data["System"] = acct.SystemLabel()
	}
	s.renderRefused(w, r, status, "accounts_form", d, err)
}

func (s *Server) accountNewPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderAccountForm(w, r, o, nil, ledgerAccountForm{Type: string(ledger.Expense)}, http.StatusOK, nil)
}

func ledgerAccountFormFrom(r *http.Request) ledgerAccountForm {
	p := r.PostForm
	return ledgerAccountForm{Code: strings.TrimSpace(p.Get("code")), Name: strings.TrimSpace(p.Get("name")), Type: p.Get("type"),
		TaxRateID: p.Get("tax_rate_id"), Description: strings.TrimSpace(p.Get("description")), Archived: p.Get("archived") == "on"}
}

// formTaxRateID reads the tax rate select: "" is none.
func formTaxRateID(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Errorf(errs.EINVALID, "Choose a tax rate from the list.")
	}
	return id, nil
}

func (s *Server) accountCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f := ledgerAccountFormFrom(r)
	rate, err := formTaxRateID(f.TaxRateID)
	if err != nil {
		s.renderAccountForm(w, r, o, nil, f, statusOf(err), err)
		return
	}
	a := &ledger.Account{OrgID: o.Org.ID, Code: f.Code, Name: f.Name, Type: ledger.AccountType(f.Type), TaxRateID: rate, Description: f.Description}
	if err := s.ledger.CreateAccount(r.Context(), o.Actor(), a); err != nil {
		s.renderAccountForm(w, r, o, nil, f, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/accounts?created", o.Org.ID), http.StatusSeeOther)
}

func (s *Server) accountEditPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Account")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	a, err := s.ledger.FindAccountByID(r.Context(), o.Org.ID, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f := ledgerAccountForm{Code: a.Code, Name: a.Name, Type: string(a.Type), Description: a.Description, Archived: a.Archived}
	if a.TaxRateID != 0 {
		f.TaxRateID = strconv.FormatInt(a.TaxRateID, 10)
	}
	s.renderAccountForm(w, r, o, a, f, http.StatusOK, nil)
}

func (s *Server) accountUpdateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	id, err := pathID(r, "id", "Account")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	a, err := s.ledger.FindAccountByID(ctx, o.Org.ID, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f := ledgerAccountFormFrom(r)
	rate, err := formTaxRateID(f.TaxRateID)
	if err != nil {
		s.renderAccountForm(w, r, o, a, f, statusOf(err), err)
		return
	}
	typ := ledger.AccountType(f.Type)
	u := ledger.AccountUpdate{Code: &f.Code, Name: &f.Name, Type: &typ, Description: &f.Description, TaxRateID: &rate, Archived: &f.Archived}
	if _, err := s.ledger.UpdateAccount(ctx, o.Actor(), o.Org.ID, id, u); err != nil {
		s.renderAccountForm(w, r, o, a, f, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/accounts?saved", o.Org.ID), http.StatusSeeOther)
}

// ----- tax rates -----

func (s *Server) renderTaxRates(w http.ResponseWriter, r *http.Request, o *orgReq, name, rate string, status int, err error) {
	d := s.orgPage(w, r, o, "Tax rates")
	d.Data["Section"] = "accounts"
	rates, rerr := s.ledger.FindTaxRates(r.Context(), o.Org.ID)
	if rerr != nil {
		s.renderError(w, r, rerr)
		return
	}
	var rows []taxRateJSON
	for _, t := range rates {
		rows = append(rows, toTaxRateJSON(t))
	}
	d.Data["Rates"] = rows
	d.Data["Name"] = name
	d.Data["Rate"] = rate
	if r.URL.Query().Has("created") {
		d.Flash = "The tax rate was added."
	}
	s.renderRefused(w, r, status, "accounts_tax_rates", d, err)
}

func (s *Server) taxRatesPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderTaxRates(w, r, o, "", "", http.StatusOK, nil)
}

func (s *Server) taxRateCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	name, rate := strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("rate"))
	bp, err := ledger.ParseTaxRate(rate)
	if err != nil {
		s.renderTaxRates(w, r, o, name, rate, statusOf(err), err)
		return
	}
	t := &ledger.TaxRate{OrgID: o.Org.ID, Name: name, RateBP: bp}
	if err := s.ledger.CreateTaxRate(r.Context(), o.Actor(), t); err != nil {
		s.renderTaxRates(w, r, o, name, rate, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/tax-rates?created", o.Org.ID), http.StatusSeeOther)
}

// ----- journals -----

type ledgerOptGroup struct {
	Label   string
	Options []ledgerOption
}

// ledgerAccountOptions groups the organisation's open accounts by type for a
// select, and maps every account id to its "code — name" label.
func ledgerAccountOptions(accts []*ledger.Account) ([]ledgerOptGroup, map[int64]string) {
	labels := map[int64]string{}
	var groups []ledgerOptGroup
	for _, typ := range ledger.AccountTypes {
		g := ledgerOptGroup{Label: typ.Label()}
		for _, a := range accts {
			labels[a.ID] = a.Code + " — " + a.Name
			if a.Type == typ && !a.Archived {
				g.Options = append(g.Options, ledgerOption{Value: strconv.FormatInt(a.ID, 10), Label: a.Code + " — " + a.Name})
			}
		}
		if len(g.Options) > 0 {
			groups = append(groups, g)
		}
	}
	return groups, labels
}

type journalListRow struct {
	ID         int64
	Path       string
	Date       string
	Narration  string
	Source     string
	Accounts   string
	Amount     string
	ReversedBy int64
	Reverses   int64
}

func journalSourceName(j *ledger.Journal) string {
	switch j.SourceType {
	case ledger.SourceManual:
		return "Manual"
	case ledger.SourceReversal:
		return "Reversal"
	case ledger.SourceInvoice:
		return "Invoice or bill"
	case ledger.SourceCreditNote:
		return "Credit note"
	case ledger.SourcePayment:
		return "Payment"
	case ledger.SourceBank:
		return "Bank"
	}
	return j.SourceType
}

func (s *Server) journalsPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	ctx := r.Context()
	d := s.orgPage(w, r, o, "Journals")
	d.Data["Section"] = "journals"
	exp := o.Exp
	accts, err := s.ledger.FindAccounts(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	lock, err := s.ledger.LockDate(ctx, o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q := r.URL.Query()
	d.Data["From"], d.Data["To"], d.Data["AccountID"] = q.Get("from"), q.Get("to"), q.Get("account_id")
	d.Data["LockDate"] = lock
	// The filter lists archived accounts too: their past postings remain.
	var filterOpts []ledgerOption
	codes := map[int64]string{}
	for _, a := range accts {
		codes[a.ID] = a.Code
		filterOpts = append(filterOpts, ledgerOption{Value: strconv.FormatInt(a.ID, 10), Label: a.Code + " — " + a.Name})
	}
	d.Data["Accounts"] = filterOpts
	f, err := journalFilter(r)
	if err == nil {
		if _, ok := codes[f.AccountID]; f.AccountID != 0 && !ok {
			err = errs.Errorf(errs.EINVALID, "Choose an account from the list.")
		}
	}
	if err != nil {
		d.Error = errs.Message(err)
		s.render(w, r, statusOf(err), "journals", d)
		return
	}
	js, total, err := s.ledger.FindJournals(ctx, o.Org.ID, f)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	var rows []journalListRow
	for _, j := range js {
		var amount int64
		var used []string
		seen := map[int64]bool{}
		for _, l := range j.Lines {
			amount += l.Debit
			if !seen[l.AccountID] {
				seen[l.AccountID] = true
				used = append(used, codes[l.AccountID])
			}
		}
		rows = append(rows, journalListRow{ID: j.ID, Path: d.Org.Path("journals", j.ID), Date: j.Date, Narration: j.Narration, Source: journalSourceName(j),
			Accounts: strings.Join(used, ", "), Amount: money.Format(amount, exp), ReversedBy: j.ReversedByID, Reverses: j.ReversesID})
	}
	d.Data["Journals"] = rows
	d.Data["Total"] = total
	d.Data["Currency"] = o.Org.Currency
	if f.Limit == 0 {
		f.Limit = ledger.DefaultJournalLimit
	}
	page := func(offset int) string {
		return pageLink(d.Org.Path("journals"), q, offset, "from", "to", "account_id", "limit")
	}
	if f.Offset > 0 {
		d.Data["PrevPath"] = page(max(f.Offset-f.Limit, 0))
	}
	if f.Offset+len(js) < total {
		d.Data["NextPath"] = page(f.Offset + f.Limit)
	}
	if len(js) > 0 {
		d.Data["RangeFrom"], d.Data["RangeTo"] = f.Offset+1, f.Offset+len(js)
	}
	s.render(w, r, http.StatusOK, "journals", d)
}

// journalFormRow is one line row of the manual journal form.
type journalFormRow struct {
	N                                     int // 1-based row number, set for display
	AccountID, Debit, Credit, Description string
}

func (row journalFormRow) empty() bool {
	return row.AccountID == "" && strings.TrimSpace(row.Debit) == "" && strings.TrimSpace(row.Credit) == "" && strings.TrimSpace(row.Description) == ""
}

func (s *Server) renderJournalForm(w http.ResponseWriter, r *http.Request, o *orgReq, date, narration string, rows []journalFormRow, status int, err error) {
	d := s.orgPage(w, r, o, "New journal")
	d.Data["Section"] = "journals"
	accts, aerr := s.ledger.FindAccounts(r.Context(), o.Org.ID)
	if aerr != nil {
		s.renderError(w, r, aerr)
		return
	}
	lock, lerr := s.ledger.LockDate(r.Context(), o.Org.ID)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	groups, _ := ledgerAccountOptions(accts)
	for i := range rows {
		rows[i].N = i + 1
	}
	d.Data["AccountGroups"] = groups
	d.Data["Date"] = date
	d.Data["Narration"] = narration
	d.Data["Rows"] = rows
	d.Data["LockDate"] = lock
	d.Data["Currency"] = o.Org.Currency
	d.Data["MoreRowsPath"] = d.Org.Path("journals", "new") + "?lines=" + strconv.Itoa(min(len(rows)+10, journalFormMaxRows))
	s.renderRefused(w, r, status, "journal_new", d, err)
}

func (s *Server) journalNewPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	n := journalFormRows
	if v := r.URL.Query().Get("lines"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 2 || k > journalFormMaxRows {
			s.renderError(w, r, errs.Errorf(errs.EINVALID, "lines must be a number of rows between 2 and %d.", journalFormMaxRows))
			return
		}
		n = k
	}
	s.renderJournalForm(w, r, o, s.ledger.Today(), "", make([]journalFormRow, n), http.StatusOK, nil)
}

func (s *Server) journalCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	p := r.PostForm
	date, narration := strings.TrimSpace(p.Get("date")), strings.TrimSpace(p.Get("narration"))
	accounts, debits, credits, descs := p["account_id"], p["debit"], p["credit"], p["description"]
	n := max(len(accounts), len(debits), len(credits), len(descs))
	if n > journalFormMaxRows {
		s.renderError(w, r, errs.Errorf(errs.EINVALID, "A journal form may have at most %d rows; post larger journals through the API.", journalFormMaxRows))
		return
	}
	at := func(v []string, i int) string {
		if i < len(v) {
			return v[i]
		}
		return ""
	}
	// Empty rows are dropped and the rest moved up, so that "line 2" in a
	// message is the second row the form shows when it comes back.
	var rows []journalFormRow
	for i := range n {
		row := journalFormRow{AccountID: at(accounts, i), Debit: at(debits, i), Credit: at(credits, i), Description: at(descs, i)}
		if !row.empty() {
			rows = append(rows, row)
		}
	}
	shown := append(rows[:len(rows):len(rows)], make([]journalFormRow, max(journalFormRows-len(rows), 2))...)
	exp := o.Exp
	in := make([]journalLineInput, len(rows))
	var problems []string
	for i, row := range rows {
		in[i] = journalLineInput{Debit: row.Debit, Credit: row.Credit, Description: strings.TrimSpace(row.Description)}
		if row.AccountID == "" {
			continue // Validate names the line without an account
		}
		id, err := strconv.ParseInt(row.AccountID, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, fmt.Sprintf("Line %d: choose an account from the list.", i+1))
			continue
		}
		in[i].AccountID = id
	}
	if len(problems) > 0 {
		err := errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
		s.renderJournalForm(w, r, o, date, narration, shown, statusOf(err), err)
		return
	}
	lines, err := parseJournalLines(in, exp)
	if err != nil {
		s.renderJournalForm(w, r, o, date, narration, shown, statusOf(err), err)
		return
	}
	j := &ledger.Journal{OrgID: o.Org.ID, Date: date, Narration: narration, Lines: lines}
	// Validated here first only for a message in the currency's amounts.
	if err := j.ValidateIn(exp); err != nil {
		s.renderJournalForm(w, r, o, date, narration, shown, statusOf(err), err)
		return
	}
	if err := s.ledger.PostManualJournal(r.Context(), o.Actor(), j); err != nil {
		s.renderJournalForm(w, r, o, date, narration, shown, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/journals/%d?posted", o.Org.ID, j.ID), http.StatusSeeOther)
}

type journalLineView struct {
	Account     string
	AccountPath string
	Description string
	Debit       string
	Credit      string
}

func (s *Server) renderJournal(w http.ResponseWriter, r *http.Request, o *orgReq, id int64, reverseDate string, status int, err error) {
	ctx := r.Context()
	j, ferr := s.ledger.FindJournal(ctx, o.Org.ID, id)
	if ferr != nil {
		s.renderError(w, r, ferr)
		return
	}
	exp := o.Exp
	accts, ferr := s.ledger.FindAccounts(ctx, o.Org.ID)
	if ferr != nil {
		s.renderError(w, r, ferr)
		return
	}
	d := s.orgPage(w, r, o, fmt.Sprintf("Journal %d", j.ID))
	d.Data["Section"] = "journals"
	_, labels := ledgerAccountOptions(accts)
	var lines []journalLineView
	var debits, credits int64
	blank := func(v int64) string {
		if v == 0 {
			return ""
		}
		return money.Format(v, exp)
	}
	for _, l := range j.Lines {
		debits += l.Debit
		credits += l.Credit
		lines = append(lines, journalLineView{Account: labels[l.AccountID], AccountPath: d.Org.Path("journals") + "?account_id=" + strconv.FormatInt(l.AccountID, 10),
			Description: l.Description, Debit: blank(l.Debit), Credit: blank(l.Credit)})
	}
	d.Data["Journal"] = j
	d.Data["Source"] = journalSourceName(j)
	d.Data["Lines"] = lines
	d.Data["Debits"] = money.Format(debits, exp)
	d.Data["Credits"] = money.Format(credits, exp)
	d.Data["Currency"] = o.Org.Currency
	if j.ReversesID != 0 {
		d.Data["ReversesPath"] = d.Org.Path("journals", j.ReversesID)
	}
	if j.ReversedByID != 0 {
		d.Data["ReversedByPath"] = d.Org.Path("journals", j.ReversedByID)
	}
	d.Data["CanReverse"] = j.ReversedByID == 0 && j.CanReverse() == nil
	if reverseDate == "" {
		reverseDate = max(s.ledger.Today(), j.Date)
	}
	d.Data["ReverseDate"] = reverseDate
	switch {
	case r.URL.Query().Has("posted"):
		d.Flash = "The journal was posted."
	case r.URL.Query().Has("reversed"):
		d.Flash = "The reversal was posted."
	}
	s.renderRefused(w, r, status, "journal", d, err)
}

func (s *Server) journalPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Journal")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderJournal(w, r, o, id, "", http.StatusOK, nil)
}

func (s *Server) journalReverseSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Journal")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	date := strings.TrimSpace(r.PostForm.Get("date"))
	rev, err := s.ledger.ReverseJournal(r.Context(), o.Actor(), o.Org.ID, id, date)
	if err != nil {
		if errs.Code(err) == errs.ENOTFOUND {
			s.renderError(w, r, err)
			return
		}
		s.renderJournal(w, r, o, id, date, statusOf(err), err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/journals/%d?reversed", o.Org.ID, rev.ID), http.StatusSeeOther)
}

// ----- lock date -----

func (s *Server) renderLockDate(w http.ResponseWriter, r *http.Request, o *orgReq, value string, status int, err error) {
	d := s.orgPage(w, r, o, "Lock date")
	d.Data["Section"] = "journals"
	lock, lerr := s.ledger.LockDate(r.Context(), o.Org.ID)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	if value == "" {
		value = lock
	}
	d.Data["LockDate"] = lock
	d.Data["Value"] = value
	switch {
	case r.URL.Query().Has("saved"):
		d.Flash = "The lock date was saved."
	case r.URL.Query().Has("removed"):
		d.Flash = "The lock date was removed."
	}
	s.renderRefused(w, r, status, "lock_date", d, err)
}

func (s *Server) lockDatePage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderLockDate(w, r, o, "", http.StatusOK, nil)
}

func (s *Server) lockDateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	date := strings.TrimSpace(r.PostForm.Get("lock_date"))
	// Removing the lock is its own button, so an emptied date field cannot
	// remove it by accident.
	remove := r.PostForm.Get("remove") == "1"
	if remove {
		date = ""
	} else if date == "" {
		err := errs.Errorf(errs.EINVALID, "Enter the lock date, or use Remove lock date.")
		s.renderLockDate(w, r, o, "", statusOf(err), err)
		return
	}
	if err := s.ledger.SetLockDate(r.Context(), o.Actor(), o.Org.ID, date); err != nil {
		s.renderLockDate(w, r, o, date, statusOf(err), err)
		return
	}
	if remove {
		http.Redirect(w, r, fmt.Sprintf("/orgs/%d/lock-date?removed", o.Org.ID), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/orgs/%d/lock-date?saved", o.Org.ID), http.StatusSeeOther)
}
