package billing

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/subscription"
)

func day(s string) subscription.Date {
	d, err := subscription.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func period(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestParsePeriodIsStrict(t *testing.T) {
	p, err := ParsePeriod("2026-10")
	if err != nil || p.String() != "2026-10" {
		t.Fatalf("ParsePeriod(2026-10) = %s, %v", p, err)
	}
	tests := map[string]string{
		"":           "required",
		"2026-13":    "invalid",
		"2026-00":    "invalid",
		"2026-1":     "invalid",
		"26-10":      "invalid",
		"2026/10":    "invalid",
		"2026-10-01": "invalid",
		"0000-10":    "invalid",
		"october":    "invalid",
	}
	for in, code := range tests {
		_, err := ParsePeriod(in)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Errors[0].Field != "period" || ve.Errors[0].Code != code {
			t.Errorf("ParsePeriod(%q) error = %v, want period/%s", in, err, code)
		}
	}
	if _, err := NewPeriod(2026, 13); err == nil {
		t.Error("NewPeriod(2026, 13) accepted")
	}
}

func TestPeriodDays(t *testing.T) {
	tests := []struct {
		p           string
		first, last string
		days        int
		prev, next  string
	}{
		{"2026-10", "2026-10-01", "2026-10-31", 31, "2026-09", "2026-11"},
		{"2028-02", "2028-02-01", "2028-02-29", 29, "2028-01", "2028-03"},
		{"2027-02", "2027-02-01", "2027-02-28", 28, "2027-01", "2027-03"},
		{"2026-12", "2026-12-01", "2026-12-31", 31, "2026-11", "2027-01"},
		{"2027-01", "2027-01-01", "2027-01-31", 31, "2026-12", "2027-02"},
	}
	for _, tt := range tests {
		p := period(tt.p)
		if p.First().String() != tt.first || p.Last().String() != tt.last || p.Days() != tt.days ||
			p.Prev().String() != tt.prev || p.Next().String() != tt.next {
			t.Errorf("%s: %s..%s (%d days), prev %s, next %s", tt.p, p.First(), p.Last(), p.Days(), p.Prev(), p.Next())
		}
	}
	p := period("2028-02")
	for d, want := range map[string]bool{
		"2028-01-31": false, "2028-02-01": true, "2028-02-29": true, "2028-03-01": false, "2027-02-15": false,
	} {
		if p.Contains(day(d)) != want {
			t.Errorf("2028-02 contains %s: %t", d, !want)
		}
	}
	if PeriodOf(subscription.DateOf(time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC))) != period("2026-10") {
		t.Error("PeriodOf the last second of October")
	}
}

func TestPeriodAndQuantityJSON(t *testing.T) {
	type doc struct {
		Period   Period   `json:"period"`
		Quantity Quantity `json:"quantity"`
	}
	b, err := json.Marshal(doc{period("2026-10"), QuantityOf(3)})
	if err != nil || string(b) != `{"period":"2026-10","quantity":"3"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back doc
	if err := json.Unmarshal([]byte(`{"period":"2028-02","quantity":730.5}`), &back); err != nil ||
		back.Period != period("2028-02") || back.Quantity.String() != "730.5" {
		t.Errorf("Unmarshal with a JSON number = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"period":"2028-02","quantity":"0.000001"}`), &back); err != nil || back.Quantity.String() != "0.000001" {
		t.Errorf("Unmarshal with a string = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"quantity":"1e3"}`, `{"quantity":"0.0000001"}`, `{"quantity":"lots"}`, `{"period":"2026-13"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}
