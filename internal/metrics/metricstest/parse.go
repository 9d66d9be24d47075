// Package metricstest reads Prometheus' text exposition format 0.0.4
// back, strictly, for tests of what internal/metrics writes and what
// /metrics serves.
package metricstest

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sample is one parsed sample line.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Parse reads text format 0.0.4 strictly: every line a HELP or
// TYPE comment or a sample of a declared family, names and label names
// valid, label values properly escaped, values parseable, histogram
// buckets cumulative and ending in +Inf equal to _count. It fails on
// anything else.
func Parse(text string) ([]Sample, error) {
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, errors.New("output does not end with a line feed")
	}
	types := map[string]string{}
	helps := map[string]bool{}
	var out []Sample
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if !utf8.ValidString(l) {
			return nil, fmt.Errorf("line %d: invalid UTF-8", line)
		}
		switch {
		case strings.HasPrefix(l, "# HELP "):
			name, help, ok := strings.Cut(strings.TrimPrefix(l, "# HELP "), " ")
			if !ok || !validMetricName(name) || helps[name] {
				return nil, fmt.Errorf("line %d: bad or repeated HELP: %q", line, l)
			}
			if _, err := unescape(help, false); err != nil {
				return nil, fmt.Errorf("line %d: HELP text: %v", line, err)
			}
			helps[name] = true
		case strings.HasPrefix(l, "# TYPE "):
			name, typ, ok := strings.Cut(strings.TrimPrefix(l, "# TYPE "), " ")
			if !ok || !validMetricName(name) || types[name] != "" {
				return nil, fmt.Errorf("line %d: bad or repeated TYPE: %q", line, l)
			}
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fmt.Errorf("line %d: unknown type %q", line, typ)
			}
			types[name] = typ
		case strings.HasPrefix(l, "#") || l == "":
			return nil, fmt.Errorf("line %d: unexpected comment or blank line %q", line, l)
		default:
			s, err := parseSample(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v: %q", line, err, l)
			}
			fam := s.Name
			if types[fam] == "" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(s.Name, suf); ok && types[base] == "histogram" {
						fam = base
					}
				}
			}
			if types[fam] == "" {
				return nil, fmt.Errorf("line %d: sample of undeclared family %q", line, s.Name)
			}
			if types[fam] == "histogram" && fam == s.Name {
				return nil, fmt.Errorf("line %d: histogram sample without suffix", line)
			}
			if types[fam] == "counter" && (s.Value < 0 || math.IsNaN(s.Value)) {
				return nil, fmt.Errorf("line %d: counter value %v", line, s.Value)
			}
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, checkHistograms(out, types)
}

// parseSample reads name{label="value",…} value.
func parseSample(l string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(l, "{ ")
	if i <= 0 {
		return s, errors.New("no metric name")
	}
	s.Name = l[:i]
	if !validMetricName(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	rest := l[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, errors.New("label without =\"")
			}
			name := rest[:eq]
			if !validLabelName(name) && name != "le" {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("repeated label %q", name)
			}
			rest = rest[eq+2:]
			end := -1
			for j := 0; j < len(rest); j++ {
				if rest[j] == '\\' {
					j++
					continue
				}
				if rest[j] == '"' {
					end = j
					break
				}
			}
			if end < 0 {
				return s, errors.New("unterminated label value")
			}
			v, err := unescape(rest[:end], true)
			if err != nil {
				return s, err
			}
			s.Labels[name] = v
			rest = rest[end+1:]
			switch {
			case strings.HasPrefix(rest, ","):
				rest = rest[1:]
			case strings.HasPrefix(rest, "}"):
			default:
				return s, errors.New("label not followed by , or }")
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, errors.New("no space before the value")
	}
	fields := strings.Split(rest[1:], " ")
	if len(fields) > 2 || fields[0] == "" {
		return s, errors.New("want a value and an optional timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value: %v", err)
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, fmt.Errorf("timestamp: %v", err)
		}
	}
	s.Value = v
	return s, nil
}

// unescape undoes the format's escapes: \\ and \n, and \" in label values.
// A raw line feed, a raw quote in a label value or any other escape is an
// error.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			return "", errors.New("raw line feed")
		case c == '"' && label:
			return "", errors.New("unescaped quote")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("dangling backslash")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !label {
				return "", errors.New(`\" in HELP text`)
			}
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// checkHistograms: per series, buckets ascend in le, counts never fall, a
// +Inf bucket comes last and equals _count, and a _sum is there.
func checkHistograms(samples []Sample, types map[string]string) error {
	type series struct {
		lastLe, lastCount float64
		inf, count        float64
		hasInf, hasCount  bool
		hasSum            bool
	}
	all := map[string]*series{}
	key := func(base string, labels map[string]string) string {
		var parts []string
		for k, v := range labels {
			if k != "le" {
				parts = append(parts, k+"="+v)
			}
		}
		slices.Sort(parts)
		return base + "{" + strings.Join(parts, ",") + "}"
	}
	for _, s := range samples {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(s.Name, suf)
			if !ok || types[base] != "histogram" {
				continue
			}
			k := key(base, s.Labels)
			sr := all[k]
			if sr == nil {
				sr = &series{lastLe: math.Inf(-1)}
				all[k] = sr
			}
			switch suf {
			case "_bucket":
				leText, ok := s.Labels["le"]
				if !ok {
					return fmt.Errorf("%s: bucket without le", k)
				}
				le, err := strconv.ParseFloat(leText, 64)
				if err != nil {
					return fmt.Errorf("%s: le %q: %v", k, leText, err)
				}
				if sr.hasInf || le <= sr.lastLe || s.Value < sr.lastCount {
					return fmt.Errorf("%s: buckets not ascending and cumulative at le=%s", k, leText)
				}
				sr.lastLe, sr.lastCount = le, s.Value
				if math.IsInf(le, 1) {
					sr.hasInf, sr.inf = true, s.Value
				}
			case "_count":
				sr.hasCount, sr.count = true, s.Value
			case "_sum":
				sr.hasSum = true
			}
		}
	}
	for k, sr := range all {
		if !sr.hasInf || !sr.hasCount || !sr.hasSum || sr.inf != sr.count {
			return fmt.Errorf("%s: want +Inf bucket = _count and a _sum (inf %v, count %v)", k, sr.inf, sr.count)
		}
	}
	return nil
}

// validMetricName and validLabelName restate the format's rules rather
// than call package metrics' own: this parser is the independent reading
// the writer is checked against, so it must not share the writer's
// mistakes.
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

// Value returns the value of the one sample named name whose labels
// include all of want, and whether there is exactly one.
func Value(samples []Sample, name string, want map[string]string) (float64, bool) {
	var v float64
	n := 0
	for _, s := range samples {
		if s.Name != name {
			continue
		}
		match := true
		for k, wv := range want {
			if s.Labels[k] != wv {
				match = false
			}
		}
		if match {
			v = s.Value
			n++
		}
	}
	return v, n == 1
}
