package notices

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
)

// Limits on a vulnerability report.
const (
	MaxSummary = 200
	MaxDetails = 20000
	// ReportsPerClientHour bounds the reports one client address may send
	// in an hour; ReportsPerHour bounds them all, so a spread-out flood
	// cannot fill the database or the operators' mailboxes either.
	ReportsPerClientHour = 5
	ReportsPerHour       = 100
)

// Report is a vulnerability report from the public, in the clear: it
// exists only in memory. Stored, it is one sealed value bound to its row.
type Report struct {
	ID         int64
	ReceivedAt time.Time
	// Contact is the reporter's email address, if they gave one.
	Contact string
	Summary string
	Details string
}

// reportBody is what is sealed.
type reportBody struct {
	Contact string `json:"contact,omitempty"`
	Summary string `json:"summary"`
	Details string `json:"details"`
}

// SealedReport is a stored report.
type SealedReport struct {
	ID         int64
	ReceivedAt time.Time
	BodyEnc    []byte
}

// Validate checks a report as submitted and normalises the contact
// address; problems come back together as one EINVALID error.
func (r *Report) Validate() error {
	var problems []string
	r.Contact, r.Summary, r.Details = strings.TrimSpace(r.Contact), strings.TrimSpace(r.Summary), strings.TrimSpace(r.Details)
	if r.Contact != "" {
		norm := auth.NormalizeEmail(r.Contact)
		if norm == "" {
			problems = append(problems, "Enter a valid email address to be contacted at, or leave it empty.")
		}
		r.Contact = norm
	}
	if r.Summary == "" || utf8.RuneCountInString(r.Summary) > MaxSummary || !utf8.ValidString(r.Summary) || strings.ContainsAny(r.Summary, "\r\n") {
		problems = append(problems, fmt.Sprintf("Enter a one-line summary of 1 to %d characters.", MaxSummary))
	}
	if r.Details == "" || utf8.RuneCountInString(r.Details) > MaxDetails || !utf8.ValidString(r.Details) {
		problems = append(problems, fmt.Sprintf("Describe the issue in 1 to %d characters: what is affected and how to reproduce it.", MaxDetails))
	}
	if hasControl(r.Summary) || hasControl(r.Details) {
		problems = append(problems, "Remove control characters from the summary and details.")
	}
	if len(problems) > 0 {
		return errs.Errorf(errs.EINVALID, "%s", strings.Join(problems, " "))
	}
	return nil
}

// ReportStore is the persistence of vulnerability reports. Each method is
// one transaction.
type ReportStore interface {
	audit.Store
	// CreateVulnReport stores a report received at at: it calls seal with
	// the new row's id and stores what seal returns; nothing is stored if
	// seal fails.
	CreateVulnReport(ctx context.Context, at time.Time, seal func(id int64) ([]byte, error)) (int64, error)
	// FindVulnReports returns up to limit reports, newest first.
	FindVulnReports(ctx context.Context, limit int) ([]*SealedReport, error)
	// FindVulnReport returns one report; ENOTFOUND if none.
	FindVulnReport(ctx context.Context, id int64) (*SealedReport, error)
	// FindOperators returns the platform operators (IsAdmin users).
	FindOperators(ctx context.Context) ([]*auth.User, error)
	// HitRateLimit counts one event against key in the fixed window that
	// contains now and returns the count so far in that window.
	HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}

// Sealer seals values under the platform data key, bound to a row;
// *auth.Service is one.
type Sealer interface {
	SealPlatform(ctx context.Context, table, column string, id int64, plaintext []byte) ([]byte, error)
	OpenPlatform(ctx context.Context, table, column string, id int64, sealed []byte) ([]byte, error)
	PreparePlatformKey(ctx context.Context) error
}

// Mailer tells a user something; *auth.Service is one.
type Mailer interface {
	TellUser(ctx context.Context, u *auth.User, kind, subject, text string)
}

// The sealed column's name, as the associated data binds it.
const (
	reportTable  = "vuln_reports"
	reportColumn = "body_enc"
)

// Reports is the vulnerability report inbox.
type Reports struct {
	store  ReportStore
	keys   Sealer
	mail   Mailer
	parent *Service
	// PublicURL returns where operators reach Coffer, for the link in the
	// notification ("" leaves the link relative).
	PublicURL func() string
}

// NewReports returns the inbox; it audits through svc.
func NewReports(store ReportStore, keys Sealer, mail Mailer, svc *Service) *Reports {
	return &Reports{store: store, keys: keys, mail: mail, parent: svc, PublicURL: func() string { return "" }}
}

func rateLimited(msg string, now time.Time) error {
	e := errs.Errorf(errs.ERATELIMIT, "%s", msg)
	e.RetryAfter = 3600 - int(now.Unix()%3600)
	return e
}

// Submit validates, rate-limits and stores a report from client c, and
// tells every operator a report arrived. The notification carries no part
// of the report: mail is not encrypted, and a report may describe an
// unfixed hole.
func (r *Reports) Submit(ctx context.Context, rep *Report, c auth.Client) error {
	if err := rep.Validate(); err != nil {
		return err
	}
	now := r.parent.Now()
	n, err := r.store.HitRateLimit(ctx, "vuln-report-ip:"+c.IP, time.Hour, now)
	if err != nil {
		return err
	}
	if n > ReportsPerClientHour {
		r.parent.audit(ctx, nil, "security_report.receive", audit.Failure, c, "reason=client_rate_limited")
		return rateLimited(fmt.Sprintf("You have sent %d reports in the last hour. Wait an hour, or write to the security contact in /.well-known/security.txt.", ReportsPerClientHour), now)
	}
	n, err = r.store.HitRateLimit(ctx, "vuln-report-all", time.Hour, now)
	if err != nil {
		return err
	}
	if n > ReportsPerHour {
		r.parent.audit(ctx, nil, "security_report.receive", audit.Failure, c, "reason=rate_limited")
		return rateLimited("Too many reports arrived in the last hour. Try again later, or write to the security contact in /.well-known/security.txt.", now)
	}
	body, err := json.Marshal(reportBody{Contact: rep.Contact, Summary: rep.Summary, Details: rep.Details})
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := r.keys.PreparePlatformKey(ctx); err != nil {
		return err
	}
	id, err := r.store.CreateVulnReport(ctx, now, func(id int64) ([]byte, error) {
		return r.keys.SealPlatform(ctx, reportTable, reportColumn, id, body)
	})
	if err != nil {
		return err
	}
	rep.ID, rep.ReceivedAt = id, now
	r.parent.audit(ctx, nil, "security_report.receive", audit.Success, c, fmt.Sprintf("report=%d contact=%t", id, rep.Contact != ""))
	ops, err := r.store.FindOperators(ctx)
	if err != nil {
		// The report is stored; operators see it in the list.
		r.parent.log.Error("find operators to notify", "report", id, "err", err)
		return nil
	}
	link := strings.TrimRight(r.PublicURL(), "/") + fmt.Sprintf("/admin/security-reports/%d", id)
	for _, op := range ops {
		r.mail.TellUser(ctx, op, "security_report.received", fmt.Sprintf("New vulnerability report #%d", id),
			fmt.Sprintf("A vulnerability report (#%d) was submitted through the public form. It is stored encrypted; read it, signed in as an operator, at:\n\n%s\n\n"+
				"SECURITY.md says what reporters can expect from us: an acknowledgement within 3 working days.", id, link))
	}
	return nil
}

func (r *Reports) open(ctx context.Context, s *SealedReport) (*Report, error) {
	plain, err := r.keys.OpenPlatform(ctx, reportTable, reportColumn, s.ID, s.BodyEnc)
	if err != nil {
		return nil, fmt.Errorf("open report %d: %w", s.ID, err)
	}
	var b reportBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return nil, fmt.Errorf("decode report %d: %w", s.ID, err)
	}
	return &Report{ID: s.ID, ReceivedAt: s.ReceivedAt, Contact: b.Contact, Summary: b.Summary, Details: b.Details}, nil
}

// List returns the latest reports, decrypted, to an operator (audited).
func (r *Reports) List(ctx context.Context, actor *auth.User, c auth.Client) ([]*Report, error) {
	if actor == nil || !actor.IsAdmin {
		r.parent.audit(ctx, actor, "security_report.list", audit.Failure, c, "reason=not_operator")
		return nil, errOperatorsOnly()
	}
	sealed, err := r.store.FindVulnReports(ctx, 200)
	if err != nil {
		return nil, err
	}
	out := make([]*Report, 0, len(sealed))
	for _, s := range sealed {
		rep, err := r.open(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	r.parent.audit(ctx, actor, "security_report.list", audit.Success, c, fmt.Sprintf("reports=%d", len(out)))
	return out, nil
}

// Get returns one report, decrypted, to an operator (audited).
func (r *Reports) Get(ctx context.Context, actor *auth.User, id int64, c auth.Client) (*Report, error) {
	if actor == nil || !actor.IsAdmin {
		r.parent.audit(ctx, actor, "security_report.read", audit.Failure, c, fmt.Sprintf("report=%d reason=not_operator", id))
		return nil, errOperatorsOnly()
	}
	s, err := r.store.FindVulnReport(ctx, id)
	if err != nil {
		return nil, err
	}
	rep, err := r.open(ctx, s)
	if err != nil {
		return nil, err
	}
	r.parent.audit(ctx, actor, "security_report.read", audit.Success, c, fmt.Sprintf("report=%d", id))
	return rep, nil
}
