package backup_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"coffer/internal/backup"
)

// FuzzParseManifest: any bytes parse or fail cleanly, and whatever parses
// has the shape readers rely on.
func FuzzParseManifest(f *testing.F) {
	m := backup.Manifest{Format: 1, ID: "20260101T000000Z-abcdef", Compression: "gzip", PlaintextSize: 10, CiphertextSize: 40,
		SHA256: string(bytes.Repeat([]byte("a"), 64)), ChunkSize: 1024, KEKID: "local:00", WrappedKey: []byte{1}, MAC: make([]byte, 32)}
	f.Add(m.Marshal())
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := backup.ParseManifest("20260101T000000Z-abcdef", b)
		if err != nil {
			return
		}
		if got.ChunkSize < 1 || got.ChunkSize > 16<<20 || got.ID != "20260101T000000Z-abcdef" || len(got.MAC) != 32 {
			t.Fatalf("accepted %+v", got)
		}
	})
}

// FuzzDecryptReader: a stream that is not exactly what the writer wrote is
// refused, never accepted and never a panic; the writer's own output reads
// back.
func FuzzDecryptReader(f *testing.F) {
	key := make([]byte, 32)
	rand.Read(key)
	const id = "20260101T000000Z-abcdef"
	seal := func(p []byte) []byte {
		var buf bytes.Buffer
		w, _ := backup.NewEncryptWriter(&buf, key, id, 64)
		w.Write(p)
		w.Close()
		return buf.Bytes()
	}
	f.Add([]byte("hello"), uint16(0), byte(0))
	f.Add(bytes.Repeat([]byte("x"), 300), uint16(100), byte(1))
	f.Add(bytes.Repeat([]byte("y"), 128), uint16(79), byte(0))
	f.Fuzz(func(t *testing.T, plain []byte, pos uint16, flip byte) {
		ct := seal(plain)
		r, err := backup.NewDecryptReader(bytes.NewReader(ct), key, id, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: %v", err)
		}
		// Damage: flip a bit, or cut the stream.
		bad := append([]byte(nil), ct...)
		if flip != 0 && int(pos) < len(bad) {
			bad[pos] ^= flip
		} else if int(pos) < len(bad) {
			bad = bad[:pos]
		} else {
			return
		}
		r, _ = backup.NewDecryptReader(bytes.NewReader(bad), key, id, 64)
		if _, err := io.ReadAll(r); err == nil {
			t.Fatalf("damaged stream accepted (pos %d flip %#x)", pos, flip)
		}
	})
}
