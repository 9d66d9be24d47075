package anomaly

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Place is where an address is, as far as the location file knows.
type Place struct {
	Country string
	Lat     float64
	Lon     float64
}

// GeoDB maps address prefixes to places. It is read from a small CSV file
// (--geoip-csv), one prefix per line:
//
//	# prefix,latitude,longitude,country
//	203.0.113.0/24,51.5074,-0.1278,GB
//	2001:db8:1::/48,-33.8688,151.2093,AU
//
// Blank lines and lines starting with # are ignored; country is an ISO
// 3166-1 alpha-2 code. The longest matching prefix wins.
type GeoDB struct {
	entries []geoEntry // longest prefix first
}

type geoEntry struct {
	prefix netip.Prefix
	place  Place
}

// maxGeoLines bounds the file: this is a small, hand-kept table, not a
// commercial database.
const maxGeoLines = 1_000_000

// OpenGeoCSV reads a location file.
func OpenGeoCSV(path string) (*GeoDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip csv: %w", err)
	}
	defer f.Close()
	db, err := ParseGeoCSV(f)
	if err != nil {
		return nil, fmt.Errorf("geoip csv %s: %w", path, err)
	}
	return db, nil
}

// ParseGeoCSV parses the location file format described on GeoDB.
func ParseGeoCSV(r io.Reader) (*GeoDB, error) {
	db := &GeoDB{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		if n > maxGeoLines {
			return nil, fmt.Errorf("more than %d lines", maxGeoLines)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ",")
		if len(parts) != 4 {
			return nil, fmt.Errorf("line %d: want prefix,latitude,longitude,country", n)
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(parts[0]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		lon, err2 := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
		if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return nil, fmt.Errorf("line %d: latitude must be -90..90 and longitude -180..180", n)
		}
		cc := strings.ToUpper(strings.TrimSpace(parts[3]))
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			return nil, fmt.Errorf("line %d: country must be a two-letter code", n)
		}
		db.entries = append(db.entries, geoEntry{prefix: p.Masked(), place: Place{Country: cc, Lat: lat, Lon: lon}})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(db.entries, func(i, j int) bool { return db.entries[i].prefix.Bits() > db.entries[j].prefix.Bits() })
	return db, nil
}

// Lookup finds the place of an address.
func (db *GeoDB) Lookup(ip string) (Place, bool) {
	if db == nil {
		return Place{}, false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return Place{}, false
	}
	a = a.Unmap()
	for _, e := range db.entries {
		if e.prefix.Contains(a) {
			return e.place, true
		}
	}
	return Place{}, false
}

// Len is the number of prefixes.
func (db *GeoDB) Len() int {
	if db == nil {
		return 0
	}
	return len(db.entries)
}

// NetworkOf is the address's network for "new region" without a location
// file: /16 for IPv4, /48 for IPv6; "" for what is not an address.
func NetworkOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 16
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// DistanceKm is the great-circle distance between two places (haversine).
func DistanceKm(a, b Place) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}
