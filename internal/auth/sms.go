package auth

// Codes by SMS or voice call: a NIST SP 800-63B "restricted" factor. An
// organisation may forbid it; codes live five minutes, work once, die
// after a few wrong tries, and sending is rate-limited per number and per
// account so the factor cannot be used to flood a phone or run up a bill.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/session"
	"coffer/internal/sms"
)

// SMS code rules.
const (
	// SMSCodeTTL is how long a sent code works.
	SMSCodeTTL = 5 * time.Minute
	// SMSMaxAttempts wrong tries kill a code.
	SMSMaxAttempts = 5
	// SMSPerNumber codes may go to one number per SMSNumberWindow, and
	// SMSPerAccount to one account's numbers per SMSAccountWindow.
	SMSPerNumber     = 3
	SMSNumberWindow  = 10 * time.Minute
	SMSPerAccount    = 10
	SMSAccountWindow = time.Hour
)

// Purposes of a sent code: confirming a new phone, or verifying a sign-in
// or step-up.
const (
	SMSPurposeConfirm = "confirm"
	SMSPurposeVerify  = "verify"
)

const smsCodeDigits = 6

// SMSCode is a sent code as stored: only its MAC.
type SMSCode struct {
	ID       int64
	UserID   int64
	FactorID int64
	Purpose  string
	// PendingID or SessionID: what the code was asked for.
	PendingID int64
	SessionID int64
	CodeMAC   []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	Attempts  int
}

// SMSStore keeps sent codes.
type SMSStore interface {
	// CreateSMSCode stores a new code and, in the same transaction,
	// deletes the user's earlier codes for the same purpose (only the
	// newest works) and the user's expired ones.
	CreateSMSCode(ctx context.Context, c *SMSCode) error
	// FindLatestSMSCode returns the user's newest code for purpose;
	// ENOTFOUND if there is none.
	FindLatestSMSCode(ctx context.Context, userID int64, purpose string) (*SMSCode, error)
	// UseSMSCode marks a code used if it is unused, not expired at now and
	// has had fewer than maxAttempts wrong tries; false otherwise, also
	// for a use racing from another connection.
	UseSMSCode(ctx context.Context, id int64, now time.Time, maxAttempts int) (bool, error)
	// RecordSMSCodeFailure counts a wrong try against an unused code and
	// returns the count.
	RecordSMSCodeFailure(ctx context.Context, id int64) (int, error)
}

// NormalizePhone parses a phone number in international (E.164) form as
// people type it: "+44 7700 900042", "+1 (555) 555-0100" or "0044…" all
// work. It returns "+" and 8 to 15 digits.
func NormalizePhone(s string) (string, error) {
	bad := errs.Errorf(errs.EINVALID, "Enter the phone number in international form, starting with + and the country code, e.g. +44 7700 900123.")
	if len(s) > 40 {
		return "", bad
	}
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "00"); ok {
		s = "+" + rest
	}
	if !strings.HasPrefix(s, "+") {
		return "", bad
	}
	var b strings.Builder
	b.WriteByte('+')
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", bad
		}
	}
	out := b.String()
	// E.164: a country code never starts with 0; at most 15 digits.
	if n := len(out) - 1; n < 8 || n > 15 || out[1] == '0' {
		return "", bad
	}
	return out, nil
}

// PhoneHint shows the last two digits of a number, for lists and audit.
func PhoneHint(phone string) string {
	if len(phone) < 2 {
		return "••"
	}
	return "•• " + phone[len(phone)-2:]
}

// SMSSent describes a code that was sent.
type SMSSent struct {
	FactorID  int64
	Hint      string
	Channel   string
	ExpiresAt time.Time
}

// smsRateKey names what a send is counted against, without the number.
func (s *Service) smsNumberKey(phone string) string {
	return "sms-num:" + hex.EncodeToString(s.keys.MAC("sms-number", []byte(phone))[:16])
}

// smsCodeMAC binds a code to its user and purpose.
func (s *Service) smsCodeMAC(userID int64, purpose, code string) []byte {
	buf := binary.BigEndian.AppendUint64(nil, uint64(userID))
	buf = append(buf, purpose...)
	buf = append(buf, 0)
	buf = append(buf, code...)
	return s.keys.MAC("sms-code", buf)
}

func newSMSCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("sms code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func smsBody(code, channel string) string {
	if channel == sms.ChannelVoice {
		spaced := strings.Join(strings.Split(code, ""), ", ")
		return fmt.Sprintf("This is Coffer. Your code is %s. Again: %s. Never share it.", spaced, spaced)
	}
	return fmt.Sprintf("Your Coffer code is %s. It expires in 5 minutes. Never share it: Coffer will never ask you for it.", code)
}

func smsRefusedForOrg() error {
	return errs.Errorf(errs.EFORBIDDEN, "An organisation you belong to does not allow codes by SMS or voice call. Use another factor or a recovery code.")
}

// checkChannel normalises a channel name; "" is SMS.
func checkChannel(channel string) (string, error) {
	switch channel {
	case "", sms.ChannelSMS:
		return sms.ChannelSMS, nil
	case sms.ChannelVoice:
		return sms.ChannelVoice, nil
	}
	return "", errs.Errorf(errs.EINVALID, "Choose channel sms or voice.")
}

func retryIn(window time.Duration, now time.Time) int {
	w := int64(window / time.Second)
	return int(w - now.Unix()%w)
}

// sendCode sends a new code for purpose to factor f, within the rate limits.
func (s *Service) sendCode(ctx context.Context, u *User, f *Factor, purpose string, at Attempt, channel string, c Client) (*SMSSent, error) {
	now := s.Now()
	channel, err := checkChannel(channel)
	if err != nil {
		return nil, err
	}
	if s.SMS == nil {
		return nil, errs.Errorf(errs.EUNAVAILABLE, "Codes by SMS or voice call are not set up on this server. Use another factor.")
	}
	if err := s.clientLimit(ctx, "sms-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "sms_client_rate_limited")
		return nil, err
	}
	phone, err := s.openSecret(ctx, f)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("factor=%d hint=%s channel=%s purpose=%s", f.ID, f.Hint, channel, purpose)
	for _, lim := range []struct {
		key    string
		window time.Duration
		max    int
		reason string
		msg    string
	}{
		{s.smsNumberKey(string(phone)), SMSNumberWindow, SMSPerNumber, "number_rate_limited", "Too many codes were sent to this number. Wait %d minute(s), then send a new one, or use another factor."},
		{fmt.Sprintf("sms-acct:%d", u.ID), SMSAccountWindow, SMSPerAccount, "account_rate_limited", "Too many codes were sent for your account. Wait %d minute(s), then send a new one, or use another factor."},
	} {
		n, err := s.store.HitRateLimit(ctx, lim.key, lim.window, now)
		if err != nil {
			return nil, err
		}
		if n > lim.max {
			s.audit(ctx, u.ID, u.Email, "mfa.sms.send", audit.Failure, c, detail+" reason="+lim.reason)
			e := errs.Errorf(errs.ERATELIMIT, lim.msg, (retryIn(lim.window, now)+59)/60)
			e.RetryAfter = retryIn(lim.window, now)
			return nil, e
		}
	}
	code, err := newSMSCode()
	if err != nil {
		return nil, err
	}
	rec := &SMSCode{UserID: u.ID, FactorID: f.ID, Purpose: purpose, PendingID: at.PendingID, SessionID: at.SessionID,
		CodeMAC: s.smsCodeMAC(u.ID, purpose, code), CreatedAt: now, ExpiresAt: now.Add(SMSCodeTTL)}
	if err := s.store.CreateSMSCode(ctx, rec); err != nil {
		return nil, err
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sms.WebhookTimeout+time.Second)
	defer cancel()
	if err := s.SMS.Send(sendCtx, sms.Message{To: string(phone), Body: smsBody(code, channel), Channel: channel}); err != nil {
		s.log.Error("sms not sent", "factor", f.ID, "channel", channel, "err", err)
		s.audit(ctx, u.ID, u.Email, "mfa.sms.send", audit.Failure, c, detail+" reason=delivery_failed")
		e := errs.Errorf(errs.EUNAVAILABLE, "The code could not be sent. Try again in a minute, or use another factor.")
		e.RetryAfter = 60
		return nil, e
	}
	s.audit(ctx, u.ID, u.Email, "mfa.sms.send", audit.Success, c, detail)
	return &SMSSent{FactorID: f.ID, Hint: f.Hint, Channel: channel, ExpiresAt: rec.ExpiresAt}, nil
}

// Why a code was refused; smsCodeError turns them into messages.
var (
	errSMSMalformed = errors.New("sms code malformed")
	errSMSNone      = errors.New("no sms code sent")
	errSMSUsed      = errors.New("sms code already used")
	errSMSExpired   = errors.New("sms code expired")
	errSMSExhausted = errors.New("sms code had too many wrong tries")
	errSMSWrong     = errors.New("sms code wrong")
)

// useSMSCode checks code against the user's newest code for purpose and
// uses it up. The code must have been sent for at: a code sent for one
// sign-in or session does not complete another.
func (s *Service) useSMSCode(ctx context.Context, u *User, purpose string, at Attempt, code string, now time.Time) (*SMSCode, error) {
	code = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code))
	if !isDigitString(code, smsCodeDigits) {
		return nil, errSMSMalformed
	}
	rec, err := s.store.FindLatestSMSCode(ctx, u.ID, purpose)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errSMSNone
	}
	if err != nil {
		return nil, err
	}
	switch {
	case rec.PendingID != at.PendingID || rec.SessionID != at.SessionID:
		return nil, errSMSNone
	case !rec.UsedAt.IsZero():
		return nil, errSMSUsed
	case !now.Before(rec.ExpiresAt):
		return nil, errSMSExpired
	case rec.Attempts >= SMSMaxAttempts:
		return nil, errSMSExhausted
	}
	if !hmac.Equal(rec.CodeMAC, s.smsCodeMAC(u.ID, purpose, code)) {
		n, err := s.store.RecordSMSCodeFailure(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		if n >= SMSMaxAttempts {
			return nil, errSMSExhausted
		}
		return nil, errSMSWrong
	}
	ok, err := s.store.UseSMSCode(ctx, rec.ID, now, SMSMaxAttempts)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errSMSUsed
	}
	return rec, nil
}

func isDigitString(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// smsCodeError audits a refused code and says what to do.
func (s *Service) smsCodeError(ctx context.Context, u *User, action string, err error, c Client) error {
	var reason, msg string
	code := errs.EUNAUTHORIZED
	switch {
	case errors.Is(err, errSMSMalformed):
		reason, msg = "malformed", "Enter the 6-digit code we sent to your phone."
	case errors.Is(err, errSMSNone):
		// Nothing to guess against, so not a failed attempt.
		reason, msg, code = "no_code_sent", "No code has been sent yet. Send a code first.", errs.EINVALID
	case errors.Is(err, errSMSUsed):
		reason, msg = "replayed", "That code has already been used. Send a new one."
	case errors.Is(err, errSMSExpired):
		reason, msg = "expired", "That code has expired. Send a new one."
	case errors.Is(err, errSMSExhausted):
		reason, msg = "too_many_wrong_codes", "Too many wrong codes. Send a new one."
	case errors.Is(err, errSMSWrong):
		reason, msg = "wrong_code", msgBadCode
	default:
		return err
	}
	s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason="+reason)
	return errs.Errorf(code, "%s", msg)
}

func (s *Service) checkSMS(ctx context.Context, u *User, at Attempt, code string, c Client, now time.Time) error {
	rec, err := s.useSMSCode(ctx, u, SMSPurposeVerify, at, code, now)
	if err != nil {
		return s.smsCodeError(ctx, u, "login.mfa.sms", err, c)
	}
	// The phone may have been removed since the code was sent.
	f, err := s.store.FindFactor(ctx, u.ID, rec.FactorID)
	if errs.Code(err) == errs.ENOTFOUND || (err == nil && (!f.Confirmed || f.Kind != KindSMS)) {
		s.audit(ctx, u.ID, u.Email, "login.mfa.sms", audit.Failure, c, "reason=factor_removed")
		return errs.Errorf(errs.EUNAUTHORIZED, msgBadCode)
	}
	if err != nil {
		return err
	}
	if err := s.store.TouchFactor(ctx, f.ID, now); err != nil {
		return err
	}
	s.audit(ctx, u.ID, u.Email, "login.mfa.sms", audit.Success, c, fmt.Sprintf("factor=%d hint=%s", f.ID, f.Hint))
	return nil
}

// smsAllowed refuses when an organisation of the user forbids SMS.
func (s *Service) smsAllowed(ctx context.Context, u *User, action string, c Client) error {
	rules, err := s.store.UserFactorRules(ctx, u.ID)
	if err != nil {
		return err
	}
	if rules.ForbidSMS {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=forbidden_by_org")
		return smsRefusedForOrg()
	}
	return nil
}

// RegisterSMS adds a phone (unconfirmed) for the signed-in user and sends
// it a code; ConfirmSMS finishes. It needs a fresh second factor.
func (s *Service) RegisterSMS(ctx context.Context, ss *session.Session, u *User, phone, name, channel string, c Client) (*SMSSent, error) {
	if ss == nil {
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if err := s.checkEnrollActor(ctx, Actor{Session: ss, User: u}); err != nil {
		return nil, err
	}
	if err := s.smsAllowed(ctx, u, "mfa.sms.register", c); err != nil {
		return nil, err
	}
	norm, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		name = "Phone"
	}
	if name, err = cleanFactorName(name); err != nil {
		return nil, err
	}
	if _, err := checkChannel(channel); err != nil {
		return nil, err
	}
	if s.SMS == nil {
		return nil, errs.Errorf(errs.EUNAVAILABLE, "Codes by SMS or voice call are not set up on this server. Use another factor.")
	}
	f := &Factor{UserID: u.ID, Kind: KindSMS, Name: name, Counter: -1, Hint: PhoneHint(norm), CreatedAt: s.Now()}
	if err := s.keys.PrepareKey(ctx, platformOrg); err != nil {
		return nil, err
	}
	if err := s.store.SaveFactor(ctx, f, true, s.sealFor(ctx, []byte(norm))); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.sms.register", audit.Success, c, fmt.Sprintf("factor=%d hint=%s", f.ID, f.Hint))
	return s.sendCode(ctx, u, f, SMSPurposeConfirm, Attempt{SessionID: ss.ID}, channel, c)
}

// ConfirmSMS confirms the phone being registered with the code sent to it.
func (s *Service) ConfirmSMS(ctx context.Context, ss *session.Session, u *User, code string, c Client) (*Factor, error) {
	if ss == nil {
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if err := s.checkEnrollActor(ctx, Actor{Session: ss, User: u}); err != nil {
		return nil, err
	}
	if err := s.smsAllowed(ctx, u, "mfa.sms.confirm", c); err != nil {
		return nil, err
	}
	now := s.Now()
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.clientLimit(ctx, "mfa-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "mfa_client_rate_limited")
		return nil, err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		return nil, err
	}
	rec, err := s.useSMSCode(ctx, u, SMSPurposeConfirm, Attempt{SessionID: ss.ID}, code, now)
	if err != nil {
		err = s.smsCodeError(ctx, u, "mfa.sms.confirm", err, c)
		if errs.Code(err) == errs.EUNAUTHORIZED {
			s.fail(ctx, key, u.ID, u.Email, c, now)
		}
		return nil, err
	}
	f, err := s.store.FindFactor(ctx, u.ID, rec.FactorID)
	if err != nil {
		return nil, err
	}
	if f.Kind != KindSMS || f.Confirmed {
		return nil, errs.Errorf(errs.ENOTFOUND, "No phone is being added. Start again.")
	}
	if err := s.store.ConfirmFactor(ctx, u.ID, f.ID, -1, nil, false, 0); err != nil {
		return nil, err
	}
	f.Confirmed = true
	s.audit(ctx, u.ID, u.Email, "mfa.sms.confirm", audit.Success, c, fmt.Sprintf("factor=%d hint=%s", f.ID, f.Hint))
	s.notifyUser(ctx, u, "factor.added", "A phone was added to your account",
		fmt.Sprintf("The phone number ending %s was added as a second factor (codes by SMS or voice call) on your Coffer account.", strings.TrimPrefix(f.Hint, "•• ")))
	return f, nil
}

// smsFactor picks the confirmed phone to send to: factorID, or the first.
func (s *Service) smsFactor(ctx context.Context, u *User, factorID int64) (*Factor, error) {
	fs, err := s.store.FindFactors(ctx, u.ID, KindSMS, true)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if factorID == 0 || f.ID == factorID {
			return f, nil
		}
	}
	if factorID != 0 {
		return nil, errs.Errorf(errs.ENOTFOUND, "Phone not found.")
	}
	return nil, errs.Errorf(errs.EINVALID, "You have no phone set up for codes by SMS or voice call. Use another factor.")
}

// SendLoginSMS sends a sign-in code for a pending login to the user's
// phone (factorID, or the first one).
func (s *Service) SendLoginSMS(ctx context.Context, loginToken, channel string, factorID int64, c Client) (*SMSSent, error) {
	pl, u, err := s.Pending(ctx, loginToken)
	if err != nil {
		return nil, err
	}
	if pl.Stage != StageMFA {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Set up an authenticator app first.")
	}
	return s.sendVerify(ctx, u, Attempt{PendingID: pl.ID}, channel, factorID, c)
}

// SendStepUpSMS sends a step-up code to the signed-in user's phone.
func (s *Service) SendStepUpSMS(ctx context.Context, ss *session.Session, u *User, channel string, factorID int64, c Client) (*SMSSent, error) {
	return s.sendVerify(ctx, u, Attempt{SessionID: ss.ID}, channel, factorID, c)
}

func (s *Service) sendVerify(ctx context.Context, u *User, at Attempt, channel string, factorID int64, c Client) (*SMSSent, error) {
	if err := s.smsAllowed(ctx, u, "mfa.sms.send", c); err != nil {
		return nil, err
	}
	f, err := s.smsFactor(ctx, u, factorID)
	if err != nil {
		return nil, err
	}
	return s.sendCode(ctx, u, f, SMSPurposeVerify, at, channel, c)
}
