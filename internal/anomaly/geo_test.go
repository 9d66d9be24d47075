package anomaly

import (
	"strings"
	"testing"
)

func TestParseGeoCSV(t *testing.T) {
	db, err := ParseGeoCSV(strings.NewReader("# prefix,lat,lon,country\n\n203.0.113.0/24,51.5074,-0.1278,gb\n203.0.0.0/8,0,0,ZZ\n2001:db8:1::/48,-33.8688,151.2093,AU\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip      string
		country string
		ok      bool
	}{
		{"203.0.113.9", "GB", true}, // longest prefix wins
		{"203.1.2.3", "ZZ", true},
		{"::ffff:203.0.113.9", "GB", true},
		{"2001:db8:1:2::5", "AU", true},
		{"198.51.100.1", "", false},
		{"not an ip", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			p, ok := db.Lookup(tt.ip)
			if ok != tt.ok || p.Country != tt.country {
				t.Errorf("Lookup = %+v, %t; want %s, %t", p, ok, tt.country, tt.ok)
			}
		})
	}
	for _, bad := range []string{
		"203.0.113.0/24,51,0\n",
		"203.0.113.0,51,0,GB\n",
		"203.0.113.0/24,91,0,GB\n",
		"203.0.113.0/24,51,181,GB\n",
		"203.0.113.0/24,NaN,0,GB\n",
		"203.0.113.0/24,51,0,GBR\n",
		"203.0.113.0/24,51,0,G1\n",
	} {
		if _, err := ParseGeoCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseGeoCSV(%q) accepted", bad)
		}
	}
	var none *GeoDB
	if _, ok := none.Lookup("203.0.113.9"); ok {
		t.Error("nil GeoDB found a place")
	}
}

func TestDistanceAndNetwork(t *testing.T) {
	if d := DistanceKm(london, sydney); d < 16900 || d > 17100 {
		t.Errorf("London–Sydney = %.0f km, want about 17000", d)
	}
	if d := DistanceKm(london, london); d != 0 {
		t.Errorf("same place = %f", d)
	}
	for ip, want := range map[string]string{"10.1.2.3": "10.1.0.0/16", "::ffff:10.1.2.3": "10.1.0.0/16", "2001:db8:1:2::1": "2001:db8:1::/48", "x": ""} {
		if got := NetworkOf(ip); got != want {
			t.Errorf("NetworkOf(%s) = %q, want %q", ip, got, want)
		}
	}
}

func FuzzParseGeoCSV(f *testing.F) {
	f.Add("203.0.113.0/24,51.5,-0.12,GB\n# c\n2001:db8::/32,1,2,AU\n")
	f.Add("x,y,z,w")
	f.Fuzz(func(t *testing.T, in string) {
		db, err := ParseGeoCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, e := range db.entries {
			if e.place.Lat < -90 || e.place.Lat > 90 || len(e.place.Country) != 2 {
				t.Fatalf("accepted bad entry %+v", e)
			}
			if p, ok := db.Lookup(e.prefix.Addr().String()); !ok || p.Country == "" {
				t.Fatalf("prefix %s does not find itself", e.prefix)
			}
		}
	})
}
