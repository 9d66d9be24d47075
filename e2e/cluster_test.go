package e2e

// Several Coffer nodes (separate OS processes) on one PostgreSQL database,
// some behind nginx with deploy/nginx/coffer.conf: what one node does,
// every other node sees at the next request — sessions, revocations,
// lockouts, used TOTP codes, membership, step-up, the books and the lock
// date — and a node killed under load loses nothing and applies nothing
// twice. Source addresses 127.0.0.160–199.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/client"
	"coffer/internal/idem"
	"coffer/internal/mfa"
	"coffer/internal/testcluster"
	"coffer/internal/testserver"
)

// clusterMember is a user with role in org (org made for an owner), added
// through the server add and enrolled and signed in through c, which may
// reach another node or nginx.
func clusterMember(tb testing.TB, add *testserver.Server, c *client.Client, email, org, role string) *member {
	tb.Helper()
	// Not derived from the email: the password policy refuses a password
	// that contains the account's email address or name.
	password := "correct horse battery staple 42"
	add.AddMember(tb, email, "Member "+email, password, org, role)
	e := enrollAfterAdd(tb, c, email, password)
	var out struct {
		Orgs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"orgs"`
	}
	if err := c.Do(context.Background(), "GET", "/api/v1/orgs", e.Session, nil, &out); err != nil {
		tb.Fatalf("list orgs: %v", err)
	}
	for _, o := range out.Orgs {
		if o.Name == org {
			return &member{enrolled: e, OrgID: o.ID, C: c}
		}
	}
	tb.Fatalf("%s is not a member of %s", email, org)
	return nil
}

// nodeClient is a client talking to one node directly.
func nodeClient(srv *testserver.Server, ip string) *client.Client {
	return client.New(srv.URL, srv.HTTPClient(ip))
}

// clusterDB connects to the cluster's database, to check the books and
// the migrations beneath the API.
func clusterDB(tb testing.TB, c *testcluster.Cluster) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), c.DB)
	if err != nil {
		tb.Fatalf("connect to the cluster's database: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// nextCode is the TOTP code of the next 30 s step: the server accepts it
// (±1 step) and enrollment, which used the current step, did not.
func nextCode(tb testing.TB, secret string) string {
	tb.Helper()
	s, err := mfa.DecodeSecret(secret)
	if err != nil {
		tb.Fatal(err)
	}
	code, err := mfa.TOTPCode(s, time.Now().Add(30*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// wantStatus fails unless err is an API error with that status.
func wantStatus(tb testing.TB, err error, status int, what string) {
	tb.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status {
		tb.Fatalf("%s: error = %v, want status %d", what, err, status)
	}
}

func TestClusterSessions(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := context.Background()
	owner := clusterMember(t, a, nodeClient(a, "127.0.0.160"), "owner@cluster.example", "Cluster Books Ltd", "owner")
	staff := clusterMember(t, a, nodeClient(a, "127.0.0.161"), "staff@cluster.example", "Cluster Books Ltd", "standard")
	onB := nodeClient(b, "127.0.0.162")

	t.Run("SessionFromAWorksOnB", func(t *testing.T) {
		me, err := onB.Me(ctx, owner.Session)
		if err != nil || me.Email != owner.Email {
			t.Fatalf("A's session on B: %+v, %v", me, err)
		}
	})
	t.Run("LogoutOnBRefusedOnA", func(t *testing.T) {
		// A second session, made on A with a recovery code.
		lr, err := owner.C.Login(ctx, owner.Email, owner.Password)
		if err != nil {
			t.Fatal(err)
		}
		res, err := owner.C.LoginMFA(ctx, lr.LoginToken, "recovery_code", owner.RecoveryCodes[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := owner.C.Me(ctx, res.SessionToken); err != nil {
			t.Fatalf("new session on A: %v", err)
		}
		if err := onB.Logout(ctx, res.SessionToken); err != nil {
			t.Fatalf("logout on B: %v", err)
		}
		_, err = owner.C.Me(ctx, res.SessionToken)
		wantStatus(t, err, http.StatusUnauthorized, "A, after logout on B")
	})
	t.Run("RevokeOnBRefusedOnA", func(t *testing.T) {
		lr, err := owner.C.Login(ctx, owner.Email, owner.Password)
		if err != nil {
			t.Fatal(err)
		}
		res, err := owner.C.LoginMFA(ctx, lr.LoginToken, "recovery_code", owner.RecoveryCodes[1])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := owner.C.Me(ctx, res.SessionToken); err != nil {
			t.Fatalf("new session on A: %v", err)
		}
		// Its id, as A lists it; then revoke it from B with the first
		// session.
		mine, err := owner.C.Sessions(ctx, res.SessionToken)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		for _, s := range mine {
			if s.Current {
				id = s.ID
			}
		}
		if id == 0 {
			t.Fatalf("no current session in %+v", mine)
		}
		if err := onB.RevokeSession(ctx, owner.Session, id); err != nil {
			t.Fatalf("revoke on B: %v", err)
		}
		_, err = owner.C.Me(ctx, res.SessionToken)
		wantStatus(t, err, http.StatusUnauthorized, "A, after revoke on B")
		if _, err := owner.C.Me(ctx, owner.Session); err != nil {
			t.Fatalf("the revoking session on A: %v", err)
		}
	})
	t.Run("StepUpOnACountsOnB", func(t *testing.T) {
		db := clusterDB(t, c)
		// Age every owner session past the step-up window.
		if _, err := db.Exec(ctx, `UPDATE sessions SET mfa_at = mfa_at - 600 WHERE user_id = (SELECT id FROM users WHERE email = $1)`, owner.Email); err != nil {
			t.Fatal(err)
		}
		lock := map[string]string{"lock_date": "2020-01-31"}
		err := onB.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, lock, nil)
		wantStatus(t, err, http.StatusForbidden, "lock date on B with a stale session")
		if err := owner.C.StepUpWith(ctx, owner.Session, "totp", nextCode(t, owner.Secret)); err != nil {
			t.Fatalf("step-up on A: %v", err)
		}
		if err := onB.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, lock, nil); err != nil {
			t.Fatalf("lock date on B right after step-up on A: %v", err)
		}
	})
	t.Run("RemovedMemberRefusedAtOnce", func(t *testing.T) {
		path := staff.orgPath("journals?limit=1")
		if err := staff.C.Do(ctx, "GET", path, staff.Session, nil, nil); err != nil {
			t.Fatalf("staff on A before removal: %v", err)
		}
		me, err := staff.C.Me(ctx, staff.Session)
		if err != nil {
			t.Fatal(err)
		}
		if err := onB.Do(ctx, "DELETE", owner.orgPath(fmt.Sprintf("members/%d", me.ID)), owner.Session, nil, nil); err != nil {
			t.Fatalf("remove member on B: %v", err)
		}
		err = staff.C.Do(ctx, "GET", path, staff.Session, nil, nil)
		wantStatus(t, err, http.StatusNotFound, "removed member's next request on A")
	})
}

func TestClusterLockout(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	ctx := context.Background()
	const email = "lock@cluster.example"
	c.Nodes[0].AddUser(t, email, apiName, apiPassword)
	// Ten wrong passwords, alternating between the nodes and each from
	// another address (so no per-client limit is what stops them).
	for i := range 10 {
		n := c.Nodes[i%2]
		_, err := nodeClient(n, fmt.Sprintf("127.0.0.%d", 165+i)).Login(ctx, email, apiWrongPassword)
		wantStatus(t, err, http.StatusUnauthorized, fmt.Sprintf("wrong password %d on node %d", i+1, i%2))
	}
	for i, n := range c.Nodes {
		_, err := nodeClient(n, "127.0.0.176").Login(ctx, email, apiPassword)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || !strings.Contains(e.Message, "locked") {
			t.Fatalf("the right password on node %d after 10 failures spread over both: %v, want locked", i, err)
		}
	}
}

func TestClusterTOTPReplay(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	ctx := context.Background()
	a, b := nodeClient(c.Nodes[0], "127.0.0.177"), nodeClient(c.Nodes[1], "127.0.0.178")
	login := func(cl *client.Client, email string) string {
		t.Helper()
		lr, err := cl.Login(ctx, email, "correct horse battery staple 42")
		if err != nil || lr.Status != "mfa_required" {
			t.Fatalf("login %s: %+v, %v", email, lr, err)
		}
		return lr.LoginToken
	}
	t.Run("Sequential", func(t *testing.T) {
		u := clusterMember(t, c.Nodes[0], a, "replay@cluster.example", "Replay Ltd", "owner")
		code := nextCode(t, u.Secret)
		if _, err := a.LoginMFA(ctx, login(a, u.Email), "totp", code); err != nil {
			t.Fatalf("code on A: %v", err)
		}
		_, err := b.LoginMFA(ctx, login(b, u.Email), "totp", code)
		wantStatus(t, err, http.StatusUnauthorized, "the same code on B")
	})
	t.Run("Concurrent", func(t *testing.T) {
		for round := range 3 {
			u := clusterMember(t, c.Nodes[0], a, fmt.Sprintf("race%d@cluster.example", round), "Replay Ltd", "owner")
			clients := []*client.Client{a, b}
			tokens := []string{login(a, u.Email), login(b, u.Email)}
			code := nextCode(t, u.Secret)
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					<-start
					_, errs[i] = clients[i].LoginMFA(ctx, tokens[i], "totp", code)
				})
			}
			close(start)
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: one code on A and B at once: errors %v, want exactly one success", round, errs)
			}
			for _, err := range errs {
				if err != nil {
					wantStatus(t, err, http.StatusUnauthorized, "the losing node")
				}
			}
		}
	})
}

// clusterBooks sums the organisation's journal lines in the database.
func clusterBooks(tb testing.TB, db *pgx.Conn, orgID int64) (debits, credits int64) {
	tb.Helper()
	err := db.QueryRow(context.Background(), `SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) FROM journal_lines WHERE org_id = $1`, orgID).Scan(&debits, &credits)
	if err != nil {
		tb.Fatal(err)
	}
	return debits, credits
}

func TestClusterLedger(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	ctx := context.Background()
	owner := clusterMember(t, c.Nodes[0], nodeClient(c.Nodes[0], "127.0.0.180"), "books@cluster.example", "Racing Books Ltd", "owner")
	clients := []*client.Client{owner.C, nodeClient(c.Nodes[1], "127.0.0.181")}
	db := clusterDB(t, c)
	acct := ledgerAccounts(t, owner)
	var banks struct {
		BankAccounts []struct {
			ID int64 `json:"id"`
		} `json:"bank_accounts"`
	}
	if err := owner.C.Do(ctx, "GET", owner.orgPath("bank-accounts"), owner.Session, nil, &banks); err != nil || len(banks.BankAccounts) == 0 {
		t.Fatalf("bank accounts: %+v, %v", banks, err)
	}
	bankID := banks.BankAccounts[0].ID

	t.Run("EachInvoicePaidOnce", func(t *testing.T) {
		var customer salesContactOut
		if err := owner.C.Do(ctx, "POST", owner.orgPath("contacts"), owner.Session, map[string]any{"name": "Racer", "is_customer": true}, &customer); err != nil {
			t.Fatal(err)
		}
		const n = 8
		invoices := make([]salesDocOut, n)
		for i := range invoices {
			body := map[string]any{"contact_id": customer.ID, "date": "2026-03-01", "due_date": "2026-03-31", "lines": []map[string]any{
				{"description": "Work", "quantity": "1", "unit_price": "100.00", "account_id": acct["4000"].ID}}}
			if err := owner.C.Do(ctx, "POST", owner.orgPath("invoices"), owner.Session, body, &invoices[i]); err != nil {
				t.Fatal(err)
			}
			if err := owner.C.Do(ctx, "POST", owner.orgPath(fmt.Sprintf("invoices/%d/approve", invoices[i].ID)), owner.Session, nil, &invoices[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Every invoice gets two payments of its full amount at once, one
		// through each node.
		errs := make([][2]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, inv := range invoices {
			for k := range 2 {
				wg.Go(func() {
					<-start
					errs[i][k] = clients[k].Do(ctx, "POST", owner.orgPath("payments"), owner.Session,
						map[string]any{"invoice_id": inv.ID, "bank_account_id": bankID, "date": "2026-03-10", "amount": inv.Total}, nil)
				})
			}
		}
		close(start)
		wg.Wait()
		for i, inv := range invoices {
			if (errs[i][0] == nil) == (errs[i][1] == nil) {
				t.Errorf("invoice %s: payments through A and B: %v, want exactly one accepted", inv.Number, errs[i])
				continue
			}
			for _, err := range errs[i] {
				if err != nil {
					wantStatus(t, err, http.StatusConflict, "the second payment")
				}
			}
			var got salesDocOut
			if err := owner.C.Do(ctx, "GET", owner.orgPath(fmt.Sprintf("invoices/%d", inv.ID)), owner.Session, nil, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != "paid" || got.Paid != inv.Total || got.AmountDue != "0.00" {
				t.Errorf("invoice %s after the race: %+v", inv.Number, got)
			}
		}
		var overpaid int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT invoice_id FROM payments WHERE org_id = $1 GROUP BY invoice_id HAVING COUNT(*) > 1) x`, owner.OrgID).Scan(&overpaid); err != nil {
			t.Fatal(err)
		}
		if overpaid != 0 {
			t.Errorf("%d invoices have more than one payment", overpaid)
		}
	})

	t.Run("JournalsBalanced", func(t *testing.T) {
		d0, _ := clusterBooks(t, db, owner.OrgID)
		const n = 24
		var acked atomic.Int64 // pence acknowledged
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				pence := int64(100 + i)
				amt := fmt.Sprintf("%d.%02d", pence/100, pence%100)
				body := map[string]any{"date": "2026-03-05", "narration": fmt.Sprintf("race %d", i), "lines": []ledgerLine{
					{AccountID: acct["6000"].ID, Debit: amt}, {AccountID: acct["1000"].ID, Credit: amt}}}
				if err := clients[i%2].Do(ctx, "POST", owner.orgPath("journals"), owner.Session, body, nil); err != nil {
					t.Errorf("journal %d on node %d: %v", i, i%2, err)
					return
				}
				acked.Add(pence)
			})
		}
		close(start)
		wg.Wait()
		d, cr := clusterBooks(t, db, owner.OrgID)
		if d != cr {
			t.Fatalf("trial balance: debits %d ≠ credits %d", d, cr)
		}
		if d-d0 != acked.Load() {
			t.Fatalf("the books grew by %d pence, the nodes acknowledged %d", d-d0, acked.Load())
		}
	})

	t.Run("LockDateOnARefusesOnB", func(t *testing.T) {
		if err := owner.C.Do(ctx, "PUT", owner.orgPath("lock-date"), owner.Session, map[string]string{"lock_date": "2026-03-31"}, nil); err != nil {
			t.Fatalf("lock date on A: %v", err)
		}
		body := map[string]any{"date": "2026-03-20", "narration": "into the locked period", "lines": []ledgerLine{
			{AccountID: acct["6000"].ID, Debit: "1.00"}, {AccountID: acct["1000"].ID, Credit: "1.00"}}}
		err := clients[1].Do(ctx, "POST", owner.orgPath("journals"), owner.Session, body, nil)
		wantStatus(t, err, http.StatusConflict, "posting into the locked period on B")
	})
}

func TestClusterConcurrentStart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Concurrent: true})
	ctx := context.Background()
	db := clusterDB(t, c)
	files, err := filepath.Glob("../internal/store/sqlstore/migrations/postgres/*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("postgres migrations: %v, %v", files, err)
	}
	var rows, versions int
	if err := db.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != len(files) || versions != len(files) {
		t.Fatalf("schema_migrations: %d rows, %d versions; want one row for each of the %d migrations", rows, versions, len(files))
	}
	// All three serve the same accounts.
	c.Nodes[2].AddUser(t, "start@cluster.example", apiName, apiPassword)
	for i, n := range c.Nodes {
		lr, err := nodeClient(n, "127.0.0.185").Login(ctx, "start@cluster.example", apiPassword)
		if err != nil || lr.Status != "mfa_enrollment_required" {
			t.Fatalf("node %d: %+v, %v", i, lr, err)
		}
	}
}

// TestClusterKillUnderLoad: three nodes behind nginx, clients writing
// journals (with an Idempotency-Key, retried on a 502/503/504 or a broken
// connection) and reading; one node gets SIGKILL in the middle. Reads
// never fail (nginx retries them on another node); every acknowledged
// journal is in the books exactly once, no retry made a second one, and
// the books balance.
func TestClusterKillUnderLoad(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Nginx: true})
	ctx := context.Background()
	owner := clusterMember(t, c.Nodes[0], client.New(c.URL, c.HTTPClient("127.0.0.190")), "load@cluster.example", "Load Books Ltd", "owner")
	acct := ledgerAccounts(t, owner)
	db := clusterDB(t, c)

	type outcome struct {
		narration string
		pence     int64
		acked     bool
		lost      bool // applied, but its node died before answering
		retries   int
		lastErr   error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		getFails []error
		stop     atomic.Bool
	)
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		cl := client.New(c.URL, c.HTTPClient(fmt.Sprintf("127.0.0.%d", 191+w)))
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				o := outcome{narration: fmt.Sprintf("load %d/%d", w, i), pence: int64(100 + w*1000 + i)}
				amt := fmt.Sprintf("%d.%02d", o.pence/100, o.pence%100)
				body := map[string]any{"date": "2026-04-01", "narration": o.narration, "lines": []ledgerLine{
					{AccountID: acct["6000"].ID, Debit: amt}, {AccountID: acct["1000"].ID, Credit: amt}}}
				key := fmt.Sprintf("kill-%d-%d", w, i)
				// A key whose node died stays "in progress" for
				// idem.ClaimTTL; retry past it, when the key settles.
				deadline := time.Now().Add(idem.ClaimTTL + 10*time.Second)
				for time.Now().Before(deadline) {
					err := postIdempotent(ctx, cl, owner, key, body)
					if err == nil {
						o.acked = true
						break
					}
					o.lastErr = err
					if answerLost(err) {
						o.lost = true
						break
					}
					if !retryable(err) {
						t.Errorf("%s: %v", o.narration, err)
						break
					}
					o.retries++
					time.Sleep(250 * time.Millisecond)
				}
				if err := cl.Do(ctx, "GET", owner.orgPath("journals?limit=5"), owner.Session, nil, nil); err != nil {
					mu.Lock()
					getFails = append(getFails, err)
					mu.Unlock()
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	c.Kill(1)
	time.Sleep(2500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if len(getFails) > 0 {
		t.Errorf("%d reads through nginx failed after a node died: %v\nnginx: %s", len(getFails), getFails, c.NginxLog())
	}
	counts := map[string]int{}
	rows, err := db.Query(ctx, `SELECT narration FROM journals WHERE org_id = $1 AND narration LIKE 'load %'`, owner.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	rows.Close()
	var acked, retried, lost int
	for _, o := range outcomes {
		n := counts[o.narration]
		switch {
		case n > 1:
			t.Errorf("%s is in the books %d times", o.narration, n)
		case o.acked && n != 1:
			t.Errorf("%s was acknowledged but is not in the books", o.narration)
		case o.lost && n != 1:
			t.Errorf("%s was answered \"may have been applied\" but is in the books %d times", o.narration, n)
		case !o.acked && !o.lost:
			t.Errorf("%s: no final answer within %s (last: %v), in the books %d times", o.narration, idem.ClaimTTL+10*time.Second, o.lastErr, n)
		}
		if o.acked {
			acked++
		}
		if o.lost {
			lost++
		}
		if o.retries > 0 {
			retried++
		}
	}
	if acked < workers {
		t.Fatalf("only %d writes acknowledged: the load did not run", acked)
	}
	if d, cr := clusterBooks(t, db, owner.OrgID); d != cr {
		t.Errorf("books unbalanced after the kill: debits %d, credits %d", d, cr)
	}
	t.Logf("%d journals acknowledged, %d answered \"applied, answer lost\", %d needed a retry", acked, lost, retried)
}

// postIdempotent posts a journal with an Idempotency-Key.
func postIdempotent(ctx context.Context, cl *client.Client, m *member, key string, body any) error {
	req, err := jsonRequest(ctx, cl.BaseURL+m.orgPath("journals"), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+m.Session)
	req.Header.Set("Idempotency-Key", key)
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return nil
	}
	e := &client.Error{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	answer := struct {
		Error *client.Error `json:"error"`
	}{Error: e}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer)
	return e
}

// retryable: the request may not have been applied, or was applied and
// the key's answer will say so — resending with the same key is safe.
// 409 with Retry-After is the key still held by a request in progress.
func retryable(err error) bool {
	var e *client.Error
	if !errors.As(err, &e) {
		return true // transport error: connection refused or cut
	}
	switch e.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusConflict:
		return e.RetryAfter != ""
	}
	return false
}

// answerLost is the answer for a key whose request was applied but whose
// node stopped before answering: final, not to be retried.
func answerLost(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == http.StatusConflict && e.RetryAfter == "" && strings.Contains(e.Message, "may have been applied")
}

// jsonRequest is a POST of body as JSON.
func jsonRequest(ctx context.Context, url string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
