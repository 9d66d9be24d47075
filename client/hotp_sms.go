package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// RegisterHOTP adds a hardware token by its secret (hex, base32 or a
// seed-file line "SERIAL HEXSECRET") and two consecutive codes. The session
// needs a second factor verified in the last few minutes.
func (c *Client) RegisterHOTP(ctx context.Context, session, name, secret, code1, code2 string) (*Factor, error) {
	var out Factor
	body := map[string]string{"name": name, "secret": secret, "code1": code1, "code2": code2}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/hotp/register", session, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResyncHOTP brings a drifted token's counter forward with two
// consecutive codes.
func (c *Client) ResyncHOTP(ctx context.Context, session string, factorID int64, code1, code2 string) error {
	return c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/mfa/hotp/%d/resync", factorID), session, map[string]string{"code1": code1, "code2": code2}, nil)
}

// SMSSent says where a code went.
type SMSSent struct {
	FactorID  int64     `json:"factor_id"`
	SentTo    string    `json:"sent_to"` // e.g. "•• 42"
	Channel   string    `json:"channel"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RegisterSMS adds a phone (E.164, e.g. "+44 7700 900123") and sends it a
// code by channel "sms" or "voice"; ConfirmSMS finishes. The session needs
// a recent second factor.
func (c *Client) RegisterSMS(ctx context.Context, session, phone, name, channel string) (*SMSSent, error) {
	var out SMSSent
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/sms/register", session, map[string]string{"phone": phone, "name": name, "channel": channel}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ConfirmSMS confirms the phone being added with the code sent to it.
func (c *Client) ConfirmSMS(ctx context.Context, session, code string) (*Factor, error) {
	var out Factor
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/sms/confirm", session, map[string]string{"code": code}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SendLoginSMS sends a sign-in code for a pending login to the user's
// phone (factorID 0: the first one) by channel "sms" or "voice".
func (c *Client) SendLoginSMS(ctx context.Context, loginToken, channel string, factorID int64) (*SMSSent, error) {
	var out SMSSent
	body := map[string]any{"login_token": loginToken, "channel": channel, "factor_id": factorID}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa/sms/send", "", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SendStepUpSMS sends a step-up code to the signed-in user's phone.
func (c *Client) SendStepUpSMS(ctx context.Context, session, channel string, factorID int64) (*SMSSent, error) {
	var out SMSSent
	if err := c.Do(ctx, http.MethodPost, "/api/v1/step-up/sms/send", session, map[string]any{"channel": channel, "factor_id": factorID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
