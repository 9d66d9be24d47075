// Package verify is the device side of Coffer Verify: the paired accounts
// (each with its own Ed25519 key and offline TOTP seed) kept in a state
// file encrypted at rest, the pairing link, and the HTTPS client that
// trusts the server's certificate.
package verify

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Account is one paired account on one server.
type Account struct {
	Server  string `json:"server"`
	Account string `json:"account"`
	Name    string `json:"name"`
	// DeviceID is the key id the server knows this device by.
	DeviceID string `json:"device_id"`
	// PrivateKey is the Ed25519 private key (seed and public key).
	PrivateKey []byte `json:"private_key"`
	// TOTPSecret (base32) gives offline codes.
	TOTPSecret string `json:"totp_secret"`
	// CAFile, when set at pairing, is the PEM file the server's
	// certificate is checked against.
	CAFile   string    `json:"ca_file,omitempty"`
	PairedAt time.Time `json:"paired_at"`
}

// Key returns the account's Ed25519 private key.
func (a *Account) Key() ed25519.PrivateKey { return ed25519.PrivateKey(a.PrivateKey) }

// State is everything in a store file.
type State struct {
	Accounts []*Account `json:"accounts"`
}

// Find returns the account matching email (any when email is "" and there
// is exactly one).
func (s *State) Find(email string) (*Account, error) {
	var match []*Account
	for _, a := range s.Accounts {
		if email == "" || strings.EqualFold(a.Account, email) {
			match = append(match, a)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0 && email == "":
		return nil, errors.New("no account is paired yet: run coffer verify pair URL")
	case len(match) == 0:
		return nil, fmt.Errorf("no paired account %s: run coffer verify list", email)
	default:
		return nil, errors.New("several accounts are paired: choose one with --account EMAIL")
	}
}

// KDF parameters of new store files (argon2id, RFC 9106's second
// recommended option). They are written into the file, so a file made
// with other parameters still opens.
const (
	kdfTime    = 3
	kdfMemory  = 64 * 1024 // KiB
	kdfThreads = 4
	// bounds on parameters read from a file, so a crafted file cannot
	// make opening it take unbounded memory or time.
	maxKDFTime   = 16
	maxKDFMemory = 1024 * 1024
)

// File layout: magic, version, argon2id time, memory (KiB), threads, salt,
// GCM nonce, then the sealed JSON. Everything before the ciphertext is the
// associated data, so no header byte can be changed unnoticed.
var magic = []byte("CVFY")

const (
	fileVersion = 1
	saltSize    = 16
	nonceSize   = 12
	headerSize  = 4 + 1 + 4 + 4 + 1 + saltSize + nonceSize
)

// ErrWrongPassphrase means the file did not decrypt: a wrong passphrase,
// or a damaged file.
var ErrWrongPassphrase = errors.New("the store could not be decrypted: wrong passphrase, or the file is damaged")

type header struct {
	time, memory uint32
	threads      uint8
	salt, nonce  []byte
}

func parseHeader(b []byte) (*header, error) {
	if len(b) < headerSize+16 || !bytes.Equal(b[:4], magic) {
		return nil, errors.New("not a Coffer Verify store file")
	}
	if b[4] != fileVersion {
		return nil, fmt.Errorf("store file version %d is not supported; update coffer", b[4])
	}
	h := &header{time: binary.BigEndian.Uint32(b[5:9]), memory: binary.BigEndian.Uint32(b[9:13]), threads: b[13]}
	if h.time < 1 || h.time > maxKDFTime || h.memory < 8*uint32(max(h.threads, 1)) || h.memory > maxKDFMemory || h.threads < 1 {
		return nil, errors.New("store file has key derivation parameters out of range")
	}
	h.salt = b[14 : 14+saltSize]
	h.nonce = b[14+saltSize : headerSize]
	return h, nil
}

func (h *header) bytes() []byte {
	b := append([]byte{}, magic...)
	b = append(b, fileVersion)
	b = binary.BigEndian.AppendUint32(b, h.time)
	b = binary.BigEndian.AppendUint32(b, h.memory)
	b = append(b, h.threads)
	b = append(b, h.salt...)
	return append(b, h.nonce...)
}

func (h *header) aead(passphrase []byte) (cipher.AEAD, error) {
	key := argon2.IDKey(passphrase, h.salt, h.time, h.memory, h.threads, 32)
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Decrypt opens the content of a store file.
func Decrypt(data, passphrase []byte) (*State, error) {
	h, err := parseHeader(data)
	if err != nil {
		return nil, err
	}
	gcm, err := h.aead(passphrase)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, h.nonce, data[headerSize:], data[:headerSize])
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	defer clear(plain)
	var st State
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, fmt.Errorf("store content: %w", err)
	}
	for _, a := range st.Accounts {
		if a == nil || len(a.PrivateKey) != ed25519.PrivateKeySize {
			return nil, errors.New("store content: an account has no valid key")
		}
	}
	return &st, nil
}

// Encrypt seals st with a key derived from passphrase under a new salt
// and nonce.
func Encrypt(st *State, passphrase []byte) ([]byte, error) {
	h := &header{time: kdfTime, memory: kdfMemory, threads: kdfThreads, salt: make([]byte, saltSize), nonce: make([]byte, nonceSize)}
	if _, err := rand.Read(h.salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(h.nonce); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	gcm, err := h.aead(passphrase)
	if err != nil {
		return nil, err
	}
	hdr := h.bytes()
	return gcm.Seal(hdr, h.nonce, plain, hdr), nil
}

// Load reads the store at path; a missing file is an empty store.
func Load(path string, passphrase []byte) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	st, err := Decrypt(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Save writes the store to path (mode 0600, directory 0700) through a
// temporary file and a rename: a crash leaves the old file or the new.
func Save(path string, st *State, passphrase []byte) error {
	data, err := Encrypt(st, passphrase)
	if err != nil {
		return fmt.Errorf("encrypt store: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create store directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write store: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	return nil
}

// DefaultStorePath is $XDG_CONFIG_HOME/coffer-verify/devices.enc, or
// ~/.config/coffer-verify/devices.enc.
func DefaultStorePath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "coffer-verify", "devices.enc"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", errors.New("no home directory: give the store with --store FILE")
		}
	}
	return filepath.Join(home, ".config", "coffer-verify", "devices.enc"), nil
}

// ParsePairingURL splits a pairing link https://HOST[:PORT]/verify/pair#TOKEN
// into the server's base URL and the token.
func ParsePairingURL(raw string) (server, token string, err error) {
	bad := errors.New("that is not a Coffer Verify pairing link: copy the whole link from Settings → Security → Coffer Verify (https://…/verify/pair#…)")
	raw = strings.TrimSpace(raw)
	if len(raw) > 2048 {
		return "", "", bad
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Opaque != "" {
		return "", "", bad
	}
	base, ok := strings.CutSuffix(u.Path, "/verify/pair")
	if !ok || strings.Contains(base, "//") {
		return "", "", bad
	}
	token = u.Fragment
	if len(token) != 43 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", "", bad
	}
	return "https://" + u.Host + base, token, nil
}

// HTTPClient returns a client for server that checks its certificate
// against the PEM file caFile, or the system roots when caFile is "".
// Verification is never skipped.
func HTTPClient(caFile string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: 45 * time.Second}, nil
}
