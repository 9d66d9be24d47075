package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: values below 2^subBits nanoseconds each have their own
// bucket; above, every power of two is split into 2^(subBits-1) equal
// buckets, so a bucket is at most 1/64 (1.6 %) of its lower bound wide.
// HDR Histogram's layout with two significant binary digits less, which is
// plenty for latencies, and a fixed 29 KB whatever the number of values.
const (
	subBits    = 7
	subCount   = 1 << subBits // 128 exact buckets for 0–127 ns
	halfCount  = subCount / 2 // buckets per power of two above
	maxShift   = 63 - subBits // the largest int64 has 63 significant bits
	numBuckets = (maxShift + 2) * halfCount
)

// Histogram records durations in fixed log-linear buckets: bounded memory
// however long the run, quantiles within 1.6 %. The zero value is empty
// and ready. It is not safe for concurrent use: give each goroutine its
// own and Merge them.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

// bucketOf is the index of the bucket holding v ≥ 0.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*halfCount + int(v>>uint(shift))
}

// bucketBounds is the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := uint(i/halfCount - 1)
	top := uint64(i%halfCount + halfCount)
	return top << shift, (top+1)<<shift - 1
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value o recorded.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest duration recorded, exactly; 0 if none.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average duration, exactly; 0 if none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile is the nearest-rank quantile q (0 < q ≤ 1) of the recorded
// durations, rounded up to the top of its bucket (never under the true
// value, at most 1.6 % over it) and capped at Max; 0 if none.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(time.Duration(hi), h.max)
		}
	}
	return h.max
}
