// Package keyring holds Coffer's encryption keys and seals data at rest with
// AES-256-GCM. The master key lives in a file outside the database; every
// key actually used is derived from it with HKDF-SHA256 under a distinct
// label, so no two purposes ever share a key and the master key itself never
// touches data.
//
// Sealed values carry a format version and a key id so that per-organisation
// data keys and key rotation can be added without rewriting existing rows.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by Open. Both mean the value cannot be trusted; they are
// kept apart because ErrUnknownKey after an upgrade or restore points at a
// missing key, while ErrDecrypt points at tampering or a misplaced value.
var (
	ErrUnknownKey = errors.New("sealed with an unknown format version or key id")
	ErrDecrypt    = errors.New("decryption failed: wrong key, tampered data or wrong associated data")
)

// Sealed value layout: version || key id || nonce || ciphertext+tag.
const (
	formatVersion = 1
	versionLen    = 1
	keyIDLen      = 4
	headerLen     = versionLen + keyIDLen
	nonceLen      = 12 // 96 bits, the GCM nonce size that needs no extra hashing
	tagLen        = 16
	overhead      = headerLen + nonceLen + tagLen

	// masterKeyID is the id of the one data key derived from the master
	// key. Later data keys (per organisation, rotated) get other ids.
	masterKeyID uint32 = 1
)

// HKDF info labels. Changing any of them makes every stored value
// unreadable; TestKnownAnswer pins them.
const (
	infoDataKey = "coffer keyring v1 aes-256-gcm data key "
	infoMAC     = "coffer keyring v1 hmac-sha256 purpose\x00"
)

// Keyring seals and opens values and computes MACs under keys derived from
// the master key. It is safe for concurrent use.
type Keyring struct {
	master  []byte
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// New returns a Keyring for a 32-byte master key. The key is copied, so the
// caller may wipe its slice.
func New(master []byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("new keyring: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	k := &Keyring{
		master:  append([]byte(nil), master...),
		current: masterKeyID,
		aeads:   make(map[uint32]cipher.AEAD),
	}
	aead, err := k.deriveAEAD(masterKeyID)
	if err != nil {
		return nil, fmt.Errorf("new keyring: %w", err)
	}
	k.aeads[masterKeyID] = aead
	return k, nil
}

func (k *Keyring) deriveAEAD(id uint32) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.master, nil, infoDataKey+strconv.FormatUint(uint64(id), 10), 32)
	if err != nil {
		return nil, fmt.Errorf("derive data key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("derive data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("derive data key: %w", err)
	}
	return aead, nil
}

// header returns the version and key id bytes. They are authenticated as
// part of the associated data, so a value cannot be relabelled to another
// key or format.
func header(id uint32) []byte {
	h := make([]byte, headerLen)
	h[0] = formatVersion
	binary.BigEndian.PutUint32(h[versionLen:], id)
	return h
}

// Seal encrypts plaintext with AES-256-GCM under the current data key and a
// random 96-bit nonce, binding it to aad (use AAD for database fields, so
// that a value copied to another row or column fails to open). The result is
// version (1) || key id (4, big endian) || nonce (12) || ciphertext+tag.
//
// Random nonces are safe for well under 2^32 seals per key; key rotation,
// which the key id prepares for, keeps each key far below that.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[k.current]
	hdr := header(k.current)
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+tagLen)
	copy(out, hdr)
	nonce := out[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, additionalData(hdr, aad)), nil
}

// Open authenticates and decrypts a value made by Seal with the same aad.
// It returns an error wrapping ErrUnknownKey when the format version or key
// id is not known to this keyring, and ErrDecrypt for anything else that
// fails: truncation, tampering, a different master key or a different aad.
// It never returns partial plaintext.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerLen {
		return nil, fmt.Errorf("open: %d bytes is too short: %w", len(sealed), ErrDecrypt)
	}
	if sealed[0] != formatVersion {
		return nil, fmt.Errorf("open: format version %d: %w", sealed[0], ErrUnknownKey)
	}
	id := binary.BigEndian.Uint32(sealed[versionLen:headerLen])
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("open: key id %d: %w", id, ErrUnknownKey)
	}
	if len(sealed) < overhead {
		return nil, fmt.Errorf("open: %d bytes is too short: %w", len(sealed), ErrDecrypt)
	}
	nonce := sealed[headerLen : headerLen+nonceLen]
	plaintext, err := aead.Open(nil, nonce, sealed[headerLen+nonceLen:], additionalData(sealed[:headerLen], aad))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrDecrypt)
	}
	return plaintext, nil
}

// additionalData prefixes the caller's aad with the fixed-length header, so
// the concatenation is unambiguous.
func additionalData(hdr, aad []byte) []byte {
	ad := make([]byte, 0, len(hdr)+len(aad))
	ad = append(ad, hdr...)
	return append(ad, aad...)
}

// MAC returns HMAC-SHA256 of data under a key derived for purpose (such as
// "device-cookie" or "session-token"). Distinct purposes get independent
// keys, so a MAC made for one can never be replayed as another. Compare MACs
// with hmac.Equal.
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	// hkdf.Key fails only for an output longer than 255 hash blocks.
	key, err := hkdf.Key(sha256.New, k.master, nil, infoMAC+purpose, sha256.Size)
	if err != nil {
		panic("keyring: derive mac key: " + err.Error())
	}
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// AAD returns the canonical associated data "table\x00column\x00id" that
// binds a sealed field to its row. table and column are identifiers from our
// own code and must not contain NUL.
func AAD(table, column string, id int64) []byte {
	b := make([]byte, 0, len(table)+len(column)+22)
	b = append(b, table...)
	b = append(b, 0)
	b = append(b, column...)
	b = append(b, 0)
	return strconv.AppendInt(b, id, 10)
}

// OrgAAD is AAD for a value that belongs to an organisation: moving the
// ciphertext to another organisation's row fails to decrypt, as does moving
// it to another row or column of the same one.
func OrgAAD(orgID int64, table, column string, id int64) []byte {
	b := strconv.AppendInt([]byte("org\x00"), orgID, 10)
	b = append(b, 0)
	return append(b, AAD(table, column, id)...)
}
