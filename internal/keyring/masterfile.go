package keyring

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
)

// ReadMasterKeyFile reads a master key file with the same checks as
// LoadOrCreateMasterKey, never creating one.
func ReadMasterKeyFile(path string) ([]byte, error) { return loadMasterKey(path) }

// NewMasterKey returns 32 random bytes.
func NewMasterKey() ([]byte, error) {
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	return key, nil
}

// WriteMasterKeyFile writes key to path (0600, synced, directory synced),
// failing if path exists: a key file is never overwritten in place.
func WriteMasterKeyFile(path string, key []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeKeyFile(tmp, key); err != nil {
		tmp.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		return fmt.Errorf("install master key: %w", err)
	}
	return SyncDir(dir)
}

// SyncDir makes renames and new files in dir durable.
func SyncDir(dir string) error { return syncDir(dir) }
