// Package catalog is the list of services a contract can order online, with
// their parameters and prices, shipped as data (catalog.json) in the binary.
//
// The catalog is read-only: Default loads and validates the embedded file
// once; Get, List and Quote never change it. Texts exist in English and
// French; the English ones are canonical (stored in events, searched first).
//
// # Prices of flavor reservations (AD135)
//
// A reservation's price depends on the flavor, the duration and the payment
// mode, never on the region. The table in catalog.json lists every cell; it
// was built from the 1-year price without upfront of each flavor (B), which
// for c2.large, c2.xlarge, c2.2xlarge and e2.4xlarge is the price of the
// user guide, so that the guide's seven prices come out exactly:
//
//	                 monthly price          effective monthly cost
//	                                       (initial/months + monthly)
//	12 months        B                      B
//	24 months        0.85 B                 0.85 B
//	36 months        0.72 B                 0.72 B
//	12 m. + upfront  57.03/120.30 B ≈ 0.474 B   0.93 B
//	24 m. + upfront  24.39/60.15 B ≈ 0.405 B    1098.38/1443.60 B ≈ 0.761 B
//	36 m. + upfront  79.51/240.60 B ≈ 0.330 B   0.64 B
//
// Monthly prices are rounded half-up to the cent; the initial payment is the
// effective cost over the term minus the monthly prices, rounded likewise.
// So an upfront payment always lowers both the monthly price and the total,
// and a longer term always lowers the monthly price. The cheapest cell,
// s3.small for 3 years with upfront (€4.97/month), is the service's "from"
// price. Load checks the table is complete; the tests check the rest.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"selfcare/domain"
	"selfcare/domain/money"
)

// Kind says how a service is paid for.
type Kind string

// The kinds of services.
const (
	// KindReservation: a subscription for a duration, with a monthly price
	// and maybe an initial payment (flavor reservations).
	KindReservation Kind = "reservation"
	// KindOneOff: a one-off service at a fixed price (Expert pack 4H).
	KindOneOff Kind = "one_off"
	// KindFree: a service that costs nothing.
	KindFree Kind = "free"
)

// ParamType is the type of a parameter's values. Values are always written
// as strings in the catalog and in orders ("12", "true"); Quote takes integer
// and boolean parameters as JSON numbers and booleans only.
type ParamType string

// The parameter types.
const (
	TypeString  ParamType = "string"
	TypeInteger ParamType = "integer"
	TypeBoolean ParamType = "boolean"
)

// Parameter names of flavor reservations. Every reservation service has
// exactly these parameters (the API's order body uses the same names).
const (
	ParamRegion         = "region"
	ParamFlavor         = "flavor"
	ParamDurationMonths = "duration_months"
	ParamUpfront        = "upfront"
)

// Service is one orderable service, with its texts in one language.
type Service struct {
	Code        string `json:"service_code"`
	Name        string `json:"name"`
	Category    string `json:"category"`
	Description string `json:"description"`
	Kind        Kind   `json:"kind"`
	// FromPrice is the lowest price of the service: its price for one-off
	// services, the lowest monthly price for reservations, 0 when free.
	FromPrice  money.Amount `json:"from_price"`
	Parameters []Parameter  `json:"parameters"`

	src *service
}

// Parameter is a choice to make when ordering a service.
type Parameter struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required"`
	// Default is the value used when an optional parameter is not given
	// ("" if none: the parameter is then left out of the order).
	Default string  `json:"default,omitempty"`
	Values  []Value `json:"values"`
}

// Value is an allowed value of a parameter.
type Value struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Category groups services in the catalog.
type Category struct {
	Code  string `json:"code"`
	Label string `json:"label"`
}

// In returns the service with its texts in lang ("fr" or "en"; anything
// else, or a missing translation, gives English).
func (s Service) In(lang string) Service {
	if s.src == nil {
		return s
	}
	return s.src.view(lang)
}

// Catalog is a validated, read-only set of services. It is safe for
// concurrent use.
type Catalog struct {
	services   []*service
	byCode     map[string]*service
	categories []category
}

//go:embed catalog.json
var embedded []byte

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Load(embedded)
	if err != nil {
		// The file is part of the binary and checked by the tests: an
		// invalid one is a build defect, not a runtime condition.
		panic("catalog: embedded catalog.json is invalid: " + err.Error())
	}
	return c
})

// Default returns the catalog embedded in the binary, loaded and validated
// on first use.
func Default() *Catalog { return defaultCatalog() }

// Get returns the service with the given code, with English texts. It
// returns an error wrapping domain.ErrNotFound for an unknown code.
func (c *Catalog) Get(code string) (Service, error) {
	s, ok := c.byCode[code]
	if !ok {
		return Service{}, fmt.Errorf("service %q: %w", code, domain.ErrNotFound)
	}
	return s.view("en"), nil
}

// List returns the services, in catalog order and with English texts, that
// are in category (all if "") and match query (all if ""). The match is
// case-insensitive: every word of the query must appear in the service's
// code, category, name or description, in English or French.
func (c *Catalog) List(query, category string) []Service {
	words := strings.Fields(strings.ToLower(query))
	var out []Service
	for _, s := range c.services {
		if category != "" && !strings.EqualFold(category, s.category) {
			continue
		}
		if !s.matches(words) {
			continue
		}
		out = append(out, s.view("en"))
	}
	return out
}

// Categories returns the catalog's categories, in order, labelled in lang.
func (c *Catalog) Categories(lang string) []Category {
	out := make([]Category, len(c.categories))
	for i, cat := range c.categories {
		out[i] = Category{Code: cat.code, Label: cat.label.in(lang)}
	}
	return out
}

// --- internal representation ---

// text is a text in English and French.
type text struct {
	EN string `json:"en"`
	FR string `json:"fr"`
}

func (t text) in(lang string) string {
	if lang == "fr" && t.FR != "" {
		return t.FR
	}
	return t.EN
}

type category struct {
	code  string
	label text
}

type service struct {
	code        string
	kind        Kind
	category    string
	name        text
	description text
	fromPrice   money.Amount
	price       money.Amount // one-off services
	params      []parameter
	prices      map[priceKey]reservationPrice // reservations
	search      string                        // lower-case text searched by List
}

type parameter struct {
	name     string
	typ      ParamType
	required bool
	def      string
	label    text
	values   []value
}

type value struct {
	value string
	label text
}

type priceKey struct {
	flavor  string
	months  int
	upfront bool
}

type reservationPrice struct {
	initial money.Amount
	monthly money.Amount
}

func (s *service) view(lang string) Service {
	params := make([]Parameter, len(s.params))
	for i, p := range s.params {
		values := make([]Value, len(p.values))
		for j, v := range p.values {
			values[j] = Value{Value: v.value, Label: v.label.in(lang)}
		}
		params[i] = Parameter{
			Name: p.name, Label: p.label.in(lang), Type: p.typ,
			Required: p.required, Default: p.def, Values: values,
		}
	}
	return Service{
		Code: s.code, Name: s.name.in(lang), Category: s.category,
		Description: s.description.in(lang), Kind: s.kind, FromPrice: s.fromPrice,
		Parameters: params, src: s,
	}
}

func (s *service) matches(words []string) bool {
	for _, w := range words {
		if !strings.Contains(s.search, w) {
			return false
		}
	}
	return true
}

func (s *service) param(name string) (parameter, bool) {
	for _, p := range s.params {
		if p.name == name {
			return p, true
		}
	}
	return parameter{}, false
}

// --- loading ---

type fileCatalog struct {
	Categories []struct {
		Code  string `json:"code"`
		Label text   `json:"label"`
	} `json:"categories"`
	Services []fileService `json:"services"`
}

type fileService struct {
	Code        string `json:"service_code"`
	Kind        Kind   `json:"kind"`
	Category    string `json:"category"`
	Name        text   `json:"name"`
	Description text   `json:"description"`
	FromPrice   string `json:"from_price"`
	Price       string `json:"price"`
	Parameters  []struct {
		Name     string    `json:"name"`
		Type     ParamType `json:"type"`
		Required bool      `json:"required"`
		Default  string    `json:"default"`
		Label    text      `json:"label"`
		Values   []struct {
			Value string `json:"value"`
			Label text   `json:"label"`
		} `json:"values"`
	} `json:"parameters"`
	Prices []struct {
		Flavor         string `json:"flavor"`
		DurationMonths int    `json:"duration_months"`
		Upfront        bool   `json:"upfront"`
		InitialPayment string `json:"initial_payment"`
		MonthlyPrice   string `json:"monthly_price"`
	} `json:"prices"`
}

// Load reads and validates a catalog in the format of catalog.json. It
// reports every problem found, joined in one error.
func Load(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileCatalog
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	c := &Catalog{byCode: map[string]*service{}}
	categories := map[string]text{}
	for _, cat := range f.Categories {
		if cat.Code == "" || cat.Label.EN == "" {
			fail("category %q: code and English label are required", cat.Code)
			continue
		}
		if _, dup := categories[cat.Code]; dup {
			fail("category %q: listed twice", cat.Code)
			continue
		}
		categories[cat.Code] = cat.Label
		c.categories = append(c.categories, category{code: cat.Code, label: cat.Label})
	}
	if len(f.Services) == 0 {
		fail("no services")
	}
	for _, fs := range f.Services {
		s, err := loadService(fs, categories)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", fs.Code, err))
			continue
		}
		if _, dup := c.byCode[s.code]; dup {
			fail("service %q: listed twice", s.code)
			continue
		}
		c.byCode[s.code] = s
		c.services = append(c.services, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

func loadService(fs fileService, categories map[string]text) (*service, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if fs.Code == "" || strings.Trim(fs.Code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		fail("service code must be upper-case letters and digits")
	}
	if fs.Name.EN == "" || fs.Description.EN == "" {
		fail("English name and description are required")
	}
	catLabel, ok := categories[fs.Category]
	if !ok {
		fail("unknown category %q", fs.Category)
	}
	fromPrice, err := money.Parse(fs.FromPrice)
	if err != nil {
		fail("from_price: %v", err)
	}
	s := &service{
		code: fs.Code, kind: fs.Kind, category: fs.Category,
		name: fs.Name, description: fs.Description, fromPrice: fromPrice,
	}

	seen := map[string]bool{}
	for _, fp := range fs.Parameters {
		p := parameter{name: fp.Name, typ: fp.Type, required: fp.Required, def: fp.Default, label: fp.Label}
		if p.name == "" || seen[p.name] {
			fail("parameter %q: empty or listed twice", p.name)
			continue
		}
		seen[p.name] = true
		if len(fp.Values) == 0 {
			fail("parameter %q: no allowed values", p.name)
		}
		for _, fv := range fp.Values {
			if !canonical(p.typ, fv.Value) {
				fail("parameter %q: value %q is not a canonical %s", p.name, fv.Value, p.typ)
			}
			if slices.ContainsFunc(p.values, func(v value) bool { return v.value == fv.Value }) {
				fail("parameter %q: value %q listed twice", p.name, fv.Value)
			}
			p.values = append(p.values, value{value: fv.Value, label: fv.Label})
		}
		if p.def != "" && (p.required || !p.allows(p.def)) {
			fail("parameter %q: default %q must be an allowed value of an optional parameter", p.name, p.def)
		}
		s.params = append(s.params, p)
	}

	switch s.kind {
	case KindReservation:
		errs = append(errs, s.loadPrices(fs)...)
	case KindOneOff:
		price, err := money.Parse(fs.Price)
		if err != nil || !price.IsPositive() {
			fail("a one-off service needs a positive price, got %q", fs.Price)
		}
		s.price = price
		if !fromPrice.Equal(price) {
			fail("from_price %s differs from the price %s", fromPrice, price)
		}
	case KindFree:
		if fs.Price != "" || !fromPrice.IsZero() {
			fail("a free service has no price and a from_price of 0.00")
		}
	default:
		fail("unknown kind %q", s.kind)
	}
	if s.kind != KindReservation && len(fs.Prices) > 0 {
		fail("only reservations have a price table")
	}

	var search []string
	search = append(search, s.code, s.category, catLabel.EN, catLabel.FR,
		s.name.EN, s.name.FR, s.description.EN, s.description.FR)
	s.search = strings.ToLower(strings.Join(search, "\n"))
	return s, errors.Join(errs...)
}

// loadPrices checks a reservation's parameters and reads its price table,
// which must hold exactly one row per flavor × duration × payment mode.
func (s *service) loadPrices(fs fileService) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	want := map[string]ParamType{
		ParamRegion: TypeString, ParamFlavor: TypeString,
		ParamDurationMonths: TypeInteger, ParamUpfront: TypeBoolean,
	}
	if len(s.params) != len(want) {
		fail("a reservation has exactly the parameters region, flavor, duration_months and upfront")
	}
	for _, p := range s.params {
		if t, ok := want[p.name]; !ok || t != p.typ {
			fail("parameter %q: not a reservation parameter of type %s", p.name, t)
		}
	}
	flavors, _ := s.param(ParamFlavor)
	durations, _ := s.param(ParamDurationMonths)
	for _, d := range durations.values {
		if n, _ := strconv.Atoi(d.value); n <= 0 || n%12 != 0 {
			fail("duration %s months: reservations last whole years", d.value)
		}
	}

	s.prices = map[priceKey]reservationPrice{}
	for _, row := range fs.Prices {
		k := priceKey{flavor: row.Flavor, months: row.DurationMonths, upfront: row.Upfront}
		if !flavors.allows(k.flavor) || !durations.allows(strconv.Itoa(k.months)) {
			fail("price of %v: unknown flavor or duration", k)
			continue
		}
		if _, dup := s.prices[k]; dup {
			fail("price of %v: listed twice", k)
			continue
		}
		initial, err1 := money.Parse(row.InitialPayment)
		monthly, err2 := money.Parse(row.MonthlyPrice)
		switch {
		case err1 != nil || err2 != nil:
			fail("price of %v: %v", k, errors.Join(err1, err2))
		case !monthly.IsPositive():
			fail("price of %v: the monthly price must be positive", k)
		case k.upfront && !initial.IsPositive(), !k.upfront && !initial.IsZero():
			fail("price of %v: an initial payment is positive with upfront, zero without", k)
		}
		s.prices[k] = reservationPrice{initial: initial, monthly: monthly}
	}
	var lowest *money.Amount
	for _, f := range flavors.values {
		for _, d := range durations.values {
			months, _ := strconv.Atoi(d.value)
			for _, upfront := range []bool{false, true} {
				p, ok := s.prices[priceKey{f.value, months, upfront}]
				if !ok {
					fail("no price for %s, %d months, upfront %t", f.value, months, upfront)
					continue
				}
				if lowest == nil || p.monthly.Cmp(*lowest) < 0 {
					lowest = &p.monthly
				}
			}
		}
	}
	if lowest != nil && !lowest.Equal(s.fromPrice) {
		fail("from_price %s is not the lowest monthly price %s", s.fromPrice, *lowest)
	}
	return errs
}

func (p parameter) allows(v string) bool {
	return slices.ContainsFunc(p.values, func(x value) bool { return x.value == v })
}
