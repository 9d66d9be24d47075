package stream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/backup"
	"coffer/internal/backup/stream"
	"coffer/internal/keyring"

	_ "modernc.org/sqlite"
)

// clock is a settable clock, so restore points can be named exactly.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type env struct {
	t      *testing.T
	db     *sql.DB
	target *backup.Dir
	kek    keyring.KEK
	clock  *clock
	ship   *stream.Shipper
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "live.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	target, err := backup.NewDir(filepath.Join(dir, "target"))
	if err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	kek, err := keyring.NewLocalKEK(master)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	s, err := stream.New(stream.Options{DB: db, Targets: []backup.Target{target}, KEK: kek, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{t: t, db: db, target: target, kek: kek, clock: c, ship: s}
}

func (e *env) write(body string) {
	e.t.Helper()
	if _, err := e.db.Exec(`INSERT INTO entries (body) VALUES (?)`, body); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) shipAt(at time.Time) bool {
	e.t.Helper()
	e.clock.set(at)
	ok, err := e.ship.ShipOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// bodies opens a restored image and lists its entries.
func bodies(t *testing.T, img []byte) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	rows, err := db.Query(`SELECT body FROM entries ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		rows.Scan(&b)
		out = append(out, b)
	}
	return out
}

// TestPointInTimeRestore writes, ships and restores to moments between
// known writes: each restore has exactly the writes before it.
func TestPointInTimeRestore(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now()
	e.write("opening balance")
	if !e.shipAt(t0) {
		t.Fatal("the first call did not ship the base image")
	}
	if e.shipAt(t0.Add(time.Second)) {
		t.Fatal("shipped although nothing changed")
	}
	var want []string
	want = append(want, "opening balance")
	snapshots := map[time.Time][]string{t0: append([]string(nil), want...)}
	for i := 1; i <= 30; i++ {
		body := fmt.Sprintf("invoice %d %s", i, strings.Repeat("x", i*300))
		e.write(body)
		want = append(want, body)
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if !e.shipAt(at) {
			t.Fatalf("write %d was not shipped", i)
		}
		snapshots[at] = append([]string(nil), want...)
	}
	for at, wantAt := range snapshots {
		for _, probe := range []time.Time{at, at.Add(5 * time.Second)} {
			r, err := stream.Restore(context.Background(), e.target, e.kek, probe)
			if err != nil {
				t.Fatalf("restore at %s: %v", probe, err)
			}
			if !r.At.Equal(at) {
				t.Fatalf("restore at %s used the image of %s, want %s", probe, r.At, at)
			}
			if got := bodies(t, r.Image); !equal(got, wantAt) {
				t.Fatalf("restore at %s: %d entries, want %d", probe, len(got), len(wantAt))
			}
		}
	}
	if _, err := stream.Restore(context.Background(), e.target, e.kek, t0.Add(-time.Second)); err == nil {
		t.Fatal("restored to a moment before the stream began")
	}
	points, err := stream.Points(context.Background(), e.target)
	if err != nil || len(points) == 0 || !points[0].From.Equal(t0) {
		t.Fatalf("points = %+v, %v", points, err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompactionStartsANewGeneration: once deltas outgrow the base, a new
// full image starts a new generation, and restores on both sides of it
// work.
func TestCompactionStartsANewGeneration(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now()
	e.write("first")
	e.shipAt(t0)
	for i := range 40 {
		e.write(strings.Repeat(fmt.Sprint(i), 2000))
		e.shipAt(t0.Add(time.Duration(i+1) * time.Second))
	}
	points, err := stream.Points(context.Background(), e.target)
	if err != nil || len(points) < 2 {
		t.Fatalf("points after heavy writes: %+v, %v (want a second generation)", points, err)
	}
	for _, p := range points {
		r, err := stream.Restore(context.Background(), e.target, e.kek, p.To)
		if err != nil {
			t.Fatalf("restore to the end of %s: %v", p.Generation, err)
		}
		if n := len(bodies(t, r.Image)); n < 1 {
			t.Fatalf("restore of %s has no entries", p.Generation)
		}
	}
}

// TestTamperedStreamIsRefused: a flipped byte, a renamed segment, a missing
// segment and a foreign master key each stop the restore with a clear
// error.
func TestTamperedStreamIsRefused(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	setup := func(t *testing.T) (*env, []string) {
		e := newEnv(t)
		e.write("a")
		e.shipAt(t0)
		e.write("b")
		e.shipAt(t0.Add(time.Second))
		e.write("c")
		e.shipAt(t0.Add(2 * time.Second))
		names, err := e.target.List(context.Background(), stream.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		var segs []string
		for _, n := range names {
			if strings.HasSuffix(n, ".seg") {
				segs = append(segs, n)
			}
		}
		if len(segs) != 3 {
			t.Fatalf("%d segments, want 3", len(segs))
		}
		return e, segs
	}
	path := func(e *env, name string) string { return filepath.Join(e.target.Root, filepath.FromSlash(name)) }
	end := t0.Add(time.Minute)
	tests := []struct {
		name   string
		mangle func(e *env, segs []string)
		want   string
	}{
		{"flipped byte", func(e *env, segs []string) {
			b, _ := os.ReadFile(path(e, segs[1]))
			b[len(b)-3] ^= 1
			os.WriteFile(path(e, segs[1]), b, 0o600)
		}, "fails authentication"},
		{"truncated", func(e *env, segs []string) {
			b, _ := os.ReadFile(path(e, segs[2]))
			os.WriteFile(path(e, segs[2]), b[:len(b)/2], 0o600)
		}, "fails authentication"},
		{"segment renamed to another place", func(e *env, segs []string) {
			os.Rename(path(e, segs[1]), path(e, strings.Replace(segs[1], "0000000001-", "0000000001-1", 1)))
		}, ""},
		{"missing segment", func(e *env, segs []string) {
			os.Remove(path(e, segs[1]))
		}, "lacks segment 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, segs := setup(t)
			tt.mangle(e, segs)
			_, err := stream.Restore(context.Background(), e.target, e.kek, end)
			if err == nil {
				t.Fatal("restored a tampered stream")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
	t.Run("foreign master key", func(t *testing.T) {
		e, _ := setup(t)
		other, _ := keyring.NewLocalKEK(bytes.Repeat([]byte{7}, 32))
		_, err := stream.Restore(context.Background(), e.target, other, end)
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Fatalf("foreign key: %v", err)
		}
	})
}

// flakyTarget is a real directory target that refuses writes while down,
// as an unreachable store would (a read-only directory does not refuse
// root, which CI runs as).
type flakyTarget struct {
	*backup.Dir
	down atomic.Bool
}

func (f *flakyTarget) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.down.Load() {
		return errors.New("target unreachable")
	}
	return f.Dir.Put(ctx, name, r, size)
}

// TestTargetDownLosesNothing: while one of two targets fails, nothing is
// acknowledged; when it is back, the pending segment reaches it and the
// stream on both targets restores every write.
func TestTargetDownLosesNothing(t *testing.T) {
	e := newEnv(t)
	dir, err := backup.NewDir(filepath.Join(t.TempDir(), "second"))
	if err != nil {
		t.Fatal(err)
	}
	second := &flakyTarget{Dir: dir}
	s, err := stream.New(stream.Options{DB: e.db, Targets: []backup.Target{e.target, second}, KEK: e.kek, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := e.clock.Now()
	e.write("before the outage")
	if _, err := s.ShipOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	second.down.Store(true)
	e.write("during the outage")
	e.clock.set(t0.Add(10 * time.Second))
	if _, err := s.ShipOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("a segment counted as shipped while a target refused it: %v", err)
	}
	e.write("while catching up")
	second.down.Store(false)
	e.clock.set(t0.Add(20 * time.Second))
	if _, err := s.ShipOnce(context.Background()); err != nil {
		t.Fatalf("after the target came back: %v", err)
	}
	e.clock.set(t0.Add(30 * time.Second))
	if _, err := s.ShipOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []backup.Target{e.target, second} {
		r, err := stream.Restore(context.Background(), tg, e.kek, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", tg.Name(), err)
		}
		if got := bodies(t, r.Image); len(got) != 3 {
			t.Fatalf("%s restored %v, want all three writes", tg.Name(), got)
		}
		// The segment of the outage is on both, with the time it was taken.
		r, err = stream.Restore(context.Background(), tg, e.kek, t0.Add(15*time.Second))
		if err != nil || len(bodies(t, r.Image)) != 2 {
			t.Fatalf("%s at the outage: %v", tg.Name(), err)
		}
	}
}
