package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"coffer/internal/errs"
)

// Envelope encryption: every organisation has its own data key (AES-256),
// stored in the database wrapped by the master key (a KEK). Values sealed
// with a data key use format version 2:
//
//	0x02 || data key id (uint32, big endian) || nonce (12) || AES-256-GCM ciphertext+tag
//
// with associated data header || the caller's aad. Format-1 values (sealed
// with the key derived from the master key, before data keys existed) still
// open until a rotation re-encrypts them.

// Errors of Envelope.Open beyond ErrUnknownKey and ErrDecrypt.
var (
	// ErrKeyDestroyed: the data key was crypto-shredded (rotated out or its
	// organisation deleted); the value can never be read again.
	ErrKeyDestroyed = errors.New("sealed with a destroyed data key")
	// ErrOtherOrg: the value was sealed with another organisation's data
	// key, so it was copied from a row it does not belong to.
	ErrOtherOrg = errors.New("sealed with another organisation's data key")
)

// Data key states.
const (
	StateActive    = "active"
	StateRetiring  = "retiring"
	StateDestroyed = "destroyed"
)

// PlatformOrg is the organisation id of the platform data key, which seals
// user-level secrets (TOTP seeds) that belong to no organisation.
const PlatformOrg int64 = 0

// RootOrg is the pseudo-organisation whose one "data key" is the root
// secret: the key that MACs and format-1 values are derived from. It is
// wrapped like a data key so that it follows the master key through
// rotations and provider changes; it is never used to seal values.
const RootOrg int64 = -1

const formatEnvelope = 2

// DataKey is one row of data_keys. Wrapped is the data key encrypted by the
// KEK named KEKID; it is zeros once the key is destroyed.
type DataKey struct {
	ID          int64
	OrgID       int64
	Version     int
	Wrapped     []byte
	KEKID       string
	State       string
	CreatedAt   time.Time
	DestroyedAt time.Time
}

// DataKeyStore persists data keys.
type DataKeyStore interface {
	// FindDataKeyByID returns a key in any state; ENOTFOUND if none.
	FindDataKeyByID(ctx context.Context, id int64) (*DataKey, error)
	// FindActiveDataKey returns the organisation's active key; ENOTFOUND
	// if it has none.
	FindActiveDataKey(ctx context.Context, orgID int64) (*DataKey, error)
	// CreateDataKey stores k as the organisation's active key (setting ID
	// and Version) unless it already has one, in which case it returns
	// that one: two processes creating a key at once agree on one.
	CreateDataKey(ctx context.Context, k *DataKey) (*DataKey, error)
}

// Cache lifetimes: how long a process trusts what it read about a key
// before reading the row again. A key destroyed by another process (the
// keys command, an organisation deletion) stops opening here within
// keyRecheck; a new active key is picked up within activeRecheck. The
// database refuses values sealed with a destroyed key, so a stale cache can
// cost a retried write, never a lost value.
const (
	activeRecheck = time.Second
	keyRecheck    = 2 * time.Second
)

type dataKey struct {
	id      uint32
	org     int64
	raw     []byte
	aead    cipher.AEAD
	state   string
	checked time.Time
}

type activeEntry struct {
	key     *dataKey
	checked time.Time
}

// Envelope seals and opens values with per-organisation data keys. It is
// safe for concurrent use.
type Envelope struct {
	kek    KEK
	store  DataKeyStore
	legacy *Keyring
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu     sync.Mutex
	keys   map[uint32]*dataKey
	active map[int64]activeEntry
}

// OpenEnvelope returns an Envelope over store's data keys, wrapped by kek.
// bootstrap is the root secret to install when the database has none yet:
// give the local master key so that format-1 values and MACs made before
// data keys existed keep working, or nil (Vault) for a fresh random one.
func OpenEnvelope(ctx context.Context, kek KEK, store DataKeyStore, bootstrap []byte) (*Envelope, error) {
	e := &Envelope{kek: kek, store: store, Now: time.Now, keys: make(map[uint32]*dataKey), active: make(map[int64]activeEntry)}
	root, err := store.FindActiveDataKey(ctx, RootOrg)
	if errs.Code(err) == errs.ENOTFOUND {
		secret := bootstrap
		if secret == nil {
			secret = make([]byte, MasterKeySize)
			if _, err := rand.Read(secret); err != nil {
				return nil, err
			}
		}
		root, err = e.create(ctx, RootOrg, secret)
	}
	if err != nil {
		return nil, fmt.Errorf("open keyring: root secret: %w", err)
	}
	secret, err := e.unwrap(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("open keyring: root secret: %w", err)
	}
	defer clear(secret)
	if e.legacy, err = New(secret); err != nil {
		return nil, err
	}
	return e, nil
}

// OpenLocal is OpenEnvelope for a local master key (file or environment),
// which is also the bootstrap root secret.
func OpenLocal(ctx context.Context, master []byte, store DataKeyStore) (*Envelope, error) {
	kek, err := NewLocalKEK(master)
	if err != nil {
		return nil, err
	}
	return OpenEnvelope(ctx, kek, store, master)
}

// KEK returns the key-encryption key in use.
func (e *Envelope) KEK() KEK { return e.kek }

func (e *Envelope) unwrap(ctx context.Context, k *DataKey) ([]byte, error) {
	if k.State == StateDestroyed {
		return nil, fmt.Errorf("data key %d: %w", k.ID, ErrKeyDestroyed)
	}
	if k.KEKID != e.kek.ID() {
		return nil, fmt.Errorf("data key %d is wrapped by master key %s, but the configured master key is %s: start with the right --master-key provider, or finish the master key rotation", k.ID, k.KEKID, e.kek.ID())
	}
	raw, err := e.kek.Unwrap(ctx, k.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("data key %d: %w", k.ID, err)
	}
	if len(raw) != 32 {
		clear(raw)
		return nil, fmt.Errorf("data key %d: unwrapped to %d bytes, want 32", k.ID, len(raw))
	}
	return raw, nil
}

// create makes (or, if another process won the race, finds) the
// organisation's active key, wrapping secret (random when nil).
func (e *Envelope) create(ctx context.Context, orgID int64, secret []byte) (*DataKey, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		defer clear(secret)
	}
	wrapped, err := e.kek.Wrap(ctx, secret)
	if err != nil {
		return nil, err
	}
	return e.store.CreateDataKey(ctx, &DataKey{OrgID: orgID, Wrapped: wrapped, KEKID: e.kek.ID(), State: StateActive, CreatedAt: e.Now().UTC()})
}

// load turns a row into a usable key and caches it.
func (e *Envelope) load(ctx context.Context, row *DataKey) (*dataKey, error) {
	if row.ID <= 0 || row.ID > 0xFFFFFFFF {
		return nil, fmt.Errorf("data key id %d out of range", row.ID)
	}
	id := uint32(row.ID)
	now := e.Now()
	e.mu.Lock()
	if k, ok := e.keys[id]; ok {
		k.state, k.checked = row.State, now
		e.mu.Unlock()
		return k, nil
	}
	e.mu.Unlock()
	raw, err := e.unwrap(ctx, row)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &dataKey{id: id, org: row.OrgID, raw: raw, aead: aead, state: row.State, checked: now}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.keys[id]; ok {
		clear(raw)
		return old, nil
	}
	e.keys[id] = k
	return k, nil
}

// activeKey returns the organisation's active key, creating it the first
// time.
func (e *Envelope) activeKey(ctx context.Context, orgID int64) (*dataKey, error) {
	if orgID < 0 {
		return nil, fmt.Errorf("organisation id %d: no data key", orgID)
	}
	e.mu.Lock()
	a, ok := e.active[orgID]
	e.mu.Unlock()
	if ok && e.Now().Sub(a.checked) < activeRecheck {
		return a.key, nil
	}
	row, err := e.store.FindActiveDataKey(ctx, orgID)
	if errs.Code(err) == errs.ENOTFOUND {
		row, err = e.create(ctx, orgID, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("data key of organisation %d: %w", orgID, err)
	}
	k, err := e.load(ctx, row)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.active[orgID] = activeEntry{key: k, checked: e.Now()}
	e.mu.Unlock()
	return k, nil
}

// keyByID returns the key a value names, re-reading its row when the cached
// state is older than keyRecheck.
func (e *Envelope) keyByID(ctx context.Context, id uint32) (*dataKey, error) {
	e.mu.Lock()
	k, ok := e.keys[id]
	fresh := ok && e.Now().Sub(k.checked) < keyRecheck
	e.mu.Unlock()
	if fresh {
		return k, nil
	}
	row, err := e.store.FindDataKeyByID(ctx, int64(id))
	if errs.Code(err) == errs.ENOTFOUND {
		return nil, fmt.Errorf("data key %d: %w", id, ErrUnknownKey)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %d: %w", id, err)
	}
	if row.State == StateDestroyed {
		e.Forget(id)
		return nil, fmt.Errorf("data key %d: %w", id, ErrKeyDestroyed)
	}
	return e.load(ctx, row)
}

// Forget wipes a key's bytes from memory and drops it from the cache; the
// key is destroyed or about to be. (The AES key schedule inside the cipher
// cannot be wiped from Go; it becomes garbage.)
func (e *Envelope) Forget(id uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.keys[id]; ok {
		clear(k.raw)
		delete(e.keys, id)
		for org, a := range e.active {
			if a.key == k {
				delete(e.active, org)
			}
		}
	}
}

// PrepareKey makes sure the organisation has an active data key and caches
// it. Call it before a store transaction inside which Seal runs: creating
// the key writes to the database, which would wait on that transaction.
func (e *Envelope) PrepareKey(ctx context.Context, orgID int64) error {
	_, err := e.activeKey(ctx, orgID)
	return err
}

// Seal encrypts plaintext under the organisation's active data key
// (PlatformOrg for user-level secrets) with a random 96-bit nonce, bound to
// aad (use OrgAAD or AAD). The data key is created on first use.
func (e *Envelope) Seal(ctx context.Context, orgID int64, plaintext, aad []byte) ([]byte, error) {
	k, err := e.activeKey(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return sealWith(k, plaintext, aad)
}

func envelopeHeader(id uint32) []byte {
	h := make([]byte, headerLen)
	h[0] = formatEnvelope
	binary.BigEndian.PutUint32(h[versionLen:], id)
	return h
}

func sealWith(k *dataKey, plaintext, aad []byte) ([]byte, error) {
	hdr := envelopeHeader(k.id)
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+tagLen)
	copy(out, hdr)
	nonce := out[headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, additionalData(hdr, aad)), nil
}

// Open authenticates and decrypts a value sealed for the organisation.
// Errors wrap ErrOtherOrg (the value names another organisation's key),
// ErrKeyDestroyed, ErrUnknownKey or ErrDecrypt (tampered, or moved to
// another row or column). Format-1 values open with the root secret.
func (e *Envelope) Open(ctx context.Context, orgID int64, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerLen {
		return nil, fmt.Errorf("open: %d bytes is too short: %w", len(sealed), ErrDecrypt)
	}
	switch sealed[0] {
	case formatVersion:
		return e.legacy.Open(sealed, aad)
	case formatEnvelope:
	default:
		return nil, fmt.Errorf("open: format version %d: %w", sealed[0], ErrUnknownKey)
	}
	id := binary.BigEndian.Uint32(sealed[versionLen:headerLen])
	k, err := e.keyByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if k.org != orgID {
		return nil, fmt.Errorf("open: data key %d belongs to organisation %d, not %d: %w", id, k.org, orgID, ErrOtherOrg)
	}
	if len(sealed) < overhead {
		return nil, fmt.Errorf("open: %d bytes is too short: %w", len(sealed), ErrDecrypt)
	}
	plaintext, err := k.aead.Open(nil, sealed[headerLen:headerLen+nonceLen], sealed[headerLen+nonceLen:], additionalData(sealed[:headerLen], aad))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrDecrypt)
	}
	return plaintext, nil
}

// MAC is Keyring.MAC under the root secret.
func (e *Envelope) MAC(purpose string, data []byte) []byte { return e.legacy.MAC(purpose, data) }

// SealedKeyID returns the format version and data key id of a sealed value
// (key id 1 with version 1 is the root-derived key).
func SealedKeyID(sealed []byte) (version byte, id uint32, ok bool) {
	if len(sealed) < headerLen {
		return 0, 0, false
	}
	return sealed[0], binary.BigEndian.Uint32(sealed[versionLen:headerLen]), true
}
