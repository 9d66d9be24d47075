package auth

import (
	"container/list"
	"context"
	"errors"
	"runtime"
	"sync"
)

// ErrBusy is returned by HashPool.Do when the caller's lane is full. The
// handler should answer 503 with Retry-After rather than queue without bound:
// a flood of password guesses must cost the attacker, not the real users.
var ErrBusy = errors.New("password hashing is at capacity")

// HashPool bounds how much password hashing runs at once. Each argon2id hash
// takes tens of MiB and tens of milliseconds, so unbounded concurrency would
// let a flood of wrong passwords exhaust memory and CPU for everyone.
//
// At most Workers functions run at once. Callers beyond that wait in one of
// two bounded FIFO queues: the priority lane, for clients that hold a valid
// device cookie for the account (OWASP "device cookies"), and the normal lane.
// A freed slot always goes to the oldest priority waiter first, so a flood in
// the normal lane cannot delay a known device; a flood of priority requests
// would need stolen device cookies.
//
// A slot is handed directly from the finishing caller to the next waiter
// under the lock, so there are no lost wake-ups and no thundering herd, and
// no goroutines are started.
type HashPool struct {
	mu       sync.Mutex
	workers  int
	running  int // slots held; waiters exist only when running == workers
	normal   lane
	priority lane
	rejected uint64
}

// lane is one bounded FIFO of waiters.
type lane struct {
	capacity int
	waiters  list.List // of *hashWaiter
}

// hashWaiter is one caller blocked in Do. ready is closed when a slot has
// been handed to it; granted records that under the pool's lock so a caller
// whose context ends at the same moment knows it owns a slot to give back.
type hashWaiter struct {
	ready   chan struct{}
	granted bool
	elem    *list.Element
}

// HashPoolStats is a snapshot of a HashPool, for metrics and health pages.
type HashPoolStats struct {
	Workers        int    // maximum concurrent functions
	Running        int    // functions holding a slot now
	QueuedNormal   int    // waiters in the normal lane
	QueuedPriority int    // waiters in the priority lane
	Rejected       uint64 // calls refused with ErrBusy since the pool was made
}

// NewHashPool returns a pool that runs at most workers functions at once
// (runtime.NumCPU() if workers < 1, since hashing is CPU-bound) and lets at
// most normalQueue and priorityQueue callers wait in each lane. A negative
// queue size means 0: the lane never waits, it runs or gets ErrBusy.
func NewHashPool(workers, normalQueue, priorityQueue int) *HashPool {
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	p := &HashPool{workers: workers}
	p.normal.capacity = max(normalQueue, 0)
	p.priority.capacity = max(priorityQueue, 0)
	return p
}

// Do runs fn on the calling goroutine once a slot is free. priority selects
// the priority lane (see HashPool). If all slots are taken and the lane's
// queue is full, Do returns ErrBusy at once without running fn. If ctx ends
// first (before or while waiting), Do returns ctx.Err() without running fn
// and gives up its place. A panic in fn releases the slot and propagates.
func (p *HashPool) Do(ctx context.Context, priority bool, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.acquire(ctx, priority); err != nil {
		return err
	}
	defer p.release()
	fn()
	return nil
}

// acquire takes a slot, queueing in the chosen lane if none is free.
func (p *HashPool) acquire(ctx context.Context, priority bool) error {
	l := &p.normal
	if priority {
		l = &p.priority
	}

	p.mu.Lock()
	if p.running < p.workers {
		p.running++
		p.mu.Unlock()
		return nil
	}
	if l.waiters.Len() >= l.capacity {
		p.rejected++
		p.mu.Unlock()
		return ErrBusy
	}
	w := &hashWaiter{ready: make(chan struct{})}
	w.elem = l.waiters.PushBack(w)
	p.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.granted {
			// release handed us the slot just as ctx ended. We do not run
			// fn for a caller that has gone, so pass the slot on.
			p.mu.Unlock()
			p.release()
			return ctx.Err()
		}
		l.waiters.Remove(w.elem)
		p.mu.Unlock()
		return ctx.Err()
	}
}

// release gives the caller's slot to the oldest priority waiter, else the
// oldest normal waiter, else back to the pool. running does not change on a
// hand-off because the slot stays in use.
func (p *HashPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range []*lane{&p.priority, &p.normal} {
		if front := l.waiters.Front(); front != nil {
			w := l.waiters.Remove(front).(*hashWaiter)
			w.granted = true
			close(w.ready)
			return
		}
	}
	p.running--
}

// Stats returns a consistent snapshot of the pool.
func (p *HashPool) Stats() HashPoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return HashPoolStats{
		Workers:        p.workers,
		Running:        p.running,
		QueuedNormal:   p.normal.waiters.Len(),
		QueuedPriority: p.priority.waiters.Len(),
		Rejected:       p.rejected,
	}
}
