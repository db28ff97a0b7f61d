package subscription

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/domaintest"
	"selfcare/domain/order"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTermsStartOnTheFirstOfNextMonthAndLastWholeMonths(t *testing.T) {
	tests := []struct {
		name       string
		placedAt   string
		months     int
		start, end string
	}{
		{"guide: c2.large 2 years ordered 29/08/2017", "2017-08-29T17:00:00Z", 24, "2017-09-01", "2019-08-31"},
		{"guide: 1 year ordered 27/07/2017", "2017-07-27T10:15:00Z", 12, "2017-08-01", "2018-07-31"},
		{"guide: 3 years ordered 22/08/2017", "2017-08-22T17:17:00Z", 36, "2017-09-01", "2020-08-31"},
		{"ordered on January 31st", "2027-01-31T12:00:00Z", 24, "2027-02-01", "2029-01-31"},
		{"ends on a leap day", "2027-02-28T12:00:00Z", 12, "2027-03-01", "2028-02-29"},
		{"ordered on a leap day", "2028-02-29T12:00:00Z", 12, "2028-03-01", "2029-02-28"},
		{"starts on a leap February", "2028-01-15T08:00:00Z", 36, "2028-02-01", "2031-01-31"},
		{"ordered on the last second of the year", "2027-12-31T23:59:59Z", 12, "2028-01-01", "2028-12-31"},
		{"ordered on the 1st starts next month", "2027-05-01T00:00:00Z", 12, "2027-06-01", "2028-05-31"},
		{"the UTC day counts", "2027-01-31T23:30:00-02:00", 12, "2027-03-01", "2028-02-29"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := Terms(at(tt.placedAt), tt.months)
			if start.String() != tt.start || end.String() != tt.end {
				t.Errorf("Terms = %s → %s, want %s → %s", start, end, tt.start, tt.end)
			}
		})
	}
}

func TestStatusOnEveryBoundaryDay(t *testing.T) {
	tests := []struct {
		start, end string
		asOf       string
		want       Status
	}{
		{"2027-02-01", "2029-01-31", "2027-01-31", StatusSubscribed},
		{"2027-02-01", "2029-01-31", "2027-02-01", StatusInProgress},
		{"2027-02-01", "2029-01-31", "2028-02-29", StatusInProgress},
		{"2027-02-01", "2029-01-31", "2029-01-31", StatusInProgress},
		{"2027-02-01", "2029-01-31", "2029-02-01", StatusTerminated},
		{"2027-03-01", "2028-02-29", "2027-02-28", StatusSubscribed},
		{"2027-03-01", "2028-02-29", "2027-03-01", StatusInProgress},
		{"2027-03-01", "2028-02-29", "2028-02-28", StatusInProgress},
		{"2027-03-01", "2028-02-29", "2028-02-29", StatusInProgress},
		{"2027-03-01", "2028-02-29", "2028-03-01", StatusTerminated},
		{"2028-03-01", "2029-02-28", "2028-02-29", StatusSubscribed},
		{"2028-03-01", "2029-02-28", "2029-02-28", StatusInProgress},
		{"2028-03-01", "2029-02-28", "2029-03-01", StatusTerminated},
		{"2017-09-01", "2019-08-31", "2017-08-29", StatusSubscribed}, // the guide's "souscrit"
		{"2017-08-01", "2018-07-31", "2017-08-29", StatusInProgress}, // the guide's "en cours"
	}
	for _, tt := range tests {
		s := created(d(tt.start), d(tt.end))
		if got := s.Status(d(tt.asOf)); got != tt.want {
			t.Errorf("%s → %s on %s: %q, want %q", tt.start, tt.end, tt.asOf, got, tt.want)
		}
	}
	if got := (Subscription{}).Status(d("2028-01-01")); got != "" {
		t.Errorf("status of no subscription = %q", got)
	}
}

func creation(start, end Date) SubscriptionCreated {
	return SubscriptionCreated{Ref: "SLPRO124-2701-001", ContractID: "OCB0000124", StartDate: start, EndDate: end}
}

func created(start, end Date) Subscription {
	var s Subscription
	s.Apply(creation(start, end))
	return s
}

func TestStartAndEndHappenOnceAndInOrder(t *testing.T) {
	start, end := d("2027-02-01"), d("2029-01-31")
	c := creation(start, end)
	started := SubscriptionStarted{Ref: c.Ref, ContractID: c.ContractID, StartDate: start}
	ended := SubscriptionEnded{Ref: c.Ref, ContractID: c.ContractID, EndDate: end}
	startOn := func(day string) func(Subscription) ([]domain.Event, error) {
		return func(s Subscription) ([]domain.Event, error) { return s.Start(d(day)) }
	}
	endOn := func(day string) func(Subscription) ([]domain.Event, error) {
		return func(s Subscription) ([]domain.Event, error) { return s.End(d(day)) }
	}
	advanceOn := func(day string) func(Subscription) ([]domain.Event, error) {
		return func(s Subscription) ([]domain.Event, error) { return s.Advance(d(day)) }
	}
	tests := []struct {
		name  string
		given []domain.Event
		when  func(Subscription) ([]domain.Event, error)
		then  []domain.Event
	}{
		{"not started the day before the start date", []domain.Event{c}, startOn("2027-01-31"), nil},
		{"starts on the start date", []domain.Event{c}, startOn("2027-02-01"), []domain.Event{started}},
		{"starts late if the scheduler was down", []domain.Event{c}, startOn("2027-03-15"), []domain.Event{started}},
		{"starts only once", []domain.Event{c, started}, startOn("2027-02-02"), nil},
		{"does not end on the end date", []domain.Event{c, started}, endOn("2029-01-31"), nil},
		{"ends the day after the end date", []domain.Event{c, started}, endOn("2029-02-01"), []domain.Event{ended}},
		{"ends only once", []domain.Event{c, started, ended}, endOn("2029-03-01"), nil},
		{"catching up after both dates starts then ends", []domain.Event{c}, endOn("2029-02-01"), []domain.Event{started, ended}},
		{"a late Start after the end only starts", []domain.Event{c}, startOn("2029-06-01"), []domain.Event{started}},
		{"advance before the start does nothing", []domain.Event{c}, advanceOn("2027-01-31"), nil},
		{"advance on the start date starts", []domain.Event{c}, advanceOn("2027-02-01"), []domain.Event{started}},
		{"advance during the term does nothing", []domain.Event{c, started}, advanceOn("2028-02-29"), nil},
		{"advance after the end ends", []domain.Event{c, started}, advanceOn("2029-02-01"), []domain.Event{ended}},
		{"advance catches up both", []domain.Event{c}, advanceOn("2030-01-01"), []domain.Event{started, ended}},
		{"advance after everything does nothing", []domain.Event{c, started, ended}, advanceOn("2030-01-01"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Subscription
			for _, e := range tt.given {
				s.Apply(e)
			}
			events, err := tt.when(s)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", events) != fmt.Sprintf("%+v", tt.then) {
				t.Errorf("events = %+v, want %+v", events, tt.then)
			}
		})
	}
}

// TestADailySchedulerSeesEachChangeOnce runs Advance every day from the
// order to well after the end, as the scheduler would, applying what it
// decides, and checks what billing consumers would see.
func TestADailySchedulerSeesEachChangeOnce(t *testing.T) {
	start, end := Terms(at("2027-02-28T09:00:00Z"), 12) // 2027-03-01 → 2028-02-29
	s := created(start, end)
	type seen struct {
		day  string
		kind string
	}
	var log []seen
	for day := d("2027-02-28"); day.Before(d("2028-04-01")); day = day.AddDays(1) {
		events, err := s.Advance(day)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			log = append(log, seen{day.String(), e.EventType()})
			s.Apply(e)
		}
		// Calling again the same day (a second scheduler, a retry) changes nothing.
		if again, _ := s.Advance(day); len(again) != 0 {
			t.Fatalf("%s: a second call decided %v", day, again)
		}
	}
	want := []seen{{"2027-03-01", "SubscriptionStarted"}, {"2028-03-01", "SubscriptionEnded"}}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Errorf("scheduler saw %v, want %v", log, want)
	}
	if !s.Started() || !s.Ended() {
		t.Error("state must record both")
	}
}

func TestLifecycleOfAMissingSubscriptionIsNotFound(t *testing.T) {
	var s Subscription
	for name, call := range map[string]func() ([]domain.Event, error){
		"Start":   func() ([]domain.Event, error) { return s.Start(d("2028-01-01")) },
		"End":     func() ([]domain.Event, error) { return s.End(d("2028-01-01")) },
		"Advance": func() ([]domain.Event, error) { return s.Advance(d("2028-01-01")) },
	} {
		if _, err := call(); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: error = %v, want ErrNotFound", name, err)
		}
	}
}

// orderOf rebuilds an order placed at placedAt from the catalog, then
// applies more events to it.
func orderOf(t *testing.T, code string, params map[string]any, placedAt time.Time, then ...func(order.OrderPlaced) domain.Event) order.Order {
	t.Helper()
	q, err := catalog.Default().Quote(code, params)
	if err != nil {
		t.Fatal(err)
	}
	events, err := order.Place(order.PlaceOrder{ContractID: "OCB0001655", ServiceCode: code, PlacedBy: "paul.dupont"}, q, 17, "HONEY1655", placedAt)
	if err != nil {
		t.Fatal(err)
	}
	placed := events[0].(order.OrderPlaced)
	var o order.Order
	o.Apply(placed)
	for _, f := range then {
		o.Apply(f(placed))
	}
	return o
}

func completed(p order.OrderPlaced) domain.Event {
	return order.OrderCompleted{Ref: p.Ref, ContractID: p.ContractID, CompletedAt: p.PlacedAt.Add(48 * time.Hour)}
}

func rejected(p order.OrderPlaced) domain.Event {
	return order.OrderRejected{Ref: p.Ref, ContractID: p.ContractID, RejectedAt: p.PlacedAt.Add(time.Hour)}
}

var c2Large2YUpfront = map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 24, "upfront": true}

func TestACompletedReservationCreatesItsSubscription(t *testing.T) {
	placedAt := at("2017-08-29T17:00:00Z")
	o := orderOf(t, "AD135", c2Large2YUpfront, placedAt, completed)
	events, err := Subscription{}.Create(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("events = %v", events)
	}
	e := events[0].(SubscriptionCreated)
	want := SubscriptionCreated{
		Ref: "HONEY1655-1708-017", ContractID: "OCB0001655", OrderRef: "HONEY1655-1708-017",
		Name: "Reservation c2.large 2 years with upfront", Type: "Elastic Cloud Server flavor reservation",
		ServiceCode: "AD135", SubscribedAt: placedAt, StartDate: d("2017-09-01"), EndDate: d("2019-08-31"),
		DurationMonths: 24, Region: "eu-west-0",
	}
	if e.MonthlyPrice.String() != "24.39" || e.InitialPayment.String() != "513.02" {
		t.Errorf("prices = %s + %s/month", e.InitialPayment, e.MonthlyPrice)
	}
	e.MonthlyPrice, e.InitialPayment = want.MonthlyPrice, want.InitialPayment
	if fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", want) {
		t.Errorf("created = %+v\nwant      %+v", e, want)
	}
	var s Subscription
	s.Apply(e)
	if !s.Exists() || s.Ref() != want.Ref || s.StartDate() != want.StartDate || s.EndDate() != want.EndDate || s.Details().Region != "eu-west-0" {
		t.Errorf("state = %+v", s)
	}
	if again, err := s.Create(o); err != nil || again != nil {
		t.Errorf("creating again = %v, %v; want nothing (a redelivered completion)", again, err)
	}
}

func TestOnlyCompletedReservationsHaveASubscription(t *testing.T) {
	placedAt := at("2026-11-24T10:00:00Z")
	tests := []struct {
		name    string
		order   order.Order
		wantErr error
	}{
		{"an order in progress has none yet", orderOf(t, "AD135", c2Large2YUpfront, placedAt), domain.ErrConflict},
		{"a rejected order has none", orderOf(t, "AD135", c2Large2YUpfront, placedAt, rejected), domain.ErrConflict},
		{"an unknown order has none", order.For("HONEY1655-2611-999"), domain.ErrNotFound},
		{"a completed one-off order has none", orderOf(t, "PS104", nil, placedAt, completed), nil},
		{"a completed free order has none", orderOf(t, "PS001", nil, placedAt, completed), nil},
	}
	for _, tt := range tests {
		events, err := Subscription{}.Create(tt.order)
		if events != nil {
			t.Errorf("%s: events = %v", tt.name, events)
		}
		if (tt.wantErr == nil && err != nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestEventsRoundTripThroughTheirRegisteredTypes(t *testing.T) {
	o := orderOf(t, "AD135", c2Large2YUpfront, at("2027-01-31T12:00:00Z"), completed)
	createdEvents, err := Subscription{}.Create(o)
	if err != nil {
		t.Fatal(err)
	}
	c := createdEvents[0].(SubscriptionCreated)
	events := []domain.Event{
		c,
		SubscriptionStarted{Ref: c.Ref, ContractID: c.ContractID, StartDate: c.StartDate},
		SubscriptionEnded{Ref: c.Ref, ContractID: c.ContractID, EndDate: c.EndDate},
	}
	domaintest.RoundTrip(t, EventTypes, events...)
	data, _ := json.Marshal(c)
	want := `"start_date":"2027-02-01","end_date":"2029-01-31","duration_months":24,"monthly_price":{"amount":"24.39","currency":"EUR"},"initial_payment":{"amount":"513.02","currency":"EUR"},"region":"eu-west-0"`
	if !strings.Contains(string(data), want) {
		t.Errorf("SubscriptionCreated JSON = %s", data)
	}
}
