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
