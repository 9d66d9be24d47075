// Package stream ships a live SQLite database to backup targets within
// seconds of each change, so it can be restored as it was at any moment of
// the retained period (point-in-time restore).
//
// It is the equivalent of WAL shipping without parsing the WAL: every
// interval, if another connection committed (PRAGMA data_version), the
// shipper takes a consistent image of the database through SQLite
// (sqlite3_serialize, which reads the pages inside a read transaction, WAL
// included) and ships the pages that differ from the previous image as an
// encrypted, timestamped delta segment. A generation starts with a full
// image (segment 0); restoring to a time takes the newest generation that
// began before it and applies its deltas up to that time.
//
// Objects on a target, under "stream/":
//
//	stream/<gen>/gen.json                      generation key (wrapped by the master key)
//	stream/<gen>/<seq:010d>-<unixnano:019d>.seg one segment; seq 0 is the full image
//
// The time in a segment's name is when its image was taken; restore needs
// no download to choose segments, and every segment is authenticated with
// its name as associated data, so a renamed, reordered or edited segment is
// refused.
package stream

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"coffer/internal/backup"
	"coffer/internal/keyring"
)

// Prefix is where streams live on a target.
const Prefix = "stream/"

// Options configure a Shipper.
type Options struct {
	// DB is a connection pool to the live database; the shipper keeps one
	// connection of it for itself.
	DB      *sql.DB
	Targets []backup.Target
	KEK     keyring.KEK
	// Interval between checks for changes (default 2 s).
	Interval time.Duration
	// Retain is how far back a restore must reach (default 7 days):
	// generations older than the oldest one still needed are deleted.
	Retain time.Duration
	Log    *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Shipper ships one database's changes.
type Shipper struct {
	o    Options
	conn *sql.Conn

	gen     string
	key     []byte
	seq     int64
	image   []byte // the last image every target acknowledged
	version int64  // data_version when image was taken
	// deltaBytes counts what this generation shipped after its base: once
	// it outgrows the base, a new generation starts (compaction).
	deltaBytes int64
	baseBytes  int64

	pending *segment
}

type segment struct {
	name  string
	base  bool
	data  []byte
	image []byte
	acked map[int]bool
}

// New returns a Shipper; Run or ShipOnce start its first generation.
func New(o Options) (*Shipper, error) {
	if o.DB == nil || o.KEK == nil || len(o.Targets) == 0 {
		return nil, errors.New("stream: a database, a master key and at least one target are needed")
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Retain <= 0 {
		o.Retain = 7 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Shipper{o: o}, nil
}

// Run ships until ctx ends, then ships once more so that what was
// committed before shutdown reaches the targets.
func (s *Shipper) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if _, err := s.ShipOnce(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Error("continuous backup: shipping failed; retrying", "err", err)
		}
		if now := s.o.Now(); now.Sub(lastPrune) > time.Hour {
			if err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.o.Log.Warn("continuous backup: pruning failed", "err", err)
			}
			lastPrune = now
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if _, err := s.ShipOnce(final); err != nil {
				s.o.Log.Error("continuous backup: final shipping failed", "err", err)
			}
			cancel()
			s.Close()
			return
		case <-t.C:
		}
	}
}

// Close releases the shipper's connection.
func (s *Shipper) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// ShipOnce ships what changed since the last call (or starts a generation)
// and reports whether a segment reached every target.
func (s *Shipper) ShipOnce(ctx context.Context) (bool, error) {
	if s.pending != nil {
		if err := s.put(ctx, s.pending); err != nil {
			return false, err
		}
		s.accept(s.pending)
	}
	if s.conn == nil {
		c, err := s.o.DB.Conn(ctx)
		if err != nil {
			return false, fmt.Errorf("stream: connection: %w", err)
		}
		s.conn = c
	}
	var version int64
	if err := s.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return false, fmt.Errorf("stream: data_version: %w", err)
	}
	if s.gen != "" && version == s.version {
		return false, nil
	}
	now := s.o.Now().UTC()
	img, err := s.serialize(ctx)
	if err != nil {
		return false, err
	}
	s.version = version
	var seg *segment
	if s.gen == "" || s.deltaBytes > s.baseBytes {
		if seg, err = s.newGeneration(ctx, img, now); err != nil {
			return false, err
		}
	} else {
		changed := diff(s.image, img)
		if len(changed) == 0 && len(img) == len(s.image) {
			return false, nil
		}
		seg, err = s.seal(deltaPayload(img, changed), s.seq+1, now, img)
		if err != nil {
			return false, err
		}
	}
	s.pending = seg
	if err := s.put(ctx, seg); err != nil {
		return false, err
	}
	s.accept(seg)
	return true, nil
}

func (s *Shipper) accept(seg *segment) {
	if !seg.base {
		s.deltaBytes += int64(len(seg.data))
	}
	s.image = seg.image
	s.seq++
	s.pending = nil
}

// serialize takes a consistent image of the database.
func (s *Shipper) serialize(ctx context.Context) ([]byte, error) {
	var img []byte
	err := s.conn.Raw(func(dc any) error {
		ser, ok := dc.(interface{ Serialize() ([]byte, error) })
		if !ok {
			return errors.New("the SQLite driver cannot serialize a database")
		}
		var err error
		img, err = ser.Serialize()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stream: image of the database: %w", err)
	}
	if len(img) < 100 {
		return nil, errors.New("stream: the database image is too short")
	}
	return img, nil
}

// genInfo is a generation's manifest.
type genInfo struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created_at"`
	KEKID   string    `json:"kek_id"`
	Wrapped []byte    `json:"wrapped_key"`
}

func (s *Shipper) newGeneration(ctx context.Context, img []byte, now time.Time) (*segment, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	wrapped, err := s.o.KEK.Wrap(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("stream: wrap the generation key: %w", err)
	}
	gen := now.Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])
	info, err := json.Marshal(genInfo{Format: 1, ID: gen, Created: now, KEKID: s.o.KEK.ID(), Wrapped: wrapped})
	if err != nil {
		return nil, err
	}
	for i, t := range s.o.Targets {
		if err := t.Put(ctx, Prefix+gen+"/gen.json", bytes.NewReader(info), int64(len(info))); err != nil {
			return nil, fmt.Errorf("stream: start generation on %s (target %d): %w", t.Name(), i+1, err)
		}
	}
	s.gen, s.key, s.seq, s.deltaBytes = gen, key, -1, 0
	seg, err := s.seal(basePayload(img), 0, now, img)
	if err != nil {
		return nil, err
	}
	s.baseBytes = int64(len(seg.data))
	return seg, nil
}

func (s *Shipper) put(ctx context.Context, seg *segment) error {
	var errs []error
	for i, t := range s.o.Targets {
		if seg.acked[i] {
			continue
		}
		if err := t.Put(ctx, seg.name, bytes.NewReader(seg.data), int64(len(seg.data))); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
			continue
		}
		seg.acked[i] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("stream: segment %s: %w", seg.name, errors.Join(errs...))
	}
	return nil
}

func segmentName(gen string, seq int64, at time.Time) string {
	return fmt.Sprintf("%s%s/%010d-%019d.seg", Prefix, gen, seq, at.UnixNano())
}

// seal compresses and encrypts a payload as segment seq of the current
// generation, bound to its name.
func (s *Shipper) seal(payload []byte, seq int64, at time.Time, img []byte) (*segment, error) {
	name := segmentName(s.gen, seq, at)
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(payload); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	aead, err := newAEAD(s.key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	data := aead.Seal(append([]byte(magic), nonce...), nonce, z.Bytes(), []byte(name))
	return &segment{name: name, base: seq == 0, data: data, image: img, acked: map[int]bool{}}, nil
}

const magic = "CFSTRM1\n"

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Payloads: a base is "B" + the image; a delta is "D" + the new size
// (uint64) + runs of (page offset uint64, length uint32, bytes).
func basePayload(img []byte) []byte {
	return append([]byte{'B'}, img...)
}

// run is a changed byte range of the image.
type run struct {
	off  int
	data []byte
}

// diff compares two images by 4 KiB blocks (SQLite's default page size,
// and a multiple of every smaller one) and returns the blocks of next
// that differ from prev or lie beyond its end.
func diff(prev, next []byte) []run {
	const block = 4096
	var out []run
	for off := 0; off < len(next); off += block {
		end := min(off+block, len(next))
		if end <= len(prev) && bytes.Equal(prev[off:end], next[off:end]) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].off+len(out[n-1].data) == off {
			out[n-1].data = next[out[n-1].off:end]
			continue
		}
		out = append(out, run{off: off, data: next[off:end]})
	}
	return out
}

func deltaPayload(img []byte, runs []run) []byte {
	var b bytes.Buffer
	b.WriteByte('D')
	binary.Write(&b, binary.BigEndian, uint64(len(img)))
	for _, r := range runs {
		binary.Write(&b, binary.BigEndian, uint64(r.off))
		binary.Write(&b, binary.BigEndian, uint32(len(r.data)))
		b.Write(r.data)
	}
	return b.Bytes()
}

// apply applies a decrypted payload to img.
func apply(img, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, errors.New("empty segment")
	}
	switch payload[0] {
	case 'B':
		return append([]byte(nil), payload[1:]...), nil
	case 'D':
		p := payload[1:]
		if len(p) < 8 {
			return nil, errors.New("delta segment too short")
		}
		size := binary.BigEndian.Uint64(p)
		if size > 1<<40 {
			return nil, errors.New("delta segment names an impossible size")
		}
		p = p[8:]
		out := make([]byte, size)
		copy(out, img)
		for len(p) > 0 {
			if len(p) < 12 {
				return nil, errors.New("delta segment truncated")
			}
			off, n := binary.BigEndian.Uint64(p), uint64(binary.BigEndian.Uint32(p[8:]))
			p = p[12:]
			if n > uint64(len(p)) || off > size || n > size-off {
				return nil, errors.New("delta segment out of bounds")
			}
			copy(out[off:], p[:n])
			p = p[n:]
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown segment kind %q", payload[0])
}

// Point is a range of moments a generation can restore to.
type Point struct {
	Generation string
	From, To   time.Time
	Segments   int
}

type segRef struct {
	name string
	seq  int64
	at   time.Time
}

// listGenerations reads the segment names on t, by generation.
func listGenerations(ctx context.Context, t backup.Target) (map[string][]segRef, error) {
	names, err := t.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("stream: list %s: %w", t.Name(), err)
	}
	gens := map[string][]segRef{}
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, Prefix)
		if !ok {
			continue
		}
		gen, file, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasSuffix(file, ".seg") {
			continue
		}
		seqS, atS, ok := strings.Cut(strings.TrimSuffix(file, ".seg"), "-")
		seq, err1 := strconv.ParseInt(seqS, 10, 64)
		ns, err2 := strconv.ParseInt(atS, 10, 64)
		if !ok || err1 != nil || err2 != nil || seq < 0 {
			continue
		}
		gens[gen] = append(gens[gen], segRef{name: n, seq: seq, at: time.Unix(0, ns).UTC()})
	}
	for g := range gens {
		sort.Slice(gens[g], func(i, j int) bool { return gens[g][i].seq < gens[g][j].seq })
	}
	return gens, nil
}

// Points lists what t can restore: one range per generation, from its
// base to its last segment.
func Points(ctx context.Context, t backup.Target) ([]Point, error) {
	gens, err := listGenerations(ctx, t)
	if err != nil {
		return nil, err
	}
	var out []Point
	for g, segs := range gens {
		if len(segs) == 0 || segs[0].seq != 0 {
			continue
		}
		out = append(out, Point{Generation: g, From: segs[0].at, To: segs[len(segs)-1].at, Segments: len(segs)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out, nil
}

// Restored says what a restore used.
type Restored struct {
	Generation string
	// At is when the last applied segment's image was taken: the restored
	// database is exactly as it was then.
	At       time.Time
	Segments int
	Image    []byte
}

// Restore rebuilds the database as it was at at (the newest image taken
// at or before it) from t, with the master key kek.
func Restore(ctx context.Context, t backup.Target, kek keyring.KEK, at time.Time) (*Restored, error) {
	gens, err := listGenerations(ctx, t)
	if err != nil {
		return nil, err
	}
	// The newest generation whose base was taken at or before at.
	best := ""
	for g, segs := range gens {
		if len(segs) == 0 || segs[0].seq != 0 || segs[0].at.After(at) {
			continue
		}
		if best == "" || segs[0].at.After(gens[best][0].at) {
			best = g
		}
	}
	if best == "" {
		return nil, fmt.Errorf("stream: %s has nothing to restore at %s (see the restore points)", t.Name(), at.UTC().Format(time.RFC3339))
	}
	key, err := genKey(ctx, t, kek, best)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	out := &Restored{Generation: best}
	var img []byte
	for i, sg := range gens[best] {
		if sg.at.After(at) {
			break
		}
		if sg.seq != int64(i) {
			return nil, fmt.Errorf("stream: generation %s lacks segment %d: the stream is incomplete before %s", best, i, sg.at.Format(time.RFC3339Nano))
		}
		payload, err := openSegment(ctx, t, aead, sg.name)
		if err != nil {
			return nil, err
		}
		if img, err = apply(img, payload); err != nil {
			return nil, fmt.Errorf("stream: segment %s: %w", sg.name, err)
		}
		out.At, out.Segments = sg.at, out.Segments+1
	}
	out.Image = img
	return out, nil
}

func genKey(ctx context.Context, t backup.Target, kek keyring.KEK, gen string) ([]byte, error) {
	rc, err := t.Get(ctx, Prefix+gen+"/gen.json")
	if err != nil {
		return nil, fmt.Errorf("stream: generation %s: %w", gen, err)
	}
	defer rc.Close()
	var info genInfo
	if err := json.NewDecoder(io.LimitReader(rc, 1<<16)).Decode(&info); err != nil || info.ID != gen || info.Format != 1 {
		return nil, fmt.Errorf("stream: generation %s: its manifest is not valid", gen)
	}
	if info.KEKID != kek.ID() {
		return nil, fmt.Errorf("stream: generation %s was made with master key %q, not %q: use the master key of the server that made it", gen, info.KEKID, kek.ID())
	}
	key, err := kek.Unwrap(ctx, info.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("stream: generation %s: the master key does not open it: %w", gen, err)
	}
	return key, nil
}

func openSegment(ctx context.Context, t backup.Target, aead cipher.AEAD, name string) ([]byte, error) {
	rc, err := t.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream: %s: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, 1<<34))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("stream: read %s: %w", name, err)
	}
	ns := aead.NonceSize()
	if len(data) < len(magic)+ns || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("stream: %s is not a Coffer stream segment", name)
	}
	nonce := data[len(magic) : len(magic)+ns]
	z, err := aead.Open(nil, nonce, data[len(magic)+ns:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("stream: %s fails authentication: it was altered, truncated or renamed", name)
	}
	payload, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 1<<40))
	if err != nil {
		return nil, fmt.Errorf("stream: %s: decompress: %w", name, err)
	}
	return payload, nil
}

// Prune deletes generations that no restore within Retain needs: every
// generation older than the newest one that began before the window.
func (s *Shipper) Prune(ctx context.Context) error {
	cut := s.o.Now().Add(-s.o.Retain)
	var errs []error
	for _, t := range s.o.Targets {
		gens, err := listGenerations(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keepFrom := time.Time{}
		for _, segs := range gens {
			if len(segs) > 0 && segs[0].seq == 0 && !segs[0].at.After(cut) && segs[0].at.After(keepFrom) {
				keepFrom = segs[0].at
			}
		}
		for g, segs := range gens {
			if g == s.gen || len(segs) == 0 || !segs[0].at.Before(keepFrom) {
				continue
			}
			for _, sg := range segs {
				if err := t.Delete(ctx, sg.name); err != nil {
					errs = append(errs, err)
				}
			}
			if err := t.Delete(ctx, Prefix+g+"/gen.json"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// RestoreTo restores the database as it was at at into dir (new or empty)
// as dir/coffer.db: written to a temporary file, synced, checked by SQLite,
// then renamed, so a failure leaves nothing that looks restored.
func RestoreTo(ctx context.Context, t backup.Target, kek keyring.KEK, at time.Time, dir string) (*Restored, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	} else if len(entries) > 0 {
		return nil, fmt.Errorf("restore: %s is not empty: restore into a new directory", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r, err := Restore(ctx, t, kek, at)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, ".restore-stream.db")
	defer os.Remove(tmp)
	if err := writeSynced(tmp, r.Image); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := integrityCheck(ctx, tmp); err != nil {
		return nil, fmt.Errorf("restore: the image of %s fails SQLite's integrity check: %w", r.At.Format(time.RFC3339Nano), err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, backup.DatabaseFile)); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r.Image = nil
	return r, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}
