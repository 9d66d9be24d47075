package loadgen

import (
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		want    CPUTimes
		wantErr string
	}{
		{"OK linux 5", "cpu  100 5 50 800 20 3 2 1 7 0\ncpu0 50 2 25 400 10 1 1 0 3 0\n", CPUTimes{Busy: 161, Total: 981}, ""},
		{"OK old kernel four fields", "cpu 10 0 10 80\n", CPUTimes{Busy: 20, Total: 100}, ""},
		{"OK no newline", "cpu 1 2 3 4 5 6 7 8", CPUTimes{Busy: 27, Total: 36}, ""},
		{"ErrEmpty", "", CPUTimes{}, "aggregate cpu line"},
		{"ErrPerCore first", "cpu0 1 2 3 4\n", CPUTimes{}, "aggregate cpu line"},
		{"ErrShort", "cpu 1 2 3\n", CPUTimes{}, "aggregate cpu line"},
		{"ErrNotANumber", "cpu 1 2 x 4\n", CPUTimes{}, `field 3 is not a count: "x"`},
		{"ErrNegative", "cpu 1 -2 3 4\n", CPUTimes{}, "field 2"},
		{"ErrOverflow", "cpu 18446744073709551615 1 0 0\n", CPUTimes{}, "overflow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStat([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseProcStat(%q) = %+v, %v; want an error saying %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseProcStat(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestBusyBetween(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b CPUTimes
		want float64
	}{
		{"half", CPUTimes{Busy: 100, Total: 1000}, CPUTimes{Busy: 150, Total: 1100}, 0.5},
		{"all", CPUTimes{Busy: 0, Total: 0}, CPUTimes{Busy: 40, Total: 40}, 1},
		{"no time", CPUTimes{Busy: 5, Total: 10}, CPUTimes{Busy: 5, Total: 10}, 0},
		{"out of order", CPUTimes{Busy: 50, Total: 100}, CPUTimes{Busy: 40, Total: 90}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := BusyBetween(tt.a, tt.b); got != tt.want {
				t.Fatalf("BusyBetween = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("OK this machine", func(t *testing.T) {
		a, err := ReadCPU()
		if err != nil {
			t.Skipf("no /proc/stat here: %v", err)
		}
		if a.Total == 0 || a.Busy > a.Total {
			t.Fatalf("CPU times %+v", a)
		}
	})
}

// FuzzParseProcStat: any input is either refused or gives busy ≤ total.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("cpu  100 5 50 800 20 3 2 1 7 0\n"))
	f.Add([]byte("cpu 1 2 3 4"))
	f.Add([]byte("cpu0 1 2 3 4\ncpu 1 2 3 4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseProcStat(b)
		if err == nil && got.Busy > got.Total {
			t.Fatalf("ParseProcStat(%q) = %+v: busy above total", b, got)
		}
	})
}
