package backup

import (
	"fmt"
	"sort"
	"time"
)

// Policy is a grandfather-father-son retention policy: the newest backup of
// each of the newest Daily days, Weekly ISO weeks, Monthly months and
// Yearly years (UTC) is kept.
type Policy struct {
	Daily, Weekly, Monthly, Yearly int
}

// DefaultPolicy keeps a week of dailies, a month of weeklies, a year of
// monthlies and seven years of yearlies (books are kept for years).
func DefaultPolicy() Policy { return Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 7} }

// Validate refuses negative counts and a policy that keeps nothing.
func (p Policy) Validate() error {
	if p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 || p.Yearly < 0 {
		return fmt.Errorf("retention counts must not be negative (daily %d, weekly %d, monthly %d, yearly %d)", p.Daily, p.Weekly, p.Monthly, p.Yearly)
	}
	if p.Daily+p.Weekly+p.Monthly+p.Yearly == 0 {
		return fmt.Errorf("retention keeps nothing: set at least one of daily, weekly, monthly, yearly")
	}
	return nil
}

// Point is a backup as retention sees it.
type Point struct {
	ID   string
	Time time.Time
}

// minAge is how young a backup is always kept, whatever the policy.
const minAge = 24 * time.Hour

// Keep returns the IDs of points to keep at time now under p: those the
// policy selects, every point younger than a day, the newest point, and
// protect (the newest verified backup), if non-empty. Everything else may be
// deleted. It is a pure function of its arguments.
func (p Policy) Keep(points []Point, now time.Time, protect string) map[string]bool {
	ps := append([]Point(nil), points...)
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].Time.Equal(ps[j].Time) {
			return ps[i].Time.After(ps[j].Time)
		}
		return ps[i].ID > ps[j].ID
	})
	keep := map[string]bool{}
	if len(ps) > 0 {
		keep[ps[0].ID] = true
	}
	if protect != "" {
		for _, pt := range ps {
			if pt.ID == protect {
				keep[protect] = true
			}
		}
	}
	for _, pt := range ps {
		if now.Sub(pt.Time) < minAge {
			keep[pt.ID] = true
		}
	}
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, pt := range ps {
			if len(seen) == n {
				return
			}
			k := key(pt.Time.UTC())
			if !seen[k] {
				seen[k] = true
				keep[pt.ID] = true
			}
		}
	}
	bucket(p.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) })
	bucket(p.Monthly, func(t time.Time) string { return t.Format("2006-01") })
	bucket(p.Yearly, func(t time.Time) string { return t.Format("2006") })
	return keep
}
