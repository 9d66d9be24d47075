package backup_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"coffer/internal/backup"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// daily returns one point per day at 03:00 from first to last.
func daily(first, last string) []backup.Point {
	var ps []backup.Point
	for d := day(first + " 03:00"); !d.After(day(last + " 03:00")); d = d.AddDate(0, 0, 1) {
		ps = append(ps, backup.Point{ID: d.Format("20060102T150405Z") + "-000000", Time: d})
	}
	return ps
}

func kept(keep map[string]bool) []string {
	var out []string
	for id := range keep {
		out = append(out, id[:8])
	}
	sort.Strings(out)
	return out
}

func TestPolicyKeep(t *testing.T) {
	tests := []struct {
		name    string
		policy  backup.Policy
		points  []backup.Point
		now     string
		protect string
		want    string
	}{
		{"OK daily only", backup.Policy{Daily: 3}, daily("2026-01-01", "2026-01-10"), "2026-01-12 00:00", "",
			"[20260108 20260109 20260110]"},
		{"OK weekly picks the newest of each ISO week", backup.Policy{Weekly: 3}, daily("2026-01-01", "2026-01-20"), "2026-01-25 00:00", "",
			// Weeks end on Sunday 11th and 18th; the 20th is in the current week.
			"[20260111 20260118 20260120]"},
		{"OK monthly and yearly", backup.Policy{Monthly: 2, Yearly: 3}, daily("2024-11-25", "2026-02-03"), "2026-02-10 00:00", "",
			"[20241231 20251231 20260131 20260203]"},
		{"OK defaults over two years", backup.DefaultPolicy(), daily("2024-01-01", "2025-12-31"), "2026-01-01 12:00", "",
			// 31 Dec 2025 is a Wednesday of ISO week 2026-W01, with 28 Dec (W52).
			"[20241231 20250131 20250228 20250331 20250430 20250531 20250630 20250731 20250831 20250930 20251031 20251130 20251214 20251221 20251225 20251226 20251227 20251228 20251229 20251230 20251231]"},
		{"OK younger than a day always kept", backup.Policy{Daily: 1}, []backup.Point{
			{ID: "20260110T010000Z-000001", Time: day("2026-01-10 01:00")},
			{ID: "20260110T020000Z-000002", Time: day("2026-01-10 02:00")},
			{ID: "20260108T020000Z-000003", Time: day("2026-01-08 02:00")},
		}, "2026-01-10 12:00", "", "[20260110 20260110]"},
		{"OK protected verified backup kept", backup.Policy{Daily: 1}, daily("2026-01-01", "2026-01-05"), "2026-02-01 00:00", "20260102T030000Z-000000",
			"[20260102 20260105]"},
		{"OK unknown protect ignored", backup.Policy{Daily: 1}, daily("2026-01-01", "2026-01-02"), "2026-02-01 00:00", "20250101T000000Z-ffffff",
			"[20260102]"},
		{"OK nothing", backup.DefaultPolicy(), nil, "2026-02-01 00:00", "", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmt.Sprint(kept(tt.policy.Keep(tt.points, day(tt.now), tt.protect)))
			if got != tt.want {
				t.Errorf("kept %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []backup.Policy{{}, {Daily: -1, Weekly: 3}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := backup.DefaultPolicy().Validate(); err != nil {
		t.Error(err)
	}
}
