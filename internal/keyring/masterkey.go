package keyring

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileName is the master key's file name inside the data directory.
const KeyFileName = "master.key"

// MasterKeySize is the length of the master key in bytes (256 bits).
const MasterKeySize = 32

// maxKeyFileSize bounds what is read from the key file: a wrong file
// (say a database pointed at by mistake) should be refused, not loaded.
const maxKeyFileSize = 1024

// LoadOrCreateMasterKey returns the master key stored hex-encoded in path,
// creating the file with a fresh random key if it does not exist; created
// reports which happened so the caller can tell the operator to back it up.
//
// It refuses a file that group or others may access, that is not a regular
// file, or that does not hold exactly 32 hex-encoded bytes; the error says
// which. A new key is written to a temporary file, synced, and then linked
// into place, which fails if the name exists, so two processes starting at
// once agree on one key and a crash never leaves a half-written key file.
func LoadOrCreateMasterKey(path string) (key []byte, created bool, err error) {
	key, err = loadMasterKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key, err = createMasterKey(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our open and our link.
		key, err = loadMasterKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

func loadMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open master key: %w", err)
	}
	defer f.Close()

	// Stat the open file, not the path, so that the checks apply to the
	// bytes actually read (a symlink, as Kubernetes secrets use, is followed).
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key %s has permissions %04o, which let group or others read it; run chmod 600 on it", path, perm)
	}
	if fi.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("master key %s is %d bytes: wrong length, want %d hex digits and a newline", path, fi.Size(), 2*MasterKeySize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	key, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	return key, nil
}

// parseKeyFile accepts the hex key with or without its trailing newline, so
// a key written by hand with `openssl rand -hex 32 > master.key` or with
// `printf` both work.
func parseKeyFile(data []byte) ([]byte, error) {
	text := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(text) != 2*MasterKeySize {
		return nil, fmt.Errorf("wrong length: %d characters, want %d hex digits", len(text), 2*MasterKeySize)
	}
	key := make([]byte, MasterKeySize)
	if _, err := hex.Decode(key, text); err != nil {
		return nil, errors.New("bad hex: the file must hold only hex digits")
	}
	// An all-zero key is what a truncated or zero-filled file (a failed
	// disk, a botched copy) yields; encrypting with it would be silent.
	if subtle.ConstantTimeCompare(key, make([]byte, MasterKeySize)) == 1 {
		return nil, errors.New("key is all zeros")
	}
	return key, nil
}

func createMasterKey(path string) ([]byte, error) {
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	dir := filepath.Dir(path)

	// CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create master key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)

	if err := writeKeyFile(tmp, key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write master key: %w", err)
	}
	// Link, unlike rename, fails if path exists: never replace a key that
	// data may already be encrypted under.
	if err := os.Link(tmpName, path); err != nil {
		return nil, fmt.Errorf("install master key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("install master key: %w", err)
	}
	return key, nil
}

func writeKeyFile(f *os.File, key []byte) error {
	// Umask can only remove bits, but be explicit: the loader refuses
	// anything looser than 0600.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	buf := make([]byte, 2*len(key)+1)
	hex.Encode(buf, key)
	buf[len(buf)-1] = '\n'
	if _, err := f.Write(buf); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes the new directory entry durable: without it a crash after
// first start could lose the key file while data encrypted under it survives.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
