package audit

import (
	"bytes"
	"fmt"
)

// Link is what verification needs of one stored event: where it is, the
// hashes it carries, and whether its contents still hash to its Hash
// (computed by whoever reads the row, with ComputeHash).
type Link struct {
	ID        int64
	Seq       int64
	PrevHash  []byte
	Hash      []byte
	ContentOK bool
}

// NewLink returns e's link, checking its contents against its hash.
func NewLink(e *Event) Link {
	return Link{ID: e.ID, Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash, ContentOK: bytes.Equal(ComputeHash(e), e.Hash)}
}

// Problem is one thing wrong with a chain.
type Problem struct {
	OrgID   int64
	EventID int64 // 0 when the problem is not one row
	Seq     int64
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("chain org %d: %s", p.OrgID, p.Message)
}

func seqRange(a, b int64) string {
	if a == b {
		return fmt.Sprintf("seq %d", a)
	}
	return fmt.Sprintf("seq %d–%d", a, b)
}

// Verify checks one chain: links must be all the chain's stored events in
// (seq, id) order, head its head row (nil if there is none), checkpoints
// its checkpoints. It returns every problem found, in chain order; none
// means the chain is intact. Each tampering is named once where it can be
// told apart: an edited event (its contents no longer match its hash), an
// inserted one (its prev_hash does not match the event before it), a
// deleted run (a gap in seq, or an end short of the signed head), moved
// events (ids out of seq order), and signatures that do not match.
func Verify(orgID int64, links []Link, head *Head, checkpoints []*Checkpoint, k MACer) []Problem {
	var out []Problem
	add := func(id, seq int64, format string, args ...any) {
		out = append(out, Problem{OrgID: orgID, EventID: id, Seq: seq, Message: fmt.Sprintf(format, args...)})
	}

	// Rows without a place in the chain were never appended by Coffer.
	chained := links[:0:0]
	for _, l := range links {
		if l.Seq <= 0 {
			add(l.ID, l.Seq, "event id %d has no place in the chain (seq %d): inserted outside Coffer", l.ID, l.Seq)
			continue
		}
		chained = append(chained, l)
	}
	links = chained

	// First pass: the shape of the sequence — gaps, duplicates, moves.
	gapBefore := make([]bool, len(links))
	moved := make([]bool, len(links))
	dup := make([]bool, len(links))
	shape := make([][]Problem, len(links))
	note := func(i int, id, seq int64, format string, args ...any) {
		shape[i] = append(shape[i], Problem{OrgID: orgID, EventID: id, Seq: seq, Message: fmt.Sprintf(format, args...)})
	}
	for i, l := range links {
		if i == 0 {
			if l.Seq > 1 {
				gapBefore[i] = true
				note(i, l.ID, 1, "%s missing (deleted) before event id %d", seqRange(1, l.Seq-1), l.ID)
			}
			continue
		}
		p := links[i-1]
		switch {
		case l.Seq == p.Seq:
			dup[i] = true
			note(i, l.ID, l.Seq, "event id %d inserted (seq %d already belongs to event id %d)", l.ID, l.Seq, p.ID)
			continue
		case l.Seq > p.Seq+1:
			gapBefore[i] = true
			note(i, l.ID, p.Seq+1, "%s missing (deleted) between event ids %d and %d", seqRange(p.Seq+1, l.Seq-1), p.ID, l.ID)
		}
		// Coffer appends under the chain's head lock, so ids grow with seq.
		if l.ID < p.ID {
			moved[i], moved[i-1] = true, true
			note(i, l.ID, p.Seq, "events reordered at %s: event id %d comes after event id %d but was stored before it", seqRange(p.Seq, l.Seq), l.ID, p.ID)
		}
	}
	owner := make(map[string]int, len(links))
	for i, l := range links {
		owner[string(l.Hash)] = i
	}

	// Second pass: the hashes.
	prev := -1
	for i, l := range links {
		out = append(out, shape[i]...)
		if dup[i] {
			continue
		}
		want := Genesis
		if prev >= 0 {
			want = links[prev].Hash
		}
		linkOK := bytes.Equal(l.PrevHash, want)
		explained := gapBefore[i] || moved[i]
		if j, ok := owner[string(l.PrevHash)]; ok && moved[j] {
			explained = true
		}
		switch {
		case !linkOK && !explained:
			if prev >= 0 {
				add(l.ID, l.Seq, "event id %d (seq %d) inserted (its prev_hash does not match event id %d, seq %d)", l.ID, l.Seq, links[prev].ID, links[prev].Seq)
			} else {
				add(l.ID, l.Seq, "event id %d (seq %d) inserted (it starts the chain but its prev_hash is not the genesis hash)", l.ID, l.Seq)
			}
		case !l.ContentOK && !moved[i]:
			add(l.ID, l.Seq, "event id %d (seq %d) was edited (its contents no longer match its hash)", l.ID, l.Seq)
		}
		prev = i
	}

	// The signed head: catches a cut end, and a chain re-hashed wholesale.
	var last Link
	if len(links) > 0 {
		last = links[len(links)-1]
	}
	switch {
	case head == nil:
		if len(links) > 0 {
			add(0, last.Seq, "the chain head row is missing (deleted), so the chain's end cannot be checked")
		}
	default:
		headOK := HeadValid(k, head)
		if !headOK {
			add(0, head.Seq, "the chain head (seq %d) does not match its signature (altered)", head.Seq)
		}
		if head.TamperedAt > 0 {
			add(0, head.TamperedAt, "the chain head was found altered when event seq %d was appended", head.TamperedAt+1)
		}
		if !headOK {
			break
		}
		switch {
		case last.Seq < head.Seq:
			after := "at the start of the chain"
			if last.ID != 0 {
				after = fmt.Sprintf("after event id %d", last.ID)
			}
			add(0, last.Seq+1, "%s missing (deleted) at the end of the chain, %s (the signed head is at seq %d)", seqRange(last.Seq+1, head.Seq), after, head.Seq)
		case last.Seq > head.Seq:
			add(last.ID, head.Seq+1, "%s added outside Coffer (the signed head ends at seq %d)", seqRange(head.Seq+1, last.Seq), head.Seq)
		case head.Seq > 0 && !bytes.Equal(last.Hash, head.Hash):
			add(last.ID, last.Seq, "event id %d (seq %d) does not match the signed head (replaced)", last.ID, last.Seq)
		}
	}

	// Signed checkpoints.
	bySeq := make(map[int64]Link, len(links))
	for _, l := range links {
		if _, ok := bySeq[l.Seq]; !ok {
			bySeq[l.Seq] = l
		}
	}
	for _, c := range checkpoints {
		if !CheckpointValid(k, c) {
			add(0, c.Seq, "checkpoint at seq %d does not match (its signature is wrong: forged or altered)", c.Seq)
			continue
		}
		l, ok := bySeq[c.Seq]
		switch {
		case !ok:
			add(0, c.Seq, "checkpoint at seq %d does not match: the event at seq %d is missing (deleted)", c.Seq, c.Seq)
		case !bytes.Equal(l.Hash, c.Hash):
			add(l.ID, c.Seq, "checkpoint at seq %d does not match event id %d (the chain was rewritten up to there)", c.Seq, l.ID)
		}
	}
	return out
}
