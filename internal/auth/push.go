package auth

// Owned by the Coffer Verify work: paired devices and push approvals.
//
// A Verify device is a factor of kind push: its Ed25519 public key, a key id
// (CredentialID) and a sealed TOTP seed for offline codes. A push request
// asks the user's devices to approve one sign-in (or step-up); the device
// must pick the number shown on the sign-in screen (number matching, so a
// tired "yes" to a prompt nobody expected cannot approve an attacker) and
// sign the request's challenge with its key.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"coffer/internal/audit"
	"coffer/internal/errs"
	"coffer/internal/mfa"
	"coffer/internal/notify"
)

// Push request statuses. A pending request past its expiry was ignored.
const (
	PushPending  = "pending"
	PushApproved = "approved"
	PushDenied   = "denied"
	PushConsumed = "consumed"
)

// Reasons a push request was denied.
const (
	PushReasonDenied      = "denied"
	PushReasonWrongNumber = "wrong_number"
	PushReasonNotMe       = "not_me"
)

// PushRequest is one "approve this sign-in?" sent to a user's devices,
// bound to one Attempt.
type PushRequest struct {
	ID        int64
	UserID    int64
	PendingID int64
	SessionID int64
	// Number is shown on the sign-in screen; the device must pick it.
	Number int
	// Challenge is what an approving device signs, with the number.
	Challenge []byte
	IP        string
	UserAgent string
	Place     string
	Status    string
	Reason    string
	// FactorID and Signature: the device that answered and its signature
	// of the approval.
	FactorID   int64
	Signature  []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AnsweredAt time.Time // zero until answered
}

// Expired reports whether the request went unanswered past its expiry.
func (p *PushRequest) Expired(now time.Time) bool {
	return p.Status == PushPending && !now.Before(p.ExpiresAt)
}

// PushStore is the persistence push approval needs. Methods return
// ENOTFOUND for a missing row; other errors are internal.
type PushStore interface {
	// CreatePushRequest stores r. Pending requests of the same user and
	// attempt expire at r.CreatedAt: only the newest one can be approved
	// (the superseded ones count as ignored).
	CreatePushRequest(ctx context.Context, r *PushRequest) error
	// FindPushRequest returns one of the user's push requests; ENOTFOUND
	// if the user has no such request.
	FindPushRequest(ctx context.Context, userID, id int64) (*PushRequest, error)
	// FindPendingPushRequests returns the user's requests that are pending
	// and not expired at now, oldest first.
	FindPendingPushRequests(ctx context.Context, userID int64, now time.Time) ([]*PushRequest, error)
	// AnswerPushRequest sets status (approved or denied), reason, the
	// answering device and its signature, only if the request is still
	// pending and not expired at now; it reports whether it did.
	AnswerPushRequest(ctx context.Context, userID, id int64, status, reason string, factorID int64, signature []byte, now time.Time) (bool, error)
	// ConsumePushRequest marks an approved request consumed; false if it
	// was not approved or already consumed. One use.
	ConsumePushRequest(ctx context.Context, userID, id int64) (bool, error)
	// CountPushRefusals counts the user's requests created since since
	// that were denied or went unanswered past their expiry by now.
	CountPushRefusals(ctx context.Context, userID int64, since, now time.Time) (int, error)
	// RememberDeviceSignature records the hash of an accepted device
	// request's signature until expires; false if it was seen before.
	RememberDeviceSignature(ctx context.Context, hash []byte, expires, now time.Time) (bool, error)
	// FindUserOrgAdmins returns the owners and advisers of the organisations
	// the user belongs to, without the user, each once.
	FindUserOrgAdmins(ctx context.Context, userID int64) ([]*User, error)
}

// ErrPushPending means the push request is still waiting for the device's
// answer: the client asks again (HTTP 202 from the handlers). It is not a
// failed attempt.
var ErrPushPending error = &errs.Error{Code: errs.EUNAVAILABLE, Message: "Waiting for your answer on Coffer Verify.", RetryAfter: 1}

const (
	// DefaultPushTTL is how long a push request waits for an answer.
	DefaultPushTTL = 60 * time.Second
	// pushWaitMax bounds one long poll, by the signing-in client or the
	// device, under the server's write timeout.
	pushWaitMax = 25 * time.Second
	pushPoll    = 300 * time.Millisecond
	// Against MFA fatigue: this many denied or ignored requests within
	// the window pause further requests.
	pushRefusalWindow = 15 * time.Minute
	pushMaxRefusals   = 3
	// pairTTL bounds the time between showing a pairing link and the
	// device using it.
	pairTTL           = 10 * time.Minute
	purposeVerifyPair = "verify_pair"
	// DeviceClockSkew is how far a device request's timestamp may be from
	// the server's clock.
	DeviceClockSkew = 60 * time.Second
	// DeviceKeyIDSize is the length of a device's key id.
	DeviceKeyIDSize = 16
	decoyPurpose    = "verify-push-decoys"
)

// Messages of push approval.
const (
	msgPushDenied      = "The request was denied on your device."
	msgPushWrongNumber = "The request was denied on your device: the number picked there was not the one shown here. Send a new request and pick the number this screen shows."
	msgPushExpired     = "The approval request expired. Send a new one and answer it on your device within a minute."
	msgPushUnknown     = "That approval request is not valid for this sign-in. Send a new one."
	msgPushUsed        = "That approval was already used. Send a new request."
	msgPushPaused      = "Too many sign-in requests were denied or ignored. Push requests are paused for 15 minutes; use another factor."
	msgPairInvalid     = "This pairing link is not valid, has expired or was already used. Start pairing again from Coffer's security settings (Settings → Security → Coffer Verify)."
	msgDeviceInvalid   = "This device is not recognised. It may have been removed from the account: pair it again."
	msgRequestGone     = "This sign-in request no longer exists."
)

// validatePush checks the push settings.
func (c Config) validatePush() error {
	if c.PushTTL != 0 && (c.PushTTL < 5*time.Second || c.PushTTL > 5*time.Minute) {
		return fmt.Errorf("push request lifetime %s must be between 5s and 5m", c.PushTTL)
	}
	return nil
}

func (s *Service) pushTTL() time.Duration {
	if s.cfg.PushTTL == 0 {
		return DefaultPushTTL
	}
	return s.cfg.PushTTL
}

// DeviceKeyID is the id of a Verify device's Ed25519 public key: the first
// 16 bytes of its SHA-256.
func DeviceKeyID(pub []byte) []byte {
	h := sha256.Sum256(pub)
	return h[:DeviceKeyIDSize]
}

// DeviceRequestMessage is what a device signs to authenticate one request:
// "METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA-256(body))". PATH includes the
// query string; the nonce makes two requests within one second differ.
func DeviceRequestMessage(method, path, timestamp, nonce string, body []byte) []byte {
	h := sha256.Sum256(body)
	return []byte(method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(h[:]))
}

// PushApprovalMessage is what a device signs to approve a request: the
// challenge followed by the picked number in decimal.
func PushApprovalMessage(challenge []byte, number int) []byte {
	return append(append([]byte{}, challenge...), strconv.Itoa(number)...)
}

// Pairing is a started pairing of a Verify device.
type Pairing struct {
	// URL is PUBLICURL/verify/pair#TOKEN: the fragment never reaches a
	// server log.
	URL       string
	QRPNG     []byte
	ExpiresAt time.Time
}

type pairData struct {
	Name string `json:"name"`
}

// BeginVerifyPairing starts pairing a Verify device for a signed-in user
// with a fresh second factor. The one-time token in the URL is the
// device's only authority; it is stored hashed.
func (s *Service) BeginVerifyPairing(ctx context.Context, a Actor, name string, c Client) (*Pairing, error) {
	if a.Session == nil {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Sign in first, then pair Coffer Verify from your security settings.")
	}
	if err := s.checkEnrollActor(ctx, a); err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) != "" {
		var err error
		if name, err = cleanFactorName(name); err != nil {
			return nil, err
		}
	}
	if s.PublicURL == "" {
		return nil, errors.New("pair verify device: no public URL configured")
	}
	now := s.Now()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("pairing token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	data, err := json.Marshal(pairData{Name: name})
	if err != nil {
		return nil, err
	}
	ch := &Challenge{UserID: a.User.ID, Purpose: purposeVerifyPair, SessionID: a.Session.ID, TokenHash: hash[:], Data: data, CreatedAt: now, ExpiresAt: now.Add(pairTTL)}
	if err := s.store.SaveChallenge(ctx, ch); err != nil {
		return nil, err
	}
	url := strings.TrimRight(s.PublicURL, "/") + "/verify/pair#" + token
	png, err := mfa.QRPNG(url, 256)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a.User.ID, a.User.Email, "mfa.push.pair_start", audit.Success, c, "")
	return &Pairing{URL: url, QRPNG: png, ExpiresAt: ch.ExpiresAt}, nil
}

// PairedDevice is what a device learns when pairing completes.
type PairedDevice struct {
	FactorID int64
	// DeviceID is the key id, base64url: the device names itself with it.
	DeviceID string
	// TOTPSecret (base32) gives offline codes.
	TOTPSecret string
	Account    string
	Name       string
}

// CompleteVerifyPairing pairs the device holding publicKey, with the
// one-time token from a pairing URL: it becomes a confirmed factor at once
// (the token came from a session with a fresh second factor).
func (s *Service) CompleteVerifyPairing(ctx context.Context, token string, publicKey []byte, deviceName string, c Client) (*PairedDevice, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "verify-pair-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "verify_pair_rate_limited")
		return nil, err
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		s.audit(ctx, 0, "(pairing link)", "mfa.push.pair", audit.Failure, c, "reason=malformed_token")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPairInvalid)
	}
	if len(publicKey) != ed25519.PublicKeySize {
		return nil, errs.Errorf(errs.EINVALID, "public_key must be an Ed25519 public key (32 bytes, base64url).")
	}
	hash := sha256.Sum256([]byte(token))
	ch, err := s.store.TakeChallengeByToken(ctx, purposeVerifyPair, hash[:])
	if errs.Code(err) == errs.ENOTFOUND {
		s.audit(ctx, 0, "(pairing link)", "mfa.push.pair", audit.Failure, c, "reason=unknown_or_used_token")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPairInvalid)
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.FindUserByID(ctx, ch.UserID)
	if err != nil {
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPairInvalid)
	}
	if !now.Before(ch.ExpiresAt) {
		s.audit(ctx, u.ID, u.Email, "mfa.push.pair", audit.Failure, c, "reason=expired_token")
		return nil, errs.Errorf(errs.EUNAUTHORIZED, msgPairInvalid)
	}
	var pd pairData
	if err := json.Unmarshal(ch.Data, &pd); err != nil {
		return nil, fmt.Errorf("pairing data: %w", err)
	}
	name := pd.Name
	if name == "" {
		if name, err = cleanFactorName(deviceName); err != nil {
			name = "Coffer Verify"
		}
	}
	seed, err := mfa.NewTOTPSecret()
	if err != nil {
		return nil, err
	}
	keyID := DeviceKeyID(publicKey)
	f := &Factor{UserID: u.ID, Kind: KindPush, Name: name, Confirmed: true, Counter: -1, CredentialID: keyID,
		PublicData: append([]byte{}, publicKey...), Hint: "key " + hex.EncodeToString(keyID[:4]), CreatedAt: now}
	if err := s.keys.PrepareKey(ctx, platformOrg); err != nil {
		return nil, err
	}
	if err := s.store.SaveFactor(ctx, f, false, s.sealFor(ctx, seed)); err != nil {
		if errs.Code(err) == errs.ECONFLICT {
			s.audit(ctx, u.ID, u.Email, "mfa.push.pair", audit.Failure, c, "reason=key_already_paired")
			return nil, errs.Errorf(errs.ECONFLICT, "This device key is already paired. Run coffer verify list on the device, or pair with a new store.")
		}
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.push.pair", audit.Success, c, fmt.Sprintf("factor=%d", f.ID))
	s.notifyUser(ctx, u, "factor.added", "A Coffer Verify device was paired with your account",
		fmt.Sprintf("The Coffer Verify device %q was paired with your Coffer account. It can now approve your sign-ins.", name))
	return &PairedDevice{FactorID: f.ID, DeviceID: base64.RawURLEncoding.EncodeToString(keyID), TOTPSecret: mfa.EncodeSecret(seed), Account: u.Email, Name: name}, nil
}

// StartLoginPush sends a push request for a pending login.
func (s *Service) StartLoginPush(ctx context.Context, loginToken string, c Client) (*PushRequest, error) {
	pl, u, err := s.Pending(ctx, loginToken)
	if err != nil {
		return nil, err
	}
	if pl.Stage != StageMFA {
		return nil, errs.Errorf(errs.EFORBIDDEN, "Set up an authenticator app first.")
	}
	return s.startPush(ctx, u, Attempt{PendingID: pl.ID}, c)
}

// StartStepUpPush sends a push request to step up session ssID.
func (s *Service) StartStepUpPush(ctx context.Context, ssID int64, u *User, c Client) (*PushRequest, error) {
	return s.startPush(ctx, u, Attempt{SessionID: ssID}, c)
}

func (s *Service) startPush(ctx context.Context, u *User, at Attempt, c Client) (*PushRequest, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "mfa-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "mfa_client_rate_limited")
		return nil, err
	}
	key, _ := s.failureKey(c, u.Email, now)
	if err := s.checkLocked(ctx, key, now); err != nil {
		s.audit(ctx, u.ID, u.Email, "mfa.push.send", audit.Failure, c, "reason=locked")
		return nil, err
	}
	devices, err := s.store.FindFactors(ctx, u.ID, KindPush, true)
	if err != nil {
		return nil, err
	}
	if len(devices) == 0 {
		return nil, errs.Errorf(errs.EINVALID, "No Coffer Verify device is paired with your account. Use another factor.")
	}
	n, err := s.store.CountPushRefusals(ctx, u.ID, now.Add(-pushRefusalWindow), now)
	if err != nil {
		return nil, err
	}
	if n >= pushMaxRefusals {
		s.audit(ctx, u.ID, u.Email, "mfa.push.rate_limited", audit.Failure, c, fmt.Sprintf("refused=%d", n))
		e := errs.Errorf(errs.ERATELIMIT, msgPushPaused)
		e.RetryAfter = int(pushRefusalWindow / time.Second)
		return nil, e
	}
	num, err := rand.Int(rand.Reader, big.NewInt(90))
	if err != nil {
		return nil, fmt.Errorf("push number: %w", err)
	}
	challenge := make([]byte, 32)
	if _, err := rand.Read(challenge); err != nil {
		return nil, fmt.Errorf("push challenge: %w", err)
	}
	r := &PushRequest{UserID: u.ID, PendingID: at.PendingID, SessionID: at.SessionID, Number: 10 + int(num.Int64()), Challenge: challenge,
		IP: c.IP, UserAgent: truncate(c.UserAgent, 256), Place: placeOf(c.IP), Status: PushPending, CreatedAt: now, ExpiresAt: now.Add(s.pushTTL())}
	if err := s.store.CreatePushRequest(ctx, r); err != nil {
		return nil, err
	}
	s.audit(ctx, u.ID, u.Email, "mfa.push.send", audit.Success, c, fmt.Sprintf("request=%d devices=%d", r.ID, len(devices)))
	return r, nil
}

// placeOf is the approximate place of an address: without a geolocation
// database, its network (/24 or /48).
func placeOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return "network " + p.String()
}

// checkPush waits (bounded by pushWaitMax and ctx) for the answer to push
// request pushID, which must be the user's and for this attempt. An
// approval counts once.
func (s *Service) checkPush(ctx context.Context, u *User, at Attempt, pushID int64, c Client, now time.Time) error {
	if pushID <= 0 {
		return errs.Errorf(errs.EINVALID, "Send a request to Coffer Verify first, then wait for it with its push_id.")
	}
	deadline := time.Now().Add(pushWaitMax)
	for {
		r, err := s.store.FindPushRequest(ctx, u.ID, pushID)
		if errs.Code(err) == errs.ENOTFOUND || (err == nil && (r.PendingID != at.PendingID || r.SessionID != at.SessionID)) {
			s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, "reason=unknown_request")
			return errs.Errorf(errs.EUNAUTHORIZED, msgPushUnknown)
		}
		if err != nil {
			return err
		}
		switch {
		case r.Status == PushApproved:
			return s.consumePush(ctx, u, r, c)
		case r.Status == PushConsumed:
			s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=replayed", r.ID))
			return errs.Errorf(errs.EUNAUTHORIZED, msgPushUsed)
		case r.Status == PushDenied:
			s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=%s", r.ID, r.Reason))
			if r.Reason == PushReasonWrongNumber {
				return errs.Errorf(errs.EUNAUTHORIZED, msgPushWrongNumber)
			}
			return errs.Errorf(errs.EUNAUTHORIZED, msgPushDenied)
		case r.Expired(s.Now()):
			s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=expired", r.ID))
			return errs.Errorf(errs.EUNAUTHORIZED, msgPushExpired)
		}
		wait := min(pushPoll, time.Until(deadline))
		if wait <= 0 {
			return ErrPushPending
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ErrPushPending
		case <-t.C:
		}
	}
}

// consumePush accepts an approved request once, after checking the
// device's signature again against the stored key.
func (s *Service) consumePush(ctx context.Context, u *User, r *PushRequest, c Client) error {
	f, err := s.store.FindFactor(ctx, u.ID, r.FactorID)
	if errs.Code(err) == errs.ENOTFOUND || (err == nil && (f.Kind != KindPush || !f.Confirmed)) {
		// The device was removed after it approved.
		s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=device_removed", r.ID))
		return errs.Errorf(errs.EUNAUTHORIZED, msgPushUnknown)
	}
	if err != nil {
		return err
	}
	if len(f.PublicData) != ed25519.PublicKeySize || !ed25519.Verify(f.PublicData, PushApprovalMessage(r.Challenge, r.Number), r.Signature) {
		s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=bad_signature", r.ID))
		return errs.Errorf(errs.EUNAUTHORIZED, msgPushUnknown)
	}
	ok, err := s.store.ConsumePushRequest(ctx, u.ID, r.ID)
	if err != nil {
		return err
	}
	if !ok {
		s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Failure, c, fmt.Sprintf("request=%d reason=replayed", r.ID))
		return errs.Errorf(errs.EUNAUTHORIZED, msgPushUsed)
	}
	if err := s.store.TouchFactor(ctx, f.ID, s.Now()); err != nil {
		return err
	}
	s.audit(ctx, u.ID, u.Email, "login.mfa.push", audit.Success, c, fmt.Sprintf("request=%d factor=%d", r.ID, f.ID))
	return nil
}

// DeviceRequest is a request signed by a Verify device, as received.
type DeviceRequest struct {
	DeviceID  string // base64url key id (X-Coffer-Device)
	Timestamp string // unix seconds (X-Coffer-Timestamp)
	Nonce     string // X-Coffer-Nonce
	Signature string // base64url Ed25519 signature (X-Coffer-Signature)
	Method    string
	Path      string // with the query string
	Body      []byte
}

// Device is a paired Verify device that proved it holds its key.
type Device struct {
	Factor *Factor
	User   *User
}

// AuthenticateDevice checks a device request's signature with the paired
// key, its timestamp within DeviceClockSkew and that it was not seen
// before.
func (s *Service) AuthenticateDevice(ctx context.Context, req DeviceRequest, c Client) (*Device, error) {
	now := s.Now()
	if err := s.clientLimit(ctx, "verify-dev-ip:"+c.IP, now); err != nil {
		s.refusals.add(c, "verify_device_rate_limited")
		return nil, err
	}
	refuse := func(uid int64, subject, reason string) error {
		s.audit(ctx, uid, subject, "mfa.push.device_auth", audit.Failure, c, "reason="+reason)
		return errs.Errorf(errs.EUNAUTHORIZED, msgDeviceInvalid)
	}
	id, err1 := base64.RawURLEncoding.DecodeString(req.DeviceID)
	sig, err2 := base64.RawURLEncoding.DecodeString(req.Signature)
	ts, err3 := strconv.ParseInt(req.Timestamp, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || len(id) != DeviceKeyIDSize || len(sig) != ed25519.SignatureSize || req.Nonce == "" || len(req.Nonce) > 64 {
		return nil, refuse(0, "(verify device)", "malformed")
	}
	f, err := s.store.FindFactorByCredentialID(ctx, id)
	if errs.Code(err) == errs.ENOTFOUND || (err == nil && (f.Kind != KindPush || !f.Confirmed)) {
		return nil, refuse(0, "(verify device)", "unknown_device")
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.FindUserByID(ctx, f.UserID)
	if err != nil {
		return nil, err
	}
	if len(f.PublicData) != ed25519.PublicKeySize || !ed25519.Verify(f.PublicData, DeviceRequestMessage(req.Method, req.Path, req.Timestamp, req.Nonce, req.Body), sig) {
		return nil, refuse(u.ID, u.Email, "bad_signature")
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > DeviceClockSkew || d < -DeviceClockSkew {
		s.audit(ctx, u.ID, u.Email, "mfa.push.device_auth", audit.Failure, c, "reason=clock_skew offset="+(-d).Round(time.Second).String())
		return nil, errs.Errorf(errs.EUNAUTHORIZED, "This device's clock is more than a minute off Coffer's. Set its date and time to update automatically, then try again.")
	}
	h := sha256.Sum256(sig)
	fresh, err := s.store.RememberDeviceSignature(ctx, h[:], at.Add(DeviceClockSkew+time.Second), now)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, refuse(u.ID, u.Email, "replayed")
	}
	return &Device{Factor: f, User: u}, nil
}

// PushPrompt is a pending request as a device shows it.
type PushPrompt struct {
	ID        int64
	Account   string
	IP        string
	UserAgent string
	Place     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Numbers are three choices, the right one among them.
	Numbers   []int
	Challenge []byte
}

// WaitPushRequests returns the device user's pending requests, waiting up
// to wait (at most 25 s, and while ctx lives) for one to arrive.
func (s *Service) WaitPushRequests(ctx context.Context, d *Device, wait time.Duration) ([]PushPrompt, error) {
	deadline := time.Now().Add(min(max(wait, 0), pushWaitMax))
	for {
		rs, err := s.store.FindPendingPushRequests(ctx, d.User.ID, s.Now())
		if err != nil {
			return nil, err
		}
		if len(rs) > 0 {
			out := make([]PushPrompt, 0, len(rs))
			for _, r := range rs {
				out = append(out, PushPrompt{ID: r.ID, Account: d.User.Email, IP: r.IP, UserAgent: r.UserAgent, Place: r.Place,
					CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, Numbers: s.pushChoices(r), Challenge: r.Challenge})
			}
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return []PushPrompt{}, nil
		}
		t := time.NewTimer(min(pushPoll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return []PushPrompt{}, nil
		case <-t.C:
		}
	}
}

// pushChoices returns the request's number and two decoys in an order
// derived from a MAC of the challenge: the same on every poll, and
// unpredictable without the server's key.
func (s *Service) pushChoices(r *PushRequest) []int {
	mac := s.keys.MAC(decoyPurpose, r.Challenge)
	out := []int{r.Number}
	for _, b := range mac[:len(mac)-1] {
		n := 10 + int(b)%90
		if n != r.Number && (len(out) < 2 || out[1] != n) {
			out = append(out, n)
		}
		if len(out) == 3 {
			break
		}
	}
	for len(out) < 3 { // never with a 32-byte MAC; kept total anyway
		out = append(out, 10+(out[len(out)-1]-10+1)%90)
	}
	// Rotate so the right number sits at position mac[last] % 3.
	k := int(mac[len(mac)-1]) % 3
	return append(out[3-k:], out[:3-k]...)
}

// ApprovePush answers a request with the number the user picked on the
// device and the device's signature of challenge and number. A wrong
// number denies the request: an attacker does not get a second guess.
func (s *Service) ApprovePush(ctx context.Context, d *Device, id int64, number int, signature []byte, c Client) error {
	u := d.User
	now := s.Now()
	r, err := s.answerable(ctx, u, id, now)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeEq(int32(number), int32(r.Number)) != 1 {
		if _, err := s.store.AnswerPushRequest(ctx, u.ID, r.ID, PushDenied, PushReasonWrongNumber, d.Factor.ID, nil, now); err != nil {
			return err
		}
		s.audit(ctx, u.ID, u.Email, "mfa.push.wrong_number", audit.Failure, c, fmt.Sprintf("request=%d factor=%d", r.ID, d.Factor.ID))
		return errs.Errorf(errs.EINVALID, "That is not the number shown on the sign-in screen, so the request was denied. If you are signing in, send a new request and pick the number shown there; if you are not, someone knows your password: change it.")
	}
	if !ed25519.Verify(d.Factor.PublicData, PushApprovalMessage(r.Challenge, number), signature) {
		s.audit(ctx, u.ID, u.Email, "mfa.push.approve", audit.Failure, c, fmt.Sprintf("request=%d factor=%d reason=bad_signature", r.ID, d.Factor.ID))
		return errs.Errorf(errs.EINVALID, "The approval signature does not match this device's key. Update Coffer Verify or pair the device again.")
	}
	ok, err := s.store.AnswerPushRequest(ctx, u.ID, r.ID, PushApproved, "", d.Factor.ID, bytes.Clone(signature), now)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Errorf(errs.ECONFLICT, "This sign-in request was already answered or has expired.")
	}
	s.audit(ctx, u.ID, u.Email, "mfa.push.approve", audit.Success, c, fmt.Sprintf("request=%d factor=%d", r.ID, d.Factor.ID))
	return nil
}

// answerable loads a request that can still be answered.
func (s *Service) answerable(ctx context.Context, u *User, id int64, now time.Time) (*PushRequest, error) {
	r, err := s.store.FindPushRequest(ctx, u.ID, id)
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, errs.Errorf(errs.ENOTFOUND, msgRequestGone)
	}
	if err != nil {
		return nil, err
	}
	if r.Status != PushPending {
		return nil, errs.Errorf(errs.ECONFLICT, "This sign-in request was already answered.")
	}
	if r.Expired(now) {
		return nil, errs.Errorf(errs.ECONFLICT, "This sign-in request has expired. If you are signing in, send a new request from the sign-in screen.")
	}
	return r, nil
}

// DenyPush denies a request. With notMe ("this wasn't me") the user and
// the owners and advisers of the user's organisations are alerted: someone
// else knows the password.
func (s *Service) DenyPush(ctx context.Context, d *Device, id int64, notMe bool, c Client) error {
	u := d.User
	now := s.Now()
	r, err := s.store.FindPushRequest(ctx, u.ID, id)
	if errs.Code(err) == errs.ENOTFOUND {
		return errs.Errorf(errs.ENOTFOUND, msgRequestGone)
	}
	if err != nil {
		return err
	}
	reason := PushReasonDenied
	if notMe {
		reason = PushReasonNotMe
	}
	ok, err := s.store.AnswerPushRequest(ctx, u.ID, r.ID, PushDenied, reason, d.Factor.ID, nil, now)
	if err != nil {
		return err
	}
	// "Not me" still alerts when the request expired meanwhile: the
	// attempt happened. An approved one was the user's own.
	if !ok && !(notMe && r.Expired(now)) {
		return errs.Errorf(errs.ECONFLICT, "This sign-in request was already answered.")
	}
	s.audit(ctx, u.ID, u.Email, "mfa.push.denied", audit.Failure, c, fmt.Sprintf("request=%d factor=%d not_me=%t", r.ID, d.Factor.ID, notMe))
	if notMe {
		s.alertNotMe(ctx, u, r)
	}
	return nil
}

// alertNotMe tells the user and their organisations' owners and advisers
// about a sign-in the user says was not theirs.
func (s *Service) alertNotMe(ctx context.Context, u *User, r *PushRequest) {
	when := r.CreatedAt.UTC().Format("2 January 2006 15:04 MST")
	where := fmt.Sprintf("from %s (%s, %s) at %s", r.IP, truncate(r.UserAgent, 120), r.Place, when)
	s.notifyUser(ctx, u, "push.not_me", "A sign-in you did not make was stopped",
		fmt.Sprintf("You denied a sign-in to your Coffer account on Coffer Verify and said it was not you. It came %s.\n\n"+
			"Whoever tried knows your password. Change your password now and review your sessions.", where))
	admins, err := s.store.FindUserOrgAdmins(ctx, u.ID)
	if err != nil {
		s.log.Error("find organisation admins", "user", u.ID, "err", err)
		return
	}
	for _, a := range admins {
		var b strings.Builder
		fmt.Fprintf(&b, "Hello %s,\n\n%s (%s) denied a sign-in to their Coffer account on Coffer Verify and said it was not them. It came %s.\n\n", a.Name, u.Name, u.Email, where)
		b.WriteString("Someone else knows their password. Make sure they change it; if you see anything unusual in your organisation, review its members and audit log.\n\n— Coffer\n")
		s.notify(ctx, u.ID, notify.Message{To: a.Email, Subject: "A member's sign-in was reported as not theirs", Kind: "push.not_me.admin", Text: b.String()})
	}
}
