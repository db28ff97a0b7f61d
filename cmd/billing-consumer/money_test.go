package main

import (
	"encoding/json"
	"testing"
)

func TestParseAmountReadsDecimalStringsOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json string
		want string // "" for an error
	}{
		{`{"amount": "240.60", "currency": "EUR"}`, "240.6"},
		{`{"amount": "3596.45", "currency": "EUR"}`, "3596.45"},
		{`{"amount": "0.1", "currency": "EUR"}`, "0.1"},
		{`{"amount": "12", "currency": "EUR"}`, "12"},
		{`{"amount": "-5.03", "currency": "EUR"}`, "-5.03"},
		{`{"amount": "999999999999999.99", "currency": "EUR"}`, "999999999999999.99"},
		// 0.1 + 0.2 in floats is not 0.3; never let a float in.
		{`{"amount": 240.60, "currency": "EUR"}`, ""},
		{`{"amount": "240.605", "currency": "EUR"}`, ""},
		{`{"amount": "1e3", "currency": "EUR"}`, ""},
		{`{"amount": "1,234.56", "currency": "EUR"}`, ""},
		{`{"amount": " 12.00", "currency": "EUR"}`, ""},
		{`{"amount": "+12.00", "currency": "EUR"}`, ""},
		{`{"amount": ".50", "currency": "EUR"}`, ""},
		{`{"amount": "NaN", "currency": "EUR"}`, ""},
		{`{"amount": "", "currency": "EUR"}`, ""},
		{`{"amount": "12.00", "currency": "USD"}`, ""},
		{`{"amount": "12.00"}`, ""},
		{`"12.00"`, ""},
		{`null`, ""},
	} {
		got, err := parseAmount(json.RawMessage(tc.json))
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: accepted as %s", tc.json, got)
		case tc.want != "" && err != nil:
			t.Errorf("%s: %v", tc.json, err)
		case tc.want != "" && got.String() != tc.want:
			t.Errorf("%s: got %s, want %s", tc.json, got, tc.want)
		}
	}
}

func TestSumsOfParsedAmountsAreExact(t *testing.T) {
	t.Parallel()
	a, _ := parseAmount(json.RawMessage(`{"amount": "0.10", "currency": "EUR"}`))
	b, _ := parseAmount(json.RawMessage(`{"amount": "0.20", "currency": "EUR"}`))
	if s := a.Add(b).StringFixed(2); s != "0.30" {
		t.Fatalf("0.10 + 0.20 = %s", s)
	}
}

func TestFormatEUR(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "€0.00", "5": "€5.00", "1234.56": "€1,234.56", "999.9": "€999.90", "1000": "€1,000.00",
		"1234567.8": "€1,234,567.80", "-42.5": "-€42.50", "-1234": "-€1,234.00", "100000": "€100,000.00",
	} {
		d, err := parseStoredAmount(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatEUR(d); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
