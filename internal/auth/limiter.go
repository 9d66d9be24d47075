package auth

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"coffer/internal/audit"
)

// windowLimiter counts events per key in fixed windows, in memory. It is
// the first, per-node gate on sign-in attempts per client address: cheap
// enough that a flood is turned away without a single database write, so the
// database stays free for real users. What passes it is counted again in
// the database (Service.clientLimit), where the limit holds across nodes,
// as account limits and lockouts do.
type windowLimiter struct {
	mu      sync.Mutex
	windows map[string]fixedWindow
	max     int
}

type fixedWindow struct {
	start int64
	count int
}

func newWindowLimiter(max int) *windowLimiter {
	return &windowLimiter{windows: map[string]fixedWindow{}, max: max}
}

// hit counts one event for key in the window containing now and returns
// the count so far in that window.
func (l *windowLimiter) hit(key string, window time.Duration, now time.Time) int {
	w := int64(window / time.Second)
	if w < 1 {
		w = 1
	}
	start := now.Unix() / w * w
	l.mu.Lock()
	defer l.mu.Unlock()
	fw, ok := l.windows[key]
	if !ok || fw.start != start {
		if !ok && len(l.windows) >= l.max {
			l.evict(start)
		}
		fw = fixedWindow{start: start}
	}
	fw.count++
	l.windows[key] = fw
	return fw.count
}

// evict drops closed windows; if every window is still open (a flood from
// more addresses than max), it starts over, which errs on letting attempts
// reach the database limits rather than growing without bound.
func (l *windowLimiter) evict(current int64) {
	for k, fw := range l.windows {
		if fw.start < current {
			delete(l.windows, k)
		}
	}
	if len(l.windows) >= l.max {
		clear(l.windows)
	}
}

// refusalLog sums refusals that a flood produces by the thousand (client
// rate limit, hashing pool full) so that they are audited as one event per
// client and reason each minute instead of one row each, which would turn
// the flood into a flood of database writes.
type refusalLog struct {
	mu     sync.Mutex
	counts map[refusalKey]int
}

type refusalKey struct {
	ip, userAgent, reason string
}

func (r *refusalLog) add(c Client, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[refusalKey]int{}
	}
	// Bounded like the limiter: past the bound, further keys fold into one.
	k := refusalKey{ip: c.IP, userAgent: truncate(c.UserAgent, 256), reason: reason}
	if _, ok := r.counts[k]; !ok && len(r.counts) >= 100_000 {
		k = refusalKey{ip: "(many)", reason: reason}
	}
	r.counts[k]++
}

func (r *refusalLog) take() map[refusalKey]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.counts
	r.counts = nil
	return out
}

// FlushRefusals writes the summed refusals to the audit log. The server
// calls it every minute and at shutdown.
func (s *Service) FlushRefusals(ctx context.Context) {
	counts := s.refusals.take()
	keys := make([]refusalKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ip != keys[j].ip {
			return keys[i].ip < keys[j].ip
		}
		return keys[i].reason < keys[j].reason
	})
	for _, k := range keys {
		s.audit(ctx, 0, "(summary)", "login.password", audit.Failure, Client{IP: k.ip, UserAgent: k.userAgent},
			fmt.Sprintf("reason=%s count=%d", k.reason, counts[k]))
	}
}
