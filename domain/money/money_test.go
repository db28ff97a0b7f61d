package money

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseAcceptsPlainDecimalsWithAtMostTwoDecimals(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"240.60", "240.60"},
		{"240.6", "240.60"},
		{"3596.45", "3596.45"},
		{"450", "450.00"},
		{"0", "0.00"},
		{"-12.5", "-12.50"},
		{"0.01", "0.01"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := a.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRejectsAnythingButAPlainDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"abc", ErrSyntax},
		{"1e3", ErrSyntax},
		{"1,50", ErrSyntax},
		{"€12", ErrSyntax},
		{"12.", ErrSyntax},
		{".5", ErrSyntax},
		{"+3", ErrSyntax},
		{" 3", ErrSyntax},
		{"--3", ErrSyntax},
		{"1.005", ErrPrecision},
		{"0.001", ErrPrecision},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestArithmeticIsExact(t *testing.T) {
	// 0.1 + 0.2 is the classic float trap.
	if got := MustParse("0.10").Add(MustParse("0.20")); got.String() != "0.30" {
		t.Errorf("0.10 + 0.20 = %s", got)
	}
	if got := MustParse("240.60").MulInt(12); got.String() != "2887.20" {
		t.Errorf("240.60 × 12 = %s", got)
	}
	if got := MustParse("10.00").Sub(MustParse("10.01")); got.String() != "-0.01" || !got.IsNegative() {
		t.Errorf("10.00 − 10.01 = %s", got)
	}
	if got := Sum(MustParse("1.11"), MustParse("2.22"), FromCents(333)); got.String() != "6.66" {
		t.Errorf("sum = %s", got)
	}
	if got := Sum(); !got.IsZero() || got.String() != "0.00" {
		t.Errorf("empty sum = %s", got)
	}
	if !MustParse("2.5").Equal(MustParse("2.50")) || MustParse("2.5").Cmp(MustParse("2.49")) != 1 {
		t.Error("2.5 must equal 2.50 and exceed 2.49")
	}
}

func TestRoundingIsHalfUpToTheCent(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"1.005", "1.01"},
		{"1.0049999", "1.00"},
		{"2.675", "2.68"},
		{"-1.005", "-1.01"}, // half away from zero
		{"7.76129032258", "7.76"},
	}
	for _, tt := range tests {
		if got := RoundHalfUp(decimal.RequireFromString(tt.in)); got.String() != tt.want {
			t.Errorf("RoundHalfUp(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestProrateDividesOnceAndRoundsHalfUp(t *testing.T) {
	tests := []struct {
		amount   string
		num, den int64
		want     string
	}{
		{"240.60", 31, 31, "240.60"},
		{"240.60", 12, 31, "93.14"},    // 93.1354… → 93.14
		{"60.15", 1, 30, "2.01"},       // 2.005 → 2.01
		{"60.15", 15, 30, "30.08"},     // 30.075 → 30.08
		{"3596.45", 10, 31, "1160.15"}, // 1160.1451… → 1160.15
		{"0.01", 1, 3, "0.00"},
	}
	for _, tt := range tests {
		if got := MustParse(tt.amount).Prorate(tt.num, tt.den); got.String() != tt.want {
			t.Errorf("%s × %d/%d = %s, want %s", tt.amount, tt.num, tt.den, got, tt.want)
		}
	}
}

func TestFromDecimalRefusesSubCentAmounts(t *testing.T) {
	if _, err := FromDecimal(decimal.RequireFromString("1.234")); !errors.Is(err, ErrPrecision) {
		t.Errorf("FromDecimal(1.234) error = %v, want ErrPrecision", err)
	}
	a, err := FromDecimal(decimal.RequireFromString("1.2300"))
	if err != nil || a.String() != "1.23" {
		t.Errorf("FromDecimal(1.2300) = %s, %v", a, err)
	}
}

func TestAmountJSONHasTwoDecimalsAndTheCurrency(t *testing.T) {
	tests := []struct {
		a    Amount
		want string
	}{
		{MustParse("240.6"), `{"amount":"240.60","currency":"EUR"}`},
		{Zero, `{"amount":"0.00","currency":"EUR"}`},
		{Amount{}, `{"amount":"0.00","currency":"EUR"}`},
		{MustParse("3596.45"), `{"amount":"3596.45","currency":"EUR"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.a)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%s) = %s, %v; want %s", tt.a, b, err, tt.want)
		}
		var back Amount
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tt.a) {
			t.Errorf("round trip of %s = %s, %v", tt.a, back, err)
		}
	}
}

func TestAmountJSONRefusesFloatsOtherCurrenciesAndSubCents(t *testing.T) {
	tests := map[string]string{
		"float amount": `{"amount":240.6,"currency":"EUR"}`,
		"bare number":  `240.6`,
		"dollars":      `{"amount":"240.60","currency":"USD"}`,
		"sub-cent":     `{"amount":"240.601","currency":"EUR"}`,
		"not a number": `{"amount":"lots","currency":"EUR"}`,
		"empty amount": `{"currency":"EUR"}`,
	}
	for name, in := range tests {
		var a Amount
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s: Unmarshal(%s) = %s, want an error", name, in, a)
		}
	}
	var a Amount
	if err := json.Unmarshal([]byte(`{"amount":"12.5"}`), &a); err != nil || a.String() != "12.50" {
		t.Errorf("a missing currency means EUR: got %s, %v", a, err)
	}
}

func TestFormatForPeople(t *testing.T) {
	tests := []struct {
		amount, lang, want string
	}{
		{"3596.45", "fr", "3 596,45 €"},
		{"3596.45", "en", "€3,596.45"},
		{"240.6", "fr", "240,60 €"},
		{"4.97", "en", "€4.97"},
		{"1234567.8", "en", "€1,234,567.80"},
		{"-513.02", "fr", "-513,02 €"},
		{"0", "de", "€0.00"},
	}
	for _, tt := range tests {
		if got := MustParse(tt.amount).Format(tt.lang); got != tt.want {
			t.Errorf("Format(%s, %s) = %q, want %q", tt.amount, tt.lang, got, tt.want)
		}
	}
}
