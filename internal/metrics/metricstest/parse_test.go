package metricstest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string
		want    []Sample
	}{
		{name: "empty", text: ""},
		{name: "counter with labels and timestamp", text: "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\",y=\"\"} 3 1700000000000\n",
			want: []Sample{{Name: "a_total", Labels: map[string]string{"x": "q\"\\\n", "y": ""}, Value: 3}}},
		{name: "no final line feed", text: "# TYPE a gauge\na 1", wantErr: "line feed"},
		{name: "undeclared family", text: "a 1\n", wantErr: "undeclared"},
		{name: "repeated TYPE", text: "# TYPE a gauge\n# TYPE a gauge\n", wantErr: "repeated TYPE"},
		{name: "unknown type", text: "# TYPE a meter\n", wantErr: "unknown type"},
		{name: "blank line", text: "# TYPE a gauge\n\na 1\n", wantErr: "blank"},
		{name: "bad metric name", text: "# TYPE a-b gauge\n", wantErr: "bad or repeated TYPE"},
		{name: "unterminated label", text: "# TYPE a gauge\na{x=\"1} 1\n", wantErr: "unterminated"},
		{name: "raw quote", text: "# TYPE a gauge\na{x=\"1\"\"} 1\n", wantErr: "label not followed"},
		{name: "unknown escape", text: "# TYPE a gauge\na{x=\"\\t\"} 1\n", wantErr: "unknown escape"},
		{name: "repeated label", text: "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", wantErr: "repeated label"},
		{name: "bad value", text: "# TYPE a gauge\na one\n", wantErr: "value"},
		{name: "two spaces", text: "# TYPE a gauge\na  1\n", wantErr: "want a value"},
		{name: "negative counter", text: "# TYPE a_total counter\na_total -1\n", wantErr: "counter value"},
		{name: "histogram not cumulative", text: "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", wantErr: "cumulative"},
		{name: "histogram count differs", text: "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", wantErr: "_count"},
		{name: "histogram without +Inf", text: "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", wantErr: "+Inf"},
		{name: "histogram ok", text: "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
			want: []Sample{{Name: "h_bucket", Labels: map[string]string{"le": "1"}, Value: 1}, {Name: "h_bucket", Labels: map[string]string{"le": "+Inf"}, Value: 1}, {Name: "h_sum", Labels: map[string]string{}, Value: 1}, {Name: "h_count", Labels: map[string]string{}, Value: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d samples %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.Value != w.Value || len(g.Labels) != len(w.Labels) {
					t.Fatalf("sample %d = %+v, want %+v", i, g, w)
				}
				for k, v := range w.Labels {
					if g.Labels[k] != v {
						t.Fatalf("sample %d label %s = %q, want %q", i, k, g.Labels[k], v)
					}
				}
			}
		})
	}
}

// FuzzParse: the parser never panics, and whatever it accepts has valid
// names.
func FuzzParse(f *testing.F) {
	f.Add("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
	f.Add("# TYPE a gauge\na{x=\"\\\\\\\"\\n\"} NaN\n")
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := Parse(text)
		if err != nil {
			return
		}
		for _, s := range samples {
			if !validMetricName(s.Name) {
				t.Fatalf("accepted metric name %q", s.Name)
			}
			for k := range s.Labels {
				if !validLabelName(k) && k != "le" {
					t.Fatalf("accepted label name %q", k)
				}
			}
		}
	})
}
