package auth

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// guard bounds every wait in these tests. It only turns a hang into a
// failure: when the pool behaves, no test waits anywhere near this long.
const guard = 5 * time.Second

// holdSlots fills n slots of p with functions that block until the returned
// release func is called, and returns once all n are running.
func holdSlots(tb testing.TB, p *HashPool, n int) (release func()) {
	tb.Helper()
	gate := make(chan struct{})
	var started, done sync.WaitGroup
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			err := p.Do(context.Background(), false, func() {
				started.Done()
				<-gate
			})
			if err != nil {
				tb.Errorf("holder Do: %v", err)
				started.Done()
			}
		}()
	}
	waitGroup(tb, &started, "holders to start")
	var once sync.Once
	return func() {
		once.Do(func() {
			close(gate)
			waitGroup(tb, &done, "holders to finish")
		})
	}
}

// waitGroup waits for wg, failing the test after guard.
func waitGroup(tb testing.TB, wg *sync.WaitGroup, what string) {
	tb.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(guard):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// waitStats polls p until cond holds, failing after guard. Only tests poll;
// the pool itself never does. Polling is how a test can know a goroutine has
// reached the queue without adding hooks to production code.
func waitStats(tb testing.TB, p *HashPool, what string, cond func(HashPoolStats) bool) {
	tb.Helper()
	deadline := time.Now().Add(guard)
	for !cond(p.Stats()) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; stats %+v", what, p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// doAsync runs p.Do in a goroutine and returns a channel with its result.
func doAsync(ctx context.Context, p *HashPool, priority bool, fn func()) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Do(ctx, priority, fn) }()
	return ch
}

// recvErr receives one result, failing the test after guard.
func recvErr(tb testing.TB, ch <-chan error, what string) error {
	tb.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(guard):
		tb.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

// assertFullCapacity proves no slot has leaked: all workers slots can be
// held at once, and the pool is idle afterwards.
func assertFullCapacity(tb testing.TB, p *HashPool) {
	tb.Helper()
	release := holdSlots(tb, p, p.Stats().Workers)
	release()
	if s := p.Stats(); s.Running != 0 || s.QueuedNormal != 0 || s.QueuedPriority != 0 {
		tb.Fatalf("pool not idle after use: %+v", s)
	}
}

func TestNewHashPool(t *testing.T) {
	tests := []struct {
		name        string
		workers     int
		wantWorkers int
	}{
		{"explicit", 3, 3},
		{"zero means NumCPU", 0, runtime.NumCPU()},
		{"negative means NumCPU", -1, runtime.NumCPU()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewHashPool(tt.workers, 1, 1).Stats()
			want := HashPoolStats{Workers: tt.wantWorkers}
			if got != want {
				t.Fatalf("Stats() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestHashPool_ConcurrencyBounded(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			const callers = 64
			p := NewHashPool(workers, callers, callers)
			var cur, peak, ran atomic.Int64
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := p.Do(context.Background(), i%3 == 0, func() {
						n := cur.Add(1)
						for {
							old := peak.Load()
							if n <= old || peak.CompareAndSwap(old, n) {
								break
							}
						}
						// Hold the slot briefly so callers overlap.
						time.Sleep(200 * time.Microsecond)
						cur.Add(-1)
						ran.Add(1)
					})
					if err != nil {
						t.Errorf("Do: %v", err)
					}
				}()
			}
			waitGroup(t, &wg, "callers")
			if got := peak.Load(); got > int64(workers) {
				t.Fatalf("peak concurrency %d exceeds %d workers", got, workers)
			}
			if got := ran.Load(); got != callers {
				t.Fatalf("%d functions ran, want %d", got, callers)
			}
			assertFullCapacity(t, p)
		})
	}
}

// TestHashPool_PriorityFirst fills the only slot, queues waiters in a fixed
// order, frees the slot and checks the order they ran in: priority lane
// first, FIFO within a lane.
func TestHashPool_PriorityFirst(t *testing.T) {
	tests := []struct {
		name  string
		queue []string // lanes in arrival order; each entry names itself
		want  []string
	}{
		{"normal then priority", []string{"n1", "p1"}, []string{"p1", "n1"}},
		{"two normal then two priority", []string{"n1", "n2", "p1", "p2"}, []string{"p1", "p2", "n1", "n2"}},
		{"interleaved", []string{"p1", "n1", "p2", "n2"}, []string{"p1", "p2", "n1", "n2"}},
		{"normal only is FIFO", []string{"n1", "n2", "n3"}, []string{"n1", "n2", "n3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewHashPool(1, 8, 8)
			release := holdSlots(t, p, 1)
			defer release()

			var mu sync.Mutex
			var order []string
			var results []<-chan error
			var normal, priority int
			for _, id := range tt.queue {
				isPriority := id[0] == 'p'
				results = append(results, doAsync(context.Background(), p, isPriority, func() {
					mu.Lock()
					order = append(order, id)
					mu.Unlock()
				}))
				// Wait until this waiter is queued so arrival order is fixed.
				if isPriority {
					priority++
				} else {
					normal++
				}
				n, pr := normal, priority
				waitStats(t, p, id+" to queue", func(s HashPoolStats) bool {
					return s.QueuedNormal == n && s.QueuedPriority == pr
				})
			}

			release()
			for i, ch := range results {
				if err := recvErr(t, ch, tt.queue[i]); err != nil {
					t.Fatalf("%s: Do = %v", tt.queue[i], err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(order) != len(tt.want) {
				t.Fatalf("ran %v, want %v", order, tt.want)
			}
			for i := range order {
				if order[i] != tt.want[i] {
					t.Fatalf("ran %v, want %v", order, tt.want)
				}
			}
			assertFullCapacity(t, p)
		})
	}
}

func TestHashPool_ErrBusy(t *testing.T) {
	tests := []struct {
		name          string
		normalQueue   int
		priorityQueue int
		fillNormal    int // waiters queued before the probe
		fillPriority  int
		probePriority bool
		wantBusy      bool
	}{
		{"normal lane full", 1, 1, 1, 0, false, true},
		{"priority lane full", 1, 1, 0, 1, true, true},
		{"normal full, priority still has room", 1, 1, 1, 0, true, false},
		{"priority full, normal still has room", 1, 1, 0, 1, false, false},
		{"zero-length queue never waits", 0, 0, 0, 0, false, true},
		{"negative queue is zero", -3, 1, 0, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewHashPool(1, tt.normalQueue, tt.priorityQueue)
			release := holdSlots(t, p, 1)
			defer release()

			var pending []<-chan error
			for range tt.fillNormal {
				pending = append(pending, doAsync(context.Background(), p, false, func() {}))
			}
			for range tt.fillPriority {
				pending = append(pending, doAsync(context.Background(), p, true, func() {}))
			}
			waitStats(t, p, "fillers to queue", func(s HashPoolStats) bool {
				return s.QueuedNormal == tt.fillNormal && s.QueuedPriority == tt.fillPriority
			})

			ran := false
			probe := doAsync(context.Background(), p, tt.probePriority, func() { ran = true })
			if tt.wantBusy {
				// ErrBusy must come without waiting for a slot: the slot is
				// still held, so any wait would hit the guard.
				if err := recvErr(t, probe, "probe"); !errors.Is(err, ErrBusy) {
					t.Fatalf("Do = %v, want ErrBusy", err)
				}
				if ran {
					t.Fatal("fn ran despite ErrBusy")
				}
				if got := p.Stats().Rejected; got != 1 {
					t.Fatalf("Rejected = %d, want 1", got)
				}
			} else {
				pending = append(pending, probe)
			}

			release()
			for _, ch := range pending {
				if err := recvErr(t, ch, "queued waiter"); err != nil {
					t.Fatalf("queued Do = %v, want nil", err)
				}
			}
			if !tt.wantBusy && !ran {
				t.Fatal("queued probe did not run")
			}
			assertFullCapacity(t, p)
		})
	}
}

func TestHashPool_ContextEnds(t *testing.T) {
	tests := []struct {
		name     string
		priority bool
		end      func(cancel context.CancelFunc)
		timeout  time.Duration
		wantErr  error
	}{
		{"canceled normal", false, func(c context.CancelFunc) { c() }, 0, context.Canceled},
		{"canceled priority", true, func(c context.CancelFunc) { c() }, 0, context.Canceled},
		{"deadline while waiting", false, func(context.CancelFunc) {}, 20 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewHashPool(2, 4, 4)
			release := holdSlots(t, p, 2)
			defer release()

			ctx, cancel := context.WithCancel(context.Background())
			if tt.timeout > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tt.timeout)
			}
			defer cancel()

			ran := false
			ch := doAsync(ctx, p, tt.priority, func() { ran = true })
			if tt.timeout == 0 {
				// A deadline waiter may already be gone by the time we look,
				// so only the cancel cases check that it was queued first.
				waitStats(t, p, "waiter to queue", func(s HashPoolStats) bool {
					return s.QueuedNormal+s.QueuedPriority == 1
				})
			}
			tt.end(cancel)

			if err := recvErr(t, ch, "canceled waiter"); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do = %v, want %v", err, tt.wantErr)
			}
			if ran {
				t.Fatal("fn ran after its context ended")
			}
			if s := p.Stats(); s.QueuedNormal != 0 || s.QueuedPriority != 0 || s.Running != 2 || s.Rejected != 0 {
				t.Fatalf("after cancel: %+v, want no waiters, 2 running, none rejected", s)
			}
			release()
			assertFullCapacity(t, p)
		})
	}

	t.Run("already canceled does not run", func(t *testing.T) {
		p := NewHashPool(1, 1, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		if err := p.Do(ctx, false, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("Do = %v (ran %v), want context.Canceled and no run", err, ran)
		}
		assertFullCapacity(t, p)
	})
}

// TestHashPool_CancelRace hammers the moment a slot is handed to a waiter
// whose context is ending, where a careless pool leaks the slot or loses the
// wake-up. Afterwards every slot must still be usable.
func TestHashPool_CancelRace(t *testing.T) {
	const workers, callers = 2, 200
	p := NewHashPool(workers, callers, callers)
	var running atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
			defer cancel()
			err := p.Do(ctx, i%2 == 0, func() {
				if n := running.Add(1); n > workers {
					t.Errorf("%d running, want at most %d", n, workers)
				}
				time.Sleep(50 * time.Microsecond)
				running.Add(-1)
			})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do = %v", err)
			}
		}()
	}
	waitGroup(t, &wg, "callers")
	assertFullCapacity(t, p)
}

// TestHashPool_PanicReleasesSlot checks that a panicking fn does not take
// its slot with it.
func TestHashPool_PanicReleasesSlot(t *testing.T) {
	p := NewHashPool(1, 0, 0)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		_ = p.Do(context.Background(), false, func() { panic("boom") })
	}()
	assertFullCapacity(t, p)
}
