package orders

import (
	"encoding/json"
	"testing"
	"time"

	"selfcare/domain/money"
	"selfcare/domain/order"
)

// AppendJSON writes what encoding/json writes, for every field set or
// not, and for strings that need escaping (quotes, HTML, control
// characters, accents, invalid UTF-8, line separators).
func TestAppendJSONIsEncodingJSONs(t *testing.T) {
	amount := func(s string) money.Amount {
		a, err := money.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	monthly, initial := amount("12.50"), amount("-0.01")
	completed := time.Date(2026, 11, 30, 23, 59, 59, 123456000, time.UTC)
	rejected := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	tricky := "Café <b>&</b> \"quoted\" back\\slash \t\n\u2028 \x7f \xff end"
	orders := []Order{
		{},
		{Ref: "ACME-2611-001", ContractID: "OCB0000001", PlacedAt: time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC), Name: "Reservation c2.large",
			ServiceCode: "AD135", ServiceName: "Elastic Cloud Server", Kind: "reservation", Price: amount("60.15"),
			PlacedBy: "jdoe", State: State{Status: "placed"}, Parameters: map[string]string{"region": "eu-west-0", "flavor": "c2.large", "a": ""}},
		{Ref: tricky, ContractID: tricky, PlacedAt: rejected, Name: tricky, Names: map[string]string{"fr": tricky, "en": "x", tricky: "k"},
			ServiceCode: tricky, ServiceName: tricky, Kind: tricky, Price: amount("0"), MonthlyPrice: &monthly, InitialPayment: &initial,
			DurationMonths: 36, PlacedBy: tricky, Parameters: map[string]string{},
			Contact: &order.Contact{Name: tricky, Email: "a&b@example.com", Phone: "+33 <1>"},
			State: State{Status: tricky, CompletedAt: &completed, RejectedAt: &rejected,
				RejectReason: tricky, SubscriptionRef: tricky, ContractName: tricky, ContractOffer: tricky}},
		{Ref: "R", Contact: &order.Contact{Name: "only a name"}, DurationMonths: -1, State: State{RejectReason: "no"}},
	}
	for i, o := range orders {
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("order %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}
