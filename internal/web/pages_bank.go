package web

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// bankPageSize is how many statement lines the bank account page shows.
const bankPageSize = 100

type bankAccountRow struct {
	Name         string
	Code         string
	Last4        string
	Balance      string
	Unreconciled int
	Archived     bool
	Path         string
}

// bankPage lists the bank accounts, with a form to add one.
func (s *Server) bankPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	s.renderBankPage(w, r, o, http.StatusOK, "", url.Values{})
}

func (s *Server) renderBankPage(w http.ResponseWriter, r *http.Request, o *orgReq, status int, message string, form url.Values) {
	accts, err := s.ledger.BankAccounts(r.Context(), o.Org.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := s.orgPage(w, r, o, "Bank accounts")
	d.Data["Section"] = "bank"
	d.Error = message
	p := d.Org
	rows := make([]bankAccountRow, 0, len(accts))
	for _, b := range accts {
		rows = append(rows, bankAccountRow{Name: b.Name, Code: b.AccountCode, Last4: b.NumberLast4, Balance: bankAmount(b.Balance, b.Currency),
			Unreconciled: b.Unreconciled, Archived: b.Archived, Path: p.Path("bank", b.ID)})
	}
	d.Data["Accounts"] = rows
	d.Data["Currency"] = o.Org.Currency
	d.Data["Today"] = s.ledger.Today()
	// The account number is never put back into the page.
	d.Data["FormName"] = form.Get("name")
	d.Data["FormCode"] = form.Get("code")
	s.render(w, r, status, "bank", d)
}

// bankFormError shows a refused form again with its message, or the
// error page for what is not the user's to fix.
func (s *Server) bankFormError(w http.ResponseWriter, r *http.Request, err error, again func(status int, message string)) {
	st := statusOf(err)
	if st == http.StatusInternalServerError || st == http.StatusNotFound || st == http.StatusForbidden {
		s.renderError(w, r, err)
		return
	}
	again(st, errs.Message(err))
}

func (s *Server) bankCreateSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f := r.PostForm
	b, err := s.ledger.CreateBankAccount(r.Context(), o.Actor(), o.Org.ID, ledger.BankAccountInput{Name: f.Get("name"), Code: f.Get("code"), AccountNumber: f.Get("account_number")})
	if err != nil {
		s.bankFormError(w, r, err, func(st int, msg string) { s.renderBankPage(w, r, o, st, msg, f) })
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("bank", b.ID)+"?created=1", http.StatusSeeOther)
}

type bankOption struct {
	Value int64
	Label string
}

type bankTxRow struct {
	ID            int64
	Date          string
	Description   string
	Reference     string
	Amount        string
	In            bool
	Status        string
	StatusLabel   string
	JournalPath   string
	PaymentID     int64
	ReconcilePath string
	Suggestions   []bankOption
}

func (s *Server) bankAccountPage(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank account")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q := r.URL.Query()
	var flash []string
	if q.Has("created") {
		flash = append(flash, "Bank account added.")
	}
	if q.Has("imported") {
		imported, err1 := strconv.Atoi(q.Get("imported"))
		duplicates, err2 := strconv.Atoi(q.Get("duplicates"))
		if err1 == nil && err2 == nil && imported >= 0 && duplicates >= 0 {
			flash = append(flash, bankFlash(imported, duplicates))
		}
	}
	if q.Has("reconciled") {
		flash = append(flash, "The transaction is reconciled.")
	}
	s.renderBankAccount(w, r, o, id, http.StatusOK, strings.Join(flash, " "), "")
}

// renderBankAccount shows one bank account: its statement lines with a
// way to reconcile each open one, and the statement upload form.
func (s *Server) renderBankAccount(w http.ResponseWriter, r *http.Request, o *orgReq, id int64, status int, flash, message string) {
	ctx := r.Context()
	b, err := s.ledger.FindBankAccount(ctx, o.Org.ID, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := ledger.BankTransactionFilter{BankAccountID: id, Status: q.Get("status"), Limit: bankPageSize}
	if r.Method != http.MethodGet {
		f.Status = ""
	}
	if v := q.Get("offset"); v != "" && r.Method == http.MethodGet {
		if f.Offset, err = strconv.Atoi(v); err != nil || f.Offset < 0 {
			s.renderError(w, r, errs.Errorf(errs.EINVALID, "offset must be a whole number of at least 0."))
			return
		}
	}
	txs, total, err := s.ledger.BankTransactions(ctx, o.Org.ID, f)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	canWrite := access.Can(o.Role, access.BankWrite)
	canMatch := canWrite && access.Can(o.Role, access.PaymentsWrite)
	var suggestions map[int64][]*ledger.Invoice
	if canMatch {
		if suggestions, err = s.ledger.MatchSuggestions(ctx, o.Org.ID, txs); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	var categories []bankOption
	if canWrite {
		accts, err := s.ledger.CategoryAccounts(ctx, o.Org.ID, b)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		for _, a := range accts {
			categories = append(categories, bankOption{Value: a.ID, Label: a.Code + " " + a.Name})
		}
	}
	d := s.orgPage(w, r, o, b.Name)
	d.Data["Section"] = "bank"
	d.Flash, d.Error = flash, message
	p := d.Org
	rows := make([]bankTxRow, 0, len(txs))
	for _, t := range txs {
		row := bankTxRow{ID: t.ID, Date: t.Date, Description: t.Description, Reference: t.Reference, Amount: bankAmount(t.Amount, t.Currency), In: t.Amount > 0,
			Status: t.Status, StatusLabel: bankStatusLabel(t.Status), PaymentID: t.PaymentID, ReconcilePath: p.Path("bank", b.ID, "transactions", t.ID, "reconcile")}
		if t.JournalID != 0 && access.Can(o.Role, access.JournalsRead) {
			row.JournalPath = p.Path("journals", t.JournalID)
		}
		for _, inv := range suggestions[t.ID] {
			row.Suggestions = append(row.Suggestions, bankOption{Value: inv.ID, Label: fmt.Sprintf("%s · %s · due %s", inv.Number, inv.ContactName, inv.DueDate)})
		}
		rows = append(rows, row)
	}
	d.Data["Account"] = map[string]any{
		"ID": b.ID, "Name": b.Name, "Code": b.AccountCode, "Last4": b.NumberLast4, "Balance": bankAmount(b.Balance, b.Currency),
		"Currency": b.Currency, "Unreconciled": b.Unreconciled, "Archived": b.Archived,
	}
	d.Data["Today"] = s.ledger.Today()
	d.Data["Transactions"] = rows
	d.Data["Total"] = total
	d.Data["Status"] = f.Status
	d.Data["CanImport"] = canWrite && !b.Archived
	d.Data["CanReconcile"] = canWrite
	d.Data["CanMatch"] = canMatch
	d.Data["Categories"] = categories
	d.Data["ImportPath"] = p.Path("bank", b.ID, "import")
	base := p.Path("bank", b.ID)
	page := func(offset int) string {
		return pageLink(base, url.Values{"status": {f.Status}}, offset, "status")
	}
	if f.Offset > 0 {
		d.Data["PrevPath"] = page(max(f.Offset-bankPageSize, 0))
	}
	if f.Offset+len(txs) < total {
		d.Data["NextPath"] = page(f.Offset + bankPageSize)
	}
	if len(txs) > 0 {
		d.Data["RangeFrom"], d.Data["RangeTo"] = f.Offset+1, f.Offset+len(txs)
	}
	s.render(w, r, status, "bank_account", d)
}

func bankStatusLabel(status string) string {
	if status == ledger.BankReconciled {
		return "Reconciled"
	}
	return "Unreconciled"
}

// statementFileFormat picks the format from the form, or from the file's
// extension when the form leaves it to Coffer.
func statementFileFormat(choice, filename string) (string, error) {
	if choice != "" && choice != "auto" {
		return ledger.ParseStatementFormat(choice)
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".csv":
		return ledger.FormatCSV, nil
	case ".ofx", ".qfx":
		return ledger.FormatOFX, nil
	}
	return "", errs.Errorf(errs.EINVALID, "Coffer cannot tell the format of %q from its name; choose CSV or OFX.", clip(filename, 60))
}

func (s *Server) bankImportSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank account")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	again := func(st int, msg string) { s.renderBankAccount(w, r, o, id, st, "", msg) }
	if r.MultipartForm == nil {
		s.bankFormError(w, r, errs.Errorf(errs.EUNSUPPORTED, "Upload the statement with the import form (multipart/form-data)."), again)
		return
	}
	// The server removes these too when the request ends; a statement
	// need not sit on disk a moment longer than its import.
	defer r.MultipartForm.RemoveAll()
	file, hdr, err := r.FormFile("file")
	if err != nil {
		s.bankFormError(w, r, errs.Errorf(errs.EINVALID, "Choose a statement file (CSV or OFX) to import."), again)
		return
	}
	defer file.Close()
	format, err := statementFileFormat(r.PostForm.Get("format"), hdr.Filename)
	if err != nil {
		s.bankFormError(w, r, err, again)
		return
	}
	data, err := readStatement(file)
	if err != nil {
		s.bankFormError(w, r, err, again)
		return
	}
	imp, err := s.ledger.ImportStatement(r.Context(), o.Actor(), o.Org.ID, id, ledger.StatementUpload{Format: format, DateFormat: r.PostForm.Get("date_format"), Filename: hdr.Filename, Data: data})
	if err != nil {
		s.bankFormError(w, r, err, again)
		return
	}
	target := fmt.Sprintf("%s?imported=%d&duplicates=%d", (&pageOrg{ID: o.Org.ID}).Path("bank", id), imp.Imported, imp.Duplicates)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) bankReconcileSubmit(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank account")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	txID, err := pathID(r, "tx", "Bank transaction")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	// The line must belong to the bank account of the page it was
	// reconciled from (and, like everything, to this organisation).
	t, err := s.ledger.FindBankTransaction(r.Context(), o.Org.ID, txID)
	if err == nil && t.BankAccountID != id {
		err = errs.Errorf(errs.ENOTFOUND, "Bank transaction not found.")
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	again := func(st int, msg string) { s.renderBankAccount(w, r, o, id, st, "", msg) }
	var req reconcileRequest
	f := r.PostForm
	parseID := func(name string) (*int64, error) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, errs.Errorf(errs.EINVALID, "Choose %s from the list.", map[string]string{"invoice_id": "an invoice or bill", "account_id": "an account"}[name])
		}
		return &n, nil
	}
	// Each form posts one kind: "match" with invoice_id, "categorise"
	// with account_id and an optional description.
	switch f.Get("action") {
	case "match":
		req.InvoiceID, err = parseID("invoice_id")
		if err == nil && req.InvoiceID == nil {
			err = errs.Errorf(errs.EINVALID, "Choose the invoice or bill this transaction pays.")
		}
	case "categorise":
		req.AccountID, err = parseID("account_id")
		if err == nil && req.AccountID == nil {
			err = errs.Errorf(errs.EINVALID, "Choose the account to categorise this transaction to.")
		}
		desc := f.Get("description")
		req.Description = &desc
	default:
		err = errs.Errorf(errs.EINVALID, "Use the Match or Categorise button of the transaction.")
	}
	if err == nil {
		_, err = s.reconcile(r, o, txID, req)
	}
	if err != nil {
		s.bankFormError(w, r, err, again)
		return
	}
	http.Redirect(w, r, (&pageOrg{ID: o.Org.ID}).Path("bank", id)+"?reconciled=1#tx-"+strconv.FormatInt(txID, 10), http.StatusSeeOther)
}
