package keyring

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// VaultKEK wraps data keys with HashiCorp Vault's (or OpenBao's) transit
// secrets engine: the master key never leaves Vault. Only the documented
// endpoints are used:
//
//	POST {addr}/v1/transit/encrypt/{name} {"plaintext": base64} → {"data":{"ciphertext":"vault:v1:…"}}
//	POST {addr}/v1/transit/decrypt/{name} {"ciphertext": "vault:v1:…"} → {"data":{"plaintext": base64}}
//
// with the token in the X-Vault-Token header. The token never appears in an
// error or a log line.
type VaultKEK struct {
	base   *url.URL
	token  string
	name   string
	client *http.Client
}

var _ KEK = (*VaultKEK)(nil)

// VaultTimeout bounds each call to Vault.
const VaultTimeout = 10 * time.Second

var vaultKeyName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// VaultConfig configures a VaultKEK. Addr, Token and KeyName are required;
// CACertFile (VAULT_CACERT) adds a CA to trust; Client replaces the HTTP
// client (tests).
type VaultConfig struct {
	Addr       string
	Token      string
	KeyName    string
	CACertFile string
	Client     *http.Client
}

// VaultConfigFromEnv reads VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT.
func VaultConfigFromEnv(getenv func(string) string, keyName string) VaultConfig {
	return VaultConfig{Addr: getenv("VAULT_ADDR"), Token: getenv("VAULT_TOKEN"), CACertFile: getenv("VAULT_CACERT"), KeyName: keyName}
}

// NewVaultKEK checks the configuration; it does not contact Vault. Plain
// http is accepted only for a loopback address (a dev server), since the
// token and data keys cross the wire.
func NewVaultKEK(c VaultConfig) (*VaultKEK, error) {
	var problems []error
	if c.Addr == "" {
		problems = append(problems, errors.New("VAULT_ADDR is not set"))
	}
	if c.Token == "" {
		problems = append(problems, errors.New("VAULT_TOKEN is not set"))
	}
	if !vaultKeyName.MatchString(c.KeyName) {
		problems = append(problems, fmt.Errorf("transit key name %q: use letters, digits, '.', '_' or '-'", c.KeyName))
	}
	var u *url.URL
	if c.Addr != "" {
		var err error
		u, err = url.Parse(c.Addr)
		switch {
		case err != nil || u.Host == "":
			problems = append(problems, fmt.Errorf("VAULT_ADDR %q: want https://HOST:PORT", c.Addr))
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			problems = append(problems, fmt.Errorf("VAULT_ADDR %q: use https (plain http only to a loopback dev server)", c.Addr))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("vault provider: %w", err)
	}
	client := c.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CACertFile != "" {
			pem, err := os.ReadFile(c.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("vault provider: VAULT_CACERT: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("vault provider: VAULT_CACERT %s holds no PEM certificate", c.CACertFile)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		client = &http.Client{Transport: tr, Timeout: VaultTimeout}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &VaultKEK{base: u, token: c.Token, name: c.KeyName, client: client}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ID implements KEK. Vault versions the transit key itself (the
// "vault:vN:" prefix), so the id is the key's name.
func (v *VaultKEK) ID() string { return "vault-transit:" + v.name }

// Wrap implements KEK.
func (v *VaultKEK) Wrap(ctx context.Context, dek []byte) ([]byte, error) {
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	if err := v.call(ctx, "encrypt", map[string]string{"plaintext": base64.StdEncoding.EncodeToString(dek)}, &out); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(out.Data.Ciphertext, "vault:v") {
		return nil, errors.New("vault transit encrypt: the answer has no vault:vN: ciphertext")
	}
	return []byte(out.Data.Ciphertext), nil
}

// Unwrap implements KEK.
func (v *VaultKEK) Unwrap(ctx context.Context, wrapped []byte) ([]byte, error) {
	if !bytes.HasPrefix(wrapped, []byte("vault:v")) {
		return nil, errors.New("vault transit decrypt: the stored data key is not a vault:vN: ciphertext")
	}
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := v.call(ctx, "decrypt", map[string]string{"ciphertext": string(wrapped)}, &out); err != nil {
		return nil, err
	}
	dek, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	if err != nil {
		return nil, errors.New("vault transit decrypt: the answer's plaintext is not base64")
	}
	return dek, nil
}

// call posts body to /v1/transit/{op}/{name}. Errors name the operation,
// the HTTP status and Vault's own messages; never the token or the body.
func (v *VaultKEK) call(ctx context.Context, op string, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, VaultTimeout)
	defer cancel()
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := *v.base
	u.Path += "/v1/transit/" + op + "/" + v.name
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("vault transit %s: %w", op, err)
	}
	req.Header.Set("X-Vault-Token", v.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		// *url.Error carries the URL, never headers: safe to wrap.
		return fmt.Errorf("vault transit %s: cannot reach Vault at %s: %w", op, v.base.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("vault transit %s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []string `json:"errors"`
		}
		msg := "no error message"
		if json.Unmarshal(data, &e) == nil && len(e.Errors) > 0 {
			msg = strings.Join(e.Errors, "; ")
		}
		hint := ""
		if resp.StatusCode == http.StatusForbidden {
			hint = " (check VAULT_TOKEN and its policy on transit/" + op + "/" + v.name + ")"
		}
		return fmt.Errorf("vault transit %s with key %q: HTTP %d: %s%s", op, v.name, resp.StatusCode, msg, hint)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vault transit %s: bad JSON answer", op)
	}
	return nil
}
