package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"coffer/internal/access"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

// bankAmount writes minor units in the currency's decimals.
func bankAmount(v int64, currency string) string {
	exp, err := money.Exponent(currency)
	if err != nil {
		exp = 2
	}
	return money.Format(v, exp)
}

type bankAccountJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	AccountID   int64  `json:"account_id"`
	AccountCode string `json:"account_code"`
	NumberLast4 string `json:"number_last4"`
	Currency    string `json:"currency"`
	// Balance is the ledger balance of its account (debits − credits) as
	// of BalanceDate, today.
	Balance      string `json:"balance"`
	BalanceDate  string `json:"balance_date"`
	Unreconciled int    `json:"unreconciled"`
	Archived     bool   `json:"archived"`
}

func (s *Server) toBankAccountJSON(b *ledger.BankAccount) bankAccountJSON {
	return bankAccountJSON{ID: b.ID, Name: b.Name, AccountID: b.AccountID, AccountCode: b.AccountCode, NumberLast4: b.NumberLast4, Currency: b.Currency,
		Balance: bankAmount(b.Balance, b.Currency), BalanceDate: s.ledger.Now().UTC().Format(ledger.DateLayout), Unreconciled: b.Unreconciled, Archived: b.Archived}
}

type bankTransactionJSON struct {
	ID            int64  `json:"id"`
	BankAccountID int64  `json:"bank_account_id"`
	Date          string `json:"date"`
	Amount        string `json:"amount"` // signed: money in positive, out negative
	Currency      string `json:"currency"`
	Description   string `json:"description"`
	Reference     string `json:"reference"`
	FitID         string `json:"fit_id"`
	ImportID      *int64 `json:"import_id"`
	Status        string `json:"status"`
	PaymentID     *int64 `json:"payment_id"`
	JournalID     *int64 `json:"journal_id"`
}

func toBankTransactionJSON(t *ledger.BankTransaction) bankTransactionJSON {
	return bankTransactionJSON{ID: t.ID, BankAccountID: t.BankAccountID, Date: t.Date, Amount: bankAmount(t.Amount, t.Currency), Currency: t.Currency,
		Description: t.Description, Reference: t.Reference, FitID: t.FitID, ImportID: optID(t.ImportID), Status: t.Status,
		PaymentID: optID(t.PaymentID), JournalID: optID(t.JournalID)}
}

func (s *Server) apiListBankAccounts(w http.ResponseWriter, r *http.Request, o *orgReq) {
	accts, err := s.ledger.BankAccounts(r.Context(), o.Org.ID)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]bankAccountJSON, 0, len(accts))
	for _, b := range accts {
		out = append(out, s.toBankAccountJSON(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"bank_accounts": out})
}

func (s *Server) apiGetBankAccount(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank account")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	b, err := s.ledger.FindBankAccount(r.Context(), o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toBankAccountJSON(b))
}

type bankAccountRequest struct {
	Name          string `json:"name"`
	Code          string `json:"code"`
	AccountNumber string `json:"account_number"`
}

func (s *Server) apiCreateBankAccount(w http.ResponseWriter, r *http.Request, o *orgReq) {
	req, err := decodeJSON[bankAccountRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	b, err := s.ledger.CreateBankAccount(r.Context(), o.Actor(), o.Org.ID, ledger.BankAccountInput{Name: req.Name, Code: req.Code, AccountNumber: req.AccountNumber})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.toBankAccountJSON(b))
}

// statementFormat decides the format of an uploaded statement from its
// Content-Type, with ?format= for text/plain (or to confirm the type).
func statementFormat(r *http.Request) (string, error) {
	unsupported := errs.Errorf(errs.EUNSUPPORTED, "Send the statement as the request body with Content-Type text/csv or application/x-ofx (or text/plain with ?format=csv or ?format=ofx).")
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", unsupported
	}
	var format string
	switch mt {
	case "text/csv":
		format = ledger.FormatCSV
		if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
			return "", errs.Errorf(errs.EUNSUPPORTED, "CSV statements must be UTF-8 text, not %s; save the file as \"CSV UTF-8\".", clip(cs, 30))
		}
	case "application/x-ofx", "application/ofx":
		format = ledger.FormatOFX
	case "text/plain":
	default:
		return "", unsupported
	}
	if q := r.URL.Query().Get("format"); q != "" {
		f, err := ledger.ParseStatementFormat(q)
		if err != nil {
			return "", err
		}
		if format != "" && f != format {
			return "", errs.Errorf(errs.EINVALID, "?format=%s contradicts Content-Type %s.", f, mt)
		}
		format = f
	}
	if format == "" {
		return "", errs.Errorf(errs.EUNSUPPORTED, "With Content-Type text/plain, say which format the statement is in with ?format=csv or ?format=ofx.")
	}
	return format, nil
}

// readStatement reads an uploaded statement, refusing one over the limit.
func readStatement(rd io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rd, ledger.StatementMaxBytes+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errs.Errorf(errs.ETOOLARGE, "The statement file is larger than %d MiB; split it into smaller files.", ledger.StatementMaxBytes>>20)
	case err != nil:
		return nil, errs.Errorf(errs.EINVALID, "The statement file could not be read completely.")
	case len(data) > ledger.StatementMaxBytes:
		return nil, errs.Errorf(errs.ETOOLARGE, "The statement file is larger than %d MiB; split it into smaller files.", ledger.StatementMaxBytes>>20)
	}
	return data, nil
}

type bankImportJSON struct {
	Imported   int   `json:"imported"`
	Duplicates int   `json:"duplicates"`
	ImportID   int64 `json:"import_id"`
}

func (s *Server) apiImportStatement(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank account")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	format, err := statementFormat(r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	data, err := readStatement(r.Body)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	q := r.URL.Query()
	imp, err := s.ledger.ImportStatement(r.Context(), o.Actor(), o.Org.ID, id, ledger.StatementUpload{Format: format, DateFormat: q.Get("date_format"), Filename: q.Get("filename"), Data: data})
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, bankImportJSON{Imported: imp.Imported, Duplicates: imp.Duplicates, ImportID: imp.ID})
}

func bankTransactionFilter(r *http.Request) (ledger.BankTransactionFilter, error) {
	var f ledger.BankTransactionFilter
	var problems []string
	var err error
	var limit, offset int64
	if f.BankAccountID, err = queryInt(r, "bank_account_id"); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if limit, err = queryInt(r, "limit"); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if offset, err = queryInt(r, "offset"); err != nil {
		problems = append(problems, errs.Message(err))
	}
	f.Limit, f.Offset = int(limit), int(offset)
	f.Status = r.URL.Query().Get("status")
	if len(problems) > 0 {
		return f, errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return f, nil
}

func (s *Server) apiListBankTransactions(w http.ResponseWriter, r *http.Request, o *orgReq) {
	f, err := bankTransactionFilter(r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	txs, total, err := s.ledger.BankTransactions(r.Context(), o.Org.ID, f)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	out := make([]bankTransactionJSON, 0, len(txs))
	for _, t := range txs {
		out = append(out, toBankTransactionJSON(t))
	}
	// Limit reports the page size actually used (0 means the default).
	limit := f.Limit
	if limit == 0 {
		limit = ledger.DefaultBankLimit
	}
	writeJSON(w, http.StatusOK, map[string]any{"bank_transactions": out, "total": total, "limit": limit, "offset": f.Offset})
}

func (s *Server) apiGetBankTransaction(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank transaction")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	t, err := s.ledger.FindBankTransaction(r.Context(), o.Org.ID, id)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toBankTransactionJSON(t))
}

type reconcileRequest struct {
	InvoiceID   *int64  `json:"invoice_id"`
	AccountID   *int64  `json:"account_id"`
	Description *string `json:"description"`
}

// reconcile matches statement line id to an invoice or bill (a payment)
// or categorises it to an account, whichever the request names.
func (s *Server) reconcile(r *http.Request, o *orgReq, id int64, req reconcileRequest) (*ledger.BankTransaction, error) {
	switch {
	case (req.InvoiceID == nil) == (req.AccountID == nil):
		return nil, errs.Errorf(errs.EINVALID, "Send either invoice_id (the sales invoice or bill the transaction pays) or account_id (the account to categorise it to).")
	case req.InvoiceID != nil:
		if req.Description != nil {
			return nil, errs.Errorf(errs.EINVALID, "description goes with account_id only; a payment takes its reference from the statement line.")
		}
		// Matching records a payment, so the role must also be allowed
		// to record payments (the route itself asks for bank.write).
		if !access.Can(o.Role, access.PaymentsWrite) {
			return nil, errs.Errorf(errs.EFORBIDDEN, "Your role in %s (%s) does not allow recording payments.", o.Org.Name, o.Role.Label())
		}
		return s.ledger.ReconcileToInvoice(r.Context(), o.Actor(), o.Org.ID, id, *req.InvoiceID)
	default:
		var desc string
		if req.Description != nil {
			desc = *req.Description
		}
		return s.ledger.CategoriseBankTransaction(r.Context(), o.Actor(), o.Org.ID, id, *req.AccountID, desc)
	}
}

func (s *Server) apiReconcileBankTransaction(w http.ResponseWriter, r *http.Request, o *orgReq) {
	id, err := pathID(r, "id", "Bank transaction")
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	req, err := decodeJSON[reconcileRequest](r)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	t, err := s.reconcile(r, o, id, *req)
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toBankTransactionJSON(t))
}

// bankFlash turns the counts of an import into the page's message.
func bankFlash(imported, duplicates int) string {
	msg := fmt.Sprintf("Imported %d new transaction%s.", imported, bankPlural(imported))
	if duplicates > 0 {
		msg += fmt.Sprintf(" %d line%s already imported before %s skipped.", duplicates, bankPlural(duplicates), map[bool]string{true: "was", false: "were"}[duplicates == 1])
	}
	return msg
}

func bankPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
