package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KEK is a key-encryption key: the master key, wherever it lives. It only
// ever wraps and unwraps data keys; no record is encrypted with it directly.
type KEK interface {
	// ID names the key (and, for local keys, a fingerprint of it) so that a
	// data key wrapped by another master key is refused with a clear error
	// rather than failing as if it were tampered with.
	ID() string
	// Wrap encrypts a data key.
	Wrap(ctx context.Context, dek []byte) ([]byte, error)
	// Unwrap decrypts what Wrap returned; any failure is an error, never a
	// wrong key.
	Unwrap(ctx context.Context, wrapped []byte) ([]byte, error)
}

// EnvMasterKey is the environment variable of the env provider.
const EnvMasterKey = "COFFER_MASTER_KEY"

// HKDF labels of a local KEK (pinned by TestLocalKEKKnownAnswer).
const (
	infoWrapKey = "coffer keyring v2 kek aes-256-gcm wrap"
	infoKEKID   = "coffer keyring v2 kek id"
	wrapAAD     = "coffer data key"
)

// LocalKEK is a master key held in this process: read from the key file or
// from the environment. Data keys are wrapped with AES-256-GCM under a key
// derived from it, so the master key bytes are never used as a cipher key.
type LocalKEK struct {
	id   string
	aead cipher.AEAD
}

var _ KEK = (*LocalKEK)(nil)

// NewLocalKEK returns the KEK for a 32-byte master key. Its ID is
// "local:" and a fingerprint (HKDF output, not the key), identical whether
// the key came from the file or the environment.
func NewLocalKEK(master []byte) (*LocalKEK, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	wk, err := hkdf.Key(sha256.New, master, nil, infoWrapKey, 32)
	if err != nil {
		return nil, fmt.Errorf("derive wrapping key: %w", err)
	}
	fp, err := hkdf.Key(sha256.New, master, nil, infoKEKID, 8)
	if err != nil {
		return nil, fmt.Errorf("derive key id: %w", err)
	}
	block, err := aes.NewCipher(wk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &LocalKEK{id: "local:" + hex.EncodeToString(fp), aead: aead}, nil
}

// ID implements KEK.
func (k *LocalKEK) ID() string { return k.id }

// Wrap implements KEK: nonce (12) || AES-256-GCM(dek).
func (k *LocalKEK) Wrap(_ context.Context, dek []byte) ([]byte, error) {
	out := make([]byte, nonceLen, nonceLen+len(dek)+tagLen)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	return k.aead.Seal(out, out[:nonceLen], dek, []byte(wrapAAD)), nil
}

// Unwrap implements KEK.
func (k *LocalKEK) Unwrap(_ context.Context, wrapped []byte) ([]byte, error) {
	if len(wrapped) < nonceLen+tagLen {
		return nil, errors.New("unwrap data key: too short")
	}
	dek, err := k.aead.Open(nil, wrapped[:nonceLen], wrapped[nonceLen:], []byte(wrapAAD))
	if err != nil {
		return nil, errors.New("unwrap data key: authentication failed (wrong master key or damaged key row)")
	}
	return dek, nil
}

// MasterKeyFromEnv parses the env provider's key: 64 hex digits. The error
// never repeats the value.
func MasterKeyFromEnv(getenv func(string) string, name string) ([]byte, error) {
	v := getenv(name)
	if v == "" {
		return nil, fmt.Errorf("%s is not set: give the master key as 64 hex digits", name)
	}
	key, err := parseKeyFile([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return key, nil
}
