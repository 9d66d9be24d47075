package audit_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"coffer/internal/audit"
	"coffer/internal/keyring"
)

// The keyring signs, as in production: two master keys.
var (
	key   = mustKeyring(1)
	other = mustKeyring(2)
	t0    = time.Date(2031, time.May, 6, 7, 8, 9, 0, time.UTC)
)

func mustKeyring(b byte) *keyring.Keyring {
	k, err := keyring.New(bytes.Repeat([]byte{b}, keyring.MasterKeySize))
	if err != nil {
		panic(err)
	}
	return k
}

func event(seq int64) *audit.Event {
	return &audit.Event{OrgID: 3, Seq: seq, At: t0.Add(time.Duration(seq) * time.Minute), UserID: 7, Subject: "a@example.com",
		Action: "login.password", Outcome: audit.Success, IP: "192.0.2.1", UserAgent: "UA", Detail: fmt.Sprintf("n=%d", seq)}
}

// chain builds n well-formed events with ids 10, 20, 30…, its signed head
// and a checkpoint at seq cp (0: none).
func chain(n int, cp int64) ([]*audit.Event, *audit.Head, []*audit.Checkpoint) {
	var evs []*audit.Event
	prev := audit.Genesis
	for i := 1; i <= n; i++ {
		e := event(int64(i))
		e.ID = int64(i * 10)
		e.PrevHash = prev
		e.Hash = audit.ComputeHash(e)
		prev = e.Hash
		evs = append(evs, e)
	}
	h := &audit.Head{OrgID: 3, Seq: int64(n), Hash: prev}
	if n == 0 {
		h.Hash = audit.Genesis
	}
	audit.SignHead(key, h)
	var cps []*audit.Checkpoint
	if cp > 0 {
		c := &audit.Checkpoint{OrgID: 3, Seq: cp, Hash: evs[cp-1].Hash, At: t0}
		audit.SignCheckpoint(key, c)
		cps = append(cps, c)
	}
	return evs, h, cps
}

func links(evs []*audit.Event) []audit.Link {
	var out []audit.Link
	for _, e := range evs {
		out = append(out, audit.NewLink(e))
	}
	return out
}

func TestCanonical(t *testing.T) {
	base := event(4)
	base.PrevHash = audit.Genesis
	tests := []struct {
		name   string
		change func(e *audit.Event)
	}{
		{"org", func(e *audit.Event) { e.OrgID = 4 }},
		{"seq", func(e *audit.Event) { e.Seq = 5 }},
		{"time", func(e *audit.Event) { e.At = e.At.Add(time.Second) }},
		{"user", func(e *audit.Event) { e.UserID = 8 }},
		{"subject", func(e *audit.Event) { e.Subject = "b@example.com" }},
		{"action", func(e *audit.Event) { e.Action = "login.mfa" }},
		{"outcome", func(e *audit.Event) { e.Outcome = audit.Failure }},
		{"ip", func(e *audit.Event) { e.IP = "192.0.2.2" }},
		{"user agent", func(e *audit.Event) { e.UserAgent = "UB" }},
		{"detail", func(e *audit.Event) { e.Detail = "n=5" }},
		{"prev hash", func(e *audit.Event) { e.PrevHash = bytes.Repeat([]byte{1}, 32) }},
		// Moving bytes from one field to the next must change the hash.
		{"field boundary", func(e *audit.Event) { e.Subject, e.Action = e.Subject+"l", e.Action[1:] }},
		{"empty vs absent", func(e *audit.Event) { e.IP, e.UserAgent = "", e.IP+e.UserAgent }},
	}
	want := audit.ComputeHash(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *base
			tt.change(&e)
			if bytes.Equal(audit.ComputeHash(&e), want) {
				t.Fatalf("changing %s left the hash unchanged", tt.name)
			}
		})
	}
	t.Run("ID not covered", func(t *testing.T) {
		e := *base
		e.ID = 99
		if !bytes.Equal(audit.ComputeHash(&e), want) {
			t.Fatal("the row id changed the hash")
		}
	})
	t.Run("sub-second time ignored", func(t *testing.T) {
		e := *base
		e.At = e.At.Add(300 * time.Millisecond)
		if !bytes.Equal(audit.ComputeHash(&e), want) {
			t.Fatal("stored times are seconds; the hash must be too")
		}
	})
}

func TestSignatures(t *testing.T) {
	h := &audit.Head{OrgID: 1, Seq: 5, Hash: audit.Genesis}
	audit.SignHead(key, h)
	c := &audit.Checkpoint{OrgID: 1, Seq: 5, Hash: audit.Genesis, At: t0}
	audit.SignCheckpoint(key, c)
	tests := []struct {
		name string
		ok   bool
	}{
		{"head", audit.HeadValid(key, h)},
		{"checkpoint", audit.CheckpointValid(key, c)},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: a fresh signature does not verify", tt.name)
		}
	}
	bad := []struct {
		name string
		ok   bool
	}{
		{"head other key", audit.HeadValid(other, h)},
		{"head moved", audit.HeadValid(key, &audit.Head{OrgID: 1, Seq: 4, Hash: audit.Genesis, MAC: h.MAC})},
		{"head tamper flag cleared", func() bool {
			f := &audit.Head{OrgID: 1, Seq: 5, Hash: audit.Genesis, TamperedAt: 3}
			audit.SignHead(key, f)
			f.TamperedAt = 0
			return audit.HeadValid(key, f)
		}()},
		{"head unsigned", audit.HeadValid(key, &audit.Head{OrgID: 1, Seq: 5, Hash: audit.Genesis})},
		{"checkpoint other org", audit.CheckpointValid(key, &audit.Checkpoint{OrgID: 2, Seq: 5, Hash: audit.Genesis, At: t0, MAC: c.MAC})},
		{"checkpoint other time", audit.CheckpointValid(key, &audit.Checkpoint{OrgID: 1, Seq: 5, Hash: audit.Genesis, At: t0.Add(time.Second), MAC: c.MAC})},
		// A head signature is not a checkpoint signature.
		{"head as checkpoint", audit.CheckpointValid(key, &audit.Checkpoint{OrgID: 1, Seq: 5, Hash: audit.Genesis, MAC: h.MAC})},
	}
	for _, tt := range bad {
		if tt.ok {
			t.Errorf("%s: verified", tt.name)
		}
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		cp     int64
		tamper func(evs []*audit.Event, h *audit.Head, cps []*audit.Checkpoint) ([]*audit.Event, *audit.Head)
		want   []string // every problem, in order
	}{
		{name: "intact", n: 30, cp: 20},
		{name: "empty chain with fresh head", n: 0},
		{
			name: "edited", n: 30, cp: 20,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				evs[11].Detail = "n=999"
				return evs, h
			},
			want: []string{"chain org 3: event id 120 (seq 12) was edited (its contents no longer match its hash)"},
		},
		{
			name: "deleted in the middle", n: 30,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return append(evs[:12:12], evs[14:]...), h
			},
			want: []string{"chain org 3: seq 13–14 missing (deleted) between event ids 120 and 150"},
		},
		{
			name: "deleted at the start", n: 5,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return evs[1:], h
			},
			want: []string{"chain org 3: seq 1 missing (deleted) before event id 20"},
		},
		{
			name: "last deleted", n: 30,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return evs[:28], h
			},
			want: []string{"chain org 3: seq 29–30 missing (deleted) at the end of the chain, after event id 280 (the signed head is at seq 30)"},
		},
		{
			name: "last deleted and head rewritten", n: 30, cp: 20,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return evs[:28], &audit.Head{OrgID: 3, Seq: 28, Hash: evs[27].Hash, MAC: h.MAC}
			},
			want: []string{"chain org 3: the chain head (seq 28) does not match its signature (altered)"},
		},
		{
			name: "all deleted", n: 30, cp: 20,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return nil, h
			},
			want: []string{
				"chain org 3: seq 1–30 missing (deleted) at the end of the chain, at the start of the chain (the signed head is at seq 30)",
				"chain org 3: checkpoint at seq 20 does not match: the event at seq 20 is missing (deleted)",
			},
		},
		{
			name: "head row deleted", n: 3,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				return evs, nil
			},
			want: []string{"chain org 3: the chain head row is missing (deleted), so the chain's end cannot be checked"},
		},
		{
			name: "inserted with a made-up prev hash", n: 30,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				e := event(31)
				e.ID, e.PrevHash = 800, bytes.Repeat([]byte{7}, 32)
				e.Hash = audit.ComputeHash(e)
				return append(evs, e), h
			},
			want: []string{
				"chain org 3: event id 800 (seq 31) inserted (its prev_hash does not match event id 300, seq 30)",
				"chain org 3: seq 31 added outside Coffer (the signed head ends at seq 30)",
			},
		},
		{
			name: "inserted well-formed at the end", n: 30,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				e := event(31)
				e.ID, e.PrevHash = 800, evs[29].Hash
				e.Hash = audit.ComputeHash(e)
				return append(evs, e), h
			},
			want: []string{"chain org 3: seq 31 added outside Coffer (the signed head ends at seq 30)"},
		},
		{
			name: "duplicate seq", n: 5,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				e := *evs[2]
				e.ID = 35
				return append(evs[:3:3], append([]*audit.Event{&e}, evs[3:]...)...), h
			},
			want: []string{"chain org 3: event id 35 inserted (seq 3 already belongs to event id 30)"},
		},
		{
			name: "reordered", n: 30,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				// Rows at seq 20 and 21 swap places (their seq values).
				evs[19].Seq, evs[20].Seq = 21, 20
				evs[19], evs[20] = evs[20], evs[19]
				return evs, h
			},
			want: []string{"chain org 3: events reordered at seq 20–21: event id 200 comes after event id 210 but was stored before it"},
		},
		{
			name: "rewritten and re-hashed", n: 30, cp: 20,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				evs[4].Detail = "n=999"
				prev := evs[3].Hash
				for _, e := range evs[4:] {
					e.PrevHash = prev
					e.Hash = audit.ComputeHash(e)
					prev = e.Hash
				}
				return evs, &audit.Head{OrgID: 3, Seq: 30, Hash: prev, MAC: h.MAC}
			},
			want: []string{
				"chain org 3: the chain head (seq 30) does not match its signature (altered)",
				"chain org 3: checkpoint at seq 20 does not match event id 200 (the chain was rewritten up to there)",
			},
		},
		{
			name: "checkpoint forged", n: 30, cp: 20,
			tamper: func(evs []*audit.Event, h *audit.Head, cps []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				cps[0].Hash = evs[18].Hash
				return evs, h
			},
			want: []string{"chain org 3: checkpoint at seq 20 does not match (its signature is wrong: forged or altered)"},
		},
		{
			name: "head tampering recorded", n: 3,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				h.TamperedAt = 2
				audit.SignHead(key, h)
				return evs, h
			},
			want: []string{"chain org 3: the chain head was found altered when event seq 3 was appended"},
		},
		{
			name: "row outside any chain", n: 3,
			tamper: func(evs []*audit.Event, h *audit.Head, _ []*audit.Checkpoint) ([]*audit.Event, *audit.Head) {
				e := event(0)
				e.ID = 5
				return append([]*audit.Event{e}, evs...), h
			},
			want: []string{"chain org 3: event id 5 has no place in the chain (seq 0): inserted outside Coffer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, h, cps := chain(tt.n, tt.cp)
			if tt.tamper != nil {
				evs, h = tt.tamper(evs, h, cps)
			}
			var got []string
			for _, p := range audit.Verify(3, links(evs), h, cps, key) {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	t.Run("other key", func(t *testing.T) {
		evs, h, cps := chain(30, 20)
		if got := audit.Verify(3, links(evs), h, cps, other); len(got) != 2 {
			t.Fatalf("verifying with another master key: %v; want the head and the checkpoint refused", got)
		}
	})
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name string
		f    audit.Filter
		want string // "" valid
	}{
		{"empty", audit.Filter{}, ""},
		{"full", audit.Filter{ActionPrefix: "login", UserID: 3, Outcome: audit.Failure, From: t0, To: t0.Add(time.Hour), Limit: 500, Offset: 10}, ""},
		{"outcome", audit.Filter{Outcome: "maybe"}, "outcome must be success or failure"},
		{"dates", audit.Filter{From: t0, To: t0}, "the start date must be before the end date"},
		{"limit", audit.Filter{Limit: 501}, "limit must be between 1 and 500"},
		{"offset", audit.Filter{Offset: -1}, "offset must not be negative"},
		{"all at once", audit.Filter{Outcome: "x", Offset: -1}, "outcome must be success or failure; offset must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want %q", err, tt.want)
			}
		})
	}
}

// FuzzCanonical checks that the encoding is unambiguous: two events encode
// alike only if they are the same event.
func FuzzCanonical(f *testing.F) {
	f.Add(int64(1), int64(2), "a", "bc", "d", "", []byte{1}, int64(1), int64(2), "ab", "c", "d", "", []byte{1})
	f.Add(int64(0), int64(0), "", "", "", "", []byte{}, int64(0), int64(0), "", "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, org1, seq1 int64, s1, a1, d1, ip1 string, p1 []byte, org2, seq2 int64, s2, a2, d2, ip2 string, p2 []byte) {
		e1 := &audit.Event{OrgID: org1, Seq: seq1, Subject: s1, Action: a1, Detail: d1, IP: ip1, PrevHash: p1}
		e2 := &audit.Event{OrgID: org2, Seq: seq2, Subject: s2, Action: a2, Detail: d2, IP: ip2, PrevHash: p2}
		same := org1 == org2 && seq1 == seq2 && s1 == s2 && a1 == a2 && d1 == d2 && ip1 == ip2 && bytes.Equal(p1, p2)
		if got := bytes.Equal(audit.Canonical(e1), audit.Canonical(e2)); got != same {
			t.Fatalf("encodings equal %v for events equal %v:\n%+v\n%+v", got, same, e1, e2)
		}
	})
}
