package billing

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"selfcare/domain"
	"selfcare/domain/subscription"
)

// Period is a billing month, written "2026-10". The zero Period is "no
// period"; others are valid (NewPeriod and ParsePeriod check them).
type Period struct {
	year  int
	month time.Month
}

// NewPeriod returns the period year-month. It returns a
// *domain.ValidationError (field "period") unless 1 ≤ year ≤ 9999 and the
// month is 1–12.
func NewPeriod(year int, month time.Month) (Period, error) {
	if year < 1 || year > 9999 || month < time.January || month > time.December {
		return Period{}, domain.Invalid("period", "invalid", "%04d-%02d is not a month", year, int(month))
	}
	return Period{year: year, month: month}, nil
}

// ParsePeriod reads "YYYY-MM", exactly. It returns a
// *domain.ValidationError with field "period" (code "required" or
// "invalid") for anything else.
func ParsePeriod(s string) (Period, error) {
	if s == "" {
		return Period{}, domain.Invalid("period", "required", "a period (YYYY-MM) is required")
	}
	d, err := subscription.ParseDate(s + "-01")
	if err != nil || len(s) != 7 {
		return Period{}, domain.Invalid("period", "invalid", "%q is not a month written YYYY-MM", s)
	}
	return PeriodOf(d), nil
}

// PeriodOf returns the period of a day.
func PeriodOf(d subscription.Date) Period { return Period{year: d.Year(), month: d.Month()} }

// IsZero reports whether p is the zero Period.
func (p Period) IsZero() bool { return p == Period{} }

// String returns "YYYY-MM" ("" for the zero Period).
func (p Period) String() string {
	if p.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d", p.year, int(p.month))
}

// First returns the first day of the period.
func (p Period) First() subscription.Date { return subscription.MustDate(p.year, p.month, 1) }

// Last returns the last day of the period.
func (p Period) Last() subscription.Date { return p.First().LastOfMonth() }

// Days returns the number of days of the period (28 to 31).
func (p Period) Days() int { return p.First().DaysInMonth() }

// Contains reports whether day d is in the period.
func (p Period) Contains(d subscription.Date) bool { return PeriodOf(d) == p }

// Next returns the following period.
func (p Period) Next() Period { return PeriodOf(p.First().AddMonths(1)) }

// Prev returns the preceding period.
func (p Period) Prev() Period { return PeriodOf(p.First().AddMonths(-1)) }

// MarshalText writes "YYYY-MM", so a Period is a JSON string.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads "YYYY-MM" ("" gives the zero Period).
func (p *Period) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = Period{}
		return nil
	}
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// QuantityDecimals is the finest precision of a quantity.
const QuantityDecimals = 6

// Quantity is an exact, non-float amount of something used (GB, hours),
// with up to six decimals. It marshals to JSON as a string ("730.5") and
// reads a string or a JSON number (taken from its text, never via float).
type Quantity struct {
	d decimal.Decimal
}

// ParseQuantity reads a quantity such as "730.5", "12" or "-1": an optional
// minus sign, digits and at most six decimals. It returns an error for
// anything else (no exponent, no separators).
func ParseQuantity(s string) (Quantity, error) {
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if !digits(intPart) || (hasDot && !digits(frac)) {
		return Quantity{}, fmt.Errorf("quantity %q is not a decimal number", s)
	}
	if len(frac) > QuantityDecimals {
		return Quantity{}, fmt.Errorf("quantity %q has more than %d decimals", s, QuantityDecimals)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Quantity{}, fmt.Errorf("quantity %q is not a decimal number", s)
	}
	return Quantity{d: d}, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// QuantityOf returns the whole quantity n.
func QuantityOf(n int64) Quantity { return Quantity{d: decimal.NewFromInt(n)} }

// Decimal returns the quantity as a decimal.
func (q Quantity) Decimal() decimal.Decimal { return q.d }

// IsNegative reports whether q < 0.
func (q Quantity) IsNegative() bool { return q.d.IsNegative() }

// String returns the quantity without trailing zeros: "730.5", "1".
func (q Quantity) String() string {
	s := q.d.StringFixed(QuantityDecimals)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// MarshalJSON writes the quantity as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) { return []byte(`"` + q.String() + `"`), nil }

// UnmarshalJSON reads a JSON string or number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s := strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`)
	v, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}
