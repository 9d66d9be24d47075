// Package loadgen is a closed-loop HTTP load generator for benchmarks:
// a fixed number of workers, each sending one request at a time for a fixed
// duration, with every request's latency in a bounded-memory histogram,
// throughput, and errors by HTTP status. The workloads in ledger.go drive
// Coffer's JSON API through the public client, as integrators would.
package loadgen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Op sends one request for worker (0 ≤ worker < Workers); seq counts that
// worker's requests from 0. It returns the answer's HTTP status, or 0 and
// the error when no answer came (a connection error, a timeout). A status
// outside 2xx is counted as an error whatever err says.
type Op func(ctx context.Context, worker int, seq uint64) (status int, err error)

// Options shape a run.
type Options struct {
	// Workers is how many requests are in flight at once: each worker
	// sends its next request when the previous one is answered.
	Workers int
	// Duration is how long workers keep starting requests. A request in
	// flight at the end is not cut off but finishes and counts, so a
	// write the server applied is never reported as failed; Elapsed
	// includes that tail.
	Duration time.Duration
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var problems []string
	if o.Workers < 1 {
		problems = append(problems, fmt.Sprintf("workers must be at least 1, not %d", o.Workers))
	}
	if o.Duration <= 0 {
		problems = append(problems, fmt.Sprintf("duration must be positive, not %s", o.Duration))
	}
	if len(problems) > 0 {
		return fmt.Errorf("loadgen: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Workers int
	// Elapsed runs from the first request sent to the last answer.
	Elapsed time.Duration
	// OK counts 2xx answers.
	OK uint64
	// Errors counts the other outcomes by HTTP status; 0 is no answer.
	Errors map[int]uint64
	// FirstError describes the first failed request, if any.
	FirstError error
	// Latency holds every request's time, failed ones included: a fast
	// error must not hide in a good-looking percentile, so a run with
	// errors is reported as such (ErrorCount) rather than filtered.
	Latency Histogram
}

// ErrorCount is how many requests failed.
func (r *Result) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// PerSecond is successful requests a second over Elapsed.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// ErrorSummary lists the errors by status, "0" for none, otherwise like
// "409:2,503:1" (status 0: no answer), in status order.
func (r *Result) ErrorSummary() string {
	if len(r.Errors) == 0 {
		return "0"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, strconv.Itoa(s)+":"+strconv.FormatUint(r.Errors[s], 10))
	}
	return strings.Join(parts, ",")
}

// Run sends requests with op from opts.Workers workers for opts.Duration
// and returns what it measured. Cancelling ctx stops workers from starting
// requests and is passed to op, which may abandon the ones in flight.
func Run(ctx context.Context, opts Options, op Op) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	type tally struct {
		lat    Histogram
		ok     uint64
		errs   map[int]uint64
		first  error
		firstT time.Time
	}
	tallies := make([]tally, opts.Workers)
	start := time.Now()
	deadline := start.Add(opts.Duration)
	var wg sync.WaitGroup
	for w := range opts.Workers {
		t := &tallies[w]
		t.errs = map[int]uint64{}
		wg.Go(func() {
			for seq := uint64(0); ctx.Err() == nil && time.Now().Before(deadline); seq++ {
				t0 := time.Now()
				status, err := op(ctx, w, seq)
				t.lat.Record(time.Since(t0))
				if err == nil && status >= 200 && status <= 299 {
					t.ok++
					continue
				}
				if err == nil {
					err = fmt.Errorf("status %d", status)
				}
				if status < 0 || status > 999 {
					status = 0
				}
				t.errs[status]++
				if t.first == nil {
					t.first, t.firstT = fmt.Errorf("worker %d request %d: %w", w, seq, err), t0
				}
			}
		})
	}
	wg.Wait()
	res := &Result{Workers: opts.Workers, Elapsed: time.Since(start), Errors: map[int]uint64{}}
	var firstT time.Time
	for i := range tallies {
		t := &tallies[i]
		res.Latency.Merge(&t.lat)
		res.OK += t.ok
		for s, c := range t.errs {
			res.Errors[s] += c
		}
		if t.first != nil && (res.FirstError == nil || t.firstT.Before(firstT)) {
			res.FirstError, firstT = t.first, t.firstT
		}
	}
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("loadgen: run cut short after %s: %w", res.Elapsed.Round(time.Millisecond), context.Cause(ctx))
	}
	return res, nil
}
