package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of ds, computed from all of
// them.
func exactQuantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return s[i]
}

// checkQuantile fails unless got is the true quantile rounded up by at
// most one bucket: never under it, at most 1/64 over it.
func checkQuantile(t *testing.T, ds []time.Duration, q float64, got time.Duration) {
	t.Helper()
	want := exactQuantile(ds, q)
	if got < want || float64(got-want) > float64(want)/64 {
		t.Errorf("quantile %.3f of %d values = %d, want %d (+1/64 at most)", q, len(ds), got, want)
	}
}

func TestBuckets(t *testing.T) {
	t.Run("OK contiguous and ordered", func(t *testing.T) {
		var next uint64
		for i := range numBuckets {
			lo, hi := bucketBounds(i)
			if lo != next || hi < lo {
				t.Fatalf("bucket %d = [%d, %d], want it to start at %d", i, lo, hi, next)
			}
			if w := hi - lo + 1; lo >= subCount && float64(w) > float64(lo)/64 {
				t.Fatalf("bucket %d = [%d, %d] is wider than 1/64 of its start", i, lo, hi)
			}
			next = hi + 1
		}
		if _, hi := bucketBounds(numBuckets - 1); hi != math.MaxInt64 {
			t.Fatalf("the last bucket ends at %d, not the largest duration", hi)
		}
	})
	for _, tt := range []struct {
		name string
		v    uint64
		want int
	}{
		{"zero", 0, 0},
		{"last exact", 127, 127},
		{"first shared", 128, 128},
		{"shared pair", 129, 128},
		{"end of first power", 255, 191},
		{"second power", 256, 192},
		{"a millisecond", 1e6, bucketOf(1e6)},
		{"largest", math.MaxInt64, numBuckets - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			i := bucketOf(tt.v)
			if i != tt.want {
				t.Fatalf("bucketOf(%d) = %d, want %d", tt.v, i, tt.want)
			}
			if lo, hi := bucketBounds(i); tt.v < lo || tt.v > hi {
				t.Fatalf("%d is in bucket %d = [%d, %d]", tt.v, i, lo, hi)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"one value", func(int) time.Duration { return 3 * time.Millisecond }, 1},
		{"exact range", func(i int) time.Duration { return time.Duration(i % 128) }, 1000},
		{"uniform milliseconds", func(int) time.Duration { return time.Duration(r.Int64N(int64(50 * time.Millisecond))) }, 20000},
		{"long tail", func(int) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(2*time.Millisecond))
		}, 20000},
		{"negative counts as zero", func(i int) time.Duration { return time.Duration(-i) }, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			ds := make([]time.Duration, tt.n)
			var sum time.Duration
			for i := range ds {
				d := tt.gen(i)
				h.Record(d)
				ds[i] = max(d, 0)
				sum += ds[i]
			}
			if h.Count() != uint64(tt.n) {
				t.Fatalf("count %d, want %d", h.Count(), tt.n)
			}
			for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				checkQuantile(t, ds, q, h.Quantile(q))
			}
			if h.Max() != slices.Max(ds) || h.Quantile(1) != h.Max() {
				t.Errorf("max %d, p100 %d, want %d", h.Max(), h.Quantile(1), slices.Max(ds))
			}
			if h.Mean() != sum/time.Duration(tt.n) {
				t.Errorf("mean %d, want %d", h.Mean(), sum/time.Duration(tt.n))
			}
		})
	}
	t.Run("OK empty", func(t *testing.T) {
		var h Histogram
		if h.Count() != 0 || h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
			t.Fatalf("empty histogram: count %d p99 %d max %d mean %d", h.Count(), h.Quantile(0.99), h.Max(), h.Mean())
		}
	})
	t.Run("OK merge equals one histogram", func(t *testing.T) {
		var parts [3]Histogram
		var whole, merged Histogram
		for i := range 3000 {
			d := time.Duration(r.Int64N(int64(time.Second)))
			parts[i%3].Record(d)
			whole.Record(d)
		}
		var empty Histogram
		merged.Merge(&empty)
		for i := range parts {
			merged.Merge(&parts[i])
		}
		merged.Merge(&empty)
		if merged != whole {
			t.Fatalf("merged: count %d max %d p50 %d; whole: count %d max %d p50 %d",
				merged.Count(), merged.Max(), merged.Quantile(0.5), whole.Count(), whole.Max(), whole.Quantile(0.5))
		}
	})
}

// FuzzHistogram: whatever the durations, every quantile is the true one
// rounded up by at most one bucket.
func FuzzHistogram(f *testing.F) {
	f.Add(int64(0), int64(1), int64(127), int64(128), uint8(50))
	f.Add(int64(1e6), int64(5e6), int64(3e9), int64(math.MaxInt64), uint8(99))
	f.Add(int64(-5), int64(255), int64(256), int64(1<<40), uint8(100))
	f.Fuzz(func(t *testing.T, a, b, c, d int64, pct uint8) {
		var h Histogram
		ds := []time.Duration{time.Duration(a), time.Duration(b), time.Duration(c), time.Duration(d)}
		for i, v := range ds {
			h.Record(v)
			ds[i] = max(v, 0)
		}
		q := float64(pct%101) / 100
		if q == 0 {
			q = 0.01
		}
		checkQuantile(t, ds, q, h.Quantile(q))
		if h.Max() != slices.Max(ds) {
			t.Fatalf("max %d, want %d", h.Max(), slices.Max(ds))
		}
	})
}
