package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/domaintest"
)

var (
	placedAt    = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)
	completedAt = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
)

func quote(t *testing.T, code string, params map[string]any) catalog.Quote {
	t.Helper()
	q, err := catalog.Default().Quote(code, params)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func reservationQuote(t *testing.T) catalog.Quote {
	return quote(t, "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 24, "upfront": true})
}

func placeCmd() PlaceOrder {
	return PlaceOrder{ContractID: "OCB0000124", ServiceCode: "AD135", PlacedBy: "paul.dupont"}
}

// placed returns the OrderPlaced of a c2.large 2-year reservation.
func placed(t *testing.T, seq int) OrderPlaced {
	t.Helper()
	events, err := Place(placeCmd(), reservationQuote(t), seq, "SLPRO124", placedAt)
	if err != nil {
		t.Fatal(err)
	}
	return events[0].(OrderPlaced)
}

func TestPlaceRecordsWhatWhoWhenAndThePrice(t *testing.T) {
	cmd := placeCmd()
	cmd.Contact = &Contact{Name: " Paul Dupont ", Email: "paul.dupont@example.com", Phone: "+33 1 23 45 67 89"}
	events, err := Place(cmd, reservationQuote(t), 17, "SLPRO124", placedAt.In(time.FixedZone("CET", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("events = %v", events)
	}
	e, ok := events[0].(OrderPlaced)
	if !ok {
		t.Fatalf("event = %T", events[0])
	}
	if e.Ref != "SLPRO124-2611-017" || e.Seq != 17 || e.ContractID != "OCB0000124" {
		t.Errorf("ref %q seq %d contract %q", e.Ref, e.Seq, e.ContractID)
	}
	if e.ServiceCode != "AD135" || e.ServiceName != "Elastic Cloud Server flavor reservation" ||
		e.SubscriptionName != "Reservation c2.large 2 years with upfront" || e.Kind != catalog.KindReservation {
		t.Errorf("service = %q %q %q %q", e.ServiceCode, e.ServiceName, e.SubscriptionName, e.Kind)
	}
	wantParams := map[string]string{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "24", "upfront": "true"}
	if fmt.Sprint(e.Parameters) != fmt.Sprint(wantParams) {
		t.Errorf("parameters = %v", e.Parameters)
	}
	if e.Price.String() != "24.39" || e.MonthlyPrice.String() != "24.39" || e.InitialPayment.String() != "513.02" || e.DurationMonths != 24 {
		t.Errorf("prices = %s %v %v %d", e.Price, e.MonthlyPrice, e.InitialPayment, e.DurationMonths)
	}
	if e.PlacedBy != "paul.dupont" || !e.PlacedAt.Equal(placedAt) || e.PlacedAt.Location() != time.UTC {
		t.Errorf("placed by %q at %v", e.PlacedBy, e.PlacedAt)
	}
	if e.Contact == nil || *e.Contact != (Contact{Name: "Paul Dupont", Email: "paul.dupont@example.com", Phone: "+33 1 23 45 67 89"}) {
		t.Errorf("contact = %+v", e.Contact)
	}
	if e.Name() != "Reservation c2.large 2 years with upfront" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestPlaceOneOffHasAPriceButNoMonthlyPrice(t *testing.T) {
	cmd := placeCmd()
	cmd.ServiceCode = "PS104"
	events, err := Place(cmd, quote(t, "PS104", nil), 3, "SLPRO124", placedAt)
	if err != nil {
		t.Fatal(err)
	}
	e := events[0].(OrderPlaced)
	if e.Name() != "Expert pack 4H" || e.Kind != catalog.KindOneOff || e.Price.String() != "450.00" ||
		e.MonthlyPrice != nil || e.InitialPayment != nil || e.DurationMonths != 0 || e.SubscriptionName != "" {
		t.Errorf("one-off order = %+v", e)
	}
	b, _ := json.Marshal(e)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"monthly_price", "initial_payment", "duration_months", "subscription_name", "contact"} {
		if _, ok := m[k]; ok {
			t.Errorf("one-off order JSON has %q: %s", k, b)
		}
	}
}

func TestPlaceRejectsBadInput(t *testing.T) {
	type fieldCode struct{ field, code string }
	tests := []struct {
		name   string
		modify func(*PlaceOrder)
		want   []fieldCode
	}{
		{"contract id must be OCB and 7 digits", func(c *PlaceOrder) { c.ContractID = "OCB124" }, []fieldCode{{"contract_id", "invalid"}}},
		{"placer is required", func(c *PlaceOrder) { c.PlacedBy = "  " }, []fieldCode{{"placed_by", "required"}}},
		{"contact needs a name", func(c *PlaceOrder) { c.Contact = &Contact{Email: "a@b.fr"} }, []fieldCode{{"contact.name", "required"}}},
		{"contact needs an email or a phone", func(c *PlaceOrder) { c.Contact = &Contact{Name: "Paul"} }, []fieldCode{{"contact.email", "required"}}},
		{"contact email must be an address", func(c *PlaceOrder) { c.Contact = &Contact{Name: "Paul", Email: "paul at example"} }, []fieldCode{{"contact.email", "invalid"}}},
		{"contact email without display name", func(c *PlaceOrder) { c.Contact = &Contact{Name: "Paul", Email: "Paul <p@example.com>"} }, []fieldCode{{"contact.email", "invalid"}}},
		{"contact phone must be a number", func(c *PlaceOrder) { c.Contact = &Contact{Name: "Paul", Phone: "call me"} }, []fieldCode{{"contact.phone", "invalid"}}},
		{"contact phone too short", func(c *PlaceOrder) { c.Contact = &Contact{Name: "Paul", Phone: "12 34"} }, []fieldCode{{"contact.phone", "invalid"}}},
		{"contact name too long", func(c *PlaceOrder) { c.Contact = &Contact{Name: strings.Repeat("P", 101), Phone: "0102030405"} },
			[]fieldCode{{"contact.name", "too_long"}}},
		{"every problem at once", func(c *PlaceOrder) { c.ContractID = ""; c.PlacedBy = ""; c.Contact = &Contact{} },
			[]fieldCode{{"contract_id", "invalid"}, {"placed_by", "required"}, {"contact.name", "required"}, {"contact.email", "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := placeCmd()
			tt.modify(&cmd)
			events, err := Place(cmd, reservationQuote(t), 1, "SLPRO124", placedAt)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || events != nil {
				t.Fatalf("Place = %v, %v; want a ValidationError", events, err)
			}
			var got []fieldCode
			for _, fe := range ve.Errors {
				got = append(got, fieldCode{fe.Field, fe.Code})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlaceRefusesCallerMistakes(t *testing.T) {
	q := reservationQuote(t)
	tests := map[string]func() ([]domain.Event, error){
		"sequence starts at 1":    func() ([]domain.Event, error) { return Place(placeCmd(), q, 0, "SLPRO124", placedAt) },
		"malformed contract code": func() ([]domain.Event, error) { return Place(placeCmd(), q, 1, "slpro124", placedAt) },
		"empty contract code":     func() ([]domain.Event, error) { return Place(placeCmd(), q, 1, "", placedAt) },
		"quote of another service": func() ([]domain.Event, error) {
			return Place(placeCmd(), quote(t, "PS104", nil), 1, "SLPRO124", placedAt)
		},
		"no quote": func() ([]domain.Event, error) { return Place(placeCmd(), catalog.Quote{}, 1, "SLPRO124", placedAt) },
	}
	for name, place := range tests {
		events, err := place()
		var ve *domain.ValidationError
		if err == nil || errors.As(err, &ve) || events != nil {
			t.Errorf("%s: Place = %v, %v; want a plain error", name, events, err)
		}
	}
}

func TestOrderLifecycle(t *testing.T) {
	p := placed(t, 1)
	completed := OrderCompleted{Ref: p.Ref, ContractID: p.ContractID, CompletedAt: completedAt}
	rejected := OrderRejected{Ref: p.Ref, ContractID: p.ContractID, RejectedAt: completedAt, Reason: "flavor unavailable"}
	complete := func(o Order) ([]domain.Event, error) { return o.Complete(completedAt) }
	reject := func(o Order) ([]domain.Event, error) { return o.Reject(" flavor unavailable ", completedAt) }

	tests := []struct {
		name       string
		given      []domain.Event
		when       func(Order) ([]domain.Event, error)
		then       []domain.Event
		wantErr    error
		wantStatus Status
	}{
		{"an in-progress order can be completed", []domain.Event{p}, complete, []domain.Event{completed}, nil, StatusInProgress},
		{"an in-progress order can be rejected", []domain.Event{p}, reject, []domain.Event{rejected}, nil, StatusInProgress},
		{"completing twice is a conflict", []domain.Event{p, completed}, complete, nil, domain.ErrConflict, StatusCompleted},
		{"a rejected order cannot be completed", []domain.Event{p, rejected}, complete, nil, domain.ErrConflict, StatusRejected},
		{"a completed order cannot be rejected", []domain.Event{p, completed}, reject, nil, domain.ErrConflict, StatusCompleted},
		{"rejecting twice is a conflict", []domain.Event{p, rejected}, reject, nil, domain.ErrConflict, StatusRejected},
		{"an unknown order cannot be completed", nil, complete, nil, domain.ErrNotFound, ""},
		{"an unknown order cannot be rejected", nil, reject, nil, domain.ErrNotFound, ""},
		{"a too long reason is refused", []domain.Event{p}, func(o Order) ([]domain.Event, error) {
			return o.Reject(strings.Repeat("x", 501), completedAt)
		}, nil, &domain.ValidationError{}, StatusInProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := For(p.Ref)
			for _, e := range tt.given {
				o.Apply(e)
			}
			if o.Status() != tt.wantStatus {
				t.Errorf("status after given = %q, want %q", o.Status(), tt.wantStatus)
			}
			events, err := tt.when(o)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("error = %v", err)
				}
			case *domain.ValidationError:
				if !errors.As(err, &want) {
					t.Fatalf("error = %v, want a ValidationError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error = %v, want %v", err, want)
				}
			}
			if fmt.Sprintf("%+v", events) != fmt.Sprintf("%+v", tt.then) {
				t.Errorf("events = %+v, want %+v", events, tt.then)
			}
		})
	}
}

func TestOrderStateFollowsItsEvents(t *testing.T) {
	p := placed(t, 1)
	var o Order
	o.Apply(p)
	if !o.Exists() || o.Ref() != p.Ref || o.ContractID() != "OCB0000124" || o.Status() != StatusInProgress || o.Placed().Price.String() != "24.39" {
		t.Fatalf("placed order = %+v", o)
	}
	o.Apply(OrderRejected{Ref: p.Ref, ContractID: p.ContractID, RejectedAt: completedAt, Reason: "no stock"})
	if at, why := o.RejectedAt(); o.Status() != StatusRejected || !at.Equal(completedAt) || why != "no stock" {
		t.Errorf("rejected order = %+v", o)
	}
	var c Order
	c.Apply(p)
	c.Apply(OrderCompleted{Ref: p.Ref, ContractID: p.ContractID, CompletedAt: completedAt})
	if c.Status() != StatusCompleted || !c.CompletedAt().Equal(completedAt) {
		t.Errorf("completed order = %+v", c)
	}
}

func TestAnOrderIgnoresTheOtherOrdersOfItsContractStream(t *testing.T) {
	first, second := placed(t, 1), placed(t, 2)
	stream := []domain.Event{
		first, second,
		OrderCompleted{Ref: first.Ref, ContractID: first.ContractID, CompletedAt: completedAt},
		OrderRejected{Ref: second.Ref, ContractID: second.ContractID, RejectedAt: completedAt},
	}
	o := For(second.Ref)
	for _, e := range stream {
		o.Apply(e)
	}
	if o.Placed().Seq != 2 || o.Status() != StatusRejected {
		t.Errorf("For(second) = seq %d, %q; want 2, rejected", o.Placed().Seq, o.Status())
	}
	var zero Order // takes the first order it sees
	for _, e := range stream {
		zero.Apply(e)
	}
	if zero.Ref() != first.Ref || zero.Status() != StatusCompleted {
		t.Errorf("zero Order = %q, %q; want the first order, completed", zero.Ref(), zero.Status())
	}
	missing := For("SLPRO124-2611-099")
	for _, e := range stream {
		missing.Apply(e)
	}
	if _, err := missing.Complete(completedAt); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("completing an order absent from the stream: %v, want ErrNotFound", err)
	}
}

func TestCounterGivesTheNextNumberAfterTheHighest(t *testing.T) {
	tests := []struct {
		name  string
		given []domain.Event
		want  int
	}{
		{"the first order is number 1", nil, 1},
		{"then 2", []domain.Event{OrderPlaced{Seq: 1}}, 2},
		{"completions and rejections do not count", []domain.Event{
			OrderPlaced{Seq: 1}, OrderCompleted{}, OrderPlaced{Seq: 2}, OrderRejected{},
		}, 3},
		{"the highest number wins", []domain.Event{OrderPlaced{Seq: 7}, OrderPlaced{Seq: 3}}, 8},
		{"past 999", []domain.Event{OrderPlaced{Seq: 999}}, 1000},
	}
	for _, tt := range tests {
		var c Counter
		for _, e := range tt.given {
			c.Apply(e)
		}
		if got := c.Next(); got != tt.want {
			t.Errorf("%s: Next() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// memStream is a stand-in for one event-store stream: an append succeeds
// only at the expected version, as eventstore's does.
type memStream struct {
	mu     sync.Mutex
	events []domain.Event
}

var errWrongVersion = errors.New("wrong expected version")

func (s *memStream) load() ([]domain.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events), len(s.events)
}

func (s *memStream) append(expected int, events []domain.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) != expected {
		return errWrongVersion
	}
	s.events = append(s.events, events...)
	return nil
}

// TestConcurrentOrdersNeverShareAReference follows the protocol of the
// package comment with many concurrent placers on one contract stream.
func TestConcurrentOrdersNeverShareAReference(t *testing.T) {
	const placers, perPlacer = 16, 70 // 1120 orders: numbers go past 999
	q := quote(t, "PS104", nil)
	cmd := placeCmd()
	cmd.ServiceCode = "PS104"
	var stream memStream
	var wg sync.WaitGroup
	for range placers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perPlacer {
				for {
					events, version := stream.load()
					var c Counter
					for _, e := range events {
						c.Apply(e)
					}
					placed, err := Place(cmd, q, c.Next(), "SLPRO124", placedAt)
					if err != nil {
						t.Error(err)
						return
					}
					if err := stream.append(version, placed); err == nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()

	events, _ := stream.load()
	if len(events) != placers*perPlacer {
		t.Fatalf("%d orders placed, want %d", len(events), placers*perPlacer)
	}
	refs := map[string]bool{}
	for i, e := range events {
		p := e.(OrderPlaced)
		if p.Seq != i+1 {
			t.Fatalf("order %d has number %d: numbers must be 1, 2, 3... without gaps", i, p.Seq)
		}
		if refs[p.Ref] {
			t.Fatalf("reference %s used twice", p.Ref)
		}
		refs[p.Ref] = true
	}
	if last := events[len(events)-1].(OrderPlaced).Ref; last != "SLPRO124-2611-1120" {
		t.Errorf("last reference = %s", last)
	}
}

func TestEventsRoundTripThroughTheirRegisteredTypes(t *testing.T) {
	p := placed(t, 1)
	p.Contact = &Contact{Name: "Paul", Phone: "0102030405"}
	events := []domain.Event{
		p,
		OrderCompleted{Ref: p.Ref, ContractID: p.ContractID, CompletedAt: completedAt},
		OrderRejected{Ref: p.Ref, ContractID: p.ContractID, RejectedAt: completedAt, Reason: "no stock"},
	}
	domaintest.RoundTrip(t, EventTypes, events...)
	data, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	for _, k := range []string{"ref", "contract_id", "service_code", "service_name", "subscription_name", "kind", "parameters", "price", "monthly_price", "initial_payment", "duration_months", "placed_by", "placed_at", "contact"} {
		if _, ok := m[k]; !ok {
			t.Errorf("OrderPlaced JSON lacks %q", k)
		}
	}
}
