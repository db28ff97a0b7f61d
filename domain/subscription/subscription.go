// Package subscription is the life of a flavor reservation after its order
// is completed: dates, status by day, and the start and end events.
//
// A subscription's stream holds its own events only and is named after its
// reference, which is its order's reference. Each decision here returns no
// events when there is nothing (more) to do, so a process manager or the
// daily scheduler can call it again safely; appending with the version the
// subscription was loaded at makes every event happen exactly once even if
// two callers race (the loser's append conflicts, and on reload it finds
// nothing left to do).
//
// Days are UTC calendar days (Date): the start date is the first day of the
// month following the UTC day of the order, and the scheduler's "today" is
// DateOf(now).
package subscription

import (
	"fmt"
	"time"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/money"
	"selfcare/domain/order"
)

// Status is where a subscription is on a given day.
type Status string

// The statuses of a subscription, by date.
const (
	// StatusSubscribed: before the start date.
	StatusSubscribed Status = "subscribed"
	// StatusInProgress: from the start date to the end date, inclusive.
	StatusInProgress Status = "in_progress"
	// StatusTerminated: after the end date.
	StatusTerminated Status = "terminated"
)

// SubscriptionCreated: a reservation order was completed, so its
// subscription exists.
type SubscriptionCreated struct {
	// Ref is the subscription's reference: the same as its order's.
	Ref        string `json:"ref"`
	ContractID string `json:"contract_id"`
	OrderRef   string `json:"order_ref"`
	// Name is the subscription name ("Reservation c2.large 2 years with
	// upfront"); Type the service's name.
	Name        string `json:"name"`
	Type        string `json:"type"`
	ServiceCode string `json:"service_code"`
	// SubscribedAt is when the order was placed.
	SubscribedAt   time.Time    `json:"subscribed_at"`
	StartDate      Date         `json:"start_date"`
	EndDate        Date         `json:"end_date"`
	DurationMonths int          `json:"duration_months"`
	MonthlyPrice   money.Amount `json:"monthly_price"`
	InitialPayment money.Amount `json:"initial_payment"`
	Region         string       `json:"region"`
}

// SubscriptionStarted: the subscription's start date was reached; it is in
// progress. Billing consumers rely on it happening once.
type SubscriptionStarted struct {
	Ref        string `json:"ref"`
	ContractID string `json:"contract_id"`
	StartDate  Date   `json:"start_date"`
}

// SubscriptionEnded: the subscription's end date has passed; it is
// terminated. Always after SubscriptionStarted, and once.
type SubscriptionEnded struct {
	Ref        string `json:"ref"`
	ContractID string `json:"contract_id"`
	EndDate    Date   `json:"end_date"`
}

// EventType implements domain.Event.
func (SubscriptionCreated) EventType() string { return "SubscriptionCreated" }

// EventType implements domain.Event.
func (SubscriptionStarted) EventType() string { return "SubscriptionStarted" }

// EventType implements domain.Event.
func (SubscriptionEnded) EventType() string { return "SubscriptionEnded" }

// EventTypes are the stored event types of this package.
var EventTypes = []domain.EventType{
	{Name: "SubscriptionCreated", Version: 1, Decode: domain.DecodeJSON[SubscriptionCreated]},
	{Name: "SubscriptionStarted", Version: 1, Decode: domain.DecodeJSON[SubscriptionStarted]},
	{Name: "SubscriptionEnded", Version: 1, Decode: domain.DecodeJSON[SubscriptionEnded]},
}

// Terms returns the dates of a subscription ordered at placedAt for months
// months: it starts on the first day of the month following the order (UTC)
// and ends the day before the same day months later, so it lasts exactly
// months whole months. An order on 2027-01-31 for 24 months runs from
// 2027-02-01 to 2029-01-31.
func Terms(placedAt time.Time, months int) (start, end Date) {
	start = DateOf(placedAt).FirstOfNextMonth()
	return start, start.AddMonths(months).AddDays(-1)
}

// StatusOn returns the status on day asOf of a subscription running from
// start to end (inclusive).
func StatusOn(start, end, asOf Date) Status {
	switch {
	case asOf.Before(start):
		return StatusSubscribed
	case asOf.After(end):
		return StatusTerminated
	default:
		return StatusInProgress
	}
}

// Subscription is one subscription, rebuilt from its events.
type Subscription struct {
	created SubscriptionCreated
	exists  bool
	started bool
	ended   bool
}

// Apply folds an event into the subscription. Events of other
// subscriptions and of other types are ignored.
func (s *Subscription) Apply(e domain.Event) {
	switch e := e.(type) {
	case SubscriptionCreated:
		if !s.exists {
			s.created, s.exists = e, true
		}
	case SubscriptionStarted:
		if s.exists && e.Ref == s.created.Ref {
			s.started = true
		}
	case SubscriptionEnded:
		if s.exists && e.Ref == s.created.Ref {
			s.ended = true
		}
	}
}

// Exists reports whether the subscription was created.
func (s Subscription) Exists() bool { return s.exists }

// Details returns what the subscription is: reference, names, dates, prices.
func (s Subscription) Details() SubscriptionCreated { return s.created }

// Ref returns the subscription's reference.
func (s Subscription) Ref() string { return s.created.Ref }

// StartDate returns the first day of the subscription.
func (s Subscription) StartDate() Date { return s.created.StartDate }

// EndDate returns the last day of the subscription.
func (s Subscription) EndDate() Date { return s.created.EndDate }

// Started reports whether SubscriptionStarted was recorded.
func (s Subscription) Started() bool { return s.started }

// Ended reports whether SubscriptionEnded was recorded.
func (s Subscription) Ended() bool { return s.ended }

// Status returns the subscription's status on day asOf, from its dates
// alone: right for any day, whether or not the scheduler has run. It is ""
// for a subscription that does not exist.
func (s Subscription) Status(asOf Date) Status {
	if !s.exists {
		return ""
	}
	return StatusOn(s.created.StartDate, s.created.EndDate, asOf)
}

// Create decides the subscription of a completed reservation order; s is
// the (normally empty) subscription stream of the order's reference.
//
// It returns no events if the subscription already exists (a redelivered
// OrderCompleted) or if the order is not a reservation (one-off and free
// orders have no subscription). It returns an error wrapping
// domain.ErrNotFound if the order does not exist, domain.ErrConflict if it
// is not completed, and a plain error if the order lacks a reservation's
// terms.
func (s Subscription) Create(o order.Order) ([]domain.Event, error) {
	if s.exists {
		return nil, nil
	}
	if !o.Exists() {
		return nil, fmt.Errorf("order %q: %w", o.Ref(), domain.ErrNotFound)
	}
	if o.Status() != order.StatusCompleted {
		return nil, domain.Conflictf("order %s is %s: only a completed order has a subscription", o.Ref(), o.Status())
	}
	p := o.Placed()
	if p.Kind != catalog.KindReservation {
		return nil, nil
	}
	if p.DurationMonths <= 0 || p.MonthlyPrice == nil || p.InitialPayment == nil {
		return nil, fmt.Errorf("subscription: order %s is a reservation without duration or prices", p.Ref)
	}
	start, end := Terms(p.PlacedAt, p.DurationMonths)
	return []domain.Event{SubscriptionCreated{
		Ref:            p.Ref,
		ContractID:     p.ContractID,
		OrderRef:       p.Ref,
		Name:           p.Name(),
		Type:           p.ServiceName,
		ServiceCode:    p.ServiceCode,
		SubscribedAt:   p.PlacedAt,
		StartDate:      start,
		EndDate:        end,
		DurationMonths: p.DurationMonths,
		MonthlyPrice:   *p.MonthlyPrice,
		InitialPayment: *p.InitialPayment,
		Region:         p.Parameters[catalog.ParamRegion],
	}}, nil
}

// Start decides that the subscription has started: SubscriptionStarted,
// once, when today is on or after the start date. It returns no events
// before the start date or once started. It returns an error wrapping
// domain.ErrNotFound if the subscription does not exist.
func (s Subscription) Start(today Date) ([]domain.Event, error) {
	if !s.exists {
		return nil, fmt.Errorf("subscription: %w", domain.ErrNotFound)
	}
	if s.started || today.Before(s.created.StartDate) {
		return nil, nil
	}
	return []domain.Event{SubscriptionStarted{
		Ref: s.created.Ref, ContractID: s.created.ContractID, StartDate: s.created.StartDate,
	}}, nil
}

// End decides that the subscription has ended: SubscriptionEnded, once,
// when today is after the end date. If it never started (the server was
// down across both dates, or the order was completed late), it first emits
// SubscriptionStarted, so consumers always see both, in order. It returns
// no events up to the end date or once ended, and an error wrapping
// domain.ErrNotFound if the subscription does not exist.
func (s Subscription) End(today Date) ([]domain.Event, error) {
	if !s.exists {
		return nil, fmt.Errorf("subscription: %w", domain.ErrNotFound)
	}
	if s.ended || !today.After(s.created.EndDate) {
		return nil, nil
	}
	started, err := s.Start(today)
	if err != nil {
		return nil, err
	}
	return append(started, SubscriptionEnded{
		Ref: s.created.Ref, ContractID: s.created.ContractID, EndDate: s.created.EndDate,
	}), nil
}

// Advance is the scheduler's daily call: whatever of Start and End is due
// on today, in order (nothing, Started, Ended, or both). Errors are those
// of Start and End.
func (s Subscription) Advance(today Date) ([]domain.Event, error) {
	events, err := s.End(today)
	if err != nil || len(events) > 0 {
		return events, err
	}
	return s.Start(today)
}
