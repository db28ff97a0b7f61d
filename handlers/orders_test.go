package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// t0 is the test clock's start: 24 November 2026, a Tuesday.
var t0 = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

func reservation(flavor string, months int, upfront bool) map[string]any {
	return map[string]any{
		"service_code": "AD135",
		"parameters":   map[string]any{"region": "eu-west-0", "flavor": flavor, "duration_months": months, "upfront": upfront},
	}
}

func ordersPath(cid string) string { return "/api/v1/contracts/" + cid + "/orders" }

func amount(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || m["currency"] != "EUR" {
		t.Fatalf("%v is not a money object in EUR", v)
	}
	return m["amount"].(string)
}

func TestOrdersArePricedAsTheGuideSays(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("SL_Prod")
	tests := []struct {
		flavor           string
		months           int
		upfront          bool
		name             string
		monthly, initial string
	}{
		{"c2.large", 12, false, "Reservation c2.large 1 year without upfront", "60.15", "0.00"},
		{"c2.xlarge", 12, false, "Reservation c2.xlarge 1 year without upfront", "120.30", "0.00"},
		{"c2.2xlarge", 12, false, "Reservation c2.2xlarge 1 year without upfront", "240.60", "0.00"},
		{"e2.4xlarge", 12, false, "Reservation e2.4xlarge 1 year without upfront", "3596.45", "0.00"},
		{"c2.large", 24, true, "Reservation c2.large 2 years with upfront", "24.39", "513.02"},
		{"c2.xlarge", 12, true, "Reservation c2.xlarge 1 year with upfront", "57.03", "658.19"},
		{"c2.2xlarge", 36, true, "Reservation c2.2xlarge 3 years with upfront", "79.51", "2681.06"},
	}
	for i, tt := range tests {
		o := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, reservation(tt.flavor, tt.months, tt.upfront)), http.StatusCreated).Map(t)
		wantRef := fmt.Sprintf("SLPRO%s-2611-%03d", strings.TrimLeft(c.ID[3:], "0"), i+1)
		if o["ref"] != wantRef || o["name"] != tt.name || o["status"] != "in_progress" || o["placed_by"] != c.ReferentLogin || o["service_code"] != "AD135" {
			t.Errorf("order %d = %v; want ref %s, name %q, in progress, placed by %s", i, o, wantRef, tt.name, c.ReferentLogin)
		}
		if got := amount(t, o["monthly_price"]); got != tt.monthly {
			t.Errorf("%s: monthly price %s, want %s", tt.name, got, tt.monthly)
		}
		if got := amount(t, o["price"]); got != tt.monthly {
			t.Errorf("%s: price %s, want the monthly price %s", tt.name, got, tt.monthly)
		}
		if got := amount(t, o["initial_payment"]); got != tt.initial {
			t.Errorf("%s: initial payment %s, want %s", tt.name, got, tt.initial)
		}
		params := o["parameters"].(map[string]any)
		if params["region"] != "eu-west-0" || params["flavor"] != tt.flavor || params["duration_months"] != fmt.Sprint(tt.months) || params["upfront"] != fmt.Sprint(tt.upfront) {
			t.Errorf("%s: parameters %v", tt.name, params)
		}
		if o["placed_at"] != "2026-11-24T10:15:00Z" {
			t.Errorf("%s: placed_at %v", tt.name, o["placed_at"])
		}
	}
	expert := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{
		"service_code": "PS104", "contact": map[string]any{"name": "Paul Dupont", "phone": "+33 1 23 45 67 89"},
	}), http.StatusCreated).Map(t)
	if expert["name"] != "Expert pack 4H" || amount(t, expert["price"]) != "450.00" || expert["monthly_price"] != nil || expert["initial_payment"] != nil {
		t.Errorf("Expert pack 4H order = %v", expert)
	}
	if contact, _ := expert["contact"].(map[string]any); contact["name"] != "Paul Dupont" {
		t.Errorf("the order keeps its contact: %v", expert["contact"])
	}
	// The order reads back the same, and so does the list.
	got := testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+expert["ref"].(string), c.ReferentToken), http.StatusOK).Map(t)
	if got["ref"] != expert["ref"] || amount(t, got["price"]) != "450.00" {
		t.Errorf("GET order = %v", got)
	}
	list := testkit.Expect(t, env.Get(ordersPath(c.ID)+"?sort=ref", c.ReferentToken), http.StatusOK).Map(t)
	if items := list["items"].([]any); len(items) != 8 || items[0].(map[string]any)["name"] != tests[0].name {
		t.Errorf("orders list = %v", list)
	}
}
