package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// WebAuthnOptions are options for the browser's navigator.credentials
// (create or get): {"publicKey": {...}} with binary values in base64url.
type WebAuthnOptions struct {
	Options json.RawMessage `json:"options"`
	// ChallengeToken ties a passkey sign-in's answer to these options.
	ChallengeToken string `json:"challenge_token,omitempty"`
}

// WebAuthnFactor is a registered security key or passkey.
type WebAuthnFactor = Factor

// WebAuthnRegisterOptions starts registering a security key, or with
// passkey a passkey for sign-in without a password. The session needs a
// recent second factor.
func (c *Client) WebAuthnRegisterOptions(ctx context.Context, session, name string, passkey bool) (*WebAuthnOptions, error) {
	var out WebAuthnOptions
	body := map[string]any{"name": name, "passkey": passkey}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/webauthn/register/options", session, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebAuthnRegister sends the authenticator's answer (the browser's
// PublicKeyCredential as JSON) to the registration options.
func (c *Client) WebAuthnRegister(ctx context.Context, session, name string, credential json.RawMessage) (*WebAuthnFactor, error) {
	var out WebAuthnFactor
	body := map[string]any{"name": name, "credential": credential}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/webauthn/register", session, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebAuthnLoginOptions returns assertion options for the security keys of
// the user signing in with loginToken.
func (c *Client) WebAuthnLoginOptions(ctx context.Context, loginToken string) (*WebAuthnOptions, error) {
	var out WebAuthnOptions
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa/webauthn/options", "", map[string]string{"login_token": loginToken}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginWebAuthn completes a login with a security key's assertion.
func (c *Client) LoginWebAuthn(ctx context.Context, loginToken string, credential json.RawMessage) (*SessionResult, error) {
	var out SessionResult
	body := map[string]any{"login_token": loginToken, "method": "webauthn", "credential": credential}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa", "", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebAuthnStepUpOptions returns assertion options to step up a session.
func (c *Client) WebAuthnStepUpOptions(ctx context.Context, session string) (*WebAuthnOptions, error) {
	var out WebAuthnOptions
	if err := c.Do(ctx, http.MethodPost, "/api/v1/step-up/webauthn/options", session, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StepUpWebAuthn steps up a session with a security key's assertion.
func (c *Client) StepUpWebAuthn(ctx context.Context, session string, credential json.RawMessage) error {
	body := map[string]any{"method": "webauthn", "credential": credential}
	return c.Do(ctx, http.MethodPost, "/api/v1/step-up", session, body, nil)
}

// PasskeyOptions starts a passkey sign-in: options for any passkey of this
// site and the challenge token to send back with the answer.
func (c *Client) PasskeyOptions(ctx context.Context) (*WebAuthnOptions, error) {
	var out WebAuthnOptions
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/passkey/options", "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginPasskey signs in with a passkey's assertion, without a password.
func (c *Client) LoginPasskey(ctx context.Context, challengeToken string, credential json.RawMessage) (*SessionResult, error) {
	var out SessionResult
	body := map[string]any{"challenge_token": challengeToken, "credential": credential}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/login/passkey", "", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
