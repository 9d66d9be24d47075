package metrics

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"coffer/internal/metrics/metricstest"
)

func TestWriteTo(t *testing.T) {
	tests := []struct {
		name  string
		build func(r *Registry)
		want  string
	}{
		{
			name:  "empty",
			build: func(*Registry) {},
			want:  "",
		},
		{
			name: "counter without labels",
			build: func(r *Registry) {
				c := r.NewCounter("coffer_lockouts_total", "Accounts locked.")
				c.Inc()
				c.Add(2)
			},
			want: "# HELP coffer_lockouts_total Accounts locked.\n# TYPE coffer_lockouts_total counter\ncoffer_lockouts_total 3\n",
		},
		{
			name: "counter vec sorted by label values, untouched vec has no samples",
			build: func(r *Registry) {
				v := r.NewCounterVec("req_total", "Requests.", "method", "code")
				v.With("POST", "200").Inc()
				v.With("GET", "404").Add(5)
				v.With("GET", "200").Inc()
				v.With("GET", "200").Inc()
				r.NewCounterVec("a_total", "Never touched.", "x")
			},
			want: `# HELP a_total Never touched.
# TYPE a_total counter
# HELP req_total Requests.
# TYPE req_total counter
req_total{method="GET",code="200"} 2
req_total{method="GET",code="404"} 5
req_total{method="POST",code="200"} 1
`,
		},
		{
			name: "label values and help escaped",
			build: func(r *Registry) {
				r.NewCounterVec("esc_total", "Back\\slash and\nnew line, \"quotes\" kept.", "v").With("a\\b\"c\nd").Inc()
				r.NewCounterVec("bad_utf8_total", "x", "v").With("ok\xffok").Inc()
			},
			want: "# HELP bad_utf8_total x\n# TYPE bad_utf8_total counter\nbad_utf8_total{v=\"ok\uFFFDok\"} 1\n" +
				"# HELP esc_total Back\\\\slash and\\nnew line, \"quotes\" kept.\n# TYPE esc_total counter\nesc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n",
		},
		{
			name: "gauge and counter funcs with constant labels",
			build: func(r *Registry) {
				r.NewGaugeFunc("db_open", "Open connections.", func() float64 { return 7 })
				r.NewCounterFunc("db_wait_seconds_total", "Waited.", func() float64 { return 1.25 })
				r.NewGaugeFunc("build_info", "Build.", func() float64 { return 1 }, Label{"version", "v1.2.3"}, Label{"go_version", "go1.26"})
				r.NewGaugeFunc("inf", "Infinite.", func() float64 { return math.Inf(1) })
				r.NewGaugeFunc("nan", "Not a number.", func() float64 { return math.NaN() })
				r.NewGaugeFunc("neg", "Negative.", func() float64 { return -0.5 })
			},
			want: `# HELP build_info Build.
# TYPE build_info gauge
build_info{version="v1.2.3",go_version="go1.26"} 1
# HELP db_open Open connections.
# TYPE db_open gauge
db_open 7
# HELP db_wait_seconds_total Waited.
# TYPE db_wait_seconds_total counter
db_wait_seconds_total 1.25
# HELP inf Infinite.
# TYPE inf gauge
inf +Inf
# HELP nan Not a number.
# TYPE nan gauge
nan NaN
# HELP neg Negative.
# TYPE neg gauge
neg -0.5
`,
		},
		{
			name: "histogram cumulative with +Inf, bounds inclusive",
			build: func(r *Registry) {
				h := r.NewHistogramVec("dur_seconds", "Duration.", []float64{0.005, 0.1, 1}, "method")
				for _, v := range []float64{0.001, 0.005, 0.05, 0.5, 2, 3} {
					h.With("GET").Observe(v)
				}
				h.With("POST").Observe(0.1)
			},
			want: `# HELP dur_seconds Duration.
# TYPE dur_seconds histogram
dur_seconds_bucket{method="GET",le="0.005"} 2
dur_seconds_bucket{method="GET",le="0.1"} 3
dur_seconds_bucket{method="GET",le="1"} 4
dur_seconds_bucket{method="GET",le="+Inf"} 6
dur_seconds_sum{method="GET"} 5.556
dur_seconds_count{method="GET"} 6
dur_seconds_bucket{method="POST",le="0.005"} 0
dur_seconds_bucket{method="POST",le="0.1"} 1
dur_seconds_bucket{method="POST",le="1"} 1
dur_seconds_bucket{method="POST",le="+Inf"} 1
dur_seconds_sum{method="POST"} 0.1
dur_seconds_count{method="POST"} 1
`,
		},
		{
			name: "histogram without labels",
			build: func(r *Registry) {
				r.NewHistogramVec("h", "H.", []float64{1}).With().Observe(1)
			},
			want: "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.build(r)
			var b bytes.Buffer
			n, err := r.WriteTo(&b)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(b.Len()) {
				t.Errorf("WriteTo reported %d bytes, wrote %d", n, b.Len())
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if _, err := metricstest.Parse(b.String()); err != nil {
				t.Errorf("own output does not parse: %v", err)
			}
		})
	}
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *Registry)
	}{
		{"empty metric name", func(r *Registry) { r.NewCounter("", "x") }},
		{"metric name with dash", func(r *Registry) { r.NewCounter("a-b", "x") }},
		{"metric name starting with digit", func(r *Registry) { r.NewCounter("1a", "x") }},
		{"label with colon", func(r *Registry) { r.NewCounterVec("a", "x", "b:c") }},
		{"reserved label", func(r *Registry) { r.NewCounterVec("a", "x", "__name") }},
		{"repeated label", func(r *Registry) { r.NewCounterVec("a", "x", "b", "b") }},
		{"duplicate metric", func(r *Registry) { r.NewCounter("a", "x"); r.NewGaugeFunc("a", "x", func() float64 { return 0 }) }},
		{"no buckets", func(r *Registry) { r.NewHistogramVec("h", "x", nil) }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1, 1}) }},
		{"infinite bucket", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1, math.Inf(1)}) }},
		{"le label", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1}, "le") }},
		{"wrong number of values", func(r *Registry) { r.NewCounterVec("a", "x", "b").With("1", "2") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.do(NewRegistry())
		})
	}
}

// TestConcurrent updates from many goroutines while scraping; run it with
// -race. The totals must be exact.
func TestConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("c_total", "C.", "k")
	h := r.NewHistogramVec("h_seconds", "H.", []float64{0.5, 1}, "k")
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var b bytes.Buffer
			r.WriteTo(&b)
			if _, err := metricstest.Parse(b.String()); err != nil {
				scraped <- err
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := strconv.Itoa(w % 3)
			for i := range each {
				c.With(k).Inc()
				h.With(k).Observe(float64(i%3) * 0.5) // 0, 0.5, 1: exact in binary
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatalf("scrape during updates: %v", err)
	}
	var b bytes.Buffer
	r.WriteTo(&b)
	samples, err := metricstest.Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	var total, count, sum float64
	for _, s := range samples {
		switch s.Name {
		case "c_total":
			total += s.Value
		case "h_seconds_count":
			count += s.Value
		case "h_seconds_sum":
			sum += s.Value
		}
	}
	if total != workers*each || count != workers*each {
		t.Errorf("counter total %v, histogram count %v, want %d each", total, count, workers*each)
	}
	// Per goroutine: 667 zeros, 667 halves, 666 ones (i%3 over 0..1999).
	if want := float64(workers) * (667*0.5 + 666*1); sum != want {
		t.Errorf("histogram sum %v, want %v", sum, want)
	}
}

func FuzzLabelValueRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", `a\b`, `"`, "\n", `\n`, `\"`, "\\\n\"", "ok\xffok", "é😀", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := NewRegistry()
		r.NewCounterVec("x_total", "X.", "v", "w").With(v, "after").Inc()
		var b bytes.Buffer
		r.WriteTo(&b)
		samples, err := metricstest.Parse(b.String())
		if err != nil {
			t.Fatalf("value %q: %v\n%s", v, err, b.String())
		}
		if len(samples) != 1 {
			t.Fatalf("value %q: %d samples", v, len(samples))
		}
		want := strings.ToValidUTF8(v, "\uFFFD")
		if got := samples[0].Labels["v"]; got != want {
			t.Fatalf("round trip of %q gave %q, want %q", v, got, want)
		}
		if samples[0].Labels["w"] != "after" {
			t.Fatalf("value %q broke the next label: %v", v, samples[0].Labels)
		}
	})
}
