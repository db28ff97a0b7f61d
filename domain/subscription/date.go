package subscription

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Date is a day of the calendar, without time or zone: subscription start
// and end dates, "as of" days, invoice dates. Dates derived from instants
// use UTC (DateOf). The zero Date is "no date" (IsZero); every other Date
// is valid, since NewDate and ParseDate check it. It marshals as
// "YYYY-MM-DD" (the zero Date as "").
//
// Date lives here because subscriptions are where selfcare reasons in
// days; billing and the read models use it too.
type Date struct {
	year  int
	month time.Month
	day   int
}

// ErrInvalidDate is wrapped by the errors of NewDate and ParseDate; callers
// report it against their own field ("as_of", ...).
var ErrInvalidDate = errors.New("invalid date")

// NewDate returns the date year-month-day. It returns an error wrapping
// ErrInvalidDate unless 1 ≤ year ≤ 9999 and the day exists (2027-02-29
// does not).
func NewDate(year int, month time.Month, day int) (Date, error) {
	if year < 1 || year > 9999 || month < time.January || month > time.December ||
		day < 1 || day > daysIn(year, month) {
		return Date{}, fmt.Errorf("%04d-%02d-%02d: %w", year, int(month), day, ErrInvalidDate)
	}
	return Date{year: year, month: month, day: day}, nil
}

// MustDate is NewDate for constants known to be valid; it panics otherwise.
func MustDate(year int, month time.Month, day int) Date {
	d, err := NewDate(year, month, day)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDate reads "YYYY-MM-DD", exactly. It returns an error wrapping
// ErrInvalidDate for anything else or a day that does not exist.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("%q is not YYYY-MM-DD: %w", s, ErrInvalidDate)
	}
	y, ok1 := atoi(s[0:4])
	m, ok2 := atoi(s[5:7])
	d, ok3 := atoi(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, fmt.Errorf("%q is not YYYY-MM-DD: %w", s, ErrInvalidDate)
	}
	return NewDate(y, time.Month(m), d)
}

func atoi(s string) (int, bool) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// DateOf returns the UTC calendar day of t.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{year: y, month: m, day: d}
}

// Year returns the date's year.
func (d Date) Year() int { return d.year }

// Month returns the date's month.
func (d Date) Month() time.Month { return d.month }

// Day returns the date's day of the month.
func (d Date) Day() int { return d.day }

// IsZero reports whether d is the zero Date ("no date").
func (d Date) IsZero() bool { return d == Date{} }

// String returns "YYYY-MM-DD" ("" for the zero Date).
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, int(d.month), d.day)
}

// Time returns midnight UTC at the start of d.
func (d Date) Time() time.Time { return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC) }

// AddDays returns the date n days after d (before if n < 0).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.year, d.month, d.day+n, 0, 0, 0, 0, time.UTC))
}

// AddMonths returns the same day n months after d (before if n < 0),
// clamped to the last day of a shorter month: 2028-01-31 + 1 month is
// 2028-02-29, not March 2nd. Subscriptions add months to a 1st, where the
// clamp never applies.
func (d Date) AddMonths(n int) Date {
	first := time.Date(d.year, d.month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	y, m := first.Year(), first.Month()
	return Date{year: y, month: m, day: min(d.day, daysIn(y, m))}
}

// FirstOfMonth returns the first day of d's month.
func (d Date) FirstOfMonth() Date { return Date{year: d.year, month: d.month, day: 1} }

// LastOfMonth returns the last day of d's month.
func (d Date) LastOfMonth() Date {
	return Date{year: d.year, month: d.month, day: daysIn(d.year, d.month)}
}

// FirstOfNextMonth returns the first day of the month after d's.
func (d Date) FirstOfNextMonth() Date { return d.FirstOfMonth().AddMonths(1) }

// DaysInMonth returns the number of days of d's month (28 to 31).
func (d Date) DaysInMonth() int { return daysIn(d.year, d.month) }

// DaysSince returns the number of days from e to d: 1 if d is the day
// after e, negative if d is before e.
func (d Date) DaysSince(e Date) int {
	return int(d.Time().Sub(e.Time()) / (24 * time.Hour)) // exact: UTC days are 24 h
}

// Compare returns -1 if d is before e, 0 if the same day, +1 if after.
func (d Date) Compare(e Date) int {
	if c := cmp.Compare(d.year, e.year); c != 0 {
		return c
	}
	if c := cmp.Compare(d.month, e.month); c != 0 {
		return c
	}
	return cmp.Compare(d.day, e.day)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// MarshalText writes "YYYY-MM-DD" ("" for the zero Date), so a Date is a
// JSON string.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "YYYY-MM-DD" ("" gives the zero Date).
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
