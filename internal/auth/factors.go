package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/notify"
	"coffer/internal/session"
)

// Methods a second-factor proof can use: the factor kinds, plus recovery
// codes, plus "passkey" for a session begun by passkey sign-in.
const (
	MethodTOTP         = KindTOTP
	MethodHOTP         = KindHOTP
	MethodSMS          = KindSMS
	MethodWebAuthn     = KindWebAuthn
	MethodPush         = KindPush
	MethodRecoveryCode = "recovery_code"
	MethodPasskey      = "passkey"
)

// Proof is what a client presents as a second factor.
type Proof struct {
	Method string
	// Code is a TOTP, HOTP or SMS code, or a recovery code.
	Code string
	// Credential is a WebAuthn assertion (the browser's
	// PublicKeyCredential as JSON).
	Credential []byte
	// PushID is the Verify push request the client waits on.
	PushID int64
}

// Attempt is what a proof is for: completing a pending login or stepping up
// a session. Challenges (WebAuthn, push) are bound to one of them.
type Attempt struct {
	PendingID int64
	SessionID int64
}

// PhishingResistant reports whether a factor method resists phishing: it is
// bound to the site (WebAuthn) or needs the number shown on the real
// sign-in page, approved on a paired device (Verify push).
func PhishingResistant(method string) bool {
	return method == MethodWebAuthn || method == MethodPasskey || method == MethodPush
}

// methodsFor lists the methods a user with factors can sign in with,
// leaving out what an organisation of theirs forbids.
func methodsFor(factors []*Factor, rules FactorRules) []string {
	has := map[string]bool{}
	for _, f := range factors {
		has[f.Kind] = true
	}
	// Phishing-resistant methods first: the sign-in page offers the first
	// one and links to the others.
	var out []string
	for _, k := range []string{KindWebAuthn, KindPush} {
		if has[k] {
			out = append(out, k)
		}
	}
	// A Verify device shows offline codes too.
	if has[KindTOTP] || has[KindPush] {
		out = append(out, MethodTOTP)
	}
	if has[KindHOTP] {
		out = append(out, MethodHOTP)
	}
	if has[KindSMS] && !rules.ForbidSMS {
		out = append(out, MethodSMS)
	}
	return append(out, MethodRecoveryCode)
}

// checkSecondFactor verifies a proof for u, with rate limits, lockout,
// replay protection and audit, and returns the method it verified.
func (s *Service) checkSecondFactor(ctx context.Context, u *User, at Attempt, p Proof, c Client) (string, error) {
	now := s.Now()
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.clientLimit(ctx, "mfa-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "mfa_client_rate_limited")
		return "", err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		s.audit(ctx, u.ID, u.Email, "login.mfa", audit.Failure, c, "reason=locked")
		return "", err
	}
	if p.Method == MethodSMS {
		rules, err := s.store.UserFactorRules(ctx, u.ID)
		if err != nil {
			return "", err
		}
		if rules.ForbidSMS {
			s.audit(ctx, u.ID, u.Email, "login.mfa.sms", audit.Failure, c, "reason=forbidden_by_org")
			return "", errs.Errorf(errs.EFORBIDDEN, "An organisation you belong to does not allow codes by SMS or voice call. Use another factor or a recovery code.")
		}
	}
	var err error
	switch p.Method {
	case MethodTOTP:
		err = s.checkTOTP(ctx, u, p.Code, c, now)
	case MethodRecoveryCode:
		err = s.checkRecoveryCode(ctx, u, p.Code, c, now)
	case MethodHOTP:
		err = s.checkHOTP(ctx, u, p.Code, c, now)
	case MethodSMS:
		err = s.checkSMS(ctx, u, at, p.Code, c, now)
	case MethodWebAuthn:
		err = s.checkWebAuthn(ctx, u, at, p.Credential, c, now)
	case MethodPush:
		err = s.checkPush(ctx, u, at, p.PushID, c, now)
	default:
		return "", errs.Errorf(errs.EINVALID, "Unknown method %q: use totp, hotp, sms, webauthn, push or recovery_code.", truncate(p.Method, 32))
	}
	if err != nil {
		if errs.Code(err) == errs.EUNAUTHORIZED {
			s.fail(ctx, key, u.ID, u.Email, c, now)
		}
		return "", err
	}
	return p.Method, nil
}

// lastUnconfirmed returns the user's newest unconfirmed factor of kind.
func (s *Service) lastUnconfirmed(ctx context.Context, userID int64, kind string) (*Factor, error) {
	fs, err := s.store.FindFactors(ctx, userID, kind, false)
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, errs.Errorf(errs.ENOTFOUND, "No enrollment is in progress. Start again.")
	}
	return fs[len(fs)-1], nil
}

// FreshFor reports whether the session's second factor is recent enough
// for a sensitive action and, when strong is set, phishing-resistant.
func (s *Service) FreshFor(ss *session.Session, strong bool) bool {
	return s.Fresh(ss) && (!strong || PhishingResistant(ss.MFAMethod))
}

// Factors lists the user's confirmed factors, oldest first.
func (s *Service) Factors(ctx context.Context, userID int64) ([]*Factor, error) {
	return s.store.FindFactors(ctx, userID, "", true)
}

// FactorRules returns what the user's organisations demand of factors.
func (s *Service) FactorRules(ctx context.Context, userID int64) (FactorRules, error) {
	return s.store.UserFactorRules(ctx, userID)
}

// cleanFactorName checks a name a user gives a factor.
func cleanFactorName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 60 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errs.Errorf(errs.EINVALID, "Give the factor a name of 1 to 60 characters.")
	}
	return name, nil
}

// RenameFactor renames one of the signed-in user's factors.
func (s *Service) RenameFactor(ctx context.Context, u *User, id int64, name string, c Client) (*Factor, error) {
	name, err := cleanFactorName(name)
	if err != nil {
		return nil, err
	}
	if err := s.store.RenameFactor(ctx, u.ID, id, name); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.factor.rename", audit.Success, c, fmt.Sprintf("factor=%d", id))
	return s.store.FindFactor(ctx, u.ID, id)
}

// RemoveFactor removes one of the signed-in user's factors. It needs a
// second factor verified in the last few minutes and never removes the
// last one: two-step verification is mandatory.
func (s *Service) RemoveFactor(ctx context.Context, ss *session.Session, u *User, id int64, c Client) error {
	if !s.Fresh(ss) {
		return errs.Errorf(errs.ESTEPUP, "Confirm it's you: verify a second factor, then remove the factor.")
	}
	f, err := s.store.FindFactor(ctx, u.ID, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteFactor(ctx, u.ID, id); err != nil {
		if errs.Code(err) == errs.ECONFLICT {
			s.audit(ctx, u.ID, u.Email, "mfa.factor.remove", audit.Failure, c, fmt.Sprintf("factor=%d kind=%s reason=last_factor", id, f.Kind))
		}
		return err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.factor.remove", audit.Success, c, fmt.Sprintf("factor=%d kind=%s", id, f.Kind))
	if f.Confirmed {
		s.notifyUser(ctx, u, "factor.removed", "A second factor was removed from your account",
			fmt.Sprintf("The %s %q was removed from your Coffer account.", KindLabel(f.Kind), f.Name))
	}
	return nil
}

// KindLabel names a factor kind for people.
func KindLabel(kind string) string {
	switch kind {
	case KindTOTP:
		return "authenticator app"
	case KindHOTP:
		return "hardware token"
	case KindWebAuthn:
		return "security key or passkey"
	case KindSMS:
		return "phone for SMS or voice codes"
	case KindPush:
		return "Coffer Verify device"
	}
	return kind
}

// where describes a client for a notification: its address and browser.
func where(c Client) string {
	ua := truncate(c.UserAgent, 120)
	if ua == "" {
		ua = "an unknown browser or app"
	}
	return fmt.Sprintf("%s (%s)", c.IP, ua)
}

// methodLabel names a second-factor method for people.
func methodLabel(method string) string {
	switch method {
	case MethodRecoveryCode:
		return "a recovery code"
	case MethodPasskey:
		return "a passkey (without a password)"
	}
	return "your " + KindLabel(method)
}

// notifyUser sends u a notification. Failure is logged and audited, never
// returned: the change it reports has already happened.
func (s *Service) notifyUser(ctx context.Context, u *User, kind, subject, text string) {
	s.notify(ctx, u.ID, notify.Message{To: u.Email, Subject: subject, Kind: kind, Text: s.letter(u.Name, text)})
}

// letter wraps a notification's text with the greeting and the advice
// every security notice carries.
func (s *Service) letter(name, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s\n\n", name, text)
	fmt.Fprintf(&b, "When: %s\n\n", s.Now().Format("2 January 2006 15:04 MST"))
	b.WriteString("If this was not you, sign in and review your security settings")
	if s.PublicURL != "" {
		fmt.Fprintf(&b, " at %s/settings/security", strings.TrimRight(s.PublicURL, "/"))
	}
	b.WriteString(", or tell an administrator of your organisation at once.\n\n— Coffer\n")
	return b.String()
}

func (s *Service) notify(ctx context.Context, userID int64, m notify.Message) {
	if s.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Notifier.Notify(ctx, m); err != nil {
		s.log.Error("notification not sent", "kind", m.Kind, "user", userID, "err", err)
		s.audit(ctx, userID, m.To, "notify."+m.Kind, audit.Failure, Client{}, "reason=delivery_failed")
	}
}

// Methods lists the methods the user can verify a second factor with now,
// preferred first.
func (s *Service) Methods(ctx context.Context, userID int64) ([]string, error) {
	factors, err := s.store.FindFactors(ctx, userID, "", true)
	if err != nil {
		return nil, err
	}
	rules, err := s.store.UserFactorRules(ctx, userID)
	if err != nil {
		return nil, err
	}
	return methodsFor(factors, rules), nil
}
