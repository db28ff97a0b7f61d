package money

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestUnitPriceKeepsUpToSixDecimals(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0.0125", "0.0125"},
		{"450", "450.00"},
		{"0.5", "0.50"},
		{"0.123456", "0.123456"},
		{"1.230000", "1.23"},
	}
	for _, tt := range tests {
		p, err := ParseUnitPrice(tt.in)
		if err != nil || p.String() != tt.want {
			t.Errorf("ParseUnitPrice(%q) = %s, %v; want %s", tt.in, p, err, tt.want)
		}
	}
	if _, err := ParseUnitPrice("0.1234567"); !errors.Is(err, ErrPrecision) {
		t.Errorf("seven decimals: error = %v, want ErrPrecision", err)
	}
}

func TestUnitPriceTimesQuantityRoundsHalfUpToTheCent(t *testing.T) {
	tests := []struct {
		price, qty, want string
	}{
		{"0.0125", "100", "1.25"},
		{"0.0125", "1", "0.01"},      // 0.0125 → 0.01
		{"0.015", "1", "0.02"},       // half up
		{"0.0425", "730.5", "31.05"}, // 31.04625 → 31.05
		{"450", "2", "900.00"},
	}
	for _, tt := range tests {
		got := MustParseUnitPrice(tt.price).Times(decimal.RequireFromString(tt.qty))
		if got.String() != tt.want {
			t.Errorf("%s × %s = %s, want %s", tt.price, tt.qty, got, tt.want)
		}
	}
}

func TestUnitPriceJSONRoundTrips(t *testing.T) {
	p := MustParseUnitPrice("0.0125")
	b, err := json.Marshal(p)
	if err != nil || string(b) != `{"amount":"0.0125","currency":"EUR"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back UnitPrice
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(p) {
		t.Errorf("round trip = %s, %v", back, err)
	}
	if got := UnitPriceOf(MustParse("60.15")).String(); got != "60.15" {
		t.Errorf("UnitPriceOf(60.15) = %s", got)
	}
	if got := p.Format("fr"); got != "0,0125 €" {
		t.Errorf("Format fr = %q", got)
	}
}
