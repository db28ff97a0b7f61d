// Package money holds selfcare's exact amounts of money: euros with cents
// (Amount) and finer unit prices (UnitPrice), as decimals, never floats.
package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is the only currency selfcare bills in.
const Currency = "EUR"

// Errors returned by the parsers, wrapped with the offending text.
var (
	// ErrSyntax: the text is not a plain decimal number ("240.60", "-3", "0.5").
	ErrSyntax = errors.New("not a decimal number")
	// ErrPrecision: the number has more decimals than the type allows.
	ErrPrecision = errors.New("too many decimals")
	// ErrCurrency: a JSON amount in another currency than EUR.
	ErrCurrency = errors.New("unsupported currency")
)

// cents is the number of decimals of an Amount.
const cents = 2

// Amount is an exact amount of euros with cents. The zero value is €0.00.
// It marshals to JSON as {"amount":"240.60","currency":"EUR"}, always with
// two decimals.
type Amount struct {
	d decimal.Decimal
}

// Zero is €0.00.
var Zero = Amount{}

// Parse reads an amount such as "240.60", "240.6", "3596.45" or "-12": an
// optional minus sign, digits, and at most two decimals. No exponent, no
// thousands separator, no currency sign. It returns an error wrapping
// ErrSyntax or ErrPrecision.
func Parse(s string) (Amount, error) {
	d, err := parseDecimal(s, cents)
	if err != nil {
		return Amount{}, err
	}
	return Amount{d: d.Round(cents)}, nil
}

// MustParse is Parse for constants known to be valid (tests, tables); it
// panics on an invalid amount.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// FromCents returns the amount of n cents.
func FromCents(n int64) Amount { return Amount{d: decimal.New(n, -cents)} }

// FromDecimal returns d as an amount. It returns an error wrapping
// ErrPrecision if d has more than two significant decimals; use RoundHalfUp
// to round instead.
func FromDecimal(d decimal.Decimal) (Amount, error) {
	if !d.Round(cents).Equal(d) {
		return Amount{}, fmt.Errorf("%s: %w (at most %d)", d, ErrPrecision, cents)
	}
	return Amount{d: d.Round(cents)}, nil
}

// RoundHalfUp returns d rounded to the cent, halves away from zero
// (0.005 → 0.01, -0.005 → -0.01): the usual commercial rounding.
func RoundHalfUp(d decimal.Decimal) Amount { return Amount{d: d.Round(cents)} }

// Decimal returns the amount as a decimal with two decimals.
func (a Amount) Decimal() decimal.Decimal { return a.d.Round(cents) }

// String returns the amount with exactly two decimals and no currency:
// "240.60", "-3.00".
func (a Amount) String() string { return a.d.StringFixed(cents) }

// Add returns a + b.
func (a Amount) Add(b Amount) Amount { return Amount{d: a.d.Add(b.d)} }

// Sub returns a − b.
func (a Amount) Sub(b Amount) Amount { return Amount{d: a.d.Sub(b.d)} }

// Neg returns −a.
func (a Amount) Neg() Amount { return Amount{d: a.d.Neg()} }

// MulInt returns a × n, which is exact.
func (a Amount) MulInt(n int64) Amount { return Amount{d: a.d.Mul(decimal.NewFromInt(n))} }

// Mul returns a × factor rounded half-up to the cent.
func (a Amount) Mul(factor decimal.Decimal) Amount { return RoundHalfUp(a.d.Mul(factor)) }

// Prorate returns a × num / den rounded half-up to the cent, computed
// exactly (the division is rounded once, at the end). den must be
// positive: like an integer division by zero, Prorate panics otherwise.
func (a Amount) Prorate(num, den int64) Amount {
	if den <= 0 {
		panic("money: Prorate with a non-positive denominator")
	}
	return Amount{d: a.d.Mul(decimal.NewFromInt(num)).DivRound(decimal.NewFromInt(den), cents)}
}

// Cmp compares a and b: -1 if a < b, 0 if equal, +1 if a > b.
func (a Amount) Cmp(b Amount) int { return a.d.Cmp(b.d) }

// Equal reports whether a and b are the same amount (2.5 equals 2.50).
func (a Amount) Equal(b Amount) bool { return a.d.Equal(b.d) }

// IsZero reports whether a is €0.00.
func (a Amount) IsZero() bool { return a.d.IsZero() }

// IsNegative reports whether a < 0.
func (a Amount) IsNegative() bool { return a.d.IsNegative() }

// IsPositive reports whether a > 0.
func (a Amount) IsPositive() bool { return a.d.IsPositive() }

// Sum returns the sum of amounts (€0.00 for none).
func Sum(amounts ...Amount) Amount {
	total := Zero
	for _, a := range amounts {
		total = total.Add(a)
	}
	return total
}

// Format returns the amount for people, in "fr" or "en" (anything else is
// English): "3 596,45 €" in French, "€3,596.45" in English.
func (a Amount) Format(lang string) string {
	return formatHuman(a.d, cents, lang)
}

// jsonAmount is the wire shape of Amount and UnitPrice.
type jsonAmount struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// MarshalJSON writes {"amount":"240.60","currency":"EUR"}.
func (a Amount) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonAmount{Amount: a.String(), Currency: Currency})
}

// UnmarshalJSON reads {"amount":"240.60","currency":"EUR"}. The amount must
// be a string; the currency, if present, must be EUR.
func (a *Amount) UnmarshalJSON(data []byte) error {
	s, err := unmarshalAmount(data)
	if err != nil {
		return err
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func unmarshalAmount(data []byte) (string, error) {
	var j jsonAmount
	// data is one JSON value (a json.Unmarshaler is only handed one):
	// Unmarshal, not a Decoder and its buffer for each amount of every
	// invoice line a rebuild decodes.
	if err := json.Unmarshal(data, &j); err != nil {
		return "", fmt.Errorf("money: want {\"amount\":\"…\",\"currency\":\"EUR\"}: %w", err)
	}
	if j.Currency != "" && j.Currency != Currency {
		return "", fmt.Errorf("%q: %w", j.Currency, ErrCurrency)
	}
	return j.Amount, nil
}

// parseDecimal accepts [-]digits[.digits] with at most maxDecimals decimals.
func parseDecimal(s string, maxDecimals int) (decimal.Decimal, error) {
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	if len(frac) > maxDecimals {
		return decimal.Decimal{}, fmt.Errorf("%q: %w (at most %d)", s, ErrPrecision, maxDecimals)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	return d, nil
}

// fixed formats d with between minDec and maxDec decimals, dropping
// trailing zeros past minDec. (It avoids Decimal.String, whose output depends
// on shopspring's package-level settings.)
func fixed(d decimal.Decimal, minDec, maxDec int32) string {
	s := d.StringFixed(maxDec)
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s
	}
	keep := len(s)
	for keep > dot+1+int(minDec) && s[keep-1] == '0' {
		keep--
	}
	return strings.TrimSuffix(s[:keep], ".")
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatHuman groups thousands and places the euro sign by language.
// minDecimals is the number of decimals always shown.
func formatHuman(d decimal.Decimal, minDecimals int32, lang string) string {
	s := fixed(d, minDecimals, UnitPriceDecimals)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	groupSep, decSep := ",", "."
	if lang == "fr" {
		groupSep, decSep = " ", ","
	}
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(groupSep)
		}
		b.WriteRune(r)
	}
	num := b.String()
	if frac != "" {
		num += decSep + frac
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if lang == "fr" {
		return sign + num + " €"
	}
	return sign + "€" + num
}
