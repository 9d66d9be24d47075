package anomaly

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config holds the rules' thresholds.
type Config struct {
	// SprayAccounts distinct accounts failing a password from one client
	// within SprayWindow is spraying, or stuffing when at least half of
	// them are unknown emails.
	SprayAccounts int
	SprayWindow   time.Duration
	// MFAFailures failed second-factor attempts on one account within
	// MFAWindow.
	MFAFailures int
	MFAWindow   time.Duration
	// PushUnapproved push requests denied or left unanswered within
	// PushWindow is push bombing (MFA fatigue).
	PushUnapproved int
	PushWindow     time.Duration
	// ExportFloor: more exports in a UTC day than the larger of this and
	// twice the user's busiest day of the previous 30.
	ExportFloor int
	// HoursMinHistory sign-ins are needed before the hour of a new one can
	// be unusual; it is compared with the last HoursHistory.
	HoursMinHistory int
	HoursHistory    int
	// MaxSpeedKmh is the fastest plausible travel between two sign-ins
	// (an airliner); places closer than MinTravelKm are never impossible,
	// as location files are coarse.
	MaxSpeedKmh float64
	MinTravelKm float64
	// QueueSize bounds the events waiting for evaluation.
	QueueSize int
}

// DefaultConfig returns the thresholds described in docs.
func DefaultConfig() Config {
	return Config{
		SprayAccounts: 10, SprayWindow: 10 * time.Minute,
		MFAFailures: 5, MFAWindow: 15 * time.Minute,
		PushUnapproved: 3, PushWindow: 10 * time.Minute,
		ExportFloor:     3,
		HoursMinHistory: 10, HoursHistory: 20,
		MaxSpeedKmh: 900, MinTravelKm: 100,
		QueueSize: 4096,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var problems []error
	if c.SprayAccounts < 2 || c.SprayWindow <= 0 {
		problems = append(problems, errors.New("spraying needs at least 2 accounts and a window"))
	}
	if c.MFAFailures < 1 || c.MFAWindow <= 0 || c.PushUnapproved < 1 || c.PushWindow <= 0 {
		problems = append(problems, errors.New("second-factor thresholds and windows must be positive"))
	}
	if c.ExportFloor < 1 || c.HoursMinHistory < 1 || c.HoursHistory < c.HoursMinHistory {
		problems = append(problems, errors.New("export floor and hour history must be positive, history at least the minimum"))
	}
	if c.MaxSpeedKmh <= 0 || c.MinTravelKm < 0 || c.QueueSize < 1 {
		problems = append(problems, errors.New("travel speed, distance and queue size must be positive"))
	}
	return errors.Join(problems...)
}

// ruleSpec is what a rule's finding weighs and does. Locking is kept for
// push bombing: the attacker already has the password, and a locked
// account stops the prompts; across-account attacks alert administrators
// rather than lock every targeted account (which would hand the attacker a
// denial of service).
type ruleSpec struct {
	Severity string
	Actions  []string
	Label    string
}

var rules = map[string]ruleSpec{
	RuleNewDevice:      {Low, []string{AlertUser}, "Sign-in from a new device"},
	RuleNewRegion:      {Medium, []string{AlertUser}, "Sign-in from a new country or network"},
	RuleImpossible:     {High, []string{AlertUser, StepUp, AlertAdmins}, "Impossible travel between sign-ins"},
	RuleSpraying:       {High, []string{AlertAdmins}, "Password spraying"},
	RuleStuffing:       {High, []string{AlertAdmins}, "Credential stuffing"},
	RuleMFAFailures:    {Medium, []string{AlertUser}, "Repeated second-factor failures"},
	RuleMFAFatigue:     {High, []string{AlertUser, Lock, AlertAdmins}, "Push approvals denied or ignored (MFA fatigue)"},
	RuleExportVolume:   {Medium, []string{AlertUser, AlertAdmins}, "Unusual data export volume"},
	RuleUnusualHours:   {Low, []string{AlertUser}, "Sign-in at an unusual hour"},
	RuleRoleEscalation: {Medium, []string{AlertAdmins, AlertUser}, "Member made owner or adviser"},
}

// RuleLabel names a rule for people.
func RuleLabel(rule string) string {
	if r, ok := rules[rule]; ok {
		return r.Label
	}
	return rule
}

func newFinding(rule string, userID, orgID int64, ip string, at time.Time, detail string, args ...any) *Finding {
	spec := rules[rule]
	return &Finding{Rule: rule, Severity: spec.Severity, Actions: append([]string(nil), spec.Actions...), UserID: userID, OrgID: orgID, IP: ip,
		Detail: fmt.Sprintf(detail, args...), CreatedAt: at, Status: StatusOpen}
}

// signInFindings judges a successful sign-in against the user's earlier
// ones, newest first. A first sign-in has nothing to differ from.
func (c Config) signInFindings(cur *Signal, prior []*Signal) []*Finding {
	if len(prior) == 0 {
		return nil
	}
	var out []*Finding
	net := NetworkOf(cur.IP)
	known := false
	for _, p := range prior {
		if (cur.Device != "" && p.Device == cur.Device) || (p.UserAgent == cur.UserAgent && NetworkOf(p.IP) == net) {
			known = true
			break
		}
	}
	if !known {
		out = append(out, newFinding(RuleNewDevice, cur.UserID, 0, cur.IP, cur.At, "Signed in from a device not seen before (%s, %s).", shortUA(cur.UserAgent), cur.IP))
	}
	if f := c.regionFinding(cur, prior, net); f != nil {
		out = append(out, f)
	}
	if f := c.travelFinding(cur, prior); f != nil {
		out = append(out, f)
	}
	if f := c.hoursFinding(cur, prior); f != nil {
		out = append(out, f)
	}
	return out
}

func (c Config) regionFinding(cur *Signal, prior []*Signal, net string) *Finding {
	if cur.HasLoc {
		var seen []string
		for _, p := range prior {
			if !p.HasLoc {
				continue
			}
			if p.Country == cur.Country {
				return nil
			}
			seen = append(seen, p.Country)
		}
		if len(seen) > 0 {
			return newFinding(RuleNewRegion, cur.UserID, 0, cur.IP, cur.At, "Signed in from %s, a country not seen before (last: %s).", cur.Country, seen[0])
		}
	}
	if net == "" {
		return nil
	}
	for _, p := range prior {
		if NetworkOf(p.IP) == net {
			return nil
		}
	}
	return newFinding(RuleNewRegion, cur.UserID, 0, cur.IP, cur.At, "Signed in from network %s, not seen before (last: %s).", net, NetworkOf(prior[0].IP))
}

func (c Config) travelFinding(cur *Signal, prior []*Signal) *Finding {
	if !cur.HasLoc {
		return nil
	}
	for _, p := range prior {
		if !p.HasLoc {
			continue
		}
		km := DistanceKm(Place{Lat: p.Lat, Lon: p.Lon}, Place{Lat: cur.Lat, Lon: cur.Lon})
		if km < c.MinTravelKm {
			return nil
		}
		hours := cur.At.Sub(p.At).Hours()
		speed := math.Inf(1)
		if hours > 0 {
			speed = km / hours
		}
		if speed <= c.MaxSpeedKmh {
			return nil
		}
		return newFinding(RuleImpossible, cur.UserID, 0, cur.IP, cur.At, "Signed in from %s (%s) %s after a sign-in from %s (%s), %.0f km away: faster than %.0f km/h.",
			cur.Country, cur.IP, cur.At.Sub(p.At).Round(time.Second), p.Country, p.IP, km, c.MaxSpeedKmh)
	}
	return nil
}

func (c Config) hoursFinding(cur *Signal, prior []*Signal) *Finding {
	if len(prior) < c.HoursMinHistory {
		return nil
	}
	h := cur.At.UTC().Hour()
	for i, p := range prior {
		if i >= c.HoursHistory {
			break
		}
		d := h - p.At.UTC().Hour()
		if d < 0 {
			d = -d
		}
		if d > 12 {
			d = 24 - d
		}
		if d <= 1 {
			return nil
		}
	}
	return newFinding(RuleUnusualHours, cur.UserID, 0, cur.IP, cur.At, "Signed in at %02d:00 UTC, outside the hours of the last %d sign-ins.", h, min(len(prior), c.HoursHistory))
}

// failureFinding judges a client's failed passwords within the window
// (newest first, the current one included): many accounts is spraying,
// or stuffing when most of them do not exist.
func (c Config) failureFinding(cur *Signal, window []*Signal) *Finding {
	accounts := map[string]bool{}
	for _, s := range window {
		accounts[s.Account] = accounts[s.Account] || s.Known
	}
	if len(accounts) < c.SprayAccounts {
		return nil
	}
	unknown := 0
	for _, known := range accounts {
		if !known {
			unknown++
		}
	}
	rule := RuleSpraying
	if unknown*2 >= len(accounts) {
		rule = RuleStuffing
	}
	return newFinding(rule, 0, 0, cur.IP, cur.At, "Client %s failed passwords on %d accounts (%d of them unknown emails) within %s.", cur.IP, len(accounts), unknown, c.SprayWindow)
}

// mfaFinding: n failed second factors for the user within the window.
func (c Config) mfaFinding(userID int64, ip string, n int, at time.Time) *Finding {
	if n < c.MFAFailures {
		return nil
	}
	return newFinding(RuleMFAFailures, userID, 0, ip, at, "%d failed second-factor attempts within %s; the last from %s.", n, c.MFAWindow, ip)
}

// fatigueFinding: n push requests denied or unanswered within the window.
func (c Config) fatigueFinding(userID int64, ip string, n int, at time.Time) *Finding {
	if n < c.PushUnapproved {
		return nil
	}
	return newFinding(RuleMFAFatigue, userID, 0, ip, at, "%d Coffer Verify sign-in requests denied or not answered within %s; the last from %s. The account is locked until an administrator unlocks it.", n, c.PushWindow, ip)
}

// exportFinding judges the user's exports of today against the busiest
// day of the previous 30 (exports newest first, today's included).
func (c Config) exportFinding(cur *Signal, exports []*Signal, orgID int64) *Finding {
	day := cur.At.UTC().Truncate(24 * time.Hour)
	today := 0
	daily := map[time.Time]int{}
	for _, e := range exports {
		d := e.At.UTC().Truncate(24 * time.Hour)
		if d.Equal(day) {
			today++
		} else {
			daily[d]++
		}
	}
	usual := 0
	for _, n := range daily {
		usual = max(usual, n)
	}
	limit := max(c.ExportFloor, 2*usual)
	if today <= limit {
		return nil
	}
	return newFinding(RuleExportVolume, cur.UserID, orgID, cur.IP, cur.At, "%d exports today; the busiest day of the previous 30 had %d.", today, usual)
}

func shortUA(ua string) string {
	if ua == "" {
		return "no user agent"
	}
	if r := []rune(ua); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return ua
}
