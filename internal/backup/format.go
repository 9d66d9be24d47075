package backup

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// FormatVersion is the version of the backup format this package writes and
// reads.
const FormatVersion = 1

// Object names inside a backup's prefix. The manifest is written last: a
// backup without one is incomplete and never listed as a backup.
const (
	DataObject     = "data.cfb"
	ManifestObject = "manifest.json"
)

// DefaultChunkSize is the plaintext size of every chunk but the last.
const DefaultChunkSize = 64 << 10

// maxChunkSize bounds what a manifest may ask a reader to allocate.
const maxChunkSize = 16 << 20

// maxManifestSize bounds what is read as a manifest.
const maxManifestSize = 64 << 10

// HKDF labels and AAD prefix of format version 1 (pinned by
// TestFormatKnownLabels: changing one makes every backup unreadable).
const (
	infoChunkKey    = "coffer backup v1 chunk key"
	infoManifestKey = "coffer backup v1 manifest key"
	chunkAADPrefix  = "coffer backup v1 chunk"
	tagSize         = 16
	dataKeySize     = 32
)

// Errors a reader returns; the message of the wrapping error says where.
var (
	// ErrWrongKey: the backup was made under another master key, or the
	// master key could not unwrap its data key.
	ErrWrongKey = errors.New("wrong key")
	// ErrCorrupt: a chunk, the manifest or the object checksum does not
	// authenticate.
	ErrCorrupt = errors.New("corrupted")
	// ErrTruncated: the data ends before its final chunk.
	ErrTruncated = errors.New("truncated")
	// ErrForeign: the manifest belongs to another backup or format.
	ErrForeign = errors.New("foreign backup")
)

// idPattern is what NewID produces: UTC time and 6 hex digits.
var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// ValidID reports whether id has the form of a backup ID, so that a
// command-line argument never names a path outside the target's root.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// IDTime is the creation time encoded in a backup ID.
func IDTime(id string) (time.Time, error) {
	if !ValidID(id) {
		return time.Time{}, fmt.Errorf("%q is not a backup ID (like 20261125T160000Z-3f2a9c)", id)
	}
	return time.Parse("20060102T150405Z", id[:16])
}

// Manifest describes one backup. It is authenticated by MAC, an HMAC under a
// key derived from the backup's data key, over its canonical JSON (every
// field but MAC, in this order): an edited manifest is refused.
type Manifest struct {
	Format        int       `json:"format"`
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	SchemaVersion int       `json:"schema_version"`
	// Engine is the database the backup holds: EngineSQLite (a coffer.db
	// file; also when empty, as in backups made before PostgreSQL) or
	// EnginePostgres (a pg_dump custom-format archive).
	Engine      string `json:"engine,omitempty"`
	Compression string `json:"compression"`
	// PlaintextSize is the size of the database file.
	PlaintextSize int64 `json:"plaintext_size"`
	// CiphertextSize and SHA256 describe the data object as stored.
	CiphertextSize int64  `json:"ciphertext_size"`
	SHA256         string `json:"sha256"`
	ChunkSize      int    `json:"chunk_size"`
	// KEKID names the master key that wrapped WrappedKey.
	KEKID      string `json:"kek_id"`
	WrappedKey []byte `json:"wrapped_key"`
	MAC        []byte `json:"mac,omitempty"`
}

// canonical is the manifest's JSON without its MAC.
func (m Manifest) canonical() []byte {
	m.MAC = nil
	m.CreatedAt = m.CreatedAt.UTC()
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // cannot fail: plain fields
	}
	return b
}

func manifestMAC(dataKey []byte, m Manifest) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, dataKey, nil, infoManifestKey, 32)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, k)
	h.Write(m.canonical())
	return h.Sum(nil), nil
}

// Seal sets the manifest's MAC under dataKey.
func (m *Manifest) Seal(dataKey []byte) error {
	mac, err := manifestMAC(dataKey, *m)
	if err != nil {
		return err
	}
	m.MAC = mac
	return nil
}

// Authenticate checks the manifest's MAC under dataKey.
func (m Manifest) Authenticate(dataKey []byte) error {
	want, err := manifestMAC(dataKey, m)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, m.MAC) {
		return fmt.Errorf("manifest of %s: %w (edited or damaged)", m.ID, ErrCorrupt)
	}
	return nil
}

// Marshal encodes the manifest as stored.
func (m Manifest) Marshal() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// ParseManifest decodes and checks the shape of a stored manifest for the
// backup id (not its MAC: that needs the data key).
func ParseManifest(id string, b []byte) (*Manifest, error) {
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("manifest of %s: %w: larger than %d bytes", id, ErrCorrupt, maxManifestSize)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest of %s: %w: %v", id, ErrCorrupt, err)
	}
	var problems []string
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("manifest of %s: %w: format %d, this coffer reads format %d", id, ErrForeign, m.Format, FormatVersion)
	}
	if m.ID != id {
		return nil, fmt.Errorf("manifest of %s: %w: it describes backup %q", id, ErrForeign, m.ID)
	}
	if m.Engine != "" && m.Engine != EngineSQLite && m.Engine != EnginePostgres {
		problems = append(problems, fmt.Sprintf("engine %q", m.Engine))
	}
	if m.Compression != "gzip" {
		problems = append(problems, fmt.Sprintf("compression %q", m.Compression))
	}
	if m.ChunkSize < 1 || m.ChunkSize > maxChunkSize {
		problems = append(problems, fmt.Sprintf("chunk size %d", m.ChunkSize))
	}
	if m.CiphertextSize < tagSize || m.PlaintextSize < 0 {
		problems = append(problems, "sizes")
	}
	if len(m.SHA256) != 64 {
		problems = append(problems, "checksum")
	}
	if m.KEKID == "" || len(m.WrappedKey) == 0 || len(m.MAC) != sha256.Size {
		problems = append(problems, "key fields")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("manifest of %s: %w: bad %v", id, ErrCorrupt, problems)
	}
	return &m, nil
}

// chunkAEAD is the AES-256-GCM of a backup's chunks.
func chunkAEAD(dataKey []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, dataKey, nil, infoChunkKey, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// chunkNonce is the 96-bit big-endian chunk index: unique per chunk since
// every backup has its own random data key.
func chunkNonce(i uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], i)
	return n
}

// chunkAAD binds a chunk to its backup, its position and whether it is the
// last one, so that chunks cannot be moved, dropped, swapped between
// backups, or the stream cut at a chunk boundary.
func chunkAAD(id string, i uint64, final bool) []byte {
	a := make([]byte, 0, len(chunkAADPrefix)+1+len(id)+9)
	a = append(a, chunkAADPrefix...)
	a = append(a, 0)
	a = append(a, id...)
	a = binary.BigEndian.AppendUint64(a, i)
	if final {
		return append(a, 1)
	}
	return append(a, 0)
}

// EncryptWriter cuts what is written into chunks of ChunkSize bytes and
// writes each sealed to the underlying writer. Close seals the final chunk
// (possibly empty) and must be called.
type EncryptWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	id     string
	buf    []byte
	out    []byte
	size   int
	i      uint64
	closed bool
}

// NewEncryptWriter returns a writer sealing chunks of chunkSize plaintext
// bytes of backup id under dataKey.
func NewEncryptWriter(w io.Writer, dataKey []byte, id string, chunkSize int) (*EncryptWriter, error) {
	if chunkSize < 1 || chunkSize > maxChunkSize {
		return nil, fmt.Errorf("chunk size %d out of range", chunkSize)
	}
	aead, err := chunkAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	return &EncryptWriter{w: w, aead: aead, id: id, buf: make([]byte, 0, chunkSize), size: chunkSize, out: make([]byte, 0, chunkSize+tagSize)}, nil
}

// Write implements io.Writer. A full chunk is sealed only once more data
// follows, so the final chunk is known at Close.
func (e *EncryptWriter) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("backup: write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == e.size {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(e.buf[len(e.buf):e.size], p)
		e.buf = e.buf[:len(e.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (e *EncryptWriter) seal(final bool) error {
	e.out = e.aead.Seal(e.out[:0], chunkNonce(e.i), e.buf, chunkAAD(e.id, e.i, final))
	e.i++
	e.buf = e.buf[:0]
	_, err := e.w.Write(e.out)
	return err
}

// Close seals the final chunk.
func (e *EncryptWriter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.seal(true)
}

// DecryptReader opens the chunks EncryptWriter wrote and fails, naming the
// chunk, on any that does not authenticate, and with ErrTruncated when the
// stream ends without its final chunk.
type DecryptReader struct {
	r    *bufio.Reader
	aead cipher.AEAD
	id   string
	size int
	in   []byte
	pt   []byte
	buf  []byte
	off  int
	i    uint64
	done bool
	err  error
}

// NewDecryptReader reads backup id's chunks of chunkSize plaintext bytes.
func NewDecryptReader(r io.Reader, dataKey []byte, id string, chunkSize int) (*DecryptReader, error) {
	if chunkSize < 1 || chunkSize > maxChunkSize {
		return nil, fmt.Errorf("chunk size %d out of range", chunkSize)
	}
	aead, err := chunkAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	return &DecryptReader{r: bufio.NewReaderSize(r, 64<<10), aead: aead, id: id, size: chunkSize, in: make([]byte, chunkSize+tagSize), pt: make([]byte, 0, chunkSize)}, nil
}

// Chunks is how many chunks were opened so far.
func (d *DecryptReader) Chunks() uint64 { return d.i }

// Read implements io.Reader; io.EOF only after the final chunk opened.
func (d *DecryptReader) Read(p []byte) (int, error) {
	for d.off == len(d.buf) {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			// Bytes after the final chunk: appended to, or spliced.
			if _, err := d.r.Peek(1); err == nil {
				d.err = fmt.Errorf("data: %w: bytes after the final chunk %d", ErrCorrupt, d.i-1)
				return 0, d.err
			}
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.buf[d.off:])
	d.off += n
	return n, nil
}

func (d *DecryptReader) next() error {
	n, err := io.ReadFull(d.r, d.in)
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("data: %w: ends after chunk %d without the final chunk", ErrTruncated, int64(d.i)-1)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// A short chunk must be the last one.
	case err != nil:
		return fmt.Errorf("data: read chunk %d: %w", d.i, err)
	}
	final := n < len(d.in)
	if !final {
		if _, perr := d.r.Peek(1); perr == io.EOF {
			final = true
		} else if perr != nil {
			return fmt.Errorf("data: read chunk %d: %w", d.i+1, perr)
		}
	}
	if n < tagSize {
		return fmt.Errorf("data: %w: chunk %d is %d bytes, shorter than its tag", ErrTruncated, d.i, n)
	}
	pt, oerr := d.aead.Open(d.pt[:0], chunkNonce(d.i), d.in[:n], chunkAAD(d.id, d.i, final))
	if oerr != nil {
		if final {
			// A chunk that opens as non-final at the end: cut after it.
			if _, e2 := d.aead.Open(nil, chunkNonce(d.i), d.in[:n], chunkAAD(d.id, d.i, false)); e2 == nil {
				return fmt.Errorf("data: %w: ends after chunk %d without the final chunk", ErrTruncated, d.i)
			}
		}
		return fmt.Errorf("data: %w chunk %d (altered, missing or out of order)", ErrCorrupt, d.i)
	}
	d.buf, d.off = pt, 0
	d.i++
	d.done = final
	return nil
}
