// Package metrics is a small registry of counters, gauges and histograms
// written in Prometheus' text exposition format 0.0.4, with the standard
// library only.
//
// Metric and label names are fixed when a metric is registered; a bad name
// is a programming error and panics then, never at scrape time. Updates on
// the hot path are atomic: no lock once a labelled child exists.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the Content-Type of what WriteTo writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Label is a constant label of a func-read metric (coffer_build_info).
type Label struct {
	Name, Value string
}

// Registry holds metrics and writes them in a stable order (by name; a
// metric's children by label values).
type Registry struct {
	mu      sync.Mutex
	metrics map[string]family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{metrics: make(map[string]family)}
}

// family is one metric with its # HELP and # TYPE lines.
type family interface {
	// write appends the family's samples (not its HELP/TYPE) to b.
	write(b *bytes.Buffer, name string)
	typ() string
	help() string
}

func (r *Registry) register(name string, f family, labels []string) {
	if !validMetricName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		if !validLabelName(l) || seen[l] {
			panic(fmt.Sprintf("metrics: %s: invalid or repeated label name %q", name, l))
		}
		seen[l] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.metrics[name] = f
}

// WriteTo writes every metric in the text exposition format 0.0.4. It
// implements io.WriterTo.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	fams := make(map[string]family, len(r.metrics))
	for n, f := range r.metrics {
		fams[n] = f
	}
	r.mu.Unlock()
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		f := fams[n]
		b.WriteString("# HELP ")
		b.WriteString(n)
		b.WriteByte(' ')
		b.WriteString(escapeHelp(f.help()))
		b.WriteString("\n# TYPE ")
		b.WriteString(n)
		b.WriteByte(' ')
		b.WriteString(f.typ())
		b.WriteByte('\n')
		f.write(&b, n)
	}
	return b.WriteTo(w)
}

// Counter is a monotonically increasing count.
type Counter struct {
	v atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value is the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// CounterVec is a counter per combination of its labels' values.
type CounterVec struct {
	helpText string
	vec      vec[Counter]
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) *Counter {
	return r.NewCounterVec(name, help).With()
}

// NewCounterVec registers a counter with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	v := &CounterVec{helpText: help, vec: vec[Counter]{labels: slices.Clone(labels), make: func() *Counter { return new(Counter) }}}
	r.register(name, v, labels)
	return v
}

// With returns the counter for the label values, in the order the label
// names were given. A wrong number of values panics. Values must never come
// from user input: each distinct value is a new time series, kept forever.
func (v *CounterVec) With(values ...string) *Counter { return v.vec.with(values) }

func (v *CounterVec) typ() string  { return "counter" }
func (v *CounterVec) help() string { return v.helpText }
func (v *CounterVec) write(b *bytes.Buffer, name string) {
	for _, c := range v.vec.sorted() {
		writeSample(b, name, v.vec.labels, c.values, "", "", strconv.FormatUint(c.m.Value(), 10))
	}
}

// funcMetric is a gauge or counter whose value is read at scrape time.
type funcMetric struct {
	kind, helpText string
	labels         []Label
	f              func() float64
}

func (m *funcMetric) typ() string  { return m.kind }
func (m *funcMetric) help() string { return m.helpText }
func (m *funcMetric) write(b *bytes.Buffer, name string) {
	names := make([]string, len(m.labels))
	values := make([]string, len(m.labels))
	for i, l := range m.labels {
		names[i], values[i] = l.Name, l.Value
	}
	writeSample(b, name, names, values, "", "", formatFloat(m.f()))
}

// NewGaugeFunc registers a gauge whose value f returns at each scrape. f
// must be safe for concurrent use.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64, labels ...Label) {
	r.newFunc("gauge", name, help, f, labels)
}

// NewCounterFunc registers a counter whose value f returns at each scrape
// (a total kept elsewhere, such as database/sql's wait count). f must be
// safe for concurrent use and never decrease.
func (r *Registry) NewCounterFunc(name, help string, f func() float64, labels ...Label) {
	r.newFunc("counter", name, help, f, labels)
}

func (r *Registry) newFunc(kind, name, help string, f func() float64, labels []Label) {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.Name
	}
	r.register(name, &funcMetric{kind: kind, helpText: help, labels: slices.Clone(labels), f: f}, names)
}

// Histogram counts observations into fixed buckets.
type Histogram struct {
	upper []float64 // the buckets' upper bounds, ascending, without +Inf
	// counts[i] is the number of observations in (upper[i-1], upper[i]];
	// the last one counts those above every bound. Cumulated at scrape.
	counts  []atomic.Uint64
	sumBits atomic.Uint64
}

// Observe records one observation.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v) // first bound >= v; len(upper) for +Inf
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// HistogramVec is a histogram per combination of its labels' values.
type HistogramVec struct {
	helpText string
	upper    []float64
	vec      vec[Histogram]
}

// NewHistogramVec registers a histogram with the given bucket upper
// bounds (strictly increasing, finite; +Inf is implicit) and label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if len(buckets) == 0 {
		panic(fmt.Sprintf("metrics: %s: no buckets", name))
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= buckets[i-1]) {
			panic(fmt.Sprintf("metrics: %s: buckets must be finite and strictly increasing", name))
		}
	}
	if slices.Contains(labels, "le") {
		panic(fmt.Sprintf("metrics: %s: le is the bucket label", name))
	}
	upper := slices.Clone(buckets)
	v := &HistogramVec{helpText: help, upper: upper}
	v.vec = vec[Histogram]{labels: slices.Clone(labels), make: func() *Histogram {
		return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
	}}
	r.register(name, v, labels)
	return v
}

// With returns the histogram for the label values (see CounterVec.With).
func (v *HistogramVec) With(values ...string) *Histogram { return v.vec.with(values) }

func (v *HistogramVec) typ() string  { return "histogram" }
func (v *HistogramVec) help() string { return v.helpText }
func (v *HistogramVec) write(b *bytes.Buffer, name string) {
	for _, c := range v.vec.sorted() {
		h := c.m
		// _count is the +Inf bucket, so the two always agree; the sum is
		// read separately and may include an observation the buckets do
		// not yet (Prometheus tolerates that).
		var cum uint64
		for i, u := range h.upper {
			cum += h.counts[i].Load()
			writeSample(b, name+"_bucket", v.vec.labels, c.values, "le", formatFloat(u), strconv.FormatUint(cum, 10))
		}
		cum += h.counts[len(h.upper)].Load()
		writeSample(b, name+"_bucket", v.vec.labels, c.values, "le", "+Inf", strconv.FormatUint(cum, 10))
		writeSample(b, name+"_sum", v.vec.labels, c.values, "", "", formatFloat(math.Float64frombits(h.sumBits.Load())))
		writeSample(b, name+"_count", v.vec.labels, c.values, "", "", strconv.FormatUint(cum, 10))
	}
}

// vec maps label values to children. Reads of an existing child do not
// lock (sync.Map); creating one takes the map's internal lock once.
type vec[M any] struct {
	labels   []string
	make     func() *M
	children sync.Map // joined values -> *child[M]
}

type child[M any] struct {
	values []string
	m      *M
}

// sep cannot occur in valid UTF-8, so joined values never collide.
const sep = "\xff"

func (v *vec[M]) with(values []string) *M {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %d label values for labels %v", len(values), v.labels))
	}
	key := strings.Join(values, sep)
	if c, ok := v.children.Load(key); ok {
		return c.(*child[M]).m
	}
	vals := make([]string, len(values))
	for i, s := range values {
		vals[i] = strings.ToValidUTF8(s, "\uFFFD")
	}
	c, _ := v.children.LoadOrStore(key, &child[M]{values: vals, m: v.make()})
	return c.(*child[M]).m
}

func (v *vec[M]) sorted() []*child[M] {
	var out []*child[M]
	v.children.Range(func(_, c any) bool {
		out = append(out, c.(*child[M]))
		return true
	})
	slices.SortFunc(out, func(a, b *child[M]) int { return slices.Compare(a.values, b.values) })
	return out
}

// writeSample writes one line: name{labels…,extra="…"} value.
func writeSample(b *bytes.Buffer, name string, labels, values []string, extraName, extraValue, value string) {
	b.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			writeLabel(b, l, values[i])
		}
		if extraName != "" {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			writeLabel(b, extraName, extraValue)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(value)
	b.WriteByte('\n')
}

func writeLabel(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(EscapeLabelValue(value))
	b.WriteByte('"')
}

// EscapeLabelValue escapes a label value for the text format: backslash,
// double quote and line feed; invalid UTF-8 becomes U+FFFD.
func EscapeLabelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return labelEscaper.Replace(s)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return helpEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

// formatFloat writes a value as Prometheus reads it back: shortest form,
// +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == ':' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || (i > 0 && '0' <= r && r <= '9')) {
			return false
		}
	}
	return true
}

// validLabelName: [a-zA-Z_][a-zA-Z0-9_]*, and names starting with __ are
// reserved for Prometheus itself.
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, r := range s {
		if !(r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || (i > 0 && '0' <= r && r <= '9')) {
			return false
		}
	}
	return true
}
