package catalog

import "testing"

func TestPriceTableListsEveryQuotableCell(t *testing.T) {
	s, err := Default().Get("AD135")
	if err != nil {
		t.Fatal(err)
	}
	prices := s.Prices()
	if len(prices) == 0 {
		t.Fatal("a reservation has a price table")
	}
	seen := map[Price]bool{}
	for _, p := range prices {
		q, err := Default().Quote("AD135", reservation(p.Flavor, p.DurationMonths, p.Upfront))
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if !q.MonthlyPrice.Equal(p.MonthlyPrice) || !q.InitialPayment.Equal(p.InitialPayment) || q.SubscriptionName != p.SubscriptionName {
			t.Errorf("table row %+v, quote %s + %s/month %q", p, q.InitialPayment, q.MonthlyPrice, q.SubscriptionName)
		}
		if seen[p] {
			t.Errorf("row %+v listed twice", p)
		}
		seen[p] = true
	}
	if prices[0].Upfront || !prices[1].Upfront {
		t.Errorf("without upfront comes first: %+v, %+v", prices[0], prices[1])
	}
	for _, code := range []string{"PS104", "SC401"} {
		s, err := Default().Get(code)
		if err != nil {
			t.Fatal(err)
		}
		if s.Prices() != nil {
			t.Errorf("%s has no price table, got %v", code, s.Prices())
		}
	}
}

func TestOrderNamesInBothLanguages(t *testing.T) {
	c := Default()
	got := c.Names("AD135", map[string]string{"region": "eu-west-0", "flavor": "c2.2xlarge", "duration_months": "24", "upfront": "true"})
	if got["en"] != "Reservation c2.2xlarge 2 years with upfront" || got["fr"] != "Réservation c2.2xlarge 2 ans avec paiement initial" {
		t.Errorf("reservation names = %v", got)
	}
	if got := c.Names("PS104", nil); got["en"] != "Expert pack 4H" || got["fr"] != "Pack Expert 4H" {
		t.Errorf("service names = %v", got)
	}
	if got := c.Names("NOPE", nil); got != nil {
		t.Errorf("unknown service names = %v", got)
	}
}
