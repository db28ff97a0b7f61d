package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"selfcare/domain"
	"selfcare/domain/money"
)

// Quote is the price of a service for given parameters: what an order
// for them would cost and be called.
type Quote struct {
	ServiceCode string `json:"service_code"`
	// ServiceName is the service's English name.
	ServiceName string `json:"service_name"`
	// Name is what the order is called: the subscription name of a
	// reservation, the service name otherwise.
	Name string `json:"name"`
	// SubscriptionName is set for reservations only: "Reservation
	// c2.2xlarge 1 year without upfront".
	SubscriptionName string `json:"subscription_name,omitempty"`
	Kind             Kind   `json:"kind"`
	// Parameters are the validated parameters in canonical form (strings,
	// "12", "true"), defaults included.
	Parameters map[string]string `json:"parameters"`
	// Price is the price of a one-off service, the monthly price of a
	// reservation, €0.00 for a free service.
	Price money.Amount `json:"price"`
	// MonthlyPrice and InitialPayment are set for reservations only (the
	// initial payment is €0.00 without upfront).
	MonthlyPrice   *money.Amount `json:"monthly_price,omitempty"`
	InitialPayment *money.Amount `json:"initial_payment,omitempty"`
	// DurationMonths is the length of a reservation, 0 otherwise.
	DurationMonths int `json:"duration_months,omitempty"`
}

// Quote validates params for the service code and prices them. params is
// what the order's JSON body holds ("parameters"): a JSON string, number
// or boolean per parameter, as its type says ("12" is no integer: the API's
// schema promises clients a typed body, and two spellings of one value would
// be two orders' worth of ambiguity). Missing optional parameters take their
// default.
//
// It returns an error wrapping domain.ErrNotFound for an unknown service
// code, and a *domain.ValidationError for a missing code (field
// "service_code") or bad parameters (field "parameters.<name>", code
// "required", "invalid" or "unknown").
func (c *Catalog) Quote(code string, params map[string]any) (Quote, error) {
	if code == "" {
		return Quote{}, domain.Invalid("service_code", "required", "a service code is required")
	}
	s, ok := c.byCode[code]
	if !ok {
		return Quote{}, fmt.Errorf("service %q: %w", code, domain.ErrNotFound)
	}

	var v domain.ValidationError
	canon := map[string]string{}
	for _, p := range s.params {
		field := "parameters." + p.name
		raw, given := params[p.name]
		if !given || raw == nil {
			if p.required {
				v.Add(field, "required", "%s is required", p.name)
			} else if p.def != "" {
				canon[p.name] = p.def
			}
			continue
		}
		val, err := normalize(p.typ, raw)
		if err != nil || !p.allows(val) {
			v.Add(field, "invalid", "%s must be one of %s (a JSON %s)", p.name, p.allowedList(), p.typ)
			continue
		}
		canon[p.name] = val
	}
	var unknown []string
	for name := range params {
		if _, ok := s.param(name); !ok {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		v.Add("parameters."+name, "unknown", "service %s has no parameter %s", s.code, name)
	}
	if err := v.Err(); err != nil {
		return Quote{}, err
	}

	q := Quote{
		ServiceCode: s.code, ServiceName: s.name.EN, Name: s.name.EN,
		Kind: s.kind, Parameters: canon,
	}
	switch s.kind {
	case KindOneOff:
		q.Price = s.price
	case KindFree:
		q.Price = money.Zero
	case KindReservation:
		months, _ := strconv.Atoi(canon[ParamDurationMonths]) // validated above
		k := priceKey{flavor: canon[ParamFlavor], months: months, upfront: canon[ParamUpfront] == "true"}
		p := s.prices[k] // Load checked the table is complete
		monthly, initial := p.monthly, p.initial
		q.SubscriptionName = SubscriptionName(k.flavor, k.months, k.upfront)
		q.Name = q.SubscriptionName
		q.Price = monthly
		q.MonthlyPrice = &monthly
		q.InitialPayment = &initial
		q.DurationMonths = months
	}
	return q, nil
}

// SubscriptionName is the name of a flavor reservation, as the user guide
// writes it: "Reservation c2.2xlarge 1 year without upfront",
// "Reservation c2.large 2 years with upfront". months is a whole number of
// years.
func SubscriptionName(flavor string, months int, upfront bool) string {
	years := months / 12
	unit := "years"
	if years == 1 {
		unit = "year"
	}
	with := "without"
	if upfront {
		with = "with"
	}
	return fmt.Sprintf("Reservation %s %d %s %s upfront", flavor, years, unit, with)
}

func (p parameter) allowedList() string {
	vals := make([]string, len(p.values))
	for i, v := range p.values {
		vals[i] = v.value
	}
	return strings.Join(vals, ", ")
}

// normalize returns v in the canonical string form of typ, or an error if v
// is not a value of that type. The type is the JSON one: an integer
// parameter is a JSON number and a boolean one a JSON boolean, never their
// spelling as a string ("12", "false"), as the API's schema says.
func normalize(typ ParamType, v any) (string, error) {
	switch typ {
	case TypeString:
		if s, ok := v.(string); ok && s != "" {
			return s, nil
		}
	case TypeInteger:
		switch n := v.(type) {
		case int:
			return strconv.Itoa(n), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		case int32:
			return strconv.FormatInt(int64(n), 10), nil
		case float64: // what encoding/json gives for a number
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return strconv.FormatInt(int64(n), 10), nil
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return strconv.FormatInt(i, 10), nil
			}
		}
	case TypeBoolean:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
	}
	return "", fmt.Errorf("%v is not a %s", v, typ)
}

// canonical reports whether s, a value written in the catalog, is the
// canonical string form of a value of typ.
func canonical(typ ParamType, s string) bool {
	switch typ {
	case TypeString:
		return s != ""
	case TypeInteger:
		i, err := strconv.ParseInt(s, 10, 64)
		return err == nil && strconv.FormatInt(i, 10) == s
	case TypeBoolean:
		return s == "true" || s == "false"
	}
	return false
}

// Names gives an order's or subscription's name in both languages of the
// customer area ("en" and "fr"), from its service code and parameters: the
// stored name is English (the guide's), and a French user reads it in
// French. A service unknown to the catalog gives no names.
func (c *Catalog) Names(serviceCode string, params map[string]string) map[string]string {
	// The service's own texts, not a view of it in each language: a list
	// of orders asks this for every row.
	s, ok := c.byCode[serviceCode]
	if !ok {
		return nil
	}
	names := map[string]string{"en": s.name.in("en"), "fr": s.name.in("fr")}
	months, err := strconv.Atoi(params["duration_months"])
	if flavor := params["flavor"]; flavor != "" && err == nil && months >= 12 {
		upfront := params["upfront"] == "true"
		names["en"] = SubscriptionName(flavor, months, upfront)
		names["fr"] = subscriptionNameFR(flavor, months, upfront)
	}
	return names
}

// subscriptionNameFR is SubscriptionName in French: "Réservation
// c2.2xlarge 1 an sans paiement initial".
func subscriptionNameFR(flavor string, months int, upfront bool) string {
	years := months / 12
	unit := "ans"
	if years == 1 {
		unit = "an"
	}
	with := "sans"
	if upfront {
		with = "avec"
	}
	return fmt.Sprintf("Réservation %s %d %s %s paiement initial", flavor, years, unit, with)
}
