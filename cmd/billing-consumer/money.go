package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// amountText is what selfcare writes in "amount": a decimal string with
// at most two decimals ("240.60", "3596.45", "-12"). No exponent, no
// thousands separator, no float.
var amountText = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]{1,2})?$`)

// parseAmount reads a money object of the API, {"amount": "240.60",
// "currency": "EUR"}, into an exact decimal. It refuses a JSON number (a
// float may already have lost cents), another currency, and anything that
// is not a plain decimal with at most two decimals.
func parseAmount(raw json.RawMessage) (decimal.Decimal, error) {
	var m struct {
		Amount   json.RawMessage `json:"amount"`
		Currency string          `json:"currency"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return decimal.Decimal{}, fmt.Errorf("money: want {\"amount\": \"...\", \"currency\": \"EUR\"}: %w", err)
	}
	var text string
	if err := json.Unmarshal(m.Amount, &text); err != nil {
		return decimal.Decimal{}, fmt.Errorf("money: the amount %s is not a decimal string", m.Amount)
	}
	if m.Currency != "EUR" {
		return decimal.Decimal{}, fmt.Errorf("money: currency %q, this consumer counts EUR only", m.Currency)
	}
	if !amountText.MatchString(text) {
		return decimal.Decimal{}, fmt.Errorf("money: %q is not an amount with at most two decimals", text)
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("money: %q: %w", text, err)
	}
	return d, nil
}

// parseStoredAmount reads a numeric column printed as text.
func parseStoredAmount(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("stored amount %q: %w", s, err)
	}
	return d, nil
}

// formatEUR writes an amount the way an English invoice does: €1,234.56.
func formatEUR(d decimal.Decimal) string {
	sign := ""
	if d.IsNegative() {
		sign, d = "-", d.Neg()
	}
	whole, cents, _ := strings.Cut(d.StringFixed(2), ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return sign + "€" + b.String() + "." + cents
}
