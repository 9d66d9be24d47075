package money_test

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"coffer/internal/money"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		exp  int
		want int64
		ok   bool
	}{
		{"1234.50", 2, 123450, true},
		{"1234.5", 2, 123450, true},
		{"1234", 2, 123400, true},
		{"0", 2, 0, true},
		{"0.01", 2, 1, true},
		{"-0.01", 2, -1, true},
		{"-0", 2, 0, true},
		{"007.10", 2, 710, true},
		{"1000", 0, 1000, true},
		{"1.234", 3, 1234, true},
		{"10000000000000.00", 2, money.MaxAbs, true},
		{"-10000000000000.00", 2, -money.MaxAbs, true},
		{"10000000000000.01", 2, 0, false},
		{"99999999999999999999", 2, 0, false},
		{"1.234", 2, 0, false},
		{"1.5", 0, 0, false},
		{"", 2, 0, false},
		{"-", 2, 0, false},
		{".5", 2, 0, false},
		{"5.", 2, 0, false},
		{"+5", 2, 0, false},
		{"1,234.50", 2, 0, false},
		{"1 234", 2, 0, false},
		{"1e3", 2, 0, false},
		{"12.3.4", 2, 0, false},
		{"--1", 2, 0, false},
		{"NaN", 2, 0, false},
		{"１２", 2, 0, false},
		{strings.Repeat("1", 41), 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := money.Parse(tt.in, tt.exp)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("Parse(%q, %d) = %d, %v; want %d ok=%t", tt.in, tt.exp, got, err, tt.want, tt.ok)
			}
		})
	}
	t.Run("ErrRange", func(t *testing.T) {
		if _, err := money.Parse("10000000000000.01", 2); !errors.Is(err, money.ErrRange) {
			t.Fatalf("err = %v, want ErrRange", err)
		}
	})
	t.Run("MessageNamesTheInput", func(t *testing.T) {
		_, err := money.Parse("12.345", 2)
		if err == nil || !strings.Contains(err.Error(), `"12.345"`) || !strings.Contains(err.Error(), "2 decimal places") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParsePositive(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"0.01", true}, {"0", false}, {"0.00", false}, {"-1", false}, {"x", false}} {
		t.Run(tt.in, func(t *testing.T) {
			if _, err := money.ParsePositive(tt.in, 2); (err == nil) != tt.ok {
				t.Fatalf("ParsePositive(%q) err = %v, want ok=%t", tt.in, err, tt.ok)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    int64
		exp  int
		want string
	}{
		{123450, 2, "1234.50"},
		{1, 2, "0.01"},
		{-1, 2, "-0.01"},
		{0, 2, "0.00"},
		{-150, 2, "-1.50"},
		{5, 0, "5"},
		{-5, 0, "-5"},
		{1234, 3, "1.234"},
		{7, 3, "0.007"},
		{money.MaxAbs, 2, "10000000000000.00"},
		{math.MinInt64, 2, "-92233720368547758.08"},
		{math.MaxInt64, 0, "9223372036854775807"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := money.Format(tt.v, tt.exp); got != tt.want {
				t.Fatalf("Format(%d, %d) = %q, want %q", tt.v, tt.exp, got, tt.want)
			}
		})
	}
}

func TestQuantity(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		out  string
		ok   bool
	}{
		{"1", 10000, "1", true},
		{"1.5", 15000, "1.5", true},
		{"0.0001", 1, "0.0001", true},
		{"2.2500", 22500, "2.25", true},
		{"0", 0, "", false},
		{"-1", 0, "", false},
		{"1.00001", 0, "", false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			q, err := money.ParseQuantity(tt.in)
			if (err == nil) != tt.ok || q != tt.want {
				t.Fatalf("ParseQuantity(%q) = %d, %v", tt.in, q, err)
			}
			if err == nil && money.FormatQuantity(q) != tt.out {
				t.Fatalf("FormatQuantity(%d) = %q, want %q", q, money.FormatQuantity(q), tt.out)
			}
		})
	}
}

func TestMulDiv(t *testing.T) {
	tests := []struct {
		name    string
		a, b, d int64
		want    int64
		err     error
	}{
		{"Exact", 10000, 2000, 10000, 2000, nil},
		{"HalfUp", 5, 1, 2, 3, nil},
		{"HalfAwayNegative", -5, 1, 2, -3, nil},
		{"HalfAwayNegativeDivisor", 5, 1, -2, -3, nil},
		{"BothNegative", -5, 1, -2, 3, nil},
		{"BelowHalf", 4, 1, 3, 1, nil},
		{"BelowHalfNegative", -4, 1, 3, -1, nil},
		{"AboveHalf", 5, 1, 3, 2, nil},
		{"AboveHalfNegative", -5, 1, 3, -2, nil},
		{"TaxOnLine", 1999, 2000, 10000, 400, nil},                          // 399.8
		{"TaxHalfCent", 1025, 2000, 10000, 205, nil},                        // 205.0
		{"TaxHalf", 2025, 1000, 10000, 203, nil},                            // 202.5
		{"TaxHalfNeg", -2025, 1000, 10000, -203, nil},                       // -202.5
		{"QuantityTimesPrice", 15000, 1999, money.QuantityScale, 2999, nil}, // 1.5 × 19.99 = 29.985
		{"Zero", 0, 123, 7, 0, nil},
		{"AtMax", money.MaxAbs, 1, 1, money.MaxAbs, nil},
		{"AtMinusMax", -money.MaxAbs, 1, 1, -money.MaxAbs, nil},
		{"PastMax", money.MaxAbs + 1, 1, 1, 0, money.ErrRange},
		{"PastMinusMax", -money.MaxAbs - 1, 1, 1, 0, money.ErrRange},
		{"ProductOverflowsInt64", money.MaxAbs, money.MaxAbs, 1, 0, money.ErrRange},
		{"ProductOverflowsButQuotientFits", math.MaxInt64, math.MaxInt64, math.MaxInt64, 0, money.ErrRange},
		{"HugeProductSmallQuotient", math.MaxInt64, 1000, math.MaxInt64, 1000, nil},
		{"MinInt", math.MinInt64, 1, -1, 0, money.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.MulDiv(tt.a, tt.b, tt.d)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("MulDiv(%d, %d, %d) = %d, %v; want %d, %v", tt.a, tt.b, tt.d, got, err, tt.want, tt.err)
			}
		})
	}
	t.Run("DivisionByZero", func(t *testing.T) {
		if _, err := money.MulDiv(1, 1, 0); err == nil {
			t.Fatal("MulDiv by zero succeeded")
		}
	})
}

// refMulDiv rounds a*b/d half away from zero with exact rationals.
func refMulDiv(a, b, d int64) *big.Int {
	q := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(a), big.NewInt(b)), big.NewInt(d))
	neg := q.Sign() < 0
	q.Abs(q)
	q.Add(q, big.NewRat(1, 2))
	n := new(big.Int).Quo(q.Num(), q.Denom()) // floor of |x| + 1/2
	if neg {
		n.Neg(n)
	}
	return n
}

func TestMulDivAgainstRationals(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		a := r.Int64N(2*money.MaxAbs) - money.MaxAbs
		b := r.Int64N(20001) - 10000
		d := r.Int64N(20000) + 1
		if r.IntN(2) == 0 {
			d = -d
		}
		if r.IntN(3) == 0 {
			a %= 100000
		}
		want := refMulDiv(a, b, d)
		got, err := money.MulDiv(a, b, d)
		inRange := want.IsInt64() && want.Int64() <= money.MaxAbs && want.Int64() >= -money.MaxAbs
		if !inRange {
			if !errors.Is(err, money.ErrRange) {
				t.Fatalf("MulDiv(%d, %d, %d) = %d, %v; want ErrRange (exact %s)", a, b, d, got, err, want)
			}
			continue
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("MulDiv(%d, %d, %d) = %d, %v; want %s", a, b, d, got, err, want)
		}
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		a, b, want int64
		err        error
	}{
		{1, 2, 3, nil},
		{-1, -2, -3, nil},
		{money.MaxAbs - 1, 1, money.MaxAbs, nil},
		{money.MaxAbs, 1, 0, money.ErrRange},
		{-money.MaxAbs, -1, 0, money.ErrRange},
		{math.MaxInt64, 1, 0, money.ErrRange},
		{math.MinInt64, -1, 0, money.ErrRange},
	}
	for _, tt := range tests {
		if got, err := money.Add(tt.a, tt.b); got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Add(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, err, tt.want, tt.err)
		}
	}
}

func TestExponent(t *testing.T) {
	for cur, want := range map[string]int{"GBP": 2, "JPY": 0, "KWD": 3} {
		if got, err := money.Exponent(cur); err != nil || got != want {
			t.Errorf("Exponent(%s) = %d, %v; want %d", cur, got, err, want)
		}
	}
	if _, err := money.Exponent("XXX"); err == nil {
		t.Error("Exponent(XXX) succeeded")
	}
}

// FuzzParse: Parse never panics; what it accepts is within MaxAbs, has at
// most exp decimals, and survives Format and Parse again unchanged; every
// amount in range round-trips through Format.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1234.50", "-0.01", "0", "", "-", ".", "1.", ".1", "1e5", "10000000000000.00", "10000000000000.01", "00000000000000000000000000000001.5", "-9223372036854775808", "\x00", "１"} {
		f.Add(s, uint8(2), int64(0))
	}
	f.Add("5", uint8(0), int64(-money.MaxAbs))
	f.Add("5.125", uint8(3), int64(money.MaxAbs))
	f.Add("", uint8(2), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, s string, e uint8, v int64) {
		exp := int(e % 4)
		got, err := money.Parse(s, exp)
		if err == nil {
			if got > money.MaxAbs || got < -money.MaxAbs {
				t.Fatalf("Parse(%q, %d) = %d, beyond MaxAbs", s, exp, got)
			}
			if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > exp {
				t.Fatalf("Parse(%q, %d) accepted %d decimals", s, exp, len(frac))
			}
			back, err := money.Parse(money.Format(got, exp), exp)
			if err != nil || back != got {
				t.Fatalf("Parse(Format(%d)) = %d, %v", got, back, err)
			}
		} else if got != 0 {
			t.Fatalf("Parse(%q) failed but returned %d", s, got)
		}
		// Any amount in range round-trips.
		v %= money.MaxAbs + 1
		str := money.Format(v, exp)
		back, err := money.Parse(str, exp)
		if err != nil || back != v {
			t.Fatalf("Parse(Format(%d, %d) = %q) = %d, %v", v, exp, str, back, err)
		}
	})
}
