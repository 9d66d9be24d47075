package auth

// Owned by the WebAuthn work: security keys, passkeys, passkey sign-in.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/session"
)

// Challenge purposes of the WebAuthn ceremonies.
const (
	purposeWebAuthnRegister = "webauthn_register"
	purposeWebAuthnLogin    = "webauthn_login"
	purposePasskeyLogin     = "passkey_login"
)

// webAuthnChallengeTTL bounds the time between asking for options and
// answering with the authenticator's response.
const webAuthnChallengeTTL = 5 * time.Minute

// passkeyTokenPrefix marks the one-time token that ties a passkey sign-in's
// answer to its options.
const passkeyTokenPrefix = "cfk_"

// Hints stored with a WebAuthn factor, shown in the list of factors.
const (
	hintPasskey     = "passkey"
	hintSecurityKey = "security key"
)

// Messages of WebAuthn failures. One message for every way an assertion can
// be wrong, so nothing tells which credentials exist; the reason is audited.
const (
	msgKeyFailed       = "This security key could not be verified. Use a security key or passkey registered to your account, or another method."
	msgKeyExpired      = "The security key request expired. Try again."
	msgPasskeyFailed   = "This passkey could not be verified. Sign in with your email address and password instead."
	msgPasskeyExpired  = "The passkey request expired. Try again."
	msgPasskeyOrgRule  = "An organisation you belong to requires your password as well; sign in with your password and use your security key as the second step."
	msgKeyNoneOnRecord = "No security key or passkey is registered to your account. Use another method."
)

// maxCredentialJSON bounds a browser's answer; real ones are a few KiB.
const maxCredentialJSON = 64 << 10

// relyingParty builds the WebAuthn relying party from PublicURL: its host
// name is the RP ID and the URL itself the only accepted origin. An IP
// address cannot be an RP ID; a loopback one (serve's default URL when it
// listens on 127.0.0.1) stands for localhost, which browsers treat as the
// same machine and as secure.
func (s *Service) relyingParty() (*webauthn.WebAuthn, error) {
	u, err := url.Parse(s.PublicURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("webauthn: public URL %q is not https://HOST[:PORT]", s.PublicURL)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("webauthn: public URL %q names an IP address; security keys need a host name: set --public-url", s.PublicURL)
		}
		host = "localhost"
	}
	origin := "https://" + host
	if p := u.Port(); p != "" {
		origin += ":" + p
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Coffer",
		RPOrigins:     []string{origin},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return rp, nil
}

// userHandle is the WebAuthn user handle of a user: the id, 8 bytes big
// endian. It names no personal data, as the specification asks.
func userHandle(id int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(id))
	return b
}

// userIDFromHandle reverses userHandle; 0 for anything else.
func userIDFromHandle(h []byte) int64 {
	if len(h) != 8 {
		return 0
	}
	id := int64(binary.BigEndian.Uint64(h))
	if id <= 0 {
		return 0
	}
	return id
}

// waUser is a user as the WebAuthn library sees them, with their confirmed
// WebAuthn factors.
type waUser struct {
	u       *User
	factors []*Factor
	creds   []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return userHandle(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Email }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// factorFor returns the factor holding credential id, or nil.
func (w *waUser) factorFor(id []byte) *Factor {
	for _, f := range w.factors {
		if bytes.Equal(f.CredentialID, id) {
			return f
		}
	}
	return nil
}

// loadWebAuthnUser reads the user's confirmed WebAuthn factors. The stored
// counter, not the one inside the credential JSON, is authoritative.
func (s *Service) loadWebAuthnUser(ctx context.Context, u *User) (*waUser, error) {
	fs, err := s.store.FindFactors(ctx, u.ID, KindWebAuthn, true)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: u}
	for _, f := range fs {
		var cred webauthn.Credential
		if err := json.Unmarshal(f.PublicData, &cred); err != nil {
			return nil, fmt.Errorf("webauthn factor %d: %w", f.ID, err)
		}
		cred.Authenticator.SignCount = uint32(max(f.Counter, 0))
		w.factors = append(w.factors, f)
		w.creds = append(w.creds, cred)
	}
	return w, nil
}

// SignCountAccepted is the sign-counter rule (WebAuthn §7.2 step 21): when
// the stored count or the new one is non-zero, the new one must be greater.
// Anything else means two copies of the key exist: a cloned authenticator.
// Many passkeys always report 0; for them the rule cannot say anything.
func SignCountAccepted(stored, got uint32) bool {
	if stored == 0 && got == 0 {
		return true
	}
	return got > stored
}

// acceptSignCount applies the sign-counter rule to a verified assertion and
// records the use. It refuses a cloned authenticator, audits it under
// mfa.webauthn.clone_detected and tells the user. action is the audit
// action of the sign-in step, for the refusal.
func (s *Service) acceptSignCount(ctx context.Context, u *User, f *Factor, got uint32, c Client, now time.Time, action, refusal string) error {
	stored := uint32(max(f.Counter, 0))
	if SignCountAccepted(stored, got) {
		if got == 0 {
			return s.store.TouchFactor(ctx, f.ID, now)
		}
		// Only forward, atomically: a racing answer from a copy of the key
		// that got in first leaves this one behind.
		ok, err := s.store.AdvanceCounter(ctx, f.ID, int64(got), now)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	s.audit(ctx, u.ID, u.Email, "mfa.webauthn.clone_detected", audit.Failure, c, fmt.Sprintf("factor=%d stored_count=%d got_count=%d", f.ID, stored, got))
	s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=sign_count", f.ID))
	s.notifyUser(ctx, u, "webauthn.clone_detected", "A copy of your security key may exist",
		fmt.Sprintf("Someone tried to sign in to your Coffer account with the %s %q, but its signature counter went backwards. That happens when the key's secret was copied to another device. The sign-in was refused. Remove that key in your security settings and register a new one.", KindLabel(f.Kind), f.Name))
	return errs.Errorf(errs.EUNAUTHORIZED, "%s", refusal)
}

// webAuthnState is what a ceremony keeps between options and answer.
type webAuthnState struct {
	Session webauthn.SessionData `json:"session"`
	Name    string               `json:"name,omitempty"`
	Passkey bool                 `json:"passkey,omitempty"`
}

func (s *Service) saveWebAuthnState(ctx context.Context, ch *Challenge, st webAuthnState, now time.Time) error {
	// Expiry is enforced by the challenge row, on the service's clock.
	st.Session.Expires = time.Time{}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("webauthn state: %w", err)
	}
	ch.Data, ch.CreatedAt, ch.ExpiresAt = data, now, now.Add(webAuthnChallengeTTL)
	return s.store.SaveChallenge(ctx, ch)
}

// openWebAuthnState checks a taken challenge's age and decodes it; ok is
// false for an expired or unreadable one.
func openWebAuthnState(ch *Challenge, now time.Time) (webAuthnState, bool) {
	var st webAuthnState
	if !now.Before(ch.ExpiresAt) {
		return st, false
	}
	if err := json.Unmarshal(ch.Data, &st); err != nil {
		return st, false
	}
	return st, true
}

// WebAuthnOptions is what the browser passes to navigator.credentials:
// {"publicKey": {...}} as the library makes it.
type WebAuthnOptions = json.RawMessage

// BeginWebAuthnRegistration starts registering a security key or (with
// passkey) a discoverable passkey with user verification, for a signed-in
// session whose second factor is fresh.
func (s *Service) BeginWebAuthnRegistration(ctx context.Context, ss *session.Session, u *User, name string, passkey bool, c Client) (WebAuthnOptions, error) {
	if ss == nil {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Sign in to add a security key or passkey.")
	}
	if err := s.checkEnrollActor(ctx, Actor{Session: ss, User: u}); err != nil {
		return nil, err
	}
	name, err := cleanFactorName(name)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.clientLimit(ctx, "webauthn-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "webauthn_client_rate_limited")
		return nil, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	w, err := s.loadWebAuthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	// A security key: user verification if it can. A passkey must be
	// discoverable and verify the user, as it stands in for the password.
	uv, rk := protocol.VerificationPreferred, protocol.ResidentKeyRequirementDiscouraged
	if passkey {
		uv, rk = protocol.VerificationRequired, protocol.ResidentKeyRequirementRequired
	}
	opts := []webauthn.RegistrationOption{
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: uv}),
		webauthn.WithResidentKeyRequirement(rk),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	}
	creation, sd, err := rp.BeginRegistration(w, opts...)
	if err != nil {
		return nil, fmt.Errorf("webauthn registration options: %w", err)
	}
	ch := &Challenge{UserID: u.ID, Purpose: purposeWebAuthnRegister, SessionID: ss.ID}
	if err := s.saveWebAuthnState(ctx, ch, webAuthnState{Session: *sd, Name: name, Passkey: passkey}, now); err != nil {
		return nil, err
	}
	out, err := json.Marshal(creation)
	if err != nil {
		return nil, fmt.Errorf("webauthn registration options: %w", err)
	}
	s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register_start", audit.Success, c, fmt.Sprintf("passkey=%t", passkey))
	return out, nil
}

// FinishWebAuthnRegistration verifies the browser's answer to the
// registration options and stores the new security key or passkey. name,
// when not empty, replaces the name given with the options.
func (s *Service) FinishWebAuthnRegistration(ctx context.Context, ss *session.Session, u *User, name string, credential []byte, c Client) (*Factor, error) {
	if ss == nil {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Sign in to add a security key or passkey.")
	}
	if err := s.checkEnrollActor(ctx, Actor{Session: ss, User: u}); err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.clientLimit(ctx, "webauthn-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "webauthn_client_rate_limited")
		return nil, err
	}
	if len(credential) == 0 || len(credential) > maxCredentialJSON {
		return nil, errs.Errorf(errs.EINVALID, "Send the security key's answer (credential) to register it.")
	}
	ch, err := s.store.TakeChallenge(ctx, u.ID, purposeWebAuthnRegister, 0, ss.ID)
	if errs.Code(err) == errs.ENOTFOUND {
		s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=no_challenge")
		return nil, errs.Errorf(errs.EINVALID, "The registration request expired. Start again.")
	}
	if err != nil {
		return nil, err
	}
	st, ok := openWebAuthnState(ch, now)
	if !ok {
		s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=expired")
		return nil, errs.Errorf(errs.EINVALID, "The registration request expired. Start again.")
	}
	if name == "" {
		name = st.Name
	}
	if name, err = cleanFactorName(name); err != nil {
		return nil, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	w, err := s.loadWebAuthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=malformed")
		return nil, errs.Errorf(errs.EINVALID, "The security key's answer could not be read. Try again.")
	}
	cred, err := rp.CreateCredential(w, st.Session, parsed)
	if err != nil {
		s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=verification_failed")
		return nil, errs.Errorf(errs.EINVALID, "The security key's answer could not be verified. Try again.")
	}
	if st.Passkey && (!cred.Flags.UserVerified || (cred.Extensions.RK != nil && !*cred.Extensions.RK)) {
		s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=not_a_passkey")
		return nil, errs.Errorf(errs.EINVALID, "This authenticator cannot hold a passkey with a PIN or biometric check. Register it as a security key instead.")
	}
	public, err := json.Marshal(cred)
	if err != nil {
		return nil, fmt.Errorf("webauthn credential: %w", err)
	}
	hint := hintSecurityKey
	if st.Passkey {
		hint = hintPasskey
	}
	f := &Factor{UserID: u.ID, Kind: KindWebAuthn, Name: name, Confirmed: true, Counter: int64(cred.Authenticator.SignCount),
		CredentialID: cred.ID, PublicData: public, Hint: hint, CreatedAt: now}
	if err := s.store.SaveFactor(ctx, f, false, nil); err != nil {
		if errs.Code(err) == errs.ECONFLICT {
			s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Failure, c, "reason=already_registered")
			return nil, errs.Errorf(errs.ECONFLICT, "This security key is already registered.")
		}
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.webauthn.register", audit.Success, c, fmt.Sprintf("factor=%d passkey=%t uv=%t", f.ID, st.Passkey, cred.Flags.UserVerified))
	label := "security key"
	if st.Passkey {
		label = "passkey"
	}
	s.notifyUser(ctx, u, "factor.added", "A "+label+" was added to your account",
		fmt.Sprintf("A new %s, %q, was added as a second factor on your Coffer account.", label, name))
	return f, nil
}

// WebAuthnLoginOptions returns assertion options for the user's security
// keys, to complete the pending login of loginToken.
func (s *Service) WebAuthnLoginOptions(ctx context.Context, loginToken string, c Client) (WebAuthnOptions, error) {
	pl, u, err := s.Pending(ctx, loginToken)
	if err != nil {
		return nil, err
	}
	if pl.Stage != StageMFA {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Set up an authenticator app first.")
	}
	return s.assertionOptions(ctx, u, Attempt{PendingID: pl.ID}, c)
}

// WebAuthnStepUpOptions returns assertion options for the user's security
// keys, to step up session ss.
func (s *Service) WebAuthnStepUpOptions(ctx context.Context, ss *session.Session, u *User, c Client) (WebAuthnOptions, error) {
	return s.assertionOptions(ctx, u, Attempt{SessionID: ss.ID}, c)
}

func (s *Service) assertionOptions(ctx context.Context, u *User, at Attempt, c Client) (WebAuthnOptions, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "webauthn-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "webauthn_client_rate_limited")
		return nil, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	w, err := s.loadWebAuthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, errs.Errorf(errs.EINVALID, msgKeyNoneOnRecord)
	}
	assertion, sd, err := rp.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("webauthn assertion options: %w", err)
	}
	ch := &Challenge{UserID: u.ID, Purpose: purposeWebAuthnLogin, PendingID: at.PendingID, SessionID: at.SessionID}
	if err := s.saveWebAuthnState(ctx, ch, webAuthnState{Session: *sd}, now); err != nil {
		return nil, err
	}
	out, err := json.Marshal(assertion)
	if err != nil {
		return nil, fmt.Errorf("webauthn assertion options: %w", err)
	}
	return out, nil
}

// checkWebAuthn verifies a security key's assertion as the second factor
// of attempt at. Every refusal is EUNAUTHORIZED, and counts toward lockout.
func (s *Service) checkWebAuthn(ctx context.Context, u *User, at Attempt, credential []byte, c Client, now time.Time) error {
	const action = "login.mfa.webauthn"
	if len(credential) == 0 || len(credential) > maxCredentialJSON {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=malformed")
		return errs.Errorf(errs.EUNAUTHORIZED, msgKeyFailed)
	}
	ch, err := s.store.TakeChallenge(ctx, u.ID, purposeWebAuthnLogin, at.PendingID, at.SessionID)
	if err != nil && errs.Code(err) != errs.ENOTFOUND {
		return err
	}
	var st webAuthnState
	ok := err == nil
	if ok {
		st, ok = openWebAuthnState(ch, now)
	}
	if !ok {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=no_challenge")
		return errs.Errorf(errs.EUNAUTHORIZED, msgKeyExpired)
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	w, err := s.loadWebAuthnUser(ctx, u)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=malformed")
		return errs.Errorf(errs.EUNAUTHORIZED, msgKeyFailed)
	}
	f := w.factorFor(parsed.RawID)
	if f == nil {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=unknown_credential")
		return errs.Errorf(errs.EUNAUTHORIZED, msgKeyFailed)
	}
	cred, err := rp.ValidateLogin(w, st.Session, parsed)
	if err != nil {
		s.log.Info("webauthn assertion refused", "user", u.ID, "factor", f.ID, "err", webAuthnErrDetail(err))
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=bad_assertion", f.ID))
		return errs.Errorf(errs.EUNAUTHORIZED, msgKeyFailed)
	}
	if err := s.acceptSignCount(ctx, u, f, parsed.Response.AuthenticatorData.Counter, c, now, action, msgKeyFailed); err != nil {
		return err
	}
	s.refreshCredential(ctx, f, cred)
	s.audit(ctx, u.ID, u.Email, action, audit.Success, c, fmt.Sprintf("factor=%d uv=%t", f.ID, parsed.Response.AuthenticatorData.Flags.HasUserVerified()))
	return nil
}

// webAuthnErrDetail is the library's reason for a refusal, for the log.
func webAuthnErrDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details + " " + pe.DevInfo
	}
	return err.Error()
}

// refreshCredential stores flags the library updated (backup state, user
// verification), which later validations compare against.
func (s *Service) refreshCredential(ctx context.Context, f *Factor, cred *webauthn.Credential) {
	var old webauthn.Credential
	if json.Unmarshal(f.PublicData, &old) == nil && old.Flags == cred.Flags {
		return
	}
	cred.Authenticator.CloneWarning = false
	public, err := json.Marshal(cred)
	if err == nil {
		err = s.store.UpdateFactorPublic(ctx, f.ID, public)
	}
	if err != nil {
		s.log.Error("update webauthn credential", "factor", f.ID, "err", err)
	}
}

// PasskeyOptions starts a passkey sign-in: options for any discoverable
// credential with user verification, and the one-time token that ties the
// answer to them.
func (s *Service) PasskeyOptions(ctx context.Context, c Client) (token string, options WebAuthnOptions, err error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "passkey-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "passkey_client_rate_limited")
		return "", nil, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return "", nil, err
	}
	assertion, sd, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return "", nil, fmt.Errorf("passkey options: %w", err)
	}
	token, hash, err := session.NewToken(passkeyTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	ch := &Challenge{Purpose: purposePasskeyLogin, TokenHash: hash}
	if err := s.saveWebAuthnState(ctx, ch, webAuthnState{Session: *sd}, now); err != nil {
		return "", nil, err
	}
	if options, err = json.Marshal(assertion); err != nil {
		return "", nil, fmt.Errorf("passkey options: %w", err)
	}
	return token, options, nil
}

// errPasskeyUnknown is a passkey that names no user's confirmed factor.
var errPasskeyUnknown = errors.New("unknown passkey")

// PasskeyLogin signs a user in with a passkey alone: a discoverable
// credential whose authenticator verified the user (PIN or biometric),
// where none of the user's organisations requires the password.
func (s *Service) PasskeyLogin(ctx context.Context, token string, credential []byte, c Client) (*Issued, error) {
	const action = "login.passkey"
	const unknownSubject = "(unknown passkey)"
	now := s.Now()
	if err := s.clientLimit(ctx, "passkey-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "passkey_client_rate_limited")
		return nil, err
	}
	ch, err := s.store.TakeChallengeByToken(ctx, purposePasskeyLogin, session.HashToken(token))
	if err != nil && errs.Code(err) != errs.ENOTFOUND {
		return nil, err
	}
	var st webAuthnState
	ok := err == nil && len(token) < 128
	if ok {
		st, ok = openWebAuthnState(ch, now)
	}
	if !ok {
		s.audit(ctx, 0, unknownSubject, action, audit.Failure, c, "reason=no_challenge")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyExpired)
	}
	if len(credential) == 0 || len(credential) > maxCredentialJSON {
		s.audit(ctx, 0, unknownSubject, action, audit.Failure, c, "reason=malformed")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		s.audit(ctx, 0, unknownSubject, action, audit.Failure, c, "reason=malformed")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	// The user handle names the user; the credential must be one of theirs.
	f, err := s.store.FindFactorByCredentialID(ctx, parsed.RawID)
	if err != nil && errs.Code(err) != errs.ENOTFOUND {
		return nil, err
	}
	uid := userIDFromHandle(parsed.Response.UserHandle)
	if err != nil || f.Kind != KindWebAuthn || !f.Confirmed || uid == 0 || f.UserID != uid {
		s.audit(ctx, 0, unknownSubject, action, audit.Failure, c, "reason=unknown_credential")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	u, err := s.store.FindUserByID(ctx, uid)
	if errs.Code(err) == errs.ENOTFOUND {
		s.audit(ctx, 0, unknownSubject, action, audit.Failure, c, "reason=unknown_credential")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	if err != nil {
		return nil, err
	}
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.checkLocked(ctx, key, now); err != nil {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, "reason=locked")
		return nil, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	var w *waUser
	_, cred, err := rp.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(handle, userHandle(u.ID)) {
			return nil, errPasskeyUnknown
		}
		var err error
		w, err = s.loadWebAuthnUser(ctx, u)
		return w, err
	}, st.Session, parsed)
	if err != nil || w == nil || w.factorFor(parsed.RawID) == nil {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=bad_assertion", f.ID))
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	f = w.factorFor(parsed.RawID)
	// A passkey stands for two factors only if the authenticator checked
	// the person (PIN or biometric), not mere presence.
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=no_user_verification", f.ID))
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPasskeyFailed)
	}
	if err := s.acceptSignCount(ctx, u, f, parsed.Response.AuthenticatorData.Counter, c, now, action, msgPasskeyFailed); err != nil {
		s.fail(ctx, key, u.ID, u.Email, c, now)
		return nil, err
	}
	s.refreshCredential(ctx, f, cred)
	rules, err := s.store.UserFactorRules(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !rules.PasskeySignIn {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=forbidden_by_org", f.ID))
		return nil, errs.Errorf(errs.EFORBIDDEN, msgPasskeyOrgRule)
	}
	// A support-assisted reset that has come due takes effect at a passkey
	// sign-in too: it removes this passkey with every other factor, so the
	// person signs in with the password and sets up a new factor.
	if err := s.applyDueReset(ctx, u, c, now); err != nil {
		return nil, err
	}
	if _, err := s.store.FindFactor(ctx, u.ID, f.ID); errs.Code(err) == errs.ENOTFOUND {
		s.audit(ctx, u.ID, u.Email, action, audit.Failure, c, fmt.Sprintf("factor=%d reason=reset_completed", f.ID))
		return nil, errs.Errorf(errs.EUNAUTHORIZED, "Your two-step verification was reset. Sign in with your password and set up a new factor.")
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, action, audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
	return s.issue(ctx, 0, u, c, now, MethodPasskey)
}
