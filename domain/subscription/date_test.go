package subscription

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func d(s string) Date {
	v, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestParseDateIsStrictAboutFormatAndExistingDays(t *testing.T) {
	for _, ok := range []string{"2028-02-29", "2027-01-31", "0001-01-01", "9999-12-31", "2000-02-29"} {
		if got, err := ParseDate(ok); err != nil || got.String() != ok {
			t.Errorf("ParseDate(%q) = %s, %v", ok, got, err)
		}
	}
	for _, bad := range []string{
		"", "2027-02-29", "2100-02-29", "2027-04-31", "2027-13-01", "2027-00-10", "2027-01-00",
		"0000-01-01", "2027-1-31", "27-01-31", "2027/01/31", "2027-01-31T00:00:00Z", "2027-01-3x", "+027-01-31",
	} {
		if _, err := ParseDate(bad); !errors.Is(err, ErrInvalidDate) {
			t.Errorf("ParseDate(%q) error = %v, want ErrInvalidDate", bad, err)
		}
	}
}

func TestDateArithmetic(t *testing.T) {
	tests := []struct {
		name string
		got  Date
		want string
	}{
		{"add a day across a year", d("2027-12-31").AddDays(1), "2028-01-01"},
		{"add a day on a leap day", d("2028-02-28").AddDays(1), "2028-02-29"},
		{"subtract a day from March 1st of a leap year", d("2028-03-01").AddDays(-1), "2028-02-29"},
		{"subtract a day from March 1st", d("2027-03-01").AddDays(-1), "2027-02-28"},
		{"a month after January 31st in a leap year is clamped", d("2028-01-31").AddMonths(1), "2028-02-29"},
		{"a month after January 31st is clamped", d("2027-01-31").AddMonths(1), "2027-02-28"},
		{"a year after a leap day", d("2028-02-29").AddMonths(12), "2029-02-28"},
		{"24 months after a 1st", d("2027-02-01").AddMonths(24), "2029-02-01"},
		{"a month before March 31st", d("2028-03-31").AddMonths(-1), "2028-02-29"},
		{"first of next month in December", d("2027-12-15").FirstOfNextMonth(), "2028-01-01"},
		{"first of next month on a 1st", d("2027-05-01").FirstOfNextMonth(), "2027-06-01"},
		{"first of next month on a 31st", d("2027-01-31").FirstOfNextMonth(), "2027-02-01"},
		{"last of February in a leap year", d("2028-02-10").LastOfMonth(), "2028-02-29"},
		{"first of the month", d("2028-02-10").FirstOfMonth(), "2028-02-01"},
		{"date of an instant is its UTC day", DateOf(time.Date(2027, 1, 31, 23, 30, 0, 0, time.FixedZone("X", -2*3600))), "2027-02-01"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if n := d("2028-02-01").DaysInMonth(); n != 29 {
		t.Errorf("days in February 2028 = %d", n)
	}
	if n := d("2100-02-01").DaysInMonth(); n != 28 {
		t.Errorf("days in February 2100 = %d", n)
	}
	if n := d("2029-01-31").DaysSince(d("2027-02-01")); n != 730 {
		t.Errorf("days from 2027-02-01 to 2029-01-31 = %d, want 730", n)
	}
	if n := d("2027-02-01").DaysSince(d("2027-02-02")); n != -1 {
		t.Errorf("DaysSince backwards = %d", n)
	}
}

func TestDateComparisons(t *testing.T) {
	a, b := d("2028-02-29"), d("2028-03-01")
	if !a.Before(b) || a.After(b) || !b.After(a) || a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(d("2028-02-29")) != 0 {
		t.Error("2028-02-29 must be before 2028-03-01")
	}
	if !d("2027-12-31").Before(d("2028-01-01")) || !d("2028-01-30").Before(d("2028-02-01")) {
		t.Error("year and month order")
	}
	if a != d("2028-02-29") {
		t.Error("equal dates must be ==")
	}
	if !(Date{}).IsZero() || a.IsZero() {
		t.Error("IsZero")
	}
	if a.Year() != 2028 || a.Month() != time.February || a.Day() != 29 || !a.Time().Equal(time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Error("accessors")
	}
}

func TestDateJSONIsYYYYMMDD(t *testing.T) {
	type doc struct {
		Start Date `json:"start"`
		End   Date `json:"end,omitzero"`
	}
	b, err := json.Marshal(doc{Start: d("2028-02-29")})
	if err != nil || string(b) != `{"start":"2028-02-29"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back doc
	if err := json.Unmarshal([]byte(`{"start":"2027-02-01","end":"2029-01-31"}`), &back); err != nil || back.Start != d("2027-02-01") || back.End != d("2029-01-31") {
		t.Errorf("Unmarshal = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"start":"2027-02-30"}`), &back); !errors.Is(err, ErrInvalidDate) {
		t.Errorf("Unmarshal of a non-existent day: %v", err)
	}
	if _, err := NewDate(2027, time.February, 29); !errors.Is(err, ErrInvalidDate) {
		t.Errorf("NewDate(2027-02-29): %v", err)
	}
}
