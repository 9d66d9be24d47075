// Package money handles amounts as integer minor units and their exact
// decimal-string form ("1234.50"). There is no float anywhere on this path.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Exponent returns the number of minor-unit digits of an ISO 4217
// currency code, or an error for a code Coffer does not know.
func Exponent(currency string) (int, error) {
	if e, ok := exponents[currency]; ok {
		return e, nil
	}
	return 0, fmt.Errorf("unknown currency %q: use an ISO 4217 code such as GBP, EUR, USD", currency)
}

var exponents = map[string]int{
	"AUD": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "INR": 2,
	"NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2, "MXN": 2, "BRL": 2, "IEP": 2,
	"JPY": 0, "KRW": 0, "ISK": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

// MaxAbs bounds every amount Coffer accepts (a thousand trillion minor
// units): far beyond any small business, and far from int64 overflow even
// when a million of them are summed.
const MaxAbs = 1_000_000_000_000_000

// ErrRange is returned for an amount beyond MaxAbs.
var ErrRange = errors.New("amount is too large")

// Parse reads a decimal string with at most exp fractional digits into
// minor units: "1234.5" → 123450 for exp 2. A leading '-' is allowed; use
// ParsePositive where only positive amounts make sense.
func Parse(s string, exp int) (int64, error) {
	return parseFixed(s, exp, "amount")
}

// ParsePositive is Parse for amounts that must be greater than zero.
func ParsePositive(s string, exp int) (int64, error) {
	v, err := Parse(s, exp)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("amount %q must be greater than zero", s)
	}
	return v, nil
}

func parseFixed(s string, exp int, what string) (int64, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("%s is empty", what)
	}
	if len(s) > 40 {
		return 0, fmt.Errorf("%s %.20q… is too long", what, s)
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || !digits(intPart) || !digits(frac) {
		return 0, fmt.Errorf("%s %q is not a decimal number like 1234.50", what, orig)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("%s %q has more than %d decimal places", what, orig, exp)
	}
	frac += strings.Repeat("0", exp-len(frac))
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil || v > MaxAbs {
		return 0, fmt.Errorf("%s %q: %w", what, orig, ErrRange)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format writes minor units as a decimal string with exp fractional digits.
func Format(v int64, exp int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// QuantityScale is the fixed-point scale of quantities: 4 decimal places.
const QuantityScale = 10000

// ParseQuantity reads a positive quantity with up to 4 decimal places
// into ten-thousandths.
func ParseQuantity(s string) (int64, error) {
	v, err := parseFixed(s, 4, "quantity")
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("quantity %q must be greater than zero", s)
	}
	return v, nil
}

// FormatQuantity writes a quantity without needless trailing zeros.
func FormatQuantity(q int64) string {
	s := Format(q, 4)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// MulDiv returns round(a*b/d), rounding half away from zero, exactly; an
// error if the result does not fit within MaxAbs.
func MulDiv(a, b, d int64) (int64, error) {
	if d == 0 {
		return 0, errors.New("division by zero")
	}
	num := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	den := big.NewInt(d)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// Round half away from zero: |2r| >= |d| moves q one further from zero.
	r2 := new(big.Int).Abs(new(big.Int).Mul(r, big.NewInt(2)))
	if r2.Cmp(new(big.Int).Abs(den)) >= 0 {
		if (num.Sign() < 0) != (den.Sign() < 0) {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() || q.Int64() > MaxAbs || q.Int64() < -MaxAbs {
		return 0, ErrRange
	}
	return q.Int64(), nil
}

// Add returns a+b, or ErrRange past MaxAbs.
func Add(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, ErrRange
	}
	s := a + b
	if s > MaxAbs || s < -MaxAbs {
		return 0, ErrRange
	}
	return s, nil
}
