package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// CPUTimes are the machine's cumulative CPU times (all cores), from the
// first line of Linux's /proc/stat, in clock ticks.
type CPUTimes struct {
	Busy, Total uint64
}

// ReadCPU reads /proc/stat. Two readings give how busy the machine was in
// between (BusyBetween): whoever used it, since a benchmark on a shared
// machine should say when it was not alone.
func ReadCPU() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, fmt.Errorf("read CPU times: %w", err)
	}
	return ParseProcStat(b)
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal [guest guest_nice]. Busy is all but
// idle and iowait; guest time is already counted in user and nice, so it
// is not added again.
func ParseProcStat(b []byte) (CPUTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 5 || string(fields[0]) != "cpu" {
		return CPUTimes{}, errors.New("/proc/stat does not start with an aggregate cpu line")
	}
	fields = fields[1:]
	if len(fields) > 8 {
		fields = fields[:8] // guest and guest_nice are inside user and nice
	}
	var t CPUTimes
	for i, f := range fields {
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("/proc/stat: cpu field %d is not a count: %q", i+1, f)
		}
		if t.Total+v < t.Total {
			return CPUTimes{}, fmt.Errorf("/proc/stat: cpu times overflow")
		}
		t.Total += v
		if i != 3 && i != 4 { // idle, iowait
			t.Busy += v
		}
	}
	return t, nil
}

// BusyBetween is the fraction (0–1) of the machine's CPU time that was
// busy from reading a to reading b; 0 when no time passed or the readings
// are out of order.
func BusyBetween(a, b CPUTimes) float64 {
	if b.Total <= a.Total || b.Busy < a.Busy {
		return 0
	}
	return min(float64(b.Busy-a.Busy)/float64(b.Total-a.Total), 1)
}
