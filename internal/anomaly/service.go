package anomaly

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/notify"
)

// Service runs the rules on audited events and keeps the findings.
type Service struct {
	store    Store
	locker   Locker
	notifier notify.Notifier
	geo      *GeoDB
	cfg      Config
	log      *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// PublicURL is where users reach Coffer, for links in alerts.
	PublicURL string

	queue   chan job
	dropped atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

type job struct {
	e audit.Event
	c auth.Client
}

var _ auth.Observer = (*Service)(nil)

// New returns a Service; geo may be nil (no location file), notifier nil
// (no alerts sent, e.g. in tests that do not read them), locker nil (no
// locking). Call Start to evaluate events in the background.
func New(store Store, locker Locker, notifier notify.Notifier, geo *GeoDB, cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{store: store, locker: locker, notifier: notifier, geo: geo, cfg: cfg, log: log,
		Now: func() time.Time { return time.Now().UTC() }, queue: make(chan job, cfg.QueueSize), stop: make(chan struct{})}, nil
}

// Start runs the worker that evaluates queued events.
func (s *Service) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case j := <-s.queue:
				s.evaluateLogged(j)
			case <-s.stop:
				// Evaluate what is already queued, then stop.
				for {
					select {
					case j := <-s.queue:
						s.evaluateLogged(j)
					default:
						return
					}
				}
			}
		}
	}()
}

// Close stops the worker after the queued events.
func (s *Service) Close() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}

func (s *Service) evaluateLogged(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Evaluate(ctx, &j.e, j.c); err != nil {
		s.log.Error("anomaly evaluation failed", "action", j.e.Action, "err", err)
	}
}

// Observe implements auth.Observer: it queues the event and returns at
// once. When the queue is full the event is dropped and counted: the
// request is never held up for detection.
func (s *Service) Observe(_ context.Context, e *audit.Event, c auth.Client) {
	if !watched(e) {
		return
	}
	select {
	case s.queue <- job{e: *e, c: c}:
	default:
		if n := s.dropped.Add(1); n&(n-1) == 0 {
			s.log.Warn("anomaly queue full; events dropped", "dropped", n)
		}
	}
}

// Dropped counts events dropped because the queue was full.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// watched says which events a rule looks at.
func watched(e *audit.Event) bool {
	switch {
	case e.Action == "login" && e.Outcome == audit.Success:
	case e.Action == "login.password" && e.Outcome == audit.Failure:
	case strings.HasPrefix(e.Action, "login.mfa") && e.Outcome == audit.Failure:
	case e.Action == "mfa.push.send" && e.Outcome == audit.Success:
	case e.Action == "mfa.push.denied":
	case e.Action == "org.export" && e.Outcome == audit.Success:
	case e.Action == "org.member.role_change" && e.Outcome == audit.Success:
	default:
		return false
	}
	return true
}

// reasonOf returns the value of key=value in an audit detail.
func detailValue(detail, key string) string {
	for _, f := range strings.Fields(detail) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func hashText(s string) string {
	h := sha256.Sum256([]byte("anomaly:" + s))
	return hex.EncodeToString(h[:16])
}

// Evaluate runs the rules on one event and acts on what they find. It is
// what the worker calls; tests call it directly.
func (s *Service) Evaluate(ctx context.Context, e *audit.Event, c auth.Client) error {
	if !watched(e) {
		return nil
	}
	at := e.At
	if at.IsZero() {
		at = s.Now()
	}
	ip := e.IP
	switch {
	case e.Action == "login":
		return s.signIn(ctx, e.UserID, at, ip, c)
	case e.Action == "login.password":
		reason := detailValue(e.Detail, "reason")
		if reason != "unknown_email" && reason != "wrong_password" {
			return nil // rate limits and lockouts are not guesses
		}
		sig := &Signal{Kind: SignalPasswordBad, UserID: e.UserID, Account: hashText(e.Subject), Known: reason == "wrong_password", IP: ip, UserAgent: e.UserAgent, At: at}
		if err := s.store.RecordSignal(ctx, sig); err != nil {
			return err
		}
		return s.failures(ctx, sig)
	case e.Action == "login.mfa.push" || e.Action == "mfa.push.send" || e.Action == "mfa.push.denied":
		if e.UserID == 0 {
			return nil
		}
		since := at.Add(-s.cfg.PushWindow)
		n, err := s.store.CountUnapprovedPushes(ctx, e.UserID, since)
		if err != nil {
			return err
		}
		return s.once1(ctx, s.cfg.fatigueFinding(e.UserID, ip, n, at), since)
	case strings.HasPrefix(e.Action, "login.mfa"):
		switch detailValue(e.Detail, "reason") {
		case "locked", "forbidden_by_org", "":
			return nil
		}
		sig := &Signal{Kind: SignalMFABad, UserID: e.UserID, IP: ip, UserAgent: e.UserAgent, At: at}
		if err := s.store.RecordSignal(ctx, sig); err != nil {
			return err
		}
		since := at.Add(-s.cfg.MFAWindow)
		recent, err := s.store.FindSignals(ctx, SignalFilter{Kind: SignalMFABad, UserID: e.UserID, Since: since, Limit: s.cfg.MFAFailures})
		if err != nil {
			return err
		}
		return s.once1(ctx, s.cfg.mfaFinding(e.UserID, ip, len(recent), at), since)
	case e.Action == "org.export":
		orgID, _ := strconv.ParseInt(detailValue(e.Detail, "org"), 10, 64)
		sig := &Signal{Kind: SignalExport, UserID: e.UserID, IP: ip, UserAgent: e.UserAgent, At: at}
		if err := s.store.RecordSignal(ctx, sig); err != nil {
			return err
		}
		exports, err := s.store.FindSignals(ctx, SignalFilter{Kind: SignalExport, UserID: e.UserID, Since: at.UTC().Truncate(24*time.Hour).AddDate(0, 0, -30), Limit: 10000})
		if err != nil {
			return err
		}
		return s.once1(ctx, s.cfg.exportFinding(sig, exports, orgID), at.UTC().Truncate(24*time.Hour))
	case e.Action == "org.member.role_change":
		return s.escalation(ctx, e, at)
	}
	return nil
}

func (s *Service) signIn(ctx context.Context, userID int64, at time.Time, ip string, c auth.Client) error {
	sig := &Signal{Kind: SignalSignIn, UserID: userID, IP: ip, UserAgent: c.UserAgent, At: at}
	if c.DeviceCookie != "" {
		sig.Device = hashText(c.DeviceCookie)
	}
	if p, ok := s.geo.Lookup(ip); ok {
		sig.Country, sig.Lat, sig.Lon, sig.HasLoc = p.Country, p.Lat, p.Lon, true
	}
	prior, err := s.store.FindSignals(ctx, SignalFilter{Kind: SignalSignIn, UserID: userID, Limit: 50})
	if err != nil {
		return err
	}
	if err := s.store.RecordSignal(ctx, sig); err != nil {
		return err
	}
	for _, f := range s.cfg.signInFindings(sig, prior) {
		if err := s.act(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// failures looks for spraying and stuffing from the signal's client.
func (s *Service) failures(ctx context.Context, sig *Signal) error {
	since := sig.At.Add(-s.cfg.SprayWindow)
	window, err := s.store.FindSignals(ctx, SignalFilter{Kind: SignalPasswordBad, IP: sig.IP, Since: since, Limit: 10000})
	if err != nil {
		return err
	}
	f := s.cfg.failureFinding(sig, window)
	if f == nil {
		return nil
	}
	for _, rule := range []string{RuleSpraying, RuleStuffing} {
		if dup, err := s.store.HasFindingSince(ctx, rule, 0, sig.IP, since); err != nil || dup {
			return err
		}
	}
	if err := s.act(ctx, f); err != nil {
		return err
	}
	// Each organisation whose members were targeted gets its own finding,
	// which its administrators see and are told about.
	var users []int64
	seen := map[int64]bool{}
	for _, w := range window {
		if w.UserID != 0 && !seen[w.UserID] {
			seen[w.UserID] = true
			users = append(users, w.UserID)
		}
	}
	orgs, err := s.store.UsersOrgIDs(ctx, users)
	if err != nil {
		return err
	}
	for _, org := range orgs {
		of := *f
		of.OrgID, of.Actions = org, []string{AlertAdmins}
		of.Detail += " Members of this organisation were among them."
		if err := s.act(ctx, &of); err != nil {
			return err
		}
	}
	return nil
}

// once1 acts on f unless the same rule already fired for the same user
// (or, for across-account rules, client) since then.
func (s *Service) once1(ctx context.Context, f *Finding, since time.Time) error {
	if f == nil {
		return nil
	}
	dup, err := s.store.HasFindingSince(ctx, f.Rule, f.UserID, "", since)
	if err != nil || dup {
		return err
	}
	return s.act(ctx, f)
}

func (s *Service) escalation(ctx context.Context, e *audit.Event, at time.Time) error {
	to, from := detailValue(e.Detail, "to"), detailValue(e.Detail, "from")
	high := func(r string) bool { return r == "owner" || r == "adviser" }
	if !high(to) || high(from) {
		return nil
	}
	orgID, err1 := strconv.ParseInt(detailValue(e.Detail, "org"), 10, 64)
	userID, err2 := strconv.ParseInt(detailValue(e.Detail, "user"), 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("role change detail %q: want org= and user=", e.Detail)
	}
	f := newFinding(RuleRoleEscalation, userID, orgID, e.IP, at, "%s was made %s (was %s) by %s.", detailValue(e.Detail, "email"), to, from, e.Subject)
	return s.act(ctx, f)
}

// act stores and audits a finding, then takes its actions. An action that
// fails is logged and the others still run.
func (s *Service) act(ctx context.Context, f *Finding) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if err := s.store.CreateFinding(ctx, f); err != nil {
		return err
	}
	s.audit(ctx, 0, "anomaly", "anomaly.finding", f.IP, fmt.Sprintf("finding=%d rule=%s severity=%s user=%d org=%d actions=%s", f.ID, f.Rule, f.Severity, f.UserID, f.OrgID, strings.Join(f.Actions, ",")))
	for _, a := range f.Actions {
		var err error
		switch a {
		case AlertUser:
			err = s.alertUser(ctx, f)
		case AlertAdmins:
			err = s.alertAdmins(ctx, f)
		case StepUp:
			if f.UserID != 0 {
				var n int
				n, err = s.store.ExpireStepUp(ctx, f.UserID)
				if err == nil {
					s.audit(ctx, f.UserID, "anomaly", "anomaly.step_up_required", f.IP, fmt.Sprintf("finding=%d sessions=%d", f.ID, n))
				}
			}
		case Lock:
			if f.UserID != 0 && s.locker != nil {
				err = s.locker.HoldAccount(ctx, f.UserID, fmt.Sprintf("finding=%d rule=%s", f.ID, f.Rule))
			}
		}
		if err != nil {
			s.log.Error("anomaly action failed", "finding", f.ID, "action", a, "err", err)
		}
	}
	return nil
}

func (s *Service) alertUser(ctx context.Context, f *Finding) error {
	if f.UserID == 0 || s.notifier == nil {
		return nil
	}
	to, err := s.store.UserEmail(ctx, f.UserID)
	if err != nil {
		return err
	}
	text := f.Detail + "\n\nIf this was you, there is nothing to do. If it was not, change your password and review your sessions and second factors at " + s.PublicURL + "/settings/security"
	if contains(f.Actions, Lock) {
		text += "\n\nYour account is locked until an administrator unlocks it."
	}
	if contains(f.Actions, StepUp) {
		text += "\n\nYour sessions must confirm a second factor again before any sensitive action."
	}
	return s.send(ctx, f.UserID, notify.Message{To: to, Subject: "Unusual activity on your Coffer account: " + RuleLabel(f.Rule), Text: text, Kind: "anomaly." + f.Rule})
}

func (s *Service) alertAdmins(ctx context.Context, f *Finding) error {
	if s.notifier == nil {
		return nil
	}
	var to []Recipient
	switch {
	case f.OrgID != 0:
		r, err := s.store.OrgAdmins(ctx, f.OrgID)
		if err != nil {
			return err
		}
		to = r
	case f.UserID != 0:
		orgs, err := s.store.UserOrgIDs(ctx, f.UserID)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			r, err := s.store.OrgAdmins(ctx, o)
			if err != nil {
				return err
			}
			to = append(to, r...)
		}
	default:
		r, err := s.store.PlatformAdmins(ctx)
		if err != nil {
			return err
		}
		to = r
	}
	where := s.PublicURL + "/admin/findings"
	if f.OrgID != 0 {
		where = fmt.Sprintf("%s/orgs/%d/findings", s.PublicURL, f.OrgID)
	}
	sent := map[string]bool{}
	for _, r := range to {
		if sent[r.Email] {
			continue
		}
		sent[r.Email] = true
		m := notify.Message{To: r.Email, Subject: "Coffer security finding: " + RuleLabel(f.Rule), Kind: "anomaly.admin." + f.Rule,
			Text: fmt.Sprintf("Severity: %s\n\n%s\n\nReview and resolve it at %s", f.Severity, f.Detail, where)}
		if err := s.send(ctx, r.UserID, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) send(ctx context.Context, userID int64, m notify.Message) error {
	if err := s.notifier.Notify(ctx, m); err != nil {
		s.audit(ctx, userID, m.To, "notify."+m.Kind, "", fmt.Sprintf("reason=delivery_failed err=%q", err.Error()))
		return err
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) audit(ctx context.Context, userID int64, subject, action, ip, detail string) {
	outcome := audit.Success
	if strings.HasPrefix(action, "notify.") {
		outcome = audit.Failure
	}
	e := &audit.Event{At: s.Now(), UserID: userID, Subject: subject, Action: action, Outcome: outcome, IP: ip, UserAgent: "coffer anomaly detection", Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit write failed", "action", action, "err", err)
	}
}

// Actor is who resolves a finding.
type Actor struct {
	UserID    int64
	Email     string
	IP        string
	UserAgent string
}

// Findings lists an organisation's findings (orgID 0: every finding, for
// platform administrators; the caller checks who may see them).
func (s *Service) Findings(ctx context.Context, orgID int64, f FindingFilter) ([]*Finding, error) {
	if f.Status != "" && f.Status != StatusOpen && f.Status != StatusResolved {
		return nil, errs.Errorf(errs.EINVALID, "Status must be open or resolved.")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	return s.store.FindFindings(ctx, orgID, f)
}

// Resolve marks a finding resolved and audits it. A finding of another
// organisation is not found.
func (s *Service) Resolve(ctx context.Context, orgID, id int64, a Actor) (*Finding, error) {
	f, err := s.store.ResolveFinding(ctx, orgID, id, a.UserID, s.Now())
	if err != nil {
		return nil, err
	}
	e := &audit.Event{At: s.Now(), UserID: a.UserID, Subject: a.Email, Action: "anomaly.resolve", Outcome: audit.Success, IP: a.IP, UserAgent: a.UserAgent,
		Detail: fmt.Sprintf("finding=%d rule=%s org=%d", f.ID, f.Rule, orgID)}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit write failed", "action", e.Action, "err", err)
	}
	return f, nil
}
