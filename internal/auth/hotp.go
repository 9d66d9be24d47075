package auth

// Hardware HOTP tokens (RFC 4226): a token shows the next code each time
// its button is pressed. The server keeps the last counter it accepted and
// only moves it forward, so a code never works twice; a press that never
// reached Coffer is absorbed by a small look-ahead window, a larger drift
// by resynchronising with two consecutive codes.

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/session"
)

// HOTP windows.
const (
	// HOTPLookAhead counters past the last accepted one are accepted with
	// one code (RFC 4226 §7.4's look-ahead parameter s).
	HOTPLookAhead = 10
	// HOTPResyncWindow bounds how far a resynchronisation (two consecutive
	// codes), and the search at registration, look.
	HOTPResyncWindow = 1000
	// hotpReplayLookBack is how far back a matching code is recognised as
	// a replay, for the message only; it is refused either way.
	hotpReplayLookBack = 20
)

// HOTP secret lengths accepted at registration: 128 to 512 bits.
const (
	hotpMinSecret = 16
	hotpMaxSecret = 64
)

const (
	msgHOTPReplayed = "That code has already been used. Press the token's button for a new code."
	msgHOTPDrift    = "Your token's counter has drifted. Enter two consecutive codes (press the button twice) separated by a space to resynchronise."
)

// hotpParams is what a HOTP factor keeps in its public data.
type hotpParams struct {
	Digits int `json:"digits"`
}

func hotpDigits(f *Factor) int {
	var p hotpParams
	if len(f.PublicData) > 0 && json.Unmarshal(f.PublicData, &p) == nil && (p.Digits == 6 || p.Digits == 8) {
		return p.Digits
	}
	return 6
}

// ParseHOTPSecret reads a token's secret as vendors ship it: a seed-file
// line "SERIAL HEXSECRET" (or SERIAL,HEXSECRET), bare hex (0x optional),
// or base32 (spaces, hyphens, lower case and padding allowed). It returns
// the secret and the serial, if the line had one. Hex wins when the text
// could be either, since vendors' seed files are hex. Errors never contain
// the input.
func ParseHOTPSecret(s string) (secret []byte, serial string, err error) {
	if len(s) > 512 {
		return nil, "", errors.New("secret is too long")
	}
	s = strings.TrimSpace(s)
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ';' })
	if len(fields) == 2 {
		if b, ok := decodeHex(fields[1]); ok && len(b) >= hotpMinSecret {
			if err := checkSerial(fields[0]); err != nil {
				return nil, "", err
			}
			serial, secret = fields[0], b
		}
	}
	if secret == nil {
		compact := strings.Join(fields, "")
		if b, ok := decodeHex(compact); ok {
			secret = b
		} else if secret, err = mfa.DecodeSecret(strings.ReplaceAll(compact, "-", "")); err != nil {
			return nil, "", errors.New("the secret is neither hex nor base32")
		}
	}
	if len(secret) < hotpMinSecret || len(secret) > hotpMaxSecret {
		return nil, "", fmt.Errorf("the secret is %d bytes; tokens use %d to %d", len(secret), hotpMinSecret, hotpMaxSecret)
	}
	return secret, serial, nil
}

func decodeHex(s string) ([]byte, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s)%2 != 0 || len(s) == 0 || len(s) > 2*hotpMaxSecret {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func checkSerial(s string) error {
	if len(s) > 40 {
		return errors.New("the serial number is too long")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return errors.New("the serial number has characters tokens do not use")
		}
	}
	return nil
}

// hotpCodes splits what the user typed into one code, or two consecutive
// codes for a resynchronisation, of the token's length.
func hotpCodes(s string, digits int) ([]string, bool) {
	if len(s) > 64 {
		return nil, false
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	// "123 456" is one six-digit code typed in two groups.
	if len(parts) == 2 && len(parts[0])+len(parts[1]) == digits {
		parts = []string{parts[0] + parts[1]}
	}
	if len(parts) < 1 || len(parts) > 2 {
		return nil, false
	}
	for _, p := range parts {
		if !isDigitString(p, digits) {
			return nil, false
		}
	}
	return parts, true
}

// hotpWindow computes the codes for counters from..to inclusive.
func hotpWindow(secret []byte, from, to int64, digits int) ([]string, error) {
	out := make([]string, 0, to-from+1)
	for k := from; k <= to; k++ {
		code, err := mfa.HOTPCode(secret, uint64(k), digits)
		if err != nil {
			return nil, err
		}
		out = append(out, code)
	}
	return out, nil
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// findPair returns the first counter k in codes' range (offset base) at or
// after start where code1 and code2 are the codes for k and k+1.
func findPair(codes []string, base, start int64, code1, code2 string) (int64, bool) {
	for i := max(start-base, 0); i+1 < int64(len(codes)); i++ {
		if eq(codes[i], code1) && eq(codes[i+1], code2) {
			return base + i, true
		}
	}
	return 0, false
}

// hotpOutcome is what one factor made of a code.
type hotpOutcome int

const (
	hotpNoMatch hotpOutcome = iota
	hotpDrifted
	hotpReplayed
	hotpAccepted
)

// tryHOTP checks codes (one, or two for a resync) against factor f and
// advances its counter on success.
func (s *Service) tryHOTP(ctx context.Context, f *Factor, codes []string, now time.Time) (hotpOutcome, bool, error) {
	secret, err := s.openSecret(ctx, f)
	if err != nil {
		return hotpNoMatch, false, err
	}
	digits := hotpDigits(f)
	base := max(f.Counter-hotpReplayLookBack, 0)
	window, err := hotpWindow(secret, base, f.Counter+HOTPResyncWindow+1, digits)
	if err != nil {
		return hotpNoMatch, false, err
	}
	var next int64
	var outcome hotpOutcome
	resync := len(codes) == 2
	if resync {
		if k, ok := findPair(window, base, f.Counter+1, codes[0], codes[1]); ok && k <= f.Counter+HOTPResyncWindow {
			next, outcome = k+1, hotpAccepted
		} else if _, ok := findPair(window, base, base, codes[0], codes[1]); ok {
			outcome = hotpReplayed
		}
	} else {
		// Every candidate is compared; the first unused match wins.
		for i, code := range window {
			k := base + int64(i)
			if !eq(code, codes[0]) || k > f.Counter+HOTPResyncWindow {
				continue
			}
			switch {
			case k <= f.Counter:
				if outcome < hotpReplayed {
					outcome = hotpReplayed
				}
			case k <= f.Counter+HOTPLookAhead:
				if outcome != hotpAccepted {
					next, outcome = k, hotpAccepted
				}
			default:
				if outcome < hotpDrifted {
					outcome = hotpDrifted
				}
			}
		}
	}
	if outcome != hotpAccepted {
		return outcome, resync, nil
	}
	fresh, err := s.store.AdvanceCounter(ctx, f.ID, next, now)
	if err != nil {
		return hotpNoMatch, false, err
	}
	if !fresh {
		return hotpReplayed, resync, nil
	}
	return hotpAccepted, resync, nil
}

func (s *Service) checkHOTP(ctx context.Context, u *User, code string, c Client, now time.Time) error {
	factors, err := s.store.FindFactors(ctx, u.ID, KindHOTP, true)
	if err != nil {
		return err
	}
	best := hotpNoMatch
	wellFormed := false
	for _, f := range factors {
		codes, ok := hotpCodes(code, hotpDigits(f))
		if !ok {
			continue
		}
		wellFormed = true
		outcome, resync, err := s.tryHOTP(ctx, f, codes, now)
		if err != nil {
			return err
		}
		if outcome == hotpAccepted {
			if resync {
				s.audit(ctx, u.ID, u.Email, "mfa.hotp.resync", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
			}
			s.audit(ctx, u.ID, u.Email, "login.mfa.hotp", audit.Success, c, fmt.Sprintf("factor=%d resync=%t", f.ID, resync))
			return nil
		}
		best = max(best, outcome)
	}
	switch {
	case !wellFormed:
		s.audit(ctx, u.ID, u.Email, "login.mfa.hotp", audit.Failure, c, "reason=malformed")
		return errs.Errorf(errs.EUNAUTHORIZED, "Enter the code your token shows when you press its button.")
	case best == hotpReplayed:
		s.audit(ctx, u.ID, u.Email, "login.mfa.hotp", audit.Failure, c, "reason=replayed")
		return errs.Errorf(errs.EUNAUTHORIZED, msgHOTPReplayed)
	case best == hotpDrifted:
		s.audit(ctx, u.ID, u.Email, "login.mfa.hotp", audit.Failure, c, "reason=counter_drift")
		return errs.Errorf(errs.EUNAUTHORIZED, msgHOTPDrift)
	}
	s.audit(ctx, u.ID, u.Email, "login.mfa.hotp", audit.Failure, c, "reason=wrong_code")
	return errs.Errorf(errs.EUNAUTHORIZED, msgBadCode)
}

// RegisterHOTP adds a hardware token to the signed-in user's factors. The
// two consecutive codes prove the secret belongs to the token in hand and
// tell where its counter stands. It needs a fresh second factor.
func (s *Service) RegisterHOTP(ctx context.Context, ss *session.Session, u *User, name, secretText, code1, code2 string, c Client) (*Factor, error) {
	if ss == nil {
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgSessionEnded)
	}
	if err := s.checkEnrollActor(ctx, Actor{Session: ss, User: u}); err != nil {
		return nil, err
	}
	now := s.Now()
	// Each attempt costs a thousand HMACs.
	if err := s.rateLimit(ctx, fmt.Sprintf("hotp-register:%d", u.ID), 10, now); err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		name = "Hardware token"
	}
	name, err := cleanFactorName(name)
	if err != nil {
		return nil, err
	}
	secret, serial, err := ParseHOTPSecret(secretText)
	if err != nil {
		return nil, errs.Errorf(errs.EINVALID, "The secret could not be read (%s). Paste it as the vendor shipped it: hex, base32, or a seed-file line \"SERIAL HEXSECRET\".", err)
	}
	code1, code2 = strings.TrimSpace(code1), strings.TrimSpace(code2)
	digits := len(code1)
	if (digits != 6 && digits != 8) || !isDigitString(code1, digits) || !isDigitString(code2, digits) {
		return nil, errs.Errorf(errs.EINVALID, "Press the token's button twice and enter both codes, 6 (or 8) digits each, in the order shown.")
	}
	window, err := hotpWindow(secret, 0, HOTPResyncWindow, digits)
	if err != nil {
		return nil, err
	}
	k, ok := findPair(window, 0, 0, code1, code2)
	if !ok {
		s.audit(ctx, u.ID, u.Email, "mfa.hotp.register", audit.Failure, c, "reason=codes_do_not_match")
		return nil, errs.Errorf(errs.EINVALID, "Those two codes do not come from this secret. Check the secret, then press the button twice and enter both new codes in order.")
	}
	f := &Factor{UserID: u.ID, Kind: KindHOTP, Name: name, Confirmed: true, Counter: k + 1, Hint: serial, CreatedAt: now}
	if digits != 6 {
		f.PublicData, _ = json.Marshal(hotpParams{Digits: digits})
	}
	if err := s.keys.PrepareKey(ctx, platformOrg); err != nil {
		return nil, err
	}
	if err := s.store.SaveFactor(ctx, f, false, s.sealFor(ctx, secret)); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.hotp.register", audit.Success, c, fmt.Sprintf("factor=%d digits=%d", f.ID, digits))
	s.notifyUser(ctx, u, "factor.added", "A hardware token was added to your account",
		fmt.Sprintf("The hardware token %q was added as a second factor on your Coffer account.", f.Name))
	return f, nil
}

// ResyncHOTP brings a token's counter forward with two consecutive codes,
// for a signed-in user whose token drifted (e.g. its button was pressed
// many times away from Coffer). Wrong pairs count towards lockout.
func (s *Service) ResyncHOTP(ctx context.Context, u *User, factorID int64, code1, code2 string, c Client) error {
	now := s.Now()
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.clientLimit(ctx, "mfa-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "mfa_client_rate_limited")
		return err
	}
	if err := s.checkLocked(ctx, key, now); err != nil {
		return err
	}
	f, err := s.store.FindFactor(ctx, u.ID, factorID)
	if err != nil {
		return err
	}
	if f.Kind != KindHOTP || !f.Confirmed {
		return errs.Errorf(errs.ENOTFOUND, "Hardware token not found.")
	}
	codes, ok := hotpCodes(strings.TrimSpace(code1)+" "+strings.TrimSpace(code2), hotpDigits(f))
	if !ok || len(codes) != 2 {
		return errs.Errorf(errs.EINVALID, "Press the token's button twice and enter both codes in the order shown.")
	}
	outcome, _, err := s.tryHOTP(ctx, f, codes, now)
	if err != nil {
		return err
	}
	if outcome != hotpAccepted {
		reason, msg := "wrong_codes", "Those codes do not match this token. Press the button twice more and enter both new codes in order."
		if outcome == hotpReplayed {
			reason, msg = "replayed", msgHOTPReplayed
		}
		s.audit(ctx, u.ID, u.Email, "mfa.hotp.resync", audit.Failure, c, fmt.Sprintf("factor=%d reason=%s", f.ID, reason))
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return errs.Errorf(errs.EUNAUTHORIZED, "%s", msg)
	}
	s.audit(ctx, u.ID, u.Email, "mfa.hotp.resync", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
	return nil
}
