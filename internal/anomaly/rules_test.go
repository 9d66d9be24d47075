package anomaly

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// Two places the tests' location file knows: London and Sydney.
var (
	london = Place{Country: "GB", Lat: 51.5074, Lon: -0.1278}
	paris  = Place{Country: "FR", Lat: 48.8566, Lon: 2.3522}
	sydney = Place{Country: "AU", Lat: -33.8688, Lon: 151.2093}
)

func signIn(at time.Time, ip, ua string, p *Place) *Signal {
	s := &Signal{Kind: SignalSignIn, UserID: 7, IP: ip, UserAgent: ua, At: at}
	if p != nil {
		s.Country, s.Lat, s.Lon, s.HasLoc = p.Country, p.Lat, p.Lon, true
	}
	return s
}

func rulesOf(fs []*Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return strings.Join(out, ",")
}

func TestSignInRules(t *testing.T) {
	c := DefaultConfig()
	ua := "Mozilla/5.0 Firefox"
	tests := []struct {
		name  string
		cur   *Signal
		prior []*Signal
		want  string
	}{
		{"first sign-in: nothing to compare", signIn(t0, "10.1.2.3", ua, nil), nil, ""},
		{"same device, same network", signIn(t0, "10.1.9.9", ua, nil), []*Signal{signIn(t0.Add(-time.Hour), "10.1.2.3", ua, nil)}, ""},
		{"same device cookie from elsewhere: known device, new network",
			&Signal{Kind: SignalSignIn, UserID: 7, IP: "10.9.0.1", UserAgent: "curl", Device: "d1", At: t0},
			[]*Signal{{Kind: SignalSignIn, UserID: 7, IP: "10.1.2.3", UserAgent: ua, Device: "d1", At: t0.Add(-time.Hour)}}, RuleNewRegion},
		{"new user agent", signIn(t0, "10.1.2.3", "curl/8", nil), []*Signal{signIn(t0.Add(-time.Hour), "10.1.2.3", ua, nil)}, RuleNewDevice},
		{"new /16 without location file", signIn(t0, "10.2.0.1", ua, nil), []*Signal{signIn(t0.Add(-time.Hour), "10.1.2.3", ua, nil)}, RuleNewDevice + "," + RuleNewRegion},
		{"ipv6 same /48", signIn(t0, "2001:db8:1:ffff::1", ua, nil), []*Signal{signIn(t0.Add(-time.Hour), "2001:db8:1::1", ua, nil)}, ""},
		{"ipv6 new /48", signIn(t0, "2001:db8:2::1", ua, nil), []*Signal{signIn(t0.Add(-time.Hour), "2001:db8:1::1", ua, nil)}, RuleNewDevice + "," + RuleNewRegion},
		{"same country with location file", signIn(t0, "10.2.0.1", ua, &london), []*Signal{signIn(t0.Add(-time.Hour), "10.1.0.1", ua, &london)}, RuleNewDevice},
		{"London to Paris in 3 hours is possible", signIn(t0, "10.2.0.1", ua, &paris), []*Signal{signIn(t0.Add(-3*time.Hour), "10.1.0.1", ua, &london)}, RuleNewDevice + "," + RuleNewRegion},
		{"London to Sydney in 2 hours is not", signIn(t0, "10.2.0.1", ua, &sydney), []*Signal{signIn(t0.Add(-2*time.Hour), "10.1.0.1", ua, &london)}, RuleNewDevice + "," + RuleNewRegion + "," + RuleImpossible},
		{"London to Sydney in 20 hours is", signIn(t0, "10.2.0.1", ua, &sydney), []*Signal{signIn(t0.Add(-20*time.Hour), "10.1.0.1", ua, &london)}, RuleNewDevice + "," + RuleNewRegion},
		{"same instant, far apart", signIn(t0, "10.2.0.1", ua, &sydney), []*Signal{signIn(t0, "10.1.0.1", ua, &london)}, RuleNewDevice + "," + RuleNewRegion + "," + RuleImpossible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rulesOf(c.signInFindings(tt.cur, tt.prior)); got != tt.want {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnusualHours(t *testing.T) {
	c := DefaultConfig()
	ua := "ua"
	// history: n sign-ins at 09:xx UTC on earlier days, same device.
	history := func(n int) []*Signal {
		var out []*Signal
		for i := 1; i <= n; i++ {
			out = append(out, signIn(t0.AddDate(0, 0, -i).Add(time.Duration(i%3)*10*time.Minute), "10.1.0.1", ua, nil))
		}
		return out
	}
	tests := []struct {
		name  string
		hour  int
		prior int
		want  bool
	}{
		{"usual hour", 9, 12, false},
		{"an hour later is within tolerance", 10, 12, false},
		{"three in the morning", 3, 12, true},
		{"not enough history yet", 3, 9, false},
		{"wraps around midnight", 23, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Date(2025, 3, 3, tt.hour, 0, 0, 0, time.UTC)
			got := c.hoursFinding(signIn(at, "10.1.0.1", ua, nil), history(tt.prior)) != nil
			if got != tt.want {
				t.Errorf("unusual = %t, want %t", got, tt.want)
			}
		})
	}
	// Midnight wrap: history at 23:30, sign-in at 00:10 is usual.
	var late []*Signal
	for i := 1; i <= 12; i++ {
		late = append(late, signIn(time.Date(2025, 3, 3-i, 23, 30, 0, 0, time.UTC), "10.1.0.1", ua, nil))
	}
	if f := c.hoursFinding(signIn(time.Date(2025, 3, 3, 0, 10, 0, 0, time.UTC), "10.1.0.1", ua, nil), late); f != nil {
		t.Errorf("00:10 after a history of 23:30 flagged: %s", f.Detail)
	}
}

func TestFailureRule(t *testing.T) {
	c := DefaultConfig()
	window := func(accounts, unknown int) []*Signal {
		var out []*Signal
		for i := 0; i < accounts; i++ {
			out = append(out, &Signal{Kind: SignalPasswordBad, Account: fmt.Sprint("acct", i), Known: i >= unknown, IP: "192.0.2.1", At: t0})
			// the same account again does not count twice
			out = append(out, &Signal{Kind: SignalPasswordBad, Account: fmt.Sprint("acct", i), Known: i >= unknown, IP: "192.0.2.1", At: t0})
		}
		return out
	}
	tests := []struct {
		name              string
		accounts, unknown int
		want              string
	}{
		{"one account many times", 1, 0, ""},
		{"nine accounts", 9, 0, ""},
		{"ten known accounts: spraying", 10, 0, RuleSpraying},
		{"fifty, few unknown: spraying", 50, 10, RuleSpraying},
		{"fifty, half unknown: stuffing", 50, 25, RuleStuffing},
		{"fifty, all unknown: stuffing", 50, 50, RuleStuffing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := window(tt.accounts, tt.unknown)
			f := c.failureFinding(w[0], w)
			got := ""
			if f != nil {
				got = f.Rule
				if f.UserID != 0 || f.IP != "192.0.2.1" || f.Severity != High {
					t.Errorf("finding = %+v", f)
				}
			}
			if got != tt.want {
				t.Errorf("rule = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCountRules(t *testing.T) {
	c := DefaultConfig()
	tests := []struct {
		name string
		f    func(n int) *Finding
		n    int
		want bool
	}{
		{"4 MFA failures", func(n int) *Finding { return c.mfaFinding(1, "ip", n, t0) }, 4, false},
		{"5 MFA failures", func(n int) *Finding { return c.mfaFinding(1, "ip", n, t0) }, 5, true},
		{"2 unapproved pushes", func(n int) *Finding { return c.fatigueFinding(1, "ip", n, t0) }, 2, false},
		{"3 unapproved pushes", func(n int) *Finding { return c.fatigueFinding(1, "ip", n, t0) }, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.n) != nil; got != tt.want {
				t.Errorf("fired = %t, want %t", got, tt.want)
			}
		})
	}
	if f := c.fatigueFinding(1, "ip", 3, t0); !contains(f.Actions, Lock) || f.Severity != High {
		t.Errorf("fatigue finding %+v must lock and be high", f)
	}
}

func TestExportRule(t *testing.T) {
	c := DefaultConfig()
	exports := func(today int, earlier map[int]int) []*Signal {
		var out []*Signal
		for i := 0; i < today; i++ {
			out = append(out, &Signal{Kind: SignalExport, UserID: 3, At: t0.Add(time.Duration(i) * time.Minute)})
		}
		for daysAgo, n := range earlier {
			for i := 0; i < n; i++ {
				out = append(out, &Signal{Kind: SignalExport, UserID: 3, At: t0.AddDate(0, 0, -daysAgo)})
			}
		}
		return out
	}
	tests := []struct {
		name    string
		today   int
		earlier map[int]int
		want    bool
	}{
		{"three today, no history", 3, nil, false},
		{"four today, no history", 4, nil, true},
		{"four today, busy days before", 4, map[int]int{2: 3}, false},
		{"seven today, busiest day 3", 7, map[int]int{2: 3, 5: 1}, true},
		{"six today, busiest day 3", 6, map[int]int{2: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := exports(tt.today, tt.earlier)
			cur := &Signal{Kind: SignalExport, UserID: 3, At: t0.Add(time.Hour)}
			got := c.exportFinding(cur, ex, 9)
			if (got != nil) != tt.want {
				t.Fatalf("fired = %v, want %t", got, tt.want)
			}
			if got != nil && got.OrgID != 9 {
				t.Errorf("org = %d, want 9", got.OrgID)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.SprayAccounts, bad.MaxSpeedKmh = 1, 0
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "spraying") || !strings.Contains(err.Error(), "travel") {
		t.Errorf("Validate = %v, want both problems", err)
	}
}
