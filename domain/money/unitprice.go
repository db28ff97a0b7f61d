package money

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"
)

// UnitPriceDecimals is the finest precision of a unit price (usage is often
// priced in fractions of a cent: €0.0125 per GB).
const UnitPriceDecimals = 6

// UnitPrice is an exact price in euros of one unit of something, with up to
// six decimals. Multiplying it by a quantity gives an Amount rounded to the
// cent. The zero value is €0.00. It marshals to JSON like an Amount, with at
// least two decimals: {"amount":"0.0125","currency":"EUR"}.
type UnitPrice struct {
	d decimal.Decimal
}

// ParseUnitPrice reads a unit price such as "0.0125" or "450": an optional
// minus sign, digits, and at most six decimals. It returns an error wrapping
// ErrSyntax or ErrPrecision.
func ParseUnitPrice(s string) (UnitPrice, error) {
	d, err := parseDecimal(s, UnitPriceDecimals)
	if err != nil {
		return UnitPrice{}, err
	}
	return UnitPrice{d: d}, nil
}

// MustParseUnitPrice is ParseUnitPrice for constants; it panics on an invalid price.
func MustParseUnitPrice(s string) UnitPrice {
	p, err := ParseUnitPrice(s)
	if err != nil {
		panic(err)
	}
	return p
}

// UnitPriceOf returns an amount used as a unit price.
func UnitPriceOf(a Amount) UnitPrice { return UnitPrice{d: a.Decimal()} }

// Decimal returns the unit price as a decimal.
func (p UnitPrice) Decimal() decimal.Decimal { return p.d }

// Times returns quantity × p rounded half-up to the cent.
func (p UnitPrice) Times(quantity decimal.Decimal) Amount { return RoundHalfUp(p.d.Mul(quantity)) }

// String returns the price with at least two decimals and no trailing zero
// beyond them: "450.00", "0.0125".
func (p UnitPrice) String() string { return fixed(p.d, cents, UnitPriceDecimals) }

// Equal reports whether p and q are the same price.
func (p UnitPrice) Equal(q UnitPrice) bool { return p.d.Equal(q.d) }

// IsNegative reports whether p < 0.
func (p UnitPrice) IsNegative() bool { return p.d.IsNegative() }

// Format returns the price for people, like Amount.Format, keeping its
// decimals beyond the cents: "0,0125 €", "€0.0125".
func (p UnitPrice) Format(lang string) string { return formatHuman(p.d, cents, lang) }

// MarshalJSON writes {"amount":"0.0125","currency":"EUR"}.
func (p UnitPrice) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonAmount{Amount: p.String(), Currency: Currency})
}

// UnmarshalJSON reads {"amount":"0.0125","currency":"EUR"}.
func (p *UnitPrice) UnmarshalJSON(data []byte) error {
	s, err := unmarshalAmount(data)
	if err != nil {
		return err
	}
	v, err := ParseUnitPrice(s)
	if err != nil {
		return fmt.Errorf("unit price: %w", err)
	}
	*p = v
	return nil
}
