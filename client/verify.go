package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Coffer Verify: pairing a device, push approval with number matching.

// VerifyPairing is a started pairing: the link (and its QR code) the
// device uses once.
type VerifyPairing struct {
	PairingURL  string    `json:"pairing_url"`
	QRPNGBase64 string    `json:"qr_png_base64"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// VerifyPaired is what a device gets when pairing completes.
type VerifyPaired struct {
	DeviceID   string `json:"device_id"`
	FactorID   int64  `json:"factor_id"`
	TOTPSecret string `json:"totp_secret"`
	Account    string `json:"account"`
	Server     string `json:"server"`
	Name       string `json:"name"`
}

// PushStart is a sent push request: the number to show the user.
type PushStart struct {
	PushID    int64     `json:"push_id"`
	Number    int       `json:"number"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PushPrompt is a pending sign-in request as a device sees it.
type PushPrompt struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Place     string    `json:"place"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Numbers   []int     `json:"numbers"`
	// Challenge (base64url) is what an approval signs, with the number.
	Challenge string `json:"challenge"`
}

// StartVerifyPairing starts pairing a device; the session needs a second
// factor verified in the last few minutes.
func (c *Client) StartVerifyPairing(ctx context.Context, session, name string) (*VerifyPairing, error) {
	var out VerifyPairing
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/verify/pair", session, map[string]string{"name": name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CompleteVerifyPairing pairs the device holding pub with the one-time
// token from a pairing link. No session: the token is the authority.
func (c *Client) CompleteVerifyPairing(ctx context.Context, token string, pub ed25519.PublicKey, deviceName string) (*VerifyPaired, error) {
	var out VerifyPaired
	body := map[string]string{"token": token, "public_key": base64.RawURLEncoding.EncodeToString(pub), "device_name": deviceName}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/verify/pair/complete", "", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartLoginPush sends a push request for a pending login.
func (c *Client) StartLoginPush(ctx context.Context, loginToken string) (*PushStart, error) {
	var out PushStart
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa/push", "", map[string]string{"login_token": loginToken}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartStepUpPush sends a push request to step up a session.
func (c *Client) StartStepUpPush(ctx context.Context, session string) (*PushStart, error) {
	var out PushStart
	if err := c.Do(ctx, http.MethodPost, "/api/v1/step-up/push", session, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitLoginPush waits for the device's answer to push request pushID and
// returns the session once approved. The server holds each request up to
// 25 s and answers 202 while waiting; this asks again until ctx ends.
func (c *Client) WaitLoginPush(ctx context.Context, loginToken string, pushID int64) (*SessionResult, error) {
	for {
		var out struct {
			SessionResult
			Status string `json:"status"`
		}
		body := map[string]any{"login_token": loginToken, "method": "push", "push_id": pushID}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa", "", body, &out); err != nil {
			return nil, err
		}
		if out.Status != "pending" {
			return &out.SessionResult, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// WaitStepUpPush is WaitLoginPush for a step-up.
func (c *Client) WaitStepUpPush(ctx context.Context, session string, pushID int64) error {
	for {
		var out struct {
			Status string `json:"status"`
		}
		if err := c.Do(ctx, http.MethodPost, "/api/v1/step-up", session, map[string]any{"method": "push", "push_id": pushID}, &out); err != nil {
			return err
		}
		if out.Status != "pending" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Device is a paired Coffer Verify device: it signs each request with its
// Ed25519 key instead of sending a token.
type Device struct {
	*Client
	// ID is the device id (base64url) the server gave at pairing.
	ID  string
	Key ed25519.PrivateKey
	// Now is the clock for request timestamps; nil means time.Now.
	Now func() time.Time
}

// DeviceRequestMessage is what a device signs for a request:
// "METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA-256(body))", PATH with its
// query string.
func DeviceRequestMessage(method, path, timestamp, nonce string, body []byte) []byte {
	h := sha256.Sum256(body)
	return []byte(method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(h[:]))
}

// PushApprovalMessage is what a device signs to approve a request: the
// challenge followed by the picked number in decimal.
func PushApprovalMessage(challenge []byte, number int) []byte {
	return append(append([]byte{}, challenge...), strconv.Itoa(number)...)
}

// Do sends a signed request (path with any query string).
func (d *Device) Do(ctx context.Context, method, path string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, d.BaseURL+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("nonce: %w", err)
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	n := base64.RawURLEncoding.EncodeToString(nonce)
	sig := ed25519.Sign(d.Key, DeviceRequestMessage(method, req.URL.RequestURI(), ts, n, raw))
	req.Header.Set("X-Coffer-Device", d.ID)
	req.Header.Set("X-Coffer-Timestamp", ts)
	req.Header.Set("X-Coffer-Nonce", n)
	req.Header.Set("X-Coffer-Signature", base64.RawURLEncoding.EncodeToString(sig))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return err
	}
	return decodeAnswer(resp, out)
}

// PushRequests returns the pending sign-in requests, waiting up to wait
// (at most 30 s) on the server for one to arrive.
func (d *Device) PushRequests(ctx context.Context, wait time.Duration) ([]PushPrompt, error) {
	var out struct {
		Requests []PushPrompt `json:"requests"`
	}
	path := "/api/v1/mfa/verify/requests?wait=" + strconv.Itoa(int(wait/time.Second))
	if err := d.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Requests, nil
}

// Approve answers p with the number the user picked, signing the
// challenge and number. A number other than the one on the sign-in
// screen denies the request.
func (d *Device) Approve(ctx context.Context, p PushPrompt, number int) error {
	challenge, err := base64.RawURLEncoding.DecodeString(p.Challenge)
	if err != nil {
		return fmt.Errorf("request %d: bad challenge: %w", p.ID, err)
	}
	sig := ed25519.Sign(d.Key, PushApprovalMessage(challenge, number))
	body := map[string]any{"number": number, "signature": base64.RawURLEncoding.EncodeToString(sig)}
	return d.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/mfa/verify/requests/%d/approve", p.ID), body, nil)
}

// Deny denies request id; notMe reports that the user did not try to
// sign in, which alerts them and their organisations' administrators.
func (d *Device) Deny(ctx context.Context, id int64, notMe bool) error {
	return d.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/mfa/verify/requests/%d/deny", id), map[string]bool{"not_me": notMe}, nil)
}
