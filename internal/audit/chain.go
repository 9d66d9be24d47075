package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// HashSize is the size of an event hash (SHA-256).
const HashSize = sha256.Size

// Genesis is the prev_hash of a chain's first event.
var Genesis = make([]byte, HashSize)

// CheckpointEvery is how many events of a chain lie between two automatic
// signed checkpoints.
const CheckpointEvery = 100

// MAC purposes: each signature gets its own derived key, so a head's
// signature can never pass for a checkpoint's.
const (
	HeadPurpose       = "audit-chain-head"
	CheckpointPurpose = "audit-checkpoint"
)

// MACer signs with a key derived from the master key (keyring.Envelope).
type MACer interface {
	MAC(purpose string, data []byte) []byte
}

// encoder builds the canonical encoding: a version tag, then every field
// as an 8-byte big-endian length and its bytes (integers as 8 bytes), so
// that no two different field lists encode alike ("ab"+"c" vs "a"+"bc").
type encoder struct{ b []byte }

func newEncoder(tag string) *encoder {
	e := &encoder{b: make([]byte, 0, 256)}
	e.bytes([]byte(tag))
	return e
}

func (e *encoder) bytes(p []byte) {
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) str(s string) { e.bytes([]byte(s)) }

func (e *encoder) int(v int64) {
	e.b = binary.BigEndian.AppendUint64(e.b, 8)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(v))
}

// Seconds is how an event's time is stored and hashed: Unix seconds, 0 for
// the zero time.
func Seconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// Canonical returns the unambiguous encoding of e that its hash covers:
// chain, seq, time (seconds), user, subject, action, outcome, IP, user
// agent, detail and the previous event's hash. The row id is not covered:
// it is where the event is stored, not what it says.
func Canonical(e *Event) []byte {
	enc := newEncoder("coffer-audit-event-v1")
	enc.int(e.OrgID)
	enc.int(e.Seq)
	enc.int(Seconds(e.At))
	enc.int(e.UserID)
	enc.str(e.Subject)
	enc.str(e.Action)
	enc.str(e.Outcome)
	enc.str(e.IP)
	enc.str(e.UserAgent)
	enc.str(e.Detail)
	enc.bytes(e.PrevHash)
	return enc.b
}

// ComputeHash returns SHA-256 of e's canonical encoding.
func ComputeHash(e *Event) []byte {
	h := sha256.Sum256(Canonical(e))
	return h[:]
}

// Head is a chain's last event, as recorded beside the events and signed
// at every append, so that deleting the last events shows.
type Head struct {
	OrgID int64
	Seq   int64
	Hash  []byte
	// TamperedAt is the head's seq when an append found the head's
	// signature wrong (0: never): sticky, and covered by the signature.
	TamperedAt int64
	MAC        []byte
}

// HeadMessage is what a head's signature covers.
func HeadMessage(h *Head) []byte {
	enc := newEncoder("coffer-audit-head-v1")
	enc.int(h.OrgID)
	enc.int(h.Seq)
	enc.bytes(h.Hash)
	enc.int(h.TamperedAt)
	return enc.b
}

// SignHead sets h.MAC.
func SignHead(k MACer, h *Head) { h.MAC = k.MAC(HeadPurpose, HeadMessage(h)) }

// HeadValid reports whether h's signature is right.
func HeadValid(k MACer, h *Head) bool {
	return len(h.MAC) > 0 && hmac.Equal(h.MAC, k.MAC(HeadPurpose, HeadMessage(h)))
}

// Checkpoint is a signed statement that a chain had reached seq with hash
// at a moment.
type Checkpoint struct {
	ID    int64
	OrgID int64
	Seq   int64
	Hash  []byte
	At    time.Time
	MAC   []byte
}

// CheckpointMessage is what a checkpoint's signature covers.
func CheckpointMessage(c *Checkpoint) []byte {
	enc := newEncoder("coffer-audit-checkpoint-v1")
	enc.int(c.OrgID)
	enc.int(c.Seq)
	enc.bytes(c.Hash)
	enc.int(Seconds(c.At))
	return enc.b
}

// SignCheckpoint sets c.MAC.
func SignCheckpoint(k MACer, c *Checkpoint) {
	c.MAC = k.MAC(CheckpointPurpose, CheckpointMessage(c))
}

// CheckpointValid reports whether c's signature is right.
func CheckpointValid(k MACer, c *Checkpoint) bool {
	return len(c.MAC) > 0 && hmac.Equal(c.MAC, k.MAC(CheckpointPurpose, CheckpointMessage(c)))
}
