// Package client is a Go client for Coffer's JSON API (/api/v1), as an
// integrator would use it. Coffer's own end-to-end tests use it too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls one Coffer server. It is safe for concurrent use.
type Client struct {
	// BaseURL is like "https://localhost:8443".
	BaseURL string
	// HTTP is the underlying client; its cookie jar, if any, keeps the
	// device cookie that marks this client as known to an account.
	HTTP *http.Client
}

// New returns a client for baseURL using hc (http.DefaultClient if nil).
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: hc}
}

// Error is an error answer from the API.
type Error struct {
	Status     int
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter string
}

func (e *Error) Error() string {
	return fmt.Sprintf("coffer: %d %s: %s", e.Status, e.Code, e.Message)
}

// LoginResult is the answer to a correct email and password.
type LoginResult struct {
	Status     string   `json:"status"` // "mfa_required" or "mfa_enrollment_required"
	LoginToken string   `json:"login_token"`
	Methods    []string `json:"methods"`
}

// Enrollment is a new authenticator-app secret.
type Enrollment struct {
	Secret      string `json:"secret"`
	OtpauthURI  string `json:"otpauth_uri"`
	QRPNGBase64 string `json:"qr_png_base64"`
}

// Confirmation is the answer to a confirmed enrollment.
type Confirmation struct {
	RecoveryCodes []string   `json:"recovery_codes"`
	SessionToken  string     `json:"session_token"`
	ExpiresAt     *time.Time `json:"expires_at"`
}

// SessionResult is a new session.
type SessionResult struct {
	SessionToken string    `json:"session_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Me is the signed-in user.
type Me struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	IsAdmin     bool       `json:"is_admin"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	Session     struct {
		ExpiresAt time.Time `json:"expires_at"`
		MFAAt     time.Time `json:"mfa_at"`
	} `json:"session"`
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

// Do sends a request with an optional JSON body and bearer token and
// decodes a JSON answer into out (if non-nil). Non-2xx answers are *Error.
func (c *Client) Do(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	return decodeAnswer(resp, out)
}

// decodeAnswer reads an API answer: an *Error for a status outside 2xx,
// else the JSON body into out (when out is non-nil).
func decodeAnswer(resp *http.Response, out any) error {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var env struct {
			Error Error `json:"error"`
		}
		e := &Error{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
		if json.Unmarshal(data, &env) == nil {
			e.Code, e.Message = env.Error.Code, env.Error.Message
		}
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// Login sends email and password.
func (c *Client) Login(ctx context.Context, email, password string) (*LoginResult, error) {
	var out LoginResult
	err := c.Do(ctx, http.MethodPost, "/api/v1/login", "", map[string]string{"email": email, "password": password}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// EnrollTOTP starts authenticator-app enrollment (token: a login token at
// the enrollment stage, or a session token with a recent second factor).
func (c *Client) EnrollTOTP(ctx context.Context, token string) (*Enrollment, error) {
	var out Enrollment
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/totp/enroll", token, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ConfirmTOTP confirms enrollment with a code from the app.
func (c *Client) ConfirmTOTP(ctx context.Context, token, code string) (*Confirmation, error) {
	var out Confirmation
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/totp/confirm", token, map[string]string{"code": code}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginMFA completes a login with method "totp" or "recovery_code".
func (c *Client) LoginMFA(ctx context.Context, loginToken, method, code string) (*SessionResult, error) {
	var out SessionResult
	err := c.Do(ctx, http.MethodPost, "/api/v1/login/mfa", "", map[string]string{"login_token": loginToken, "method": method, "code": code}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Me returns the signed-in user.
func (c *Client) Me(ctx context.Context, session string) (*Me, error) {
	var out Me
	if err := c.Do(ctx, http.MethodGet, "/api/v1/me", session, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RegenerateRecoveryCodes replaces the recovery codes; it needs a current
// TOTP code.
func (c *Client) RegenerateRecoveryCodes(ctx context.Context, session, totpCode string) ([]string, error) {
	var out Confirmation
	if err := c.Do(ctx, http.MethodPost, "/api/v1/mfa/recovery-codes", session, map[string]string{"code": totpCode}, &out); err != nil {
		return nil, err
	}
	return out.RecoveryCodes, nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context, session string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/logout", session, nil, nil)
}

// LogoutAll ends every session of the user and returns how many ended.
func (c *Client) LogoutAll(ctx context.Context, session string) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	err := c.Do(ctx, http.MethodPost, "/api/v1/logout/all", session, nil, &out)
	return out.N, err
}
