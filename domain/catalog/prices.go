package catalog

import (
	"strconv"

	"selfcare/domain/money"
)

// Price is one row of a reservation's price table: what a flavor costs for
// a duration, with or without upfront payment.
type Price struct {
	Flavor           string       `json:"flavor"`
	DurationMonths   int          `json:"duration_months"`
	Upfront          bool         `json:"upfront"`
	SubscriptionName string       `json:"subscription_name"`
	InitialPayment   money.Amount `json:"initial_payment"`
	MonthlyPrice     money.Amount `json:"monthly_price"`
}

// Prices returns the price table of a reservation, row by row in the order
// of the flavor and duration parameters, without upfront before with. It
// returns nil for one-off and free services, whose price is FromPrice.
func (s Service) Prices() []Price {
	if s.src == nil || s.src.kind != KindReservation {
		return nil
	}
	flavors, _ := s.src.param(ParamFlavor)
	durations, _ := s.src.param(ParamDurationMonths)
	var out []Price
	for _, f := range flavors.values {
		for _, d := range durations.values {
			months, _ := strconv.Atoi(d.value) // checked by Load
			for _, upfront := range []bool{false, true} {
				p := s.src.prices[priceKey{flavor: f.value, months: months, upfront: upfront}]
				out = append(out, Price{
					Flavor: f.value, DurationMonths: months, Upfront: upfront,
					SubscriptionName: SubscriptionName(f.value, months, upfront),
					InitialPayment:   p.initial, MonthlyPrice: p.monthly,
				})
			}
		}
	}
	return out
}
