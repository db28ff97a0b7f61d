package catalog

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"selfcare/domain"
	"selfcare/domain/money"
)

func reservation(flavor string, months int, upfront bool) map[string]any {
	return map[string]any{"region": "eu-west-0", "flavor": flavor, "duration_months": months, "upfront": upfront}
}

func TestGuidePricesAreReproducedExactly(t *testing.T) {
	tests := []struct {
		flavor      string
		months      int
		upfront     bool
		wantName    string
		wantMonthly string
		wantInitial string
	}{
		{"c2.large", 12, false, "Reservation c2.large 1 year without upfront", "60.15", "0.00"},
		{"c2.xlarge", 12, false, "Reservation c2.xlarge 1 year without upfront", "120.30", "0.00"},
		{"c2.2xlarge", 12, false, "Reservation c2.2xlarge 1 year without upfront", "240.60", "0.00"},
		{"e2.4xlarge", 12, false, "Reservation e2.4xlarge 1 year without upfront", "3596.45", "0.00"},
		{"c2.large", 24, true, "Reservation c2.large 2 years with upfront", "24.39", "513.02"},
		{"c2.xlarge", 12, true, "Reservation c2.xlarge 1 year with upfront", "57.03", "658.19"},
		{"c2.2xlarge", 36, true, "Reservation c2.2xlarge 3 years with upfront", "79.51", "2681.06"},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			q, err := Default().Quote("AD135", reservation(tt.flavor, tt.months, tt.upfront))
			if err != nil {
				t.Fatal(err)
			}
			if q.Name != tt.wantName || q.SubscriptionName != tt.wantName {
				t.Errorf("name = %q / %q, want %q", q.Name, q.SubscriptionName, tt.wantName)
			}
			if q.MonthlyPrice == nil || q.MonthlyPrice.String() != tt.wantMonthly || q.Price.String() != tt.wantMonthly {
				t.Errorf("monthly price = %v, price = %s, want %s", q.MonthlyPrice, q.Price, tt.wantMonthly)
			}
			if q.InitialPayment == nil || q.InitialPayment.String() != tt.wantInitial {
				t.Errorf("initial payment = %v, want %s", q.InitialPayment, tt.wantInitial)
			}
			if q.DurationMonths != tt.months || q.Kind != KindReservation || q.ServiceName != "Elastic Cloud Server flavor reservation" {
				t.Errorf("quote = %+v", q)
			}
		})
	}
}

func TestReservationIsOfferedFrom497AMonthTheLowestMonthlyPrice(t *testing.T) {
	s, err := Default().Get("AD135")
	if err != nil {
		t.Fatal(err)
	}
	if s.FromPrice.String() != "4.97" || s.Category != "compute" || s.Kind != KindReservation {
		t.Fatalf("AD135 = %+v", s)
	}
	lowest := money.MustParse("999999")
	for _, q := range allReservationQuotes(t) {
		if q.MonthlyPrice.Cmp(lowest) < 0 {
			lowest = *q.MonthlyPrice
		}
	}
	if !lowest.Equal(s.FromPrice) {
		t.Errorf("lowest monthly price %s, from price %s", lowest, s.FromPrice)
	}
}

// allReservationQuotes quotes every cell of the AD135 table, in every region.
func allReservationQuotes(t *testing.T) []Quote {
	t.Helper()
	s, err := Default().Get("AD135")
	if err != nil {
		t.Fatal(err)
	}
	var out []Quote
	for _, region := range paramValues(s, ParamRegion) {
		for _, flavor := range paramValues(s, ParamFlavor) {
			for _, months := range paramValues(s, ParamDurationMonths) {
				for _, upfront := range paramValues(s, ParamUpfront) {
					n, err := strconv.Atoi(months)
					if err != nil {
						t.Fatal(err)
					}
					q, err := Default().Quote("AD135", map[string]any{
						"region": region, "flavor": flavor, "duration_months": n, "upfront": upfront == "true",
					})
					if err != nil {
						t.Fatalf("%s %s %s %s: %v", region, flavor, months, upfront, err)
					}
					out = append(out, q)
				}
			}
		}
	}
	return out
}

func paramValues(s Service, name string) []string {
	for _, p := range s.Parameters {
		if p.Name == name {
			var vals []string
			for _, v := range p.Values {
				vals = append(vals, v.Value)
			}
			return vals
		}
	}
	return nil
}

// total is what a reservation costs over its whole term.
func total(q Quote) money.Amount {
	return q.InitialPayment.Add(q.MonthlyPrice.MulInt(int64(q.DurationMonths)))
}

func TestPriceTableIsConsistent(t *testing.T) {
	quotes := allReservationQuotes(t)
	type cell struct {
		region, flavor string
		months         int
		upfront        bool
	}
	byCell := map[cell]Quote{}
	for _, q := range quotes {
		p := q.Parameters
		byCell[cell{p["region"], p["flavor"], q.DurationMonths, p["upfront"] == "true"}] = q
	}
	s, _ := Default().Get("AD135")
	flavors := paramValues(s, ParamFlavor)
	for c, q := range byCell {
		if c.region != "eu-west-0" {
			if ref := byCell[cell{"eu-west-0", c.flavor, c.months, c.upfront}]; !q.Price.Equal(ref.Price) || !q.InitialPayment.Equal(*ref.InitialPayment) {
				t.Errorf("%v: the region changes the price", c)
			}
		}
		if !c.upfront {
			if !q.InitialPayment.IsZero() {
				t.Errorf("%v: initial payment %s without upfront", c, q.InitialPayment)
			}
			up := byCell[cell{c.region, c.flavor, c.months, true}]
			if up.MonthlyPrice.Cmp(*q.MonthlyPrice) >= 0 {
				t.Errorf("%v: upfront monthly %s is not below %s", c, up.MonthlyPrice, q.MonthlyPrice)
			}
			if !up.InitialPayment.IsPositive() || total(up).Cmp(total(q)) >= 0 {
				t.Errorf("%v: upfront total %s is not below %s", c, total(up), total(q))
			}
		}
		if longer, ok := byCell[cell{c.region, c.flavor, c.months + 12, c.upfront}]; ok {
			if longer.MonthlyPrice.Cmp(*q.MonthlyPrice) >= 0 {
				t.Errorf("%v: %d months costs %s/month, not below %s", c, c.months+12, longer.MonthlyPrice, q.MonthlyPrice)
			}
			// Effective monthly cost, compared without dividing: total/m.
			lhs := total(longer).MulInt(int64(c.months))
			rhs := total(q).MulInt(int64(c.months + 12))
			if lhs.Cmp(rhs) >= 0 {
				t.Errorf("%v: the longer term is not cheaper per month overall", c)
			}
		}
		// Within a family (c2, s3, ...), flavors are listed from the
		// smallest: each costs more than the previous one.
		i := slices.Index(flavors, c.flavor)
		if i > 0 && strings.Split(flavors[i-1], ".")[0] == strings.Split(c.flavor, ".")[0] {
			smaller := byCell[cell{c.region, flavors[i-1], c.months, c.upfront}]
			if smaller.MonthlyPrice.Cmp(*q.MonthlyPrice) >= 0 || smaller.InitialPayment.Cmp(*q.InitialPayment) > 0 {
				t.Errorf("%v: not dearer than %s", c, flavors[i-1])
			}
		}
	}
	if want := 3 * 11 * 3 * 2; len(byCell) != want {
		t.Errorf("%d cells, want %d", len(byCell), want)
	}
}

func TestOneOffAndFreeServicesHaveAFixedPrice(t *testing.T) {
	tests := []struct {
		code, name string
		params     map[string]any
		kind       Kind
		price      string
	}{
		{"PS104", "Expert pack 4H", nil, KindOneOff, "450.00"},
		{"NW210", "Direct Connect installation", map[string]any{"region": "eu-west-1"}, KindOneOff, "980.00"},
		{"PS001", "Contract modification request", map[string]any{}, KindFree, "0.00"},
		{"SC401", "Anti-DDoS protection activation", map[string]any{"region": "eu-west-0"}, KindFree, "0.00"},
	}
	for _, tt := range tests {
		q, err := Default().Quote(tt.code, tt.params)
		if err != nil {
			t.Errorf("%s: %v", tt.code, err)
			continue
		}
		if q.Name != tt.name || q.ServiceName != tt.name || q.SubscriptionName != "" || q.Kind != tt.kind || q.Price.String() != tt.price {
			t.Errorf("%s: quote = %+v", tt.code, q)
		}
		if q.MonthlyPrice != nil || q.InitialPayment != nil || q.DurationMonths != 0 {
			t.Errorf("%s: a one-off or free service has no monthly price, initial payment or duration: %+v", tt.code, q)
		}
	}
}

func TestQuoteAcceptsNumbersAndBooleansAndAppliesDefaults(t *testing.T) {
	tests := map[string]map[string]any{
		"JSON number and bool": {"region": "eu-west-0", "flavor": "c2.large", "duration_months": 24.0, "upfront": false},
		"json.Number":          {"region": "eu-west-0", "flavor": "c2.large", "duration_months": json.Number("24")},
		"upfront left out":     {"region": "eu-west-0", "flavor": "c2.large", "duration_months": 24},
		"upfront null":         {"region": "eu-west-0", "flavor": "c2.large", "duration_months": int64(24), "upfront": nil},
	}
	want := map[string]string{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "24", "upfront": "false"}
	for name, params := range tests {
		q, err := Default().Quote("AD135", params)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !mapsEqual(q.Parameters, want) || q.MonthlyPrice.String() != "51.13" {
			t.Errorf("%s: parameters %v, monthly %s", name, q.Parameters, q.MonthlyPrice)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestQuoteRejectsBadParametersFieldByField(t *testing.T) {
	type fieldCode struct{ field, code string }
	tests := []struct {
		name   string
		code   string
		params map[string]any
		want   []fieldCode
	}{
		{"flavor is required", "AD135", map[string]any{"region": "eu-west-0", "duration_months": 12},
			[]fieldCode{{"parameters.flavor", "required"}}},
		{"everything missing", "AD135", nil,
			[]fieldCode{{"parameters.region", "required"}, {"parameters.flavor", "required"}, {"parameters.duration_months", "required"}}},
		{"unknown flavor", "AD135", map[string]any{"region": "eu-west-0", "flavor": "x9.huge", "duration_months": 12},
			[]fieldCode{{"parameters.flavor", "invalid"}}},
		{"unknown region", "AD135", map[string]any{"region": "us-east-1", "flavor": "c2.large", "duration_months": 12},
			[]fieldCode{{"parameters.region", "invalid"}}},
		{"duration not offered", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 18},
			[]fieldCode{{"parameters.duration_months", "invalid"}}},
		{"fractional duration", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12.5},
			[]fieldCode{{"parameters.duration_months", "invalid"}}},
		{"duration as a word", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "one year"},
			[]fieldCode{{"parameters.duration_months", "invalid"}}},
		{"upfront not a boolean", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12, "upfront": "yes"},
			[]fieldCode{{"parameters.upfront", "invalid"}}},
		{"numbers and booleans spelled as strings", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "12", "upfront": "false"},
			[]fieldCode{{"parameters.duration_months", "invalid"}, {"parameters.upfront", "invalid"}}},
		{"flavor not a string", "AD135", map[string]any{"region": "eu-west-0", "flavor": 2, "duration_months": 12},
			[]fieldCode{{"parameters.flavor", "invalid"}}},
		{"unknown parameters, sorted", "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12, "zone": "a", "os": "linux"},
			[]fieldCode{{"parameters.os", "unknown"}, {"parameters.zone", "unknown"}}},
		{"a one-off service takes no parameters", "PS104", map[string]any{"region": "eu-west-0"},
			[]fieldCode{{"parameters.region", "unknown"}}},
		{"no service code", "", nil, []fieldCode{{"service_code", "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Default().Quote(tt.code, tt.params)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v, want a ValidationError", err)
			}
			var got []fieldCode
			for _, fe := range ve.Errors {
				got = append(got, fieldCode{fe.Field, fe.Code})
				if fe.Message == "" {
					t.Errorf("%s: empty message", fe.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnknownServiceIsNotFound(t *testing.T) {
	if _, err := Default().Quote("ZZ999", nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Quote error = %v, want ErrNotFound", err)
	}
	if _, err := Default().Get("ad135"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Get error = %v, want ErrNotFound (codes are exact)", err)
	}
}

func TestListSearchesAndFilters(t *testing.T) {
	codes := func(ss []Service) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Code)
		}
		return out
	}
	tests := []struct {
		query, category string
		want            []string
	}{
		{"", "", []string{"AD135", "PS104", "PS108", "NW210", "ST320", "SC401", "PS001"}},
		{"EXPERT PACK", "", []string{"PS104", "PS108"}},
		{"expert", "", []string{"PS104", "PS108", "PS001"}}, // category "Support and expertise"
		{"expert pack 4h", "", []string{"PS104"}},
		{"réservation", "", []string{"AD135"}}, // French name
		{"ad135", "", []string{"AD135"}},
		{"", "support", []string{"PS104", "PS108", "PS001"}},
		{"", "Security", []string{"SC401"}},
		{"free", "support", []string{"PS001"}},
		{"stockage", "", []string{"ST320"}}, // French category label
		{"elastic", "network", nil},
		{"", "gardening", nil},
		{"nothing like this", "", nil},
	}
	for _, tt := range tests {
		if got := codes(Default().List(tt.query, tt.category)); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, %q) = %v, want %v", tt.query, tt.category, got, tt.want)
		}
	}
}

func TestServicesSpeakFrenchOnRequest(t *testing.T) {
	s, err := Default().Get("AD135")
	if err != nil {
		t.Fatal(err)
	}
	fr := s.In("fr")
	if fr.Name != "Réservation d'un gabarit Elastic Cloud Server" || fr.Parameters[1].Label != "Gabarit" {
		t.Errorf("French service = %q, %q", fr.Name, fr.Parameters[1].Label)
	}
	if en := fr.In("de"); en.Name != "Elastic Cloud Server flavor reservation" {
		t.Errorf("unknown language falls back to English, got %q", en.Name)
	}
	if got := Default().Categories("fr"); got[0] != (Category{Code: "compute", Label: "Calcul"}) || len(got) != 5 {
		t.Errorf("categories = %v", got)
	}
}

func TestServicesAreCopiesTheCatalogKeepsItsData(t *testing.T) {
	s, _ := Default().Get("AD135")
	s.Parameters[0].Values[0].Value = "hacked"
	s.Name = "hacked"
	again, _ := Default().Get("AD135")
	if again.Parameters[0].Values[0].Value != "eu-west-0" || again.Name == "hacked" {
		t.Error("changing a returned service changed the catalog")
	}
}

func TestServiceJSONUsesTheAPIFieldNames(t *testing.T) {
	s, _ := Default().Get("PS104")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"service_code", "name", "category", "description", "from_price", "parameters", "kind"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if fp, _ := json.Marshal(m["from_price"]); string(fp) != `{"amount":"450.00","currency":"EUR"}` {
		t.Errorf("from_price = %s", fp)
	}
}

func TestLoadRejectsBrokenCatalogs(t *testing.T) {
	const reservationService = `{"service_code":"AD135","kind":"reservation","category":"compute",
	  "name":{"en":"R"},"description":{"en":"D"},"from_price":"%FROM%",
	  "parameters":[
	    {"name":"region","type":"string","required":true,"label":{"en":"Region"},"values":[{"value":"eu-west-0","label":{"en":"Paris"}}]},
	    {"name":"flavor","type":"string","required":true,"label":{"en":"Flavor"},"values":[{"value":"c2.large","label":{"en":"c2.large"}}]},
	    {"name":"duration_months","type":"integer","required":true,"label":{"en":"Duration"},"values":[{"value":"%DUR%","label":{"en":"1 year"}}]},
	    {"name":"upfront","type":"boolean","required":false,"default":"false","label":{"en":"Upfront"},"values":[{"value":"false","label":{"en":"no"}},{"value":"true","label":{"en":"yes"}}]}
	  ],
	  "prices":[%PRICES%]}`
	const fullPrices = `{"flavor":"c2.large","duration_months":12,"upfront":false,"initial_payment":"0.00","monthly_price":"60.15"},
	  {"flavor":"c2.large","duration_months":12,"upfront":true,"initial_payment":"329.03","monthly_price":"28.52"}`
	wrap := func(services string) string {
		return `{"categories":[{"code":"compute","label":{"en":"Compute"}}],"services":[` + services + `]}`
	}
	res := func(from, dur, prices string) string {
		r := strings.NewReplacer("%FROM%", from, "%DUR%", dur, "%PRICES%", prices)
		return wrap(r.Replace(reservationService))
	}
	if _, err := Load([]byte(res("28.52", "12", fullPrices))); err != nil {
		t.Fatalf("the valid base catalog is refused: %v", err)
	}
	tests := map[string]struct{ json, wantErr string }{
		"missing price cell":              {res("60.15", "12", `{"flavor":"c2.large","duration_months":12,"upfront":false,"initial_payment":"0.00","monthly_price":"60.15"}`), "no price for c2.large, 12 months, upfront true"},
		"from price is not the lowest":    {res("4.97", "12", fullPrices), "from_price 4.97 is not the lowest monthly price 28.52"},
		"duration not in whole years":     {res("28.52", "18", fullPrices), "reservations last whole years"},
		"upfront without initial payment": {res("28.52", "12", strings.Replace(fullPrices, `"329.03"`, `"0.00"`, 1)), "initial payment is positive with upfront"},
		"float price":                     {res("28.52", "12", strings.Replace(fullPrices, `"60.15"`, `"60.155"`, 1)), "too many decimals"},
		"unknown field":                   {strings.Replace(res("28.52", "12", fullPrices), `"kind"`, `"knd"`, 1), "unknown field"},
		"unknown kind":                    {wrap(`{"service_code":"X1","kind":"gift","category":"compute","name":{"en":"x"},"description":{"en":"x"},"from_price":"0.00","parameters":[]}`), `unknown kind "gift"`},
		"unknown category":                {wrap(`{"service_code":"X1","kind":"free","category":"food","name":{"en":"x"},"description":{"en":"x"},"from_price":"0.00","parameters":[]}`), `unknown category "food"`},
		"one-off without price":           {wrap(`{"service_code":"X1","kind":"one_off","category":"compute","name":{"en":"x"},"description":{"en":"x"},"from_price":"0.00","parameters":[]}`), "needs a positive price"},
		"duplicate code": {wrap(`{"service_code":"X1","kind":"free","category":"compute","name":{"en":"x"},"description":{"en":"x"},"from_price":"0.00","parameters":[]},
			{"service_code":"X1","kind":"free","category":"compute","name":{"en":"y"},"description":{"en":"y"},"from_price":"0.00","parameters":[]}`), "listed twice"},
		"non-canonical integer": {res("28.52", "012", fullPrices), `value "012" is not a canonical integer`},
		"no services":           {`{"categories":[],"services":[]}`, "no services"},
	}
	for name, tt := range tests {
		_, err := Load([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error = %v, want it to mention %q", name, err, tt.wantErr)
		}
	}
}

func TestSubscriptionNamesFollowTheGuide(t *testing.T) {
	tests := []struct {
		flavor  string
		months  int
		upfront bool
		want    string
	}{
		{"c2.2xlarge", 12, false, "Reservation c2.2xlarge 1 year without upfront"},
		{"c2.large", 24, true, "Reservation c2.large 2 years with upfront"},
		{"c2.2xlarge", 36, true, "Reservation c2.2xlarge 3 years with upfront"},
	}
	for _, tt := range tests {
		if got := SubscriptionName(tt.flavor, tt.months, tt.upfront); got != tt.want {
			t.Errorf("SubscriptionName(%s, %d, %t) = %q, want %q", tt.flavor, tt.months, tt.upfront, got, tt.want)
		}
	}
}
